#include "common/rate_limiter.h"

#include <gtest/gtest.h>

namespace kvstash {
namespace {

TEST(TokenBucketTest, LimitsAndRefills) {
  ManualClock clock;
  TokenBucket b(/*rate_per_sec=*/1000, /*burst=*/100, &clock);
  EXPECT_TRUE(b.TryAcquire(60));
  EXPECT_FALSE(b.TryAcquire(60));
  EXPECT_GT(b.NanosUntilAvailable(60), 0);
  clock.AdvanceMillis(20);  // +20 tokens -> 60
  EXPECT_TRUE(b.TryAcquire(60));
  clock.AdvanceMillis(10'000);  // capped at burst
  EXPECT_TRUE(b.TryAcquire(100));
  EXPECT_FALSE(b.TryAcquire(1));
}

TEST(TokenBucketTest, OversizedRequestPassesWhenFull) {
  ManualClock clock;
  TokenBucket b(10, 5, &clock);
  EXPECT_TRUE(b.TryAcquire(50));  // bucket full: allowed, goes into debt
  EXPECT_FALSE(b.TryAcquire(1));
  clock.AdvanceMillis(5000);  // repays the debt of 45 (+50 tokens), back to burst
  EXPECT_TRUE(b.TryAcquire(1));
}

TEST(TokenBucketTest, ZeroRateIsUnlimited) {
  ManualClock clock;
  TokenBucket b(0, 0, &clock);
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(b.TryAcquire(1e9));
}

}  // namespace
}  // namespace kvstash
