// Logging: spdlog, plus a rate limit for anything on the data path (no log line per block).
//
//   KVSTASH_LOG_EVERY_N_SEC(warn, 5, "flash read failed: {}", s.ToString());
#ifndef KVSTASH_COMMON_LOGGING_H_
#define KVSTASH_COMMON_LOGGING_H_

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdint>

namespace kvstash {

// True at most once per `period_sec` per call site; counts what it suppressed.
class LogEveryNSec {
 public:
  explicit LogEveryNSec(double period_sec) : period_ns_(static_cast<int64_t>(period_sec * 1e9)) {}
  bool ShouldLog(uint64_t* suppressed) {
    int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::steady_clock::now().time_since_epoch())
                      .count();
    int64_t last = last_.load(std::memory_order_relaxed);
    if (now - last < period_ns_ || !last_.compare_exchange_strong(last, now)) {
      suppressed_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    *suppressed = suppressed_.exchange(0, std::memory_order_relaxed);
    return true;
  }

 private:
  const int64_t period_ns_;
  std::atomic<int64_t> last_{INT64_MIN / 2};
  std::atomic<uint64_t> suppressed_{0};
};

}  // namespace kvstash

#define KVSTASH_LOG_EVERY_N_SEC(level, sec, ...)                                \
  do {                                                                          \
    static ::kvstash::LogEveryNSec kvstash_log_limiter_(sec);                   \
    uint64_t kvstash_suppressed_ = 0;                                           \
    if (kvstash_log_limiter_.ShouldLog(&kvstash_suppressed_)) {                 \
      if (kvstash_suppressed_ > 0)                                              \
        spdlog::level("({} similar messages suppressed)", kvstash_suppressed_); \
      spdlog::level(__VA_ARGS__);                                               \
    }                                                                           \
  } while (0)

#endif  // KVSTASH_COMMON_LOGGING_H_
