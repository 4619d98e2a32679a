// UringDevice: the production Device. O_DIRECT I/O through io_uring (liburing) on a regular
// file or a block device.
//
// Rings: each concurrent caller gets its own ring from a pool owned by the device (a ring is
// checked out for one call and returned after it, so N threads use at most N rings and a
// worker thread in practice reuses the same one). Rings die with the device.
//
// io_uring discipline (per call): every completion is handled exactly once and the CQ is
// advanced on every path; a short read/write is resubmitted for its remainder; -EINTR and
// -EAGAIN completions are retried (bounded); when the SQ is full the queued entries are
// submitted and completions reaped before more are queued, so no request is dropped; a batch
// keeps up to queue_depth requests in flight; a call returns only when none of its requests
// is in flight (the kernel never touches a buffer after the call returned).
//
// Discard: fallocate(PUNCH_HOLE|KEEP_SIZE) on a regular file, ioctl(BLKDISCARD) on a block
// device. EOPNOTSUPP makes the device report discard as unsupported (Device contract).
//
// A block device is opened O_EXCL: opening a mounted or otherwise claimed device fails (Busy)
// instead of overwriting a filesystem.
//
// Errors: every errno goes through ErrnoToStatus, with the path, operation and range in the
// message.
//
// Lifetime: the device must outlive every call on it (destroying it during a call is a bug).
#ifndef KVSTASH_FLASH_URING_DEVICE_H_
#define KVSTASH_FLASH_URING_DEVICE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "common/mutex.h"
#include "common/types.h"
#include "flash/device.h"
#include "flash/uring_ring.h"
#include "kvstash/status.h"

namespace kvstash {

// Kernel-level fault injection, below the Device interface: exercises the resubmission and
// retry paths with real io_uring traffic. All zero (off) in production. "1 in N" per
// submission or completion, seeded per ring (seed + ring index): deterministic for one
// thread.
struct UringInjectedFaults {
  uint32_t short_io_one_in = 0;  // submit only an aligned prefix: the kernel completes short
  uint32_t eagain_one_in = 0;    // replace a completion's result with -EAGAIN
  uint32_t eintr_one_in = 0;     // replace a completion's result with -EINTR
  uint64_t seed = 1;
  // Ring size override (0 = queue_depth). Smaller than queue_depth, the SQ fills before the
  // batch's queue depth is reached and more completions are outstanding than the CQ holds:
  // exercises the SQ-full and CQ-overflow paths.
  uint32_t ring_entries = 0;
};

struct UringDeviceOptions {
  std::string path;  // a regular file or a block device
  // Regular file: the device size; the file is grown (or created) to it. 0 = the file's
  // current size. Block device: 0 = the whole device, else a prefix of it.
  uint64_t size = 0;
  bool create = false;           // regular file: create it if absent
  bool preallocate = false;      // regular file: fallocate() the size (default: sparse)
  uint32_t queue_depth = 32;     // requests in flight per call, 1..4096
  uint32_t io_alignment = 4096;  // power of two; raised to a block device's logical block size
  bool direct_io = true;         // O_DIRECT; false only for filesystems without it (tmpfs)
  UringInjectedFaults inject;    // tests only
  Status Validate() const;
};

// Counters of the io_uring machinery itself (Device::stats() counts requests).
struct UringDeviceCounters {
  uint64_t submissions = 0;      // SQEs submitted, resubmissions included
  uint64_t short_resubmits = 0;  // a short completion resubmitted for its remainder
  uint64_t retries = 0;          // -EAGAIN / -EINTR completions retried
  uint64_t sq_full_flushes = 0;  // SQ was full: submitted and reaped before queuing more
  uint64_t rings_created = 0;
  uint64_t injected_short = 0, injected_eagain = 0, injected_eintr = 0;
};

class UringDevice final : public Device {
 public:
  // Opens (and for a regular file, optionally creates and sizes) the device. Errors:
  // InvalidArgument (options, size not aligned, prefix beyond a block device), NotFound,
  // PermissionDenied, IOError and the like from open/fstat/fallocate/io_uring_queue_init.
  static Result<std::unique_ptr<Device>> Open(const UringDeviceOptions& options);
  // Same, keeping the concrete type (for counters()).
  static Result<std::unique_ptr<UringDevice>> OpenUring(const UringDeviceOptions& options);
  ~UringDevice() override;

  const std::string& path() const { return path_; }
  bool is_block_device() const { return is_block_device_; }
  uint32_t queue_depth() const { return queue_depth_; }
  UringDeviceCounters counters() const;

 private:
  struct PooledRing;  // a ring plus its fault-injection RNG
  struct Batch;       // per-call state of a batched operation (uring_device_internal.h)

  UringDevice(UniqueFd fd, const UringDeviceOptions& options, uint64_t size, uint32_t alignment,
              bool is_block_device);

  Status ReadVImpl(std::span<IoRequest> requests) override;
  Status WriteVImpl(std::span<IoRequest> requests) override;
  Status DiscardImpl(DeviceOffset offset, uint64_t len, bool* unsupported) override;

  Result<std::unique_ptr<PooledRing>> AcquireRing();
  void ReleaseRing(std::unique_ptr<PooledRing> ring);
  Status RunBatch(std::span<IoRequest> requests, bool write);
  void QueueRequests(PooledRing& ring, Batch& batch);
  Status SubmitAndReap(PooledRing& ring, Batch& batch);
  void HandleCompletion(PooledRing& ring, Batch& batch, uint64_t index, int res);
  void Finish(Batch& batch, uint32_t index, Status result);
  std::string Describe(const Batch& batch, uint32_t index) const;
  void DrainInFlight(PooledRing& ring, Batch& batch);

  const UniqueFd fd_;
  const std::string path_;
  const bool is_block_device_;
  const uint32_t queue_depth_;
  const UringInjectedFaults inject_;

  Mutex pool_mu_;
  std::vector<std::unique_ptr<PooledRing>> idle_rings_ ABSL_GUARDED_BY(pool_mu_);
  uint32_t rings_made_ ABSL_GUARDED_BY(pool_mu_) = 0;

  struct AtomicCounters {
    std::atomic<uint64_t> submissions{0}, short_resubmits{0}, retries{0}, sq_full_flushes{0};
    std::atomic<uint64_t> rings_created{0};
    std::atomic<uint64_t> injected_short{0}, injected_eagain{0}, injected_eintr{0};
  } counters_;
};

}  // namespace kvstash

#endif  // KVSTASH_FLASH_URING_DEVICE_H_
