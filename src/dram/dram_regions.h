// DramRegions: log-structured allocation inside the DRAM arena.
//
// The arena is cut into equal regions. Allocation is a bump pointer in the one open region;
// a full region is sealed and joins a FIFO. Space is never freed block by block: a region is
// recycled whole, when the engine reclaims it (oldest first, or any region whose blocks are
// all dead) and once no reader pin and no open allocation remains in it. Capacity is exact:
// the bytes handed out never exceed the arena.
//
// Reclaim protocol (no lock held across the index):
//   1. BeginReclaim() picks a victim under the allocator lock, marks it kReclaiming and hands
//      its record list to the caller;
//   2. the caller detaches each record from the region under the record's shard lock (after
//      which no new pin can land in the region);
//   3. FinishReclaim() frees the region, or marks it kDraining if pins remain; the last
//      Unpin() of a draining region frees it.
//
// Thread safety: all methods are safe for concurrent use. `mu_` guards region metadata;
// pins are atomics so a reader's unpin is lock-free unless it ends a drain.
// Lock order: the caller may hold an index shard lock when calling Allocate/CloseAllocation/
// AddLive*, never when calling BeginReclaim/FinishReclaim.
#ifndef KVSTASH_DRAM_DRAM_REGIONS_H_
#define KVSTASH_DRAM_DRAM_REGIONS_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "common/mutex.h"
#include "common/types.h"
#include "index/block_record.h"
#include "kvstash/status.h"

namespace kvstash {

class DramRegions {
 public:
  enum class State : uint8_t { kFree, kOpen, kSealed, kReclaiming, kDraining };

  // arena_bytes is rounded down to whole regions. REQUIRES: region_bytes > 0.
  DramRegions(uint64_t arena_bytes, uint64_t region_bytes);

  struct Grant {
    ArenaOffset offset;
    RegionId region;
  };
  // Bump-allocates `size` bytes and records `rec` in the region's list (the region takes one
  // reference: the caller increments rec->refs). ResourceExhausted when no region has room:
  // the caller reclaims (without holding a shard lock) and retries.
  Result<Grant> Allocate(uint64_t size, BlockRecord* rec);
  // An ALLOCATED block in `region` was committed (live) or aborted (dead).
  void CloseAllocation(RegionId region, bool committed, uint64_t size);
  // A live block in `region` died (deleted, evicted, or its DRAM copy dropped).
  void RemoveLive(RegionId region, uint64_t size);

  // Pins and unpins (readers). Pin REQUIRES that the block's record is still attached to the
  // region, which the caller guarantees by holding the record's shard lock.
  void Pin(RegionId region);
  void Unpin(RegionId region);

  // Step 1 of reclaim: picks a victim (a sealed region with no open allocation: fully dead
  // ones first, else the oldest). Returns false if none. `records` receives its record list.
  bool BeginReclaim(RegionId* victim, std::vector<BlockRecord*>* records);
  // Step 3 of reclaim. Returns true if the region is free now (false: draining on pins).
  bool FinishReclaim(RegionId victim);

  // Hands every region's record list to the caller (shutdown only).
  std::vector<BlockRecord*> TakeAllRecords();

  RegionId RegionOf(ArenaOffset offset) const {
    return RegionId(static_cast<uint32_t>(offset.value() / region_bytes_));
  }
  uint64_t region_bytes() const { return region_bytes_; }
  uint32_t num_regions() const { return static_cast<uint32_t>(regions_.size()); }
  uint64_t capacity() const { return region_bytes_ * regions_.size(); }

  struct Stats {
    uint64_t used_bytes = 0, live_bytes = 0, free_regions = 0, recycles = 0;
  };
  Stats GetStats() const;
  State state(RegionId r) const;
  uint32_t pins(RegionId r) const { return regions_[r.value()]->pins.load(); }

 private:
  struct Region {
    State state = State::kFree;
    uint64_t write_pos = 0;
    uint64_t live_bytes = 0;
    uint32_t open_allocs = 0;
    std::atomic<uint32_t> pins{0};
    std::vector<BlockRecord*> records;
  };
  bool OpenNewRegionLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FreeRegionLocked(uint32_t id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const uint64_t region_bytes_;
  std::vector<std::unique_ptr<Region>> regions_;  // fixed size; Region fields guarded by mu_
  mutable Mutex mu_;
  int64_t open_ ABSL_GUARDED_BY(mu_) = -1;
  std::vector<uint32_t> free_ ABSL_GUARDED_BY(mu_);
  std::deque<uint32_t> sealed_ ABSL_GUARDED_BY(mu_);  // FIFO, oldest first
  uint64_t used_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t live_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t recycles_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace kvstash

#endif  // KVSTASH_DRAM_DRAM_REGIONS_H_
