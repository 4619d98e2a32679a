#include "tools/bench/cli_bench_report.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace kvstash {
namespace {

TEST(CliBenchReportTest, NearestRankPercentiles) {
  std::vector<uint64_t> ns;
  for (uint64_t i = 1000; i >= 1; --i) ns.push_back(i * 1000);  // 1..1000 us, reversed
  BenchLatency s = SummarizeLatencies(&ns);
  EXPECT_EQ(s.samples, 1000u);
  EXPECT_DOUBLE_EQ(s.p50_us, 500);
  EXPECT_DOUBLE_EQ(s.p99_us, 990);
  EXPECT_DOUBLE_EQ(s.p999_us, 999);
  EXPECT_DOUBLE_EQ(s.max_us, 1000);
  EXPECT_DOUBLE_EQ(s.mean_us, 500.5);
}

TEST(CliBenchReportTest, SmallAndEmptyInputs) {
  std::vector<uint64_t> empty;
  EXPECT_EQ(SummarizeLatencies(&empty).samples, 0u);
  std::vector<uint64_t> one = {7000};
  BenchLatency s = SummarizeLatencies(&one);
  EXPECT_DOUBLE_EQ(s.p50_us, 7);
  EXPECT_DOUBLE_EQ(s.p999_us, 7);
}

TEST(CliBenchReportTest, MachineAndTransport) {
  MachineInfo m = ProbeMachine();
  EXPECT_GE(m.nproc, 1u);
  EXPECT_FALSE(m.cpu_model.empty());
  ::setenv("UCX_TLS", "tcp,self", 1);
  EXPECT_EQ(TransportName(), "tcp,self");
  ::unsetenv("UCX_TLS");
  EXPECT_EQ(TransportName(), "default");
}

TEST(CliBenchReportTest, MemcpyBandwidthIsPlausible) {
  double gbps = MeasureMemcpyGbps(1 << 20, 0.05);
  EXPECT_GT(gbps, 0.1);   // any machine copies faster than 100 MB/s
  EXPECT_LT(gbps, 1000);  // and slower than 1 TB/s on one thread
}

}  // namespace
}  // namespace kvstash
