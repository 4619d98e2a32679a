// BlockRecord: the index's per-block metadata, with the key bytes stored inline after it.
// Sized for 100M+ blocks per node: 36 bytes of fields, then the key, in one slot of the
// index shard's RecordSlab (36 + key bytes rounded up to 8; no per-record malloc header).
//
// Lifecycle (docs/ARCHITECTURE.md §2). The state is private: it changes only through Lifecycle
// (lifecycle.h), which refuses illegal transitions, so an illegal transition cannot happen
// by accident.
//
// Ownership: a record is referenced by the index (while visible) and by the DRAM region that
// holds its bytes (until the region is recycled). `refs` counts those references; the last
// one to drop frees it (BlockRecord::Free, into the slab of the shard the key hashes to, under
// that shard's lock: KeyIndex::Shard::NewRecord/FreeRecord). All fields are protected by the lock
// of the index shard that the key hashes to; `key` and `ns` are immutable.
#ifndef KVSTASH_INDEX_BLOCK_RECORD_H_
#define KVSTASH_INDEX_BLOCK_RECORD_H_

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/types.h"
#include "index/record_slab.h"

namespace kvstash {

enum class BlockState : uint8_t {
  kAllocated = 0,
  kCommitted = 1,
  kPersisted = 2,
  kEvicted = 3,
  kDeleted = 4,
};
inline constexpr int kNumBlockStates = 5;
std::string_view BlockStateName(BlockState s);

class Lifecycle;

struct BlockRecord {
  static constexpr uint64_t kNoLocation = ~uint64_t{0};

  // Allocates a record for (ns, key) from `slab`, in state ALLOCATED with refs = 0. Never
  // fails (throws std::bad_alloc like operator new). REQUIRES: 1 <= key.size() <=
  // kMaxKeyBytes; the lock guarding `slab` held (for the index: KeyIndex::Shard::NewRecord).
  static BlockRecord* New(RecordSlab& slab, NamespaceId ns, std::string_view key, uint32_t size);
  // Returns r's slot to `slab`, which must be the slab it came from. Same lock as New.
  static void Free(RecordSlab& slab, BlockRecord* r);
  // Slot bytes a record with a key of `key_len` bytes occupies in its slab.
  static size_t SlotBytes(size_t key_len);

  std::string_view key() const { return {key_bytes, key_len}; }
  BlockState state() const { return state_; }
  bool in_dram() const { return dram_loc != kNoLocation; }
  bool in_flash() const {
    return state_ == BlockState::kPersisted && flash_or_lease_ != kNoLocation;
  }

  // The 8-byte slot after dram_loc holds one of two things, and the state says which:
  //   ALLOCATED: the lease deadline (Clock nanoseconds after which Commit fails);
  //   COMMITTED: nothing (kNoLocation: written on leaving ALLOCATED);
  //   PERSISTED: the packed flash location (engine/flash_tier.h), or kNoLocation once the
  //              flash copy is gone and only the DRAM copy serves.
  // Sharing the slot keeps the header at 36 bytes (memory per entry is the index's budget).
  // Reading or writing the wrong meaning for the state is a bug: asserted in debug builds.
  int64_t lease_deadline() const {
    assert(state_ == BlockState::kAllocated);
    return static_cast<int64_t>(flash_or_lease_);
  }
  void set_lease_deadline(int64_t deadline_ns) {
    assert(state_ == BlockState::kAllocated);
    flash_or_lease_ = static_cast<uint64_t>(deadline_ns);
  }
  // Packed flash location, or kNoLocation. REQUIRES: state PERSISTED.
  uint64_t flash_location() const {
    assert(state_ == BlockState::kPersisted);
    return flash_or_lease_;
  }
  // REQUIRES: state PERSISTED, or COMMITTED with `packed` == kNoLocation (leaving ALLOCATED:
  // the lease deadline is no longer needed).
  void set_flash_location(uint64_t packed) {
    assert(state_ == BlockState::kPersisted ||
           (state_ == BlockState::kCommitted && packed == kNoLocation));
    flash_or_lease_ = packed;
  }

  uint64_t dram_loc;  // ArenaOffset value, or kNoLocation

 private:
  uint64_t flash_or_lease_;  // see lease_deadline() / flash_location()

 public:
  uint64_t checksum;  // XXH3-64 of the payload; 0 until known
  uint32_t size;      // payload bytes (<= 4 GiB; values are <= 64 MiB by default)
  NamespaceId ns;
  uint8_t refs;  // index + DRAM region references
  uint8_t hits;  // saturating hit count (admission input)
  uint16_t key_len;
  uint8_t flags;  // kHasChecksum...
  static constexpr uint8_t kHasChecksum = 1;

 private:
  friend class Lifecycle;
  BlockState state_;

 public:
  char key_bytes[];  // key_len bytes, not NUL-terminated
};

}  // namespace kvstash

#endif  // KVSTASH_INDEX_BLOCK_RECORD_H_
