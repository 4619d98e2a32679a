#include "model/model_table.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <vector>

namespace kvstash {
namespace {

TEST(ModelTableTest, RowsMatchHandComputation) {
  ModelInputs in;  // toy shape: 1000 B/token (see break_even_test.cc)
  in.model.name = "toy";
  in.model.layers = 1;
  in.model.kv_heads = 1;
  in.model.head_dim = 500;
  in.model.dtype_bytes = 1;
  in.prefill_tokens_per_sec = 1000;
  in.load_bytes_per_sec = 1e7;
  in.load_latency_sec = 0.01;
  const std::vector<uint64_t> lengths = {10, 1000};
  Result<std::vector<BreakEvenRow>> rows = BreakEvenTable(in, lengths);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 2u);
  const BreakEvenRow& small = (*rows)[0];
  EXPECT_DOUBLE_EQ(small.saved_seconds, 0.0);  // 10 ms recompute vs 11 ms load
  EXPECT_DOUBLE_EQ(small.break_even_p, 1.0);
  const BreakEvenRow& big = (*rows)[1];
  EXPECT_EQ(big.kv_bytes, 1'000'000u);
  EXPECT_DOUBLE_EQ(big.recompute_seconds, 1.0);
  EXPECT_DOUBLE_EQ(big.load_seconds, 0.11);
  EXPECT_NEAR(big.speedup, 1.0 / 0.11, 1e-12);
  EXPECT_NEAR(big.saved_seconds, 0.89, 1e-12);
  EXPECT_NEAR(big.reuse_benefit_dollars, 0.89 * 20 / 3600, 1e-15);
  EXPECT_NEAR(big.break_even_p, big.write_cost_dollars / big.reuse_benefit_dollars, 1e-15);
  const std::vector<uint64_t> zero = {0};
  EXPECT_FALSE(BreakEvenTable(in, zero).ok());
}

TEST(ModelTableTest, DefaultLengthsAndFormatting) {
  ASSERT_EQ(DefaultContextLengths().size(), 8u);
  EXPECT_EQ(DefaultContextLengths().front(), 1024u);
  EXPECT_EQ(DefaultContextLengths().back(), 131072u);
  ModelInputs in;  // Llama-3.1-70B defaults
  Result<std::vector<BreakEvenRow>> rows = BreakEvenTable(in, DefaultContextLengths());
  ASSERT_TRUE(rows.ok());
  // Speedup grows with length (the fixed latency is amortized) toward the bandwidth ratio
  // 10'000 tokens/s * 327'680 B / 25e9 B/s = 7.63x.
  for (size_t i = 1; i < rows->size(); ++i) {
    EXPECT_GT((*rows)[i].speedup, (*rows)[i - 1].speedup);
  }
  EXPECT_NEAR(rows->back().speedup, 25e9 / (1e4 * 327680.0), 0.01);
  EXPECT_NEAR(static_cast<double>(rows->back().kv_bytes), 40.0 * (1 << 30), 0.5);
  std::vector<std::string> lines = FormatBreakEvenTable(*rows);
  ASSERT_EQ(lines.size(), rows->size() + 1);
  EXPECT_NE(lines[0].find("p*"), std::string::npos);
  EXPECT_NE(lines.back().find("131072"), std::string::npos);
  EXPECT_NE(lines.back().find("40.000"), std::string::npos);
  for (const std::string& line : lines) std::printf("%s\n", line.c_str());
}

}  // namespace
}  // namespace kvstash
