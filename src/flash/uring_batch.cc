// UringDevice's batched I/O engine: the io_uring submission/completion loop of one
// ReadV/WriteV call. See the discipline in uring_device.h.
#include <liburing.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <string>
#include <thread>

#include "common/errno.h"
#include "flash/uring_device.h"
#include "flash/uring_device_internal.h"

namespace kvstash {
namespace {

// A request that keeps completing with -EAGAIN/-EINTR fails after this many retries, so a
// wedged device surfaces as an error instead of a hang.
constexpr uint32_t kMaxRetries = 1000;
// Submission refused with -EAGAIN/-EBUSY and nothing to reap: back off, then fail.
constexpr int kMaxSubmitBackoffs = 10000;
constexpr std::chrono::microseconds kSubmitBackoff{50};
// One SQE carries at most this much (its length is 32-bit, and the kernel caps a transfer
// near 2 GiB anyway); a larger request proceeds as a series of "short" completions.
constexpr uint64_t kMaxSqeBytes = 1ull << 30;

bool Roll(std::mt19937_64& rng, uint32_t one_in) {
  return one_in != 0 && (one_in == 1 || rng() % one_in == 0);
}

}  // namespace

Status UringDevice::RunBatch(std::span<IoRequest> requests, bool write) {
  Result<std::unique_ptr<PooledRing>> ring = AcquireRing();
  if (!ring.ok()) {
    for (IoRequest& r : requests) r.result = ring.status();
    return ring.status();
  }
  Batch b(requests, write);
  for (uint32_t i = 0; i < requests.size(); ++i) b.pending.push_back(i);
  while ((!b.pending.empty() || b.in_flight > 0) && b.fatal.ok()) {
    QueueRequests(**ring, b);
    b.fatal = SubmitAndReap(**ring, b);
  }
  if (b.fatal.ok()) {
    ReleaseRing(std::move(ring).value());
    return Status::Ok();
  }
  // The ring is in an unknown state: wait out what the kernel still owns, fail the rest, and
  // destroy the ring (dropping any SQE the kernel never consumed) instead of pooling it.
  DrainInFlight(**ring, b);
  for (uint32_t i = 0; i < requests.size(); ++i) {
    if (!b.finished[i]) Finish(b, i, b.fatal);
  }
  return b.fatal;
}

// Fills the SQ with pending requests, up to queue_depth in flight. Stops early if the SQ has
// no free entry; the caller then submits and reaps, and the rest is queued on the next pass.
void UringDevice::QueueRequests(PooledRing& ring, Batch& b) {
  while (!b.pending.empty() && b.in_flight < queue_depth_) {
    io_uring_sqe* sqe = io_uring_get_sqe(ring.ring->get());
    if (sqe == nullptr) {
      counters_.sq_full_flushes.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    const uint32_t i = b.pending.front();
    b.pending.pop_front();
    IoRequest& r = b.requests[i];
    uint64_t len = std::min(r.buffer.size() - b.done[i], kMaxSqeBytes);
    if (len > io_alignment() && Roll(ring.rng, inject_.short_io_one_in)) {
      // Submit an aligned prefix only: the kernel genuinely completes this request short.
      len = (1 + ring.rng() % (len / io_alignment() - 1)) * io_alignment();
      counters_.injected_short.fetch_add(1, std::memory_order_relaxed);
    }
    std::byte* buf = r.buffer.data() + b.done[i];
    const uint64_t off = r.offset.value() + b.done[i];
    if (b.write) {
      io_uring_prep_write(sqe, fd_.get(), buf, static_cast<unsigned>(len), off);
    } else {
      io_uring_prep_read(sqe, fd_.get(), buf, static_cast<unsigned>(len), off);
    }
    io_uring_sqe_set_data64(sqe, i);
    ++b.in_flight;
    counters_.submissions.fetch_add(1, std::memory_order_relaxed);
  }
}

// Submits everything queued, waits for at least one completion when any is outstanding, then
// handles every available completion once and advances the CQ past them.
Status UringDevice::SubmitAndReap(PooledRing& ring, Batch& b) {
  io_uring* uring = ring.ring->get();
  for (int backoffs = 0;; ++backoffs) {
    int ret = ring.ring->SubmitAndWait(b.in_flight > 0 ? 1 : 0);
    if (ret >= 0) break;
    if (ret != -EAGAIN && ret != -EBUSY) return ErrnoToStatus(-ret, "io_uring_submit " + path_);
    // The kernel is short of resources or the CQ is backed up: reap what is there first.
    if (io_uring_cq_ready(uring) > 0) break;
    if (backoffs == kMaxSubmitBackoffs) return ErrnoToStatus(-ret, "io_uring_submit " + path_);
    std::this_thread::sleep_for(kSubmitBackoff);
  }
  unsigned head;
  unsigned seen = 0;
  io_uring_cqe* cqe;
  io_uring_for_each_cqe(uring, head, cqe) {
    HandleCompletion(ring, b, io_uring_cqe_get_data64(cqe), cqe->res);
    ++seen;
  }
  io_uring_cq_advance(uring, seen);  // every reaped completion, whatever its outcome
  return Status::Ok();
}

// Consumes one completion: success, short (resubmit the remainder), retryable (resubmit) or
// failed. Never touches the ring, so it is safe inside io_uring_for_each_cqe.
void UringDevice::HandleCompletion(PooledRing& ring, Batch& b, uint64_t index, int res) {
  --b.in_flight;
  const uint32_t i = static_cast<uint32_t>(index);
  if (!b.fatal.ok()) {  // draining after a ring failure: record, resubmit nothing
    if (res >= 0 && b.done[i] + res == b.requests[i].buffer.size()) Finish(b, i, Status::Ok());
    return;
  }
  if (res >= 0 && Roll(ring.rng, inject_.eagain_one_in)) {
    res = -EAGAIN;
    counters_.injected_eagain.fetch_add(1, std::memory_order_relaxed);
  } else if (res >= 0 && Roll(ring.rng, inject_.eintr_one_in)) {
    res = -EINTR;
    counters_.injected_eintr.fetch_add(1, std::memory_order_relaxed);
  }
  if (res == -EAGAIN || res == -EINTR) {
    if (++b.retries[i] > kMaxRetries) return Finish(b, i, ErrnoToStatus(-res, Describe(b, i)));
    counters_.retries.fetch_add(1, std::memory_order_relaxed);
    b.pending.push_back(i);
    return;
  }
  if (res < 0) return Finish(b, i, ErrnoToStatus(-res, Describe(b, i)));
  if (res == 0) {
    return Finish(b, i, Status::IOError(Describe(b, i) + ": no progress (end of device?)"));
  }
  b.done[i] += static_cast<uint64_t>(res);
  if (b.done[i] < b.requests[i].buffer.size()) {
    counters_.short_resubmits.fetch_add(1, std::memory_order_relaxed);
    b.pending.push_back(i);
    return;
  }
  Finish(b, i, Status::Ok());
}

// After a ring failure: waits for every SQE the kernel consumed (in flight minus those still
// sitting unconsumed in the SQ), so no buffer is touched after the call returns.
void UringDevice::DrainInFlight(PooledRing& ring, Batch& b) {
  io_uring* uring = ring.ring->get();
  while (b.in_flight > io_uring_sq_ready(uring)) {
    io_uring_cqe* cqe = nullptr;
    if (ring.ring->WaitCqe(&cqe) != 0) return;  // ring unusable: nothing more will complete
    HandleCompletion(ring, b, io_uring_cqe_get_data64(cqe), cqe->res);
    io_uring_cqe_seen(uring, cqe);
  }
}

void UringDevice::Finish(Batch& b, uint32_t i, Status result) {
  b.requests[i].result = std::move(result);
  b.finished[i] = true;
}

std::string UringDevice::Describe(const Batch& b, uint32_t i) const {
  const IoRequest& r = b.requests[i];
  return std::string(b.write ? "write " : "read ") + path_ + " [" +
         std::to_string(r.offset.value()) + ", +" + std::to_string(r.buffer.size()) + ") after " +
         std::to_string(b.done[i]) + " bytes";
}

}  // namespace kvstash
