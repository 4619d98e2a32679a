// Clock: every time read in kvstash goes through this interface so that lease expiry, rate
// limits and timeouts are testable without sleeping (ManualClock).
//
// Thread safety: all implementations are safe for concurrent use.
#ifndef KVSTASH_COMMON_CLOCK_H_
#define KVSTASH_COMMON_CLOCK_H_

#include <atomic>
#include <chrono>
#include <cstdint>

namespace kvstash {

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic nanoseconds since an arbitrary epoch.
  virtual int64_t NowNanos() const = 0;
  // The process-wide steady clock. Never null; lives forever.
  static Clock* Real();
};

// A clock that moves only when told to.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t start_nanos = 1'000'000'000) : now_(start_nanos) {}
  int64_t NowNanos() const override { return now_.load(std::memory_order_acquire); }
  void Advance(std::chrono::nanoseconds d) { now_.fetch_add(d.count(), std::memory_order_acq_rel); }
  void AdvanceMillis(int64_t ms) { Advance(std::chrono::milliseconds(ms)); }

 private:
  std::atomic<int64_t> now_;
};

}  // namespace kvstash

#endif  // KVSTASH_COMMON_CLOCK_H_
