#include "admission/write_budget_policy.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <vector>

#include "admission/reuse_aware_policy.h"

namespace kvstash {
namespace {

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kBlock = 64 << 10;

AdmissionCandidate Candidate(uint64_t key, uint64_t size, uint32_t hits = 0) {
  return AdmissionCandidate{.key_hash = key, .size_bytes = size, .dram_hits = hits};
}

TEST(WriteBudgetPolicyTest, LimitsAdmittedBytesPerSimulatedSecond) {
  ManualClock clock;
  constexpr uint64_t kRate = 10 * kBlock;  // 640 KiB/s: one 64 KiB block per 100 ms
  WriteBudgetPolicy p(std::make_unique<AdmitAllPolicy>(), kRate, /*burst_bytes=*/kRate, &clock);
  // Offer 16 blocks every 100 ms (10 MiB/s) for 10 simulated seconds. Each tick is 100 ms plus
  // 1 us so that floating-point refill never falls a hair short of one block.
  uint64_t key = 0;
  std::vector<uint64_t> per_second;
  for (int sec = 0; sec < 10; ++sec) {
    uint64_t before = p.Stats().bytes_admitted;
    for (int tick = 0; tick < 10; ++tick) {
      for (int i = 0; i < 16; ++i) (void)p.Admit(Candidate(key++, kBlock));
      clock.Advance(std::chrono::microseconds(100'001));
    }
    per_second.push_back(p.Stats().bytes_admitted - before);
  }
  EXPECT_EQ(per_second[0], kRate + 9 * kBlock);  // the full burst, then one block per tick
  for (int sec = 1; sec < 10; ++sec) EXPECT_EQ(per_second[sec], kRate) << sec;
  AdmissionStats s = p.Stats();
  EXPECT_EQ(s.admitted + s.rejected, key);
  EXPECT_EQ(s.rejected, s.rejected_by_budget);
  EXPECT_EQ(s.bytes_admitted, 109 * kBlock);  // burst + one block per tick after the first
  EXPECT_EQ(s.bytes_rejected_by_budget, key * kBlock - s.bytes_admitted);
  EXPECT_EQ(p.inner().Stats().admitted, key);  // the inner policy said yes to all
}

TEST(WriteBudgetPolicyTest, InnerRejectionsDoNotSpendBudget) {
  ManualClock clock;
  auto inner = std::make_unique<ReuseAwarePolicy>(ReuseAwareConfig{.expected_items = 1 << 16});
  WriteBudgetPolicy p(std::move(inner), /*bytes_per_sec=*/4 * kBlock, /*burst_bytes=*/4 * kBlock,
                      &clock);
  EXPECT_EQ(p.Name(), "budget(reuse)");
  for (uint64_t k = 0; k < 100; ++k) {
    p.RecordAccess(k);
    EXPECT_FALSE(p.Admit(Candidate(k, kBlock)));  // one-shot: the inner policy says no
  }
  for (uint64_t k = 100; k < 104; ++k) EXPECT_TRUE(p.Admit(Candidate(k, kBlock, /*hits=*/1)));
  EXPECT_FALSE(p.Admit(Candidate(104, kBlock, 1)));  // budget spent
  clock.AdvanceMillis(260);                          // one block's worth of refill
  EXPECT_TRUE(p.Admit(Candidate(105, kBlock, 1)));
  AdmissionStats s = p.Stats();
  EXPECT_EQ(s.admitted, 5u);
  EXPECT_EQ(s.rejected, 101u);
  EXPECT_EQ(s.rejected_by_budget, 1u);
  EXPECT_EQ(s.bytes_rejected_by_budget, kBlock);
  EXPECT_EQ(s.bytes_admitted, 5 * kBlock);
}

TEST(WriteBudgetPolicyTest, OversizedBlockPassesWhenBucketFull) {
  ManualClock clock;
  WriteBudgetPolicy p(std::make_unique<AdmitAllPolicy>(), kMiB, kMiB, &clock);
  EXPECT_TRUE(p.Admit(Candidate(1, 4 * kMiB)));  // full bucket: admitted, 3 MiB of debt
  EXPECT_FALSE(p.Admit(Candidate(2, kBlock)));
  clock.AdvanceMillis(3000);  // debt repaid, bucket at 0
  EXPECT_FALSE(p.Admit(Candidate(3, kBlock)));
  clock.AdvanceMillis(100);
  EXPECT_TRUE(p.Admit(Candidate(4, kBlock)));
}

}  // namespace
}  // namespace kvstash
