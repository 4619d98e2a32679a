// BlockStore: the in-process block engine. Opaque (namespace, key) -> block of bytes in a
// registered DRAM arena, with the lifecycle of docs/ARCHITECTURE.md §2:
//
//   Allocate -> ALLOCATED --Commit--> COMMITTED --flush--> PERSISTED
//                  | lease expiry / Abort   | evict/delete     | evict/delete
//                  v                         v                  v
//               DELETED <----reclaim---- EVICTED <--------------+
//
// Writers: Allocate() reserves `size` bytes in the arena and returns the offset and a lease;
// the writer fills the bytes (a one-sided put into the registered arena, or a memcpy in
// process) and calls Commit(). Until then the key is invisible to readers and any other writer
// of the same key gets Busy. A lease that runs out aborts the allocation (the writer died).
//
// Readers: Lookup() pins the block and returns a BlockPin; the bytes stay valid and are never
// reused until the pin is released, even if the block is deleted or evicted meanwhile.
//
// Thread safety: every method is safe to call concurrently. The index is sharded (one lock
// per shard, held for a few hundred nanoseconds); DRAM allocation takes the arena allocator's
// lock; no lock is held while payload bytes move.
#ifndef KVSTASH_ENGINE_BLOCK_STORE_H_
#define KVSTASH_ENGINE_BLOCK_STORE_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/types.h"
#include "dram/dram_arena.h"
#include "engine/flash_tier.h"
#include "engine/store_stats.h"
#include "flash/region_store.h"
#include "kvstash/status.h"

namespace kvstash {

class DramArena;
class DramAllocator;
class KeyIndex;
struct BlockRecord;

struct StoreOptions {
  uint64_t dram_bytes = 1ull << 30;          // arena size; rounded down to whole regions
  uint64_t dram_region_bytes = 64ull << 20;  // log-structured region size
  uint64_t max_value_bytes = 64ull << 20;    // <= dram_region_bytes
  std::chrono::milliseconds lease{10'000};   // ALLOCATED -> aborted after this
  uint32_t index_shards = 256;               // power of two
  bool try_hugepages = true;                 // MAP_HUGETLB, then THP madvise, then 4 KiB pages
  bool prefault = true;                      // touch the whole arena at start (no page faults
                                             // on the data path)
  Clock* clock = Clock::Real();              // not owned; must outlive the store
  // Where the arena's memory comes from; unset: an anonymous mapping (try_hugepages). The
  // server's node sets it to shared memory that local clients map (net/server/shared_arenas.h).
  ArenaAllocator arena_allocator;

  // Flash tier: used when flash.path is set or flash_device is injected (not owned; tests).
  FlashOptions flash;
  Device* flash_device = nullptr;

  // Background maintenance thread: expires leases and keeps `dram_free_regions` DRAM regions
  // free (flushing admitted blocks to flash, evicting the rest) so writers rarely reclaim
  // inline. Off: the owner calls RunMaintenance() (deterministic tests).
  bool background = true;
  uint32_t dram_free_regions = 1;
  std::chrono::milliseconds maintenance_interval{20};

  Status Validate() const;
};

// Where a pinned block's bytes are.
enum class Tier : uint8_t { kDram = 0, kFlash = 1 };

// What Allocate() grants a writer.
struct Allocation {
  ArenaOffset offset;  // where to write, relative to arena_base()
  uint64_t size = 0;
  int64_t lease_deadline_ns = 0;  // Clock time after which Commit fails with LeaseExpired
};

class BlockStore;

// A read pin on one block (RAII). While it lives, the bytes at data() are stable. Move-only;
// the destructor releases the pin. Must not outlive its BlockStore.
class BlockPin {
 public:
  BlockPin() = default;
  BlockPin(BlockPin&& o) noexcept { *this = std::move(o); }
  BlockPin& operator=(BlockPin&& o) noexcept;
  ~BlockPin() { Release(); }

  bool valid() const { return store_ != nullptr; }
  Tier tier() const { return tier_; }
  uint64_t size() const { return size_; }
  Checksum checksum() const { return checksum_; }
  // DRAM tier: offset of the bytes in the arena.
  ArenaOffset arena_offset() const { return offset_; }
  // DRAM tier: the bytes themselves. REQUIRES: tier() == kDram.
  std::span<const std::byte> data() const;
  void Release();

