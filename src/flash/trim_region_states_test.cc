#include "flash/trim_region_states.h"

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>
#include <vector>

namespace kvstash {
namespace {

std::vector<uint32_t> AllocateAll(RegionStates& s) {
  std::vector<uint32_t> got;
  while (auto r = s.AllocateForWrite()) got.push_back(r->value());
  return got;
}

TEST(RegionStatesTest, InitialStateAndCounts) {
  RegionStates s(5, RegionTrimState::kFreeClean);
  EXPECT_EQ(s.size(), 5u);
  EXPECT_EQ(s.counts().free_clean, 5u);
  EXPECT_EQ(s.state(RegionId(4)), RegionTrimState::kFreeClean);
  EXPECT_EQ(s.state(RegionId(99)), RegionTrimState::kInUse);  // out of range: never free
  EXPECT_EQ(AllocateAll(s), (std::vector<uint32_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(s.counts().in_use, 5u);
  RegionStates busy(3, RegionTrimState::kInUse);
  EXPECT_FALSE(busy.AllocateForWrite().has_value());
}

TEST(RegionStatesTest, PrefersCleanRegionsThenOldestDirty) {
  RegionStates s(6, RegionTrimState::kInUse);
  for (uint32_t r : {4u, 1u, 5u, 0u}) ASSERT_TRUE(s.Release(RegionId(r)).ok());  // dirty: 4,1,5,0
  ASSERT_TRUE(s.BeginTrim(RegionId(5)).ok());
  ASSERT_TRUE(s.BeginTrim(RegionId(1)).ok());
  ASSERT_TRUE(s.FinishTrim(RegionId(1), true).ok());  // clean: 1
  ASSERT_TRUE(s.FinishTrim(RegionId(5), true).ok());  // clean: 1,5
  RegionStateCounts c = s.counts();
  EXPECT_EQ(c.free_clean, 2u);
  EXPECT_EQ(c.free_dirty, 2u);
  EXPECT_EQ(c.in_use, 2u);
  EXPECT_EQ(AllocateAll(s), (std::vector<uint32_t>{1, 5, 4, 0}));
}

TEST(RegionStatesTest, TrimmingRegionIsNeverHandedOut) {
  RegionStates s(3, RegionTrimState::kFreeDirty);
  for (uint32_t r = 0; r < 3; ++r) ASSERT_TRUE(s.BeginTrim(RegionId(r)).ok());
  EXPECT_FALSE(s.AllocateForWrite().has_value());  // everything free is being trimmed
  EXPECT_EQ(s.counts().trimming, 3u);
  ASSERT_TRUE(s.FinishTrim(RegionId(2), false).ok());  // failed discard: dirty, usable
  EXPECT_EQ(s.AllocateForWrite(), RegionId(2));
  EXPECT_FALSE(s.AllocateForWrite().has_value());
}

TEST(RegionStatesTest, IllegalTransitionsAreRejectedAndChangeNothing) {
  RegionStates s(2, RegionTrimState::kFreeClean);
  EXPECT_TRUE(s.Release(RegionId(0)).Is(StatusCode::kInternal));    // not in use
  EXPECT_TRUE(s.BeginTrim(RegionId(0)).Is(StatusCode::kInternal));  // clean, not dirty
  EXPECT_TRUE(s.FinishTrim(RegionId(0), true).Is(StatusCode::kInternal));
  EXPECT_TRUE(s.Release(RegionId(2)).Is(StatusCode::kInvalidArgument));  // out of range
  EXPECT_EQ(s.counts().free_clean, 2u);
  ASSERT_EQ(s.AllocateForWrite(), RegionId(0));
  EXPECT_TRUE(s.BeginTrim(RegionId(0)).Is(StatusCode::kInternal));  // in use: no discard
  EXPECT_EQ(s.state(RegionId(0)), RegionTrimState::kInUse);
}

// Writers allocate and release while a trimmer trims whatever is dirty. A region must never be
// held by two writers, nor be TRIMMING while a writer holds it.
TEST(RegionStatesTest, ConcurrentAllocationNeverOverlapsATrim) {
  constexpr uint32_t kRegions = 16;
  RegionStates s(kRegions, RegionTrimState::kFreeDirty);
  std::vector<std::atomic<int>> holders(kRegions);
  std::atomic<bool> stop{false};
  std::atomic<int> violations{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        auto r = s.AllocateForWrite();
        if (!r) continue;
        if (holders[r->value()].fetch_add(1) != 0) violations++;
        if (s.state(*r) != RegionTrimState::kInUse) violations++;
        holders[r->value()].fetch_sub(1);
        if (!s.Release(*r).ok()) violations++;
      }
    });
  }
  std::thread trimmer([&] {
    std::mt19937 rng(1);
    while (!stop.load()) {
      RegionId r(rng() % kRegions);
      if (s.BeginTrim(r).ok()) {
        if (holders[r.value()].load() != 0) violations++;
        if (!s.FinishTrim(r, rng() % 2 == 0).ok()) violations++;
      }
    }
  });
  for (auto& t : threads) t.join();
  stop = true;
  trimmer.join();
  EXPECT_EQ(violations.load(), 0);
  RegionStateCounts c = s.counts();
  EXPECT_EQ(c.in_use + c.free_dirty + c.free_clean + c.trimming, kRegions);
  EXPECT_EQ(c.in_use, 0u);
  EXPECT_EQ(c.trimming, 0u);
}

}  // namespace
}  // namespace kvstash
