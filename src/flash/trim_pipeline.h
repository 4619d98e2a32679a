// TrimPipeline: turns reclaimed flash regions into large, rate-limited discards.
//
// The owner (the region store) enqueues each reclaimed region's extent. The pipeline
// coalesces extents that touch into one Device::Discard call (at most max_discard_bytes per
// call; a longer single extent is split), spends discard bytes from a TokenBucket so
// foreground I/O keeps its latency, and reports each region exactly once through the
// completion callback.
//
// Order: each round starts from the oldest pending extent and takes its contiguous
// neighbours (forward first, then backward) while the call stays within max_discard_bytes.
// Within a round, callbacks run in ascending offset order; rounds run one at a time.
//
// With a RegionStates, the pipeline enforces the TRIM contract itself: Enqueue moves the
// region FREE_DIRTY -> TRIMMING (failing if it is not FREE_DIRTY), and completion moves it
// to FREE_CLEAN (or back to FREE_DIRTY if the discard failed) before the callback runs. A
// region is therefore never allocatable while its discard may be in flight.
//
// Modes: with background_thread, a worker runs rounds as extents arrive. Without it nothing
// happens until the owner calls RunOnce(): with a ManualClock this makes coalescing and rate
// limiting deterministic in tests.
//
// Thread safety: Enqueue, stats and pending may be called from any thread. Callbacks run on
// the worker (or the RunOnce caller) with no pipeline lock held; they may call Enqueue but
// not Stop or WaitIdle. Unsupported discards (the device cannot TRIM) complete with OK and
// are counted.
#ifndef KVSTASH_FLASH_TRIM_PIPELINE_H_
#define KVSTASH_FLASH_TRIM_PIPELINE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "common/clock.h"
#include "common/mutex.h"
#include "common/rate_limiter.h"
#include "common/types.h"
#include "flash/device.h"
#include "flash/trim_region_states.h"
#include "kvstash/status.h"

namespace kvstash {

struct TrimPipelineOptions {
  // Largest single Discard call; a multiple of the device's io_alignment.
  uint64_t max_discard_bytes = 256ull << 20;
  // Discard budget in bytes per second; 0 = unlimited.
  double rate_bytes_per_sec = 0;
  // Token bucket burst; 0 = max_discard_bytes.
  uint64_t burst_bytes = 0;
  Clock* clock = nullptr;  // nullptr = Clock::Real(); must outlive the pipeline
  bool background_thread = true;
  Status Validate() const;
};

struct TrimStats {
  uint64_t extents_enqueued = 0;
  uint64_t extents_done = 0;    // callbacks with OK (unsupported included)
  uint64_t extents_failed = 0;  // callbacks with an error (discard failed or stopped)
  uint64_t discard_calls = 0;   // Device::Discard calls issued
  uint64_t discard_errors = 0;
  uint64_t bytes_discarded = 0;    // bytes of successful, supported discards
  uint64_t coalesced_extents = 0;  // extents that rode in a round started by another extent
  uint64_t unsupported = 0;        // discard calls the device could not honour
  uint64_t throttled = 0;          // rounds deferred by the rate limit
};

// Called once per enqueued extent: OK when discarded (or the device cannot discard), an error
// when the discard failed or the pipeline stopped first.
using TrimDoneCallback = std::function<void(RegionId region, const Status& status)>;

class TrimPipeline {
 public:
  // `device` (and `states`, if not null) must outlive the pipeline. `on_done` may be empty.
  // Errors: InvalidArgument for bad options.
  static Result<std::unique_ptr<TrimPipeline>> Create(Device* device,
                                                      const TrimPipelineOptions& options,
                                                      TrimDoneCallback on_done,
                                                      RegionStates* states = nullptr);
  ~TrimPipeline();  // Stop()
  TrimPipeline(const TrimPipeline&) = delete;
  TrimPipeline& operator=(const TrimPipeline&) = delete;

  // Queues [offset, offset+len) of `region` for discard. Errors: InvalidArgument (unaligned,
  // empty, beyond the device, or overlapping a pending extent), the RegionStates transition
  // error (region not FREE_DIRTY), Unavailable after Stop.
  Status Enqueue(RegionId region, DeviceOffset offset, uint64_t len);

  // Runs one round if the rate limit allows it now; returns the number of extents completed
  // (0: nothing pending, or throttled). Rounds are serialized with the worker's.
  size_t RunOnce();
  // Blocks until nothing is pending or in flight and every callback has returned. Needs the
  // worker (or another thread calling RunOnce).
  void WaitIdle();
  // Stops the worker after its current round; every extent still pending completes with
  // Unavailable. Later Enqueue calls fail. Idempotent.
  void Stop();

  TrimStats stats() const;
  size_t pending() const;

 private:
  struct Extent {
    RegionId region;
    uint64_t offset = 0;
    uint64_t len = 0;
    uint64_t seq = 0;  // enqueue order
  };

  TrimPipeline(Device* device, const TrimPipelineOptions& options, TrimDoneCallback on_done,
               RegionStates* states);

  std::vector<Extent> TakeRoundLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Status DiscardRange(uint64_t offset, uint64_t len, bool* unsupported);
  void Complete(const std::vector<Extent>& round, const Status& status);
  void WorkerLoop();

  Device* const device_;
  const TrimPipelineOptions options_;
  const TrimDoneCallback on_done_;
  RegionStates* const states_;
  TokenBucket limiter_;

  Mutex round_mu_;  // serializes rounds (worker vs RunOnce callers)
  mutable Mutex mu_;
  std::map<uint64_t, Extent> by_offset_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, uint64_t> by_age_ ABSL_GUARDED_BY(mu_);  // seq -> offset
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 0;
  bool round_active_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int64_t throttle_nanos_ ABSL_GUARDED_BY(mu_) = 0;  // wait hint after a throttled round
  TrimStats stats_ ABSL_GUARDED_BY(mu_);
  std::thread worker_;
};

// Discards the whole device in chunks of `chunk_bytes` (a multiple of io_alignment), as the
// ephemeral store does at startup. OK if the device cannot discard. Stops at the first error.
Status DiscardAll(Device& device, uint64_t chunk_bytes = 1ull << 30);

}  // namespace kvstash

#endif  // KVSTASH_FLASH_TRIM_PIPELINE_H_
