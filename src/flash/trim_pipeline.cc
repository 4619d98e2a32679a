#include "flash/trim_pipeline.h"

#include <algorithm>
#include <iterator>
#include <string>
#include <utility>

#include "absl/time/time.h"

namespace kvstash {
namespace {

// The worker re-checks a throttled queue at least this often (new neighbours may have
// arrived) and at most this rarely.
constexpr int64_t kMinThrottleWaitNanos = 100'000;
constexpr int64_t kMaxThrottleWaitNanos = 100'000'000;

struct DiscardOutcome {
  Status status;
  uint64_t calls = 0;
  bool unsupported = false;
};

}  // namespace

Status TrimPipelineOptions::Validate() const {
  if (max_discard_bytes == 0) return Status::InvalidArgument("max_discard_bytes must be > 0");
  if (rate_bytes_per_sec < 0) return Status::InvalidArgument("rate_bytes_per_sec must be >= 0");
  return Status::Ok();
}

Result<std::unique_ptr<TrimPipeline>> TrimPipeline::Create(Device* device,
                                                           const TrimPipelineOptions& options,
                                                           TrimDoneCallback on_done,
                                                           RegionStates* states) {
  if (device == nullptr) return Status::InvalidArgument("trim pipeline needs a device");
  KVSTASH_RETURN_IF_ERROR(options.Validate());
  if (!IsAligned(options.max_discard_bytes, device->io_alignment())) {
    return Status::InvalidArgument("max_discard_bytes " +
                                   std::to_string(options.max_discard_bytes) +
                                   " not a multiple of the device alignment");
  }
  std::unique_ptr<TrimPipeline> p(new TrimPipeline(device, options, std::move(on_done), states));
  if (options.background_thread) p->worker_ = std::thread([raw = p.get()] { raw->WorkerLoop(); });
  return p;
}

TrimPipeline::TrimPipeline(Device* device, const TrimPipelineOptions& options,
                           TrimDoneCallback on_done, RegionStates* states)
    : device_(device),
      options_(options),
      on_done_(std::move(on_done)),
      states_(states),
      limiter_(options.rate_bytes_per_sec,
               static_cast<double>(options.burst_bytes != 0 ? options.burst_bytes
                                                            : options.max_discard_bytes),
               options.clock != nullptr ? options.clock : Clock::Real()) {}

TrimPipeline::~TrimPipeline() { Stop(); }

Status TrimPipeline::Enqueue(RegionId region, DeviceOffset offset, uint64_t len) {
  const uint64_t off = offset.value();
  const uint32_t align = device_->io_alignment();
  if (len == 0 || !IsAligned(off, align) || !IsAligned(len, align) || off > device_->size() ||
      len > device_->size() - off) {
    return Status::InvalidArgument("trim extent [" + std::to_string(off) + ", +" +
                                   std::to_string(len) + ") unaligned, empty or out of range");
  }
  if (states_ != nullptr) KVSTASH_RETURN_IF_ERROR(states_->BeginTrim(region));
  Status s;
  {
    MutexLock lock(&mu_);
    auto next = by_offset_.lower_bound(off);
    bool overlaps =
        (next != by_offset_.end() && next->first < off + len) ||
        (next != by_offset_.begin() && std::prev(next)->first + std::prev(next)->second.len > off);
    if (stopping_) {
      s = Status::Unavailable("trim pipeline stopped");
    } else if (overlaps) {
      s = Status::InvalidArgument("trim extent at " + std::to_string(off) +
                                  " overlaps a pending extent");
    } else {
      const uint64_t seq = next_seq_++;
      by_offset_.emplace(off, Extent{region, off, len, seq});
      by_age_.emplace(seq, off);
      ++stats_.extents_enqueued;
    }
  }
  if (!s.ok() && states_ != nullptr) states_->FinishTrim(region, false).IgnoreError();
  return s;
}

// Picks the round: the oldest extent plus its touching neighbours within max_discard_bytes,
// if the rate limiter grants its bytes now. Removes the round from the queue.
std::vector<TrimPipeline::Extent> TrimPipeline::TakeRoundLocked() {
  if (by_age_.empty()) return {};
  auto first = by_offset_.find(by_age_.begin()->second);
  auto last = first;
  uint64_t total = first->second.len;
  const uint64_t max = options_.max_discard_bytes;
  for (auto next = std::next(last); next != by_offset_.end(); ++next) {
    if (next->first != last->first + last->second.len || total + next->second.len > max) break;
    total += next->second.len;
    last = next;
  }
  while (first != by_offset_.begin()) {
    auto prev = std::prev(first);
    if (prev->first + prev->second.len != first->first || total + prev->second.len > max) break;
    total += prev->second.len;
    first = prev;
  }
  if (!limiter_.TryAcquire(static_cast<double>(total))) {
    ++stats_.throttled;
    throttle_nanos_ = limiter_.NanosUntilAvailable(static_cast<double>(total));
    return {};
  }
  std::vector<Extent> round;
  const auto end = std::next(last);  // computed before erasing: `last` is erased below
  for (auto it = first; it != end;) {
    round.push_back(it->second);
    by_age_.erase(it->second.seq);
    it = by_offset_.erase(it);
  }
  round_active_ = true;
  return round;
}

size_t TrimPipeline::RunOnce() {
  MutexLock round_lock(&round_mu_);
  std::vector<Extent> round;
  {
    MutexLock lock(&mu_);
    round = TakeRoundLocked();
  }
  if (round.empty()) return 0;
  const uint64_t start = round.front().offset;
  const uint64_t len = round.back().offset + round.back().len - start;
  // Issue the round in max_discard_bytes pieces (more than one only for a single long extent).
  DiscardOutcome out;
  for (uint64_t done = 0; done < len && out.status.ok();) {
    const uint64_t piece = std::min(len - done, options_.max_discard_bytes);
    out.status = device_->Discard(DeviceOffset(start + done), piece);
    ++out.calls;
    done += piece;
  }
  out.unsupported = !device_->discard_supported();
  {
    MutexLock lock(&mu_);
    stats_.discard_calls += out.calls;
    stats_.discard_errors += !out.status.ok();
    stats_.unsupported += out.status.ok() && out.unsupported ? out.calls : 0;
    stats_.bytes_discarded += out.status.ok() && !out.unsupported ? len : 0;
    stats_.coalesced_extents += round.size() - 1;
  }
  Complete(round, out.status);
  return round.size();
}

// Settles the region states, then runs the callbacks (no lock held), then marks the round
// finished so WaitIdle returns only after every callback has.
void TrimPipeline::Complete(const std::vector<Extent>& round, const Status& status) {
  for (const Extent& e : round) {
    if (states_ != nullptr) states_->FinishTrim(e.region, status.ok()).IgnoreError();
    if (on_done_) on_done_(e.region, status);
  }
  MutexLock lock(&mu_);
  (status.ok() ? stats_.extents_done : stats_.extents_failed) += round.size();
  round_active_ = false;
}

void TrimPipeline::WorkerLoop() {
  auto has_work_or_stop = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return stopping_ || !by_offset_.empty();
  };
  for (;;) {
    {
      MutexLock lock(&mu_);
      mu_.Await(Condition(&has_work_or_stop));
      if (stopping_) return;
    }
    if (RunOnce() > 0) continue;
    MutexLock lock(&mu_);
    const int64_t wait = std::clamp(throttle_nanos_, kMinThrottleWaitNanos, kMaxThrottleWaitNanos);
    mu_.AwaitWithTimeout(Condition(&stopping_), std::chrono::nanoseconds(wait));
    if (stopping_) return;
  }
}

