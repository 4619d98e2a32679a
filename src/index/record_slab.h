// RecordSlab: a size-class slab allocator for the index's variable-length BlockRecords.
//
// Why: with one malloc per record, glibc adds an 8-byte chunk header and rounds every chunk
// to 16 bytes (~16-22 bytes per record); at 100M records that is ~2 GB. Here a record costs
// its size rounded up to 8 bytes, plus the tail of a partially used slab per size class.
//
// Layout: size classes every 8 bytes from 8 to kMaxSlotBytes; each class carves slots out of
// kSlabBytes slabs (malloc'ed, never smaller) and keeps freed slots on an intrusive LIFO free
// list (the first 8 bytes of a free slot point to the next one). Slabs are returned only when
// the allocator is destroyed: the index's size mix is steady (keys of one model have one
// length), so freed slots are reused by the next record of the same class. Under ASan free
// slots are poisoned, so a use after Free is still reported.
//
// Accounting is exact: mapped_bytes() is what the slabs occupy in the heap (including
// malloc's header and every unused or freed slot), live_bytes() the slot bytes handed out.
//
// Thread safety: none. Each index shard owns one RecordSlab guarded by the shard mutex
// (KeyIndex::Shard); every call must hold it.
//
// Destruction: every slot must have been freed. If some are still live the slabs are
// deliberately leaked (and LeakSanitizer reports them): freeing them would leave dangling
// records.
#ifndef KVSTASH_INDEX_RECORD_SLAB_H_
#define KVSTASH_INDEX_RECORD_SLAB_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace kvstash {

class RecordSlab {
 public:
  static constexpr size_t kGranularity = 8;  // slot sizes and alignment
  static constexpr size_t kMaxSlotBytes = 296;
  // Small enough that the partly used tail slab per class and shard stays a few bytes per
  // entry at 1M entries in 256 shards; large enough that malloc's header is ~0.1%.
  static constexpr size_t kSlabBytes = 16 << 10;
  static constexpr size_t kNumClasses = kMaxSlotBytes / kGranularity;

  RecordSlab() = default;
  ~RecordSlab();
  RecordSlab(const RecordSlab&) = delete;
  RecordSlab& operator=(const RecordSlab&) = delete;

  // The slot size a request of `bytes` occupies. REQUIRES: 1 <= bytes <= kMaxSlotBytes.
  static constexpr size_t SlotBytes(size_t bytes) {
    return (bytes + kGranularity - 1) / kGranularity * kGranularity;
  }

  // Returns an 8-byte aligned slot of SlotBytes(bytes) bytes, uninitialized. Never returns
  // null (throws std::bad_alloc like operator new). REQUIRES: 1 <= bytes <= kMaxSlotBytes.
  void* Allocate(size_t bytes);
  // Returns a slot to its class's free list. `bytes` must be the value passed to Allocate
  // (any value with the same SlotBytes).
  void Free(void* p, size_t bytes);

  uint64_t mapped_bytes() const { return mapped_bytes_; }
  uint64_t live_bytes() const { return live_bytes_; }
  uint64_t live_slots() const { return live_slots_; }
  size_t num_slabs() const { return slabs_.size(); }
  // Heap of the allocator's own bookkeeping beyond sizeof(RecordSlab): the per-class state
  // and the slab list.
  uint64_t bookkeeping_bytes() const {
    return (classes_ ? kNumClasses * sizeof(Class) : 0) + slabs_.capacity() * sizeof(void*);
  }

 private:
  struct FreeSlot {
    FreeSlot* next;
  };
  struct Class {
    FreeSlot* free = nullptr;  // freed slots, LIFO
    char* bump = nullptr;      // never-used part of the newest slab of this class
    char* bump_end = nullptr;
  };
  static size_t ClassIndex(size_t bytes) { return (bytes - 1) / kGranularity; }
  void NewSlab(Class& c);

  // Allocated on first use and kept out of line, so that a KeyIndex::Shard stays small: the
  // shards' mutexes and table headers are touched on every lookup.
  std::unique_ptr<Class[]> classes_;
  std::vector<void*> slabs_;
  uint64_t mapped_bytes_ = 0;
  uint64_t live_bytes_ = 0;
  uint64_t live_slots_ = 0;
};

}  // namespace kvstash

#endif  // KVSTASH_INDEX_RECORD_SLAB_H_
