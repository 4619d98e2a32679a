#include "common/rate_limiter.h"

#include <algorithm>

namespace kvstash {

TokenBucket::TokenBucket(double rate_per_sec, double burst, Clock* clock)
    : rate_(rate_per_sec),
      burst_(burst),
      clock_(clock),
      tokens_(burst),
      last_nanos_(clock->NowNanos()) {}

void TokenBucket::RefillLocked() {
  int64_t now = clock_->NowNanos();
  if (now > last_nanos_) {
    tokens_ = std::min(burst_, tokens_ + rate_ * static_cast<double>(now - last_nanos_) * 1e-9);
    last_nanos_ = now;
  }
}

bool TokenBucket::TryAcquire(double n) {
  if (unlimited()) return true;
  MutexLock lock(&mu_);
  RefillLocked();
  // A request larger than the burst is allowed once the bucket is full, so it cannot starve.
  if (tokens_ >= n || tokens_ >= burst_) {
    tokens_ -= n;
    return true;
  }
  return false;
}

int64_t TokenBucket::NanosUntilAvailable(double n) {
  if (unlimited()) return 0;
  MutexLock lock(&mu_);
  RefillLocked();
  double need = std::min(n, burst_) - tokens_;
  if (need <= 0) return 0;
  return static_cast<int64_t>(need / rate_ * 1e9) + 1;
}

}  // namespace kvstash
