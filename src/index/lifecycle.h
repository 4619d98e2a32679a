// Lifecycle: the only code that changes a BlockRecord's state. Each transition of docs/ARCHITECTURE.md §2
// is a named method that checks the current state, so an illegal transition is refused (an
// Internal error, counted) instead of silently corrupting the index. Every transition is
// counted in per-state gauges and per-transition counters.
//
//   ALLOCATED --Commit--> COMMITTED --Persist--> PERSISTED
//   ALLOCATED --Abort/Expire--> DELETED
//   COMMITTED|PERSISTED --Evict/Delete--> EVICTED --Reclaim--> DELETED
//
// Thread safety: the record must be protected by the caller (its index shard lock); the
// counters are atomic.
#ifndef KVSTASH_INDEX_LIFECYCLE_H_
#define KVSTASH_INDEX_LIFECYCLE_H_

#include <array>
#include <atomic>
#include <cstdint>

#include "index/block_record.h"
#include "kvstash/status.h"

namespace kvstash {

enum class Transition : uint8_t {
  kAllocate = 0,  // (new) -> ALLOCATED
  kCommit,        // ALLOCATED -> COMMITTED
  kAbort,         // ALLOCATED -> DELETED
  kExpire,        // ALLOCATED -> DELETED (lease ran out)
  kPersist,       // COMMITTED -> PERSISTED
  kEvict,         // COMMITTED|PERSISTED -> EVICTED (capacity)
  kDelete,        // COMMITTED|PERSISTED -> EVICTED (explicit delete)
  kReclaim,       // EVICTED -> DELETED (space reclaimed)
};
inline constexpr int kNumTransitions = 8;

class Lifecycle {
 public:
  // True iff `t` may be applied to a record in state `from`.
  static bool IsLegal(BlockState from, Transition t);
  static BlockState Target(Transition t);

  // Counts a new record as ALLOCATED. REQUIRES: r was just created by BlockRecord::New.
  void OnAllocated(BlockRecord* r);
  // Applies `t` to `r`. Internal error if illegal for r's state (r is left unchanged).
  Status Apply(BlockRecord* r, Transition t);

  uint64_t in_state(BlockState s) const {
    return gauges_[static_cast<int>(s)].load(std::memory_order_relaxed);
  }
  uint64_t count(Transition t) const {
    return counters_[static_cast<int>(t)].load(std::memory_order_relaxed);
  }
  uint64_t illegal_attempts() const { return illegal_.load(std::memory_order_relaxed); }

 private:
  std::array<std::atomic<int64_t>, kNumBlockStates> gauges_{};
  std::array<std::atomic<uint64_t>, kNumTransitions> counters_{};
  std::atomic<uint64_t> illegal_{0};
};

}  // namespace kvstash

#endif  // KVSTASH_INDEX_LIFECYCLE_H_
