// Unit tests of the pure pieces of `kvstash bench`: Mooncake trace parsing, the LRU reference,
// the reuse workload's statistics, list flags and the loopback TCP probe.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <set>

#include "tools/bench/bench_reuse_workload.h"
#include "tools/bench/bench_tcp_probe.h"
#include "tools/bench/bench_trace_file.h"
#include "tools/bench/bench_util.h"

namespace kvstash {
namespace {

TEST(TraceFileTest, ParsesMooncakeLine) {
  auto r = ParseTraceLine(
      R"({"timestamp": 27482, "input_length": 6955, "output_length": 52, "hash_ids": [46, 47, 2]})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->timestamp_ms, 27482);
  EXPECT_EQ(r->input_length, 6955u);
  EXPECT_EQ(r->output_length, 52u);
  EXPECT_EQ(r->hash_ids, (std::vector<uint64_t>{46, 47, 2}));
}

TEST(TraceFileTest, RejectsBadLines) {
  EXPECT_FALSE(ParseTraceLine("not json").ok());
  EXPECT_FALSE(ParseTraceLine(R"({"timestamp": 1, "input_length": 5})").ok());
  EXPECT_FALSE(ParseTraceLine(R"({"timestamp": 1, "input_length": 5, "hash_ids": [-1]})").ok());
  EXPECT_FALSE(ParseTraceLine(R"({"input_length": 5, "hash_ids": []})").ok());
}

TEST(TraceFileTest, LoadNamesTheBadLineAndHonoursMax) {
  std::string path = testing::TempDir() + "trace_" + std::to_string(::getpid()) + ".jsonl";
  {
    std::ofstream out(path);
    out << R"({"timestamp": 0, "input_length": 512, "hash_ids": [1]})"
        << "\n\n";
    out << R"({"timestamp": 5, "input_length": 1024, "hash_ids": [1, 2]})"
        << "\n";
    out << "{broken\n";
  }
  auto two = LoadTrace(path, 2);
  ASSERT_TRUE(two.ok()) << two.status().ToString();
  EXPECT_EQ(two->size(), 2u);
  auto all = LoadTrace(path);
  ASSERT_FALSE(all.ok());
  EXPECT_NE(all.status().message().find(":4:"), std::string::npos) << all.status().message();
  std::remove(path.c_str());
  EXPECT_TRUE(LoadTrace(path).status().Is(StatusCode::kNotFound));
}

TEST(LruCacheTest, EvictsLeastRecentlyUsed) {
  LruCache lru(2);
  EXPECT_FALSE(lru.Access(1));
  EXPECT_FALSE(lru.Access(2));
  EXPECT_TRUE(lru.Access(1));   // 1 becomes most recent
  EXPECT_FALSE(lru.Access(3));  // evicts 2
  EXPECT_TRUE(lru.Contains(1));
  EXPECT_FALSE(lru.Contains(2));
  EXPECT_EQ(lru.size(), 2u);
  LruCache none(0);
  EXPECT_FALSE(none.Access(1));
  EXPECT_FALSE(none.Access(1));
}

TEST(LruCacheTest, SimulateCountsBlockAndPrefixHits) {
  std::vector<TraceRequest> reqs(3);
  reqs[0].hash_ids = {1, 2, 3};
  reqs[1].hash_ids = {1, 2, 4};  // prefix hits 1, 2
  reqs[2].hash_ids = {9, 3};     // 3 is present after a gap: a block hit, not a prefix hit
  TraceHitRatios big = SimulateLru(reqs, 100);
  EXPECT_EQ(big.references, 8u);
  EXPECT_EQ(big.block_hits, 3u);
  EXPECT_EQ(big.prefix_hits, 2u);
  EXPECT_EQ(big.unique_blocks, 5u);
  TraceHitRatios tiny = SimulateLru(reqs, 1);
  EXPECT_EQ(tiny.block_hits, 0u);
}

TEST(ReuseWorkloadTest, RateZeroNeverReusesRateOneAlwaysDoes) {
  ReuseWorkload none(0.0, 4, 2, 32, 7);
  std::set<uint64_t> seen;
  for (int i = 0; i < 100; ++i) {
    auto r = none.Next();
    EXPECT_EQ(r.reused, 0u);
    for (uint64_t id : r.blocks) EXPECT_TRUE(seen.insert(id).second) << id;
  }
  ReuseWorkload all(1.0, 4, 2, 10, 7);
  EXPECT_EQ(all.Next().reused, 0u);  // the first request has nothing to reuse
  auto second = all.Next();
  EXPECT_EQ(second.reused, 4u);
  EXPECT_EQ(second.blocks.size(), 6u);
  for (int i = 0; i < 10; ++i) EXPECT_LE(all.Next().blocks.size(), 10u);
  EXPECT_EQ(all.conversations(), 1u);
}

TEST(ReuseWorkloadTest, FollowUpFractionTracksRate) {
  ReuseWorkload half(0.3, 4, 1, 32, 11);
  int reused = 0;
  for (int i = 0; i < 10000; ++i) reused += half.Next().reused > 0;
  EXPECT_NEAR(reused / 10000.0, 0.3, 0.02);
}

TEST(BenchUtilTest, ParsesLists) {
  auto sizes = ParseSizeList("--bs", "4KiB,1MiB");
  ASSERT_TRUE(sizes.ok());
  EXPECT_EQ(*sizes, (std::vector<uint64_t>{4096, 1 << 20}));
  EXPECT_FALSE(ParseSizeList("--bs", "4KiB,lots").ok());
  EXPECT_FALSE(ParseSizeList("--bs", "").ok());
  EXPECT_FALSE(ParseCountList("--qd", "1,0", 8).ok());
  EXPECT_FALSE(ParseCountList("--qd", "9", 8).ok());
  EXPECT_FALSE(ParseNumberList("--r", "0.5,1.5", 0, 1).ok());
  EXPECT_FALSE(ParseWordList("--t", "dram,tape", {"dram", "flash"}).ok());
  StatsMap a{{"x", 5}}, b{{"x", 8}};
  EXPECT_EQ(StatDelta(a, b, "x"), 3u);
  EXPECT_EQ(StatDelta(b, a, "x"), 0u);
  EXPECT_EQ(StatDelta(a, b, "missing"), 0u);
}

TEST(TcpProbeTest, MovesBytes) {
  auto r = ProbeLoopbackTcp(1 << 20, 0.05);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GT(r->bytes, 0u);
  EXPECT_GT(r->gbps(), 0.0);
}

}  // namespace
}  // namespace kvstash
