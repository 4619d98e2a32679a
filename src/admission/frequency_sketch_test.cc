#include "admission/frequency_sketch.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <thread>
#include <vector>

namespace kvstash {
namespace {

constexpr uint64_t kNoAging = uint64_t{1} << 62;

// Key hashes with structure (consecutive integers): the sketch must mix them itself.
uint64_t KeyHash(uint64_t i) { return i; }

TEST(FrequencySketchTest, SizingAndMemory) {
  FrequencySketch s(1 << 20);
  EXPECT_EQ(s.width(), uint64_t{4} << 20);
  EXPECT_EQ(s.memory_bytes(), uint64_t{8} << 20);  // 4 rows * 4Mi counters * 4 bits
  EXPECT_EQ(s.aging_period(), uint64_t{1} << 20);
  FrequencySketch t(10'000);
  EXPECT_EQ(t.width(), 65'536u);  // next_pow2(40'000)
}

TEST(FrequencySketchTest, CountsExactlyWithoutCollisionsAndSaturates) {
  FrequencySketch s(1024, kNoAging);
  EXPECT_EQ(s.Estimate(42), 0u);
  for (int i = 0; i < 7; ++i) s.Increment(42);
  EXPECT_EQ(s.Estimate(42), 7u);
  for (int i = 0; i < 20; ++i) s.Increment(42);
  EXPECT_EQ(s.Estimate(42), FrequencySketch::kMaxCount);
  EXPECT_EQ(s.Estimate(43), 0u);
}

TEST(FrequencySketchTest, EstimatesWithinCountMinErrorBound) {
  constexpr uint64_t kKeys = 20'000;
  FrequencySketch s(kKeys, kNoAging);
  uint64_t total = 0;
  for (uint64_t k = 0; k < kKeys; ++k) {
    uint64_t count = 1 + k % 5;  // 1..5
    for (uint64_t c = 0; c < count; ++c) s.Increment(KeyHash(k));
    total += count;
  }
  // Count-min: P(overcount > e * N / width) <= e^-depth ~= 1.8% per key.
  double bound = std::exp(1.0) * static_cast<double>(total) / static_cast<double>(s.width());
  uint64_t undercounts = 0, over_bound = 0, overcount_sum = 0;
  for (uint64_t k = 0; k < kKeys; ++k) {
    uint32_t truth = static_cast<uint32_t>(1 + k % 5);
    uint32_t est = s.Estimate(KeyHash(k));
    if (est < truth) ++undercounts;
    if (est - truth > bound) ++over_bound;
    overcount_sum += est - truth;
  }
  EXPECT_EQ(undercounts, 0u);
  EXPECT_LE(over_bound, kKeys * 2 / 100);
  // Mean load per counter is 60k / 80k = 0.75: the mean overcount of the min is far below it.
  EXPECT_LT(static_cast<double>(overcount_sum) / kKeys, 0.1);
  // Keys never inserted: at most a few percent look like "seen twice".
  uint64_t absent_ge2 = 0;
  for (uint64_t k = kKeys; k < 2 * kKeys; ++k) absent_ge2 += s.Estimate(KeyHash(k)) >= 2;
  EXPECT_LE(absent_ge2, kKeys * 2 / 100);
}

TEST(FrequencySketchTest, AgeHalvesCounters) {
  FrequencySketch s(1024, kNoAging);
  for (int i = 0; i < 12; ++i) s.Increment(1);
  for (int i = 0; i < 3; ++i) s.Increment(2);
  s.Increment(3);
  s.Age();
  EXPECT_EQ(s.Estimate(1), 6u);
  EXPECT_EQ(s.Estimate(2), 1u);
  EXPECT_EQ(s.Estimate(3), 0u);  // a one-shot key is forgotten at the first halving
  s.Age();
  EXPECT_EQ(s.Estimate(1), 3u);
  EXPECT_EQ(s.Estimate(2), 0u);
  EXPECT_EQ(s.agings(), 2u);
}

TEST(FrequencySketchTest, AgesAutomaticallyEveryPeriod) {
  FrequencySketch s(/*expected_items=*/100, /*aging_period=*/100);
  for (int i = 0; i < 10; ++i) s.Increment(7);
  for (uint64_t k = 1000; k < 1089; ++k) s.Increment(k);  // 99 increments so far
  EXPECT_EQ(s.agings(), 0u);
  EXPECT_EQ(s.Estimate(7), 10u);
  s.Increment(1089);  // the 100th
  EXPECT_EQ(s.agings(), 1u);
  EXPECT_EQ(s.Estimate(7), 5u);
  for (uint64_t k = 2000; k < 2100; ++k) s.Increment(k);
  EXPECT_EQ(s.agings(), 2u);
  EXPECT_EQ(s.Estimate(7), 2u);
}

TEST(FrequencySketchTest, ConcurrentIncrementsAreNotLost) {
  constexpr int kThreads = 8;
  constexpr uint64_t kKeysPerThread = 5'000;
  FrequencySketch s(kThreads * kKeysPerThread * 3, kNoAging);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&s, t] {
      for (int round = 0; round < 3; ++round) {
        for (uint64_t k = 0; k < kKeysPerThread; ++k) s.Increment(t * kKeysPerThread + k);
      }
    });
  }
  // The main thread hammers one hot key meanwhile: CAS contention with the workers.
  for (int i = 0; i < 1000; ++i) s.Increment(~uint64_t{0});
  for (auto& th : threads) th.join();
  for (uint64_t k = 0; k < kThreads * kKeysPerThread; ++k) ASSERT_GE(s.Estimate(k), 3u) << k;
  EXPECT_EQ(s.Estimate(~uint64_t{0}), FrequencySketch::kMaxCount);
}

}  // namespace
}  // namespace kvstash
