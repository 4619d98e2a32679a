// RegionStates: the free-space state machine of the flash regions, as seen by allocation and
// the TRIM pipeline.
//
//            AllocateForWrite               Release
//   FREE_CLEAN ──────────────> IN_USE ──────────────> FREE_DIRTY
//       ^        (preferred)      ^                     │    │
//       │                         └─────────────────────┘    │ BeginTrim
//       │ FinishTrim(ok)           AllocateForWrite          v
//       └───────────────────────────────────────────── TRIMMING
//                 FinishTrim(failed) -> FREE_DIRTY
//
// The contract that makes TRIM safe: a TRIMMING region is never handed out by
// AllocateForWrite, so a discard can never race a new write into the same region. Allocation
// prefers FREE_CLEAN regions (oldest-cleaned first), and falls back to FREE_DIRTY ones
// (oldest-released first: overwriting without TRIM is correct, only less kind to the flash).
//
// Thread safety: all methods are safe for concurrent use (one internal mutex, never held
// while calling out).
#ifndef KVSTASH_FLASH_TRIM_REGION_STATES_H_
#define KVSTASH_FLASH_TRIM_REGION_STATES_H_

#include <cstdint>
#include <optional>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "common/mutex.h"
#include "common/types.h"
#include "kvstash/status.h"

namespace kvstash {

enum class RegionTrimState : uint8_t { kInUse, kFreeDirty, kTrimming, kFreeClean };

std::string_view RegionTrimStateName(RegionTrimState state);

struct RegionStateCounts {
  uint32_t in_use = 0, free_dirty = 0, trimming = 0, free_clean = 0;
};

class RegionStates {
 public:
  // `num_regions` regions, ids 0..num_regions-1, all in `initial` (a free state, or kInUse).
  // A store that discards the whole device at startup starts them FREE_CLEAN.
  explicit RegionStates(uint32_t num_regions,
                        RegionTrimState initial = RegionTrimState::kFreeDirty);

  // Takes a free region for writing and moves it to IN_USE: the oldest FREE_CLEAN one, else
  // the oldest FREE_DIRTY one; never a TRIMMING one. nullopt when none is free.
  std::optional<RegionId> AllocateForWrite();
  // IN_USE -> FREE_DIRTY: the region's data is dead; it may be trimmed or reused.
  Status Release(RegionId region);
  // FREE_DIRTY -> TRIMMING: takes the region out of allocation until FinishTrim. Call before
  // handing its extent to the TRIM pipeline. Internal error if the region is not FREE_DIRTY
  // (e.g. it was reallocated meanwhile: then it must not be trimmed).
  Status BeginTrim(RegionId region);
  // TRIMMING -> FREE_CLEAN (trimmed) or FREE_DIRTY (the discard failed; the region is usable,
  // just not clean).
  Status FinishTrim(RegionId region, bool trimmed);

  // Errors above: InvalidArgument for an id out of range, Internal for an illegal transition
  // (a caller bug; the state is left unchanged).
  // An id out of range reads as IN_USE (never free).
  RegionTrimState state(RegionId region) const;
  RegionStateCounts counts() const;
  uint32_t size() const { return num_regions_; }

 private:
  struct Slot {
    RegionTrimState state;
    uint64_t seq;  // when it entered its current free state: FIFO order within a free state
  };
  using FreeQueue = std::set<std::pair<uint64_t, uint32_t>>;  // (seq, region), oldest first

  Status Transition(RegionId region, RegionTrimState from, RegionTrimState to)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  FreeQueue* QueueOf(RegionTrimState state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const uint32_t num_regions_;
  mutable Mutex mu_;
  std::vector<Slot> regions_ ABSL_GUARDED_BY(mu_);
  FreeQueue clean_ ABSL_GUARDED_BY(mu_);
  FreeQueue dirty_ ABSL_GUARDED_BY(mu_);
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 0;
  RegionStateCounts counts_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kvstash

#endif  // KVSTASH_FLASH_TRIM_REGION_STATES_H_