 private:
  friend class BlockStore;
  BlockStore* store_ = nullptr;
  Tier tier_ = Tier::kDram;
  RegionId region_;
  ArenaOffset offset_;
  uint64_t size_ = 0;
  Checksum checksum_;
  // Flash tier only: where to read, and the pin that keeps the region from reuse.
  uint64_t flash_loc_ = 0;
  NamespaceId ns_ = 0;
  std::string key_;
  RegionPin flash_pin_;
};

class BlockStore {
 public:
  static Result<std::unique_ptr<BlockStore>> Create(const StoreOptions& options);
  ~BlockStore();
  BlockStore(const BlockStore&) = delete;
  BlockStore& operator=(const BlockStore&) = delete;

  // Reserves `size` bytes for `key`. Errors: InvalidArgument (key not 1..256 bytes, size 0 or
  // above max_value_bytes), AlreadyExists (key committed), Busy (key ALLOCATED by another
  // writer), ResourceExhausted (no DRAM even after eviction: all regions pinned or open).
  Result<Allocation> Allocate(NamespaceId ns, std::string_view key, uint64_t size);

  // Publishes the block written at `offset` (the Allocation's offset: proves the caller is
  // the writer). `checksum`, if the writer supplies it, is stored and verified whenever the
  // server reads the payload (flush); nullopt: computed at flush. Errors: NotFound (no such
  // allocation), LeaseExpired (too late: the allocation was or is now aborted).
  Status Commit(NamespaceId ns, std::string_view key, ArenaOffset offset,
                std::optional<Checksum> checksum = std::nullopt);

  // Gives up an allocation; its space comes back when its region is recycled.
  Status Abort(NamespaceId ns, std::string_view key, ArenaOffset offset);

  // Pins a committed block, in DRAM or on flash. NotFound on a miss.
  Result<BlockPin> Lookup(NamespaceId ns, std::string_view key);

  // Copies a pinned block into `dest` (>= pin.size() bytes): a memcpy for a DRAM pin, a
  // verified O_DIRECT read for a flash pin. A flash read that fails its checksum or I/O is
  // DataLoss/IOError, is counted, and removes the block from the index: never wrong bytes.
  Status ReadInto(const BlockPin& pin, std::span<std::byte> dest);

  // Batched ReadInto: copies *pins[i] into dests[i] and sets results[i] to what ReadInto
  // would have returned for that item. The flash pins go to the device in one batch (every
  // read in flight together, up to the device's queue depth) instead of one read after the
  // other; DRAM pins are memcpy'd. One item failing (bad pin, small destination, checksum,
  // I/O error) fails that item only. Returns the first failure in item order, or OK;
  // InvalidArgument (and no item touched) if the spans differ in size. The pins must stay
  // alive for the call. Thread safety: as ReadInto (any thread; blocks for the device I/O).
  Status ReadIntoV(std::span<const BlockPin* const> pins,
                   std::span<const std::span<std::byte>> dests, std::span<Status> results);

  // Removes a committed block from the index (EVICTED); its space is reclaimed when no pin
  // remains. NotFound if absent; Busy if ALLOCATED.
  Status Delete(NamespaceId ns, std::string_view key);

  bool Exists(NamespaceId ns, std::string_view key);
  // Exists for every key (present[i] for keys[i]; resized to keys.size()), with the lookups'
  // cache misses overlapped (KeyIndex::FindBatch). An invalid key is absent.
  void ExistsBatch(NamespaceId ns, std::span<const std::string_view> keys,
                   std::vector<bool>* present);
  // Number of leading keys that are present (prefix-order lookups: blocks after a gap are
  // useless to an inference engine). Looks the keys up in batches of KeyIndex::kBatch.
  size_t LongestPrefix(NamespaceId ns, std::span<const std::string_view> keys);

  // Aborts allocations whose lease ran out. Called by the maintenance thread; tests call it
  // after advancing a ManualClock. Returns how many were aborted.
  size_t ExpireLeases();

  // One maintenance pass: expire leases, refill the DRAM free-region reserve (flushing
  // admitted blocks to flash), reinsert hot blocks of reclaimed flash regions.
  void RunMaintenance();
  // Writes the open flash region out and waits for every queued flash write.
  Status FlushFlash();
  bool has_flash() const;

  StoreStats Stats() const;

  // The DRAM arena, registered once with the transport.
  std::byte* arena_base() const;
  uint64_t arena_size() const;

 private:
  friend class BlockPin;
  explicit BlockStore(const StoreOptions& options);
  void Unpin(BlockPin& pin);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kvstash

#endif  // KVSTASH_ENGINE_BLOCK_STORE_H_
