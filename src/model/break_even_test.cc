#include "model/break_even.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <utility>
#include <vector>

namespace kvstash {
namespace {

// Round numbers so every expectation can be checked by hand (docs/MODEL.md walks through it):
// 1000 B/token, 1000 tokens/s prefill, 10 MB/s load + 10 ms, $1 per GPU-second, a 1 GB drive
// at 1 DWPD for 1 year costing $365 ($1e-9 per byte written), writing at 1 MB/s.
ModelInputs HandInputs() {
  ModelInputs in;
  in.model.name = "toy";
  in.model.layers = 1;
  in.model.kv_heads = 1;
  in.model.head_dim = 500;
  in.model.dtype_bytes = 1;
  in.prefill_tokens_per_sec = 1000;
  in.load_bytes_per_sec = 1e7;
  in.load_latency_sec = 0.01;
  in.block_tokens = 100;
  in.gpu_dollars_per_hour = 3600;
  in.flash_capacity_bytes = 1e9;
  in.flash_dwpd = 1;
  in.flash_warranty_years = 1;
  in.flash_price_dollars = 365;
  in.flash_write_bytes_per_sec = 1e6;
  return in;
}

TEST(BreakEvenTest, HandComputedBlock) {
  ModelInputs in = HandInputs();
  ASSERT_TRUE(in.Validate().ok());
  EXPECT_EQ(in.model.KvBytesPerToken(), 1000u);
  EXPECT_DOUBLE_EQ(RecomputeSeconds(in, 100), 0.1);
  EXPECT_DOUBLE_EQ(LoadSeconds(in, 100), 0.02);          // 10 ms + 1e5 B / 1e7 B/s
  EXPECT_DOUBLE_EQ(ReuseBenefitDollars(in, 100), 0.08);  // 80 ms * $1/s
  EXPECT_DOUBLE_EQ(EnduranceDollarsPerByte(in), 1e-9);
  // 1e5 B * 1e-9 $/B + 0.1 s of the drive at $365 / (365 * 86400 s).
  double cost = 1e-4 + 0.1 / 86400;
  EXPECT_DOUBLE_EQ(WriteCostDollars(in, 100), cost);
  EXPECT_DOUBLE_EQ(BreakEvenReuseProbability(in), cost / 0.08);
  EXPECT_NEAR(BreakEvenReuseProbability(in), 1.26447e-3, 1e-8);
  EXPECT_DOUBLE_EQ(EnduranceWriteBudgetBytesPerSec(in), 1e9 / 86400);
}

TEST(BreakEvenTest, ClampsAndNeverPaysWhenLoadIsNotFaster) {
  ModelInputs in = HandInputs();
  // 10 tokens: recompute 10 ms, load 10 ms + 1 ms: no benefit.
  EXPECT_DOUBLE_EQ(ReuseBenefitDollars(in, 10), 0.0);
  EXPECT_DOUBLE_EQ(BreakEvenReuseProbability(in, 10), 1.0);
  in.flash_price_dollars = 365e6;  // $1e-3 per byte: a write costs more than any reuse saves
  EXPECT_DOUBLE_EQ(BreakEvenReuseProbability(in), 1.0);
  in.flash_price_dollars = 365e-6;  // nearly free flash
  EXPECT_LT(BreakEvenReuseProbability(in), 1e-8);
  EXPECT_GE(BreakEvenReuseProbability(in), 0.0);
}

TEST(BreakEvenTest, ValidateNamesTheField) {
  ModelInputs in = HandInputs();
  in.load_bytes_per_sec = 0;
  Status s = in.Validate();
  EXPECT_TRUE(s.Is(StatusCode::kInvalidArgument));
  EXPECT_NE(s.message().find("load_bytes_per_sec"), std::string::npos);
  in = HandInputs();
  in.flash_dwpd = NAN;
  EXPECT_FALSE(in.Validate().ok());
  in = HandInputs();
  in.block_tokens = 0;
  EXPECT_FALSE(in.Validate().ok());
  in = HandInputs();
  in.load_latency_sec = -1;
  EXPECT_FALSE(in.Validate().ok());
}

TEST(BreakEvenTest, EnduranceThresholdPicksSmallestFittingCount) {
  ModelInputs in = HandInputs();  // W = 11574.07 B/s
  const std::vector<double> at_least = {1.0, 0.3, 0.1, 0.05};
  Result<EnduranceThreshold> t = EnduranceAdmissionThreshold(in, 1e5, at_least);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->threshold, 3u);  // 1e5 * 0.3 = 3e4 > W >= 1e5 * 0.1 = 1e4
  EXPECT_DOUBLE_EQ(t->admitted_bytes_per_sec, 1e4);
  EXPECT_TRUE(t->fits);
  t = EnduranceAdmissionThreshold(in, 1e4, at_least);  // under budget: admit by the put alone
  EXPECT_EQ(t->threshold, 1u);
  t = EnduranceAdmissionThreshold(in, 1e6, at_least);  // 5e4 > W even at count 4
  EXPECT_EQ(t->threshold, 4u);
  EXPECT_FALSE(t->fits);
  const std::vector<double> increasing = {0.5, 0.6};
  EXPECT_FALSE(EnduranceAdmissionThreshold(in, 1e5, increasing).ok());
  EXPECT_FALSE(EnduranceAdmissionThreshold(in, 0, at_least).ok());
  EXPECT_FALSE(EnduranceAdmissionThreshold(in, 1e5, {}).ok());
}

TEST(BreakEvenTest, MinReuseProbabilityCombinesBudgetAndBreakEven) {
  ModelInputs in = HandInputs();
  std::vector<double> probs;
  for (int i = 0; i < 100; ++i) probs.push_back(i / 100.0);
  // Budget fraction 11574 / 1e5 = 0.1157: the best 11 of 100 (0.89..0.99) fit; 0.88 is out.
  Result<double> p = MinReuseProbabilityToAdmit(in, 1e5, probs);
  ASSERT_TRUE(p.ok());
  EXPECT_GT(*p, 0.88);
  EXPECT_LE(*p, 0.89);
  int admitted = 0;
  for (double q : probs) admitted += q >= *p;
  EXPECT_EQ(admitted, 11);
  // Under budget: only the break-even probability matters.
  EXPECT_DOUBLE_EQ(*MinReuseProbabilityToAdmit(in, 1e3, probs), BreakEvenReuseProbability(in));
  const std::vector<double> bad = {0.5, 1.5};
  EXPECT_FALSE(MinReuseProbabilityToAdmit(in, 1e5, bad).ok());
}

TEST(BreakEvenTest, DefaultLlama70BSample) {
  ModelInputs in;  // the documented defaults
  ASSERT_TRUE(in.Validate().ok());
  EXPECT_EQ(in.model.name, "Llama-3.1-70B");
  // 128K tokens: 13.1 s of prefill at 10k tokens/s vs 40 GiB / 25 GB/s + 0.5 ms = 1.72 s.
  EXPECT_NEAR(RecomputeSeconds(in, 131072), 13.1072, 1e-9);
  EXPECT_NEAR(LoadSeconds(in, 131072), 0.0005 + 42949672960.0 / 25e9, 1e-9);
  // One 256-token block (80 MiB): recompute 25.6 ms, load 3.855 ms, benefit
  // 21.745 ms * $20/h = $1.208e-4; write 83886080 B * ($1500 / 2.8032e16 B + $1500 /
  // 1.5768e8 s / 3e9 B/s) = $4.755e-6; p* = 0.0394.
  double cost = 83886080.0 * (1500 / 2.8032e16 + 1500 / 1.5768e8 / 3e9);
  double benefit = (0.0256 - (0.0005 + 83886080.0 / 25e9)) * 20 / 3600;
  EXPECT_NEAR(BreakEvenReuseProbability(in), cost / benefit, 1e-12);
  EXPECT_NEAR(BreakEvenReuseProbability(in), 0.0394, 5e-4);
  // Endurance budget: 15.36 TB * 1 DWPD / 86400 s = 177.8 MB/s.
  EXPECT_NEAR(EnduranceWriteBudgetBytesPerSec(in), 177.78e6, 0.01e6);
  std::printf("Llama-3.1-70B defaults: p* = %.4f per 256-token block, W = %.1f MB/s\n",
              BreakEvenReuseProbability(in), EnduranceWriteBudgetBytesPerSec(in) / 1e6);
}

TEST(BreakEvenTest, PresetSampleValues) {
  // The numbers quoted in docs/MODEL.md §4 (defaults, 256-token blocks, same prefill rate).
  const std::pair<const char*, double> expected[] = {{"Llama-3.1-8B", 0.0144},
                                                     {"Llama-3.1-70B", 0.0394},
                                                     {"Qwen2.5-32B", 0.0305},
                                                     {"DeepSeek-V3", 0.0075}};
  for (const auto& [name, p_star] : expected) {
    ModelInputs in;
    in.model = FindModelPreset(name).value();
    EXPECT_NEAR(BreakEvenReuseProbability(in), p_star, 5e-5) << name;
  }
}

}  // namespace
}  // namespace kvstash
