// TokenBucket: a rate limit in units per second with a burst, on an injectable Clock.
// Used for the flash write budget, the TRIM rate and rate-limited logging.
//
// Thread safety: all methods are safe for concurrent use (internally locked).
#ifndef KVSTASH_COMMON_RATE_LIMITER_H_
#define KVSTASH_COMMON_RATE_LIMITER_H_

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "common/mutex.h"
#include "common/clock.h"

namespace kvstash {

class TokenBucket {
 public:
  // rate_per_sec == 0 means unlimited. `clock` must outlive the bucket.
  TokenBucket(double rate_per_sec, double burst, Clock* clock);

  // Takes `n` tokens if available now; false (and takes nothing) otherwise.
  bool TryAcquire(double n);
  // Nanoseconds until `n` tokens would be available (0 if now). Does not take them.
  int64_t NanosUntilAvailable(double n);
  bool unlimited() const { return rate_ <= 0; }

 private:
  void RefillLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const double rate_;
  const double burst_;
  Clock* const clock_;
  Mutex mu_;
  double tokens_ ABSL_GUARDED_BY(mu_);
  int64_t last_nanos_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kvstash

#endif  // KVSTASH_COMMON_RATE_LIMITER_H_