void TrimPipeline::WaitIdle() {
  auto idle = [this]()
                  ABSL_SHARED_LOCKS_REQUIRED(mu_) { return by_offset_.empty() && !round_active_; };
  MutexLock lock(&mu_);
  mu_.Await(Condition(&idle));
}

void TrimPipeline::Stop() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (worker_.joinable()) worker_.join();
  MutexLock round_lock(&round_mu_);  // let a concurrent RunOnce finish its round
  std::vector<Extent> rest;
  {
    MutexLock lock(&mu_);
    for (const auto& [seq, off] : by_age_) rest.push_back(by_offset_.find(off)->second);
    by_age_.clear();
    by_offset_.clear();
    if (rest.empty()) return;
    round_active_ = true;
  }
  Complete(rest, Status::Unavailable("trim pipeline stopped before the discard"));
}

TrimStats TrimPipeline::stats() const {
  MutexLock lock(&mu_);
  return stats_;
}

size_t TrimPipeline::pending() const {
  MutexLock lock(&mu_);
  return by_offset_.size();
}

Status DiscardAll(Device& device, uint64_t chunk_bytes) {
  if (chunk_bytes == 0 || !IsAligned(chunk_bytes, device.io_alignment())) {
    return Status::InvalidArgument("discard chunk " + std::to_string(chunk_bytes) +
                                   " not a positive multiple of the device alignment");
  }
  for (uint64_t off = 0; off < device.size() && device.discard_supported(); off += chunk_bytes) {
    KVSTASH_RETURN_IF_ERROR(
        device.Discard(DeviceOffset(off), std::min(chunk_bytes, device.size() - off)));
  }
  return Status::Ok();
}

}  // namespace kvstash
