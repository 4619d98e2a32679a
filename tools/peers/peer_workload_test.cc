// Tests of the measurement code of kvstash-peers that needs no server: block contents, the
// driver against an in-memory PeerStore (including one that returns wrong bytes), percentiles,
// ratios and the JSON round trip.
#include "tools/peers/peer_workload.h"

#include <gtest/gtest.h>

#include <cstring>
#include <map>

#include "tools/peers/peer_report.h"

namespace kvstash {
namespace {

// An in-memory store; `corrupt_id` (if set) comes back with one byte flipped.
class MemoryStore : public PeerStore {
 public:
  int64_t corrupt_id = -1;
  std::map<std::string, std::vector<std::byte>> data;
  std::vector<std::byte> dest;
  Status Prepare(const BlockSet&) override { return Status::Ok(); }
  Status PutBlocks(const BlockSet& set, std::span<const uint32_t> ids) override {
    for (uint32_t id : ids) {
      auto b = set.block(id);
      data[set.key(id)].assign(b.begin(), b.end());
    }
    return Status::Ok();
  }
  Status GetBlocks(const BlockSet& set, std::span<const uint32_t> ids, std::byte* out) override {
    for (size_t k = 0; k < ids.size(); ++k) {
      auto it = data.find(set.key(ids[k]));
      if (it == data.end()) return Status::NotFound(set.key(ids[k]));
      std::memcpy(out + k * set.block_bytes(), it->second.data(), set.block_bytes());
      if (static_cast<int64_t>(ids[k]) == corrupt_id)
        out[k * set.block_bytes() + 7] ^= std::byte{1};
    }
    return Status::Ok();
  }
  int clears = 0;
  Status Clear(const BlockSet&) override {
    ++clears;
    data.clear();
    return Status::Ok();
  }
  Result<std::byte*> DestBuffer(uint64_t bytes) override {
    dest.resize(bytes);
    return dest.data();
  }
};

TEST(BlockSet, BlocksDifferAndMatchOnlyThemselves) {
  auto set = BlockSet::Create(4096, 4, 1);
  ASSERT_TRUE(set.ok());
  EXPECT_TRUE((*set)->Matches(2, (*set)->block(2)));
  EXPECT_FALSE((*set)->Matches(2, (*set)->block(3)));
  EXPECT_NE((*set)->key(0), (*set)->key(1));
  EXPECT_EQ(reinterpret_cast<uintptr_t>((*set)->base()) % 4096, 0u);
  auto other_seed = BlockSet::Create(4096, 4, 2);
  EXPECT_FALSE((*set)->Matches(0, (*other_seed)->block(0)));
  EXPECT_FALSE(BlockSet::Create(0, 4, 1).ok());
}

TEST(RunPeer, VerifiesEveryBlockAndCountsOps) {
  auto set = BlockSet::Create(8192, 20, 3);
  MemoryStore store;
  auto run = RunPeer(store, **set, {.depth = 8, .get_rounds = 2, .qd1_samples = 5});
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->verified_blocks, 20u);
  EXPECT_EQ(run->mismatched_blocks, 0u);
  ASSERT_NE(run->Find("put"), nullptr);
  EXPECT_EQ(run->Find("put")->blocks, 20u);
  EXPECT_EQ(run->Find("put")->latency.samples, 3u);  // 8 + 8 + 4
  EXPECT_EQ(run->Find("get")->blocks, 40u);
  EXPECT_EQ(run->Find("get")->bytes, 40u * 8192);
  EXPECT_EQ(run->Find("get_qd1")->latency.samples, 5u);
  EXPECT_TRUE(store.data.empty());  // cleared
}

TEST(RunPeer, WarmupPutsAndClearsBeforeTheTimedPut) {
  auto set = BlockSet::Create(4096, 10, 3);
  MemoryStore store;
  auto run = RunPeer(store, **set, {.depth = 4, .get_rounds = 1, .qd1_samples = 0, .warmup = true});
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(store.clears, 2);  // after the warm-up, and at the end
  EXPECT_EQ(run->Find("put")->blocks, 10u);
  EXPECT_EQ(run->verified_blocks, 10u);
}

TEST(RunPeer, DetectsWrongBytes) {
  auto set = BlockSet::Create(4096, 16, 3);
  MemoryStore store;
  store.corrupt_id = 5;
  auto run = RunPeer(store, **set, {.depth = 4, .get_rounds = 1, .qd1_samples = 0});
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->mismatched_blocks, 1u);
  EXPECT_FALSE(ReportToJson({.runs = {*run}})["ok"].get<bool>());
}

TEST(RunPeer, FailedCallIsAnError) {
  auto set = BlockSet::Create(4096, 8, 3);
  MemoryStore store;
  auto run = RunPeer(store, **set, {.put = false});  // nothing there: NotFound
  EXPECT_EQ(run.status().code(), StatusCode::kNotFound);
}

TEST(Latency, NearestRankPercentiles) {
  std::vector<uint64_t> nanos;
  for (uint64_t i = 1000; i >= 1; --i) nanos.push_back(i * 1000);
  PeerLatency l = SummarizeNanos(&nanos);
  EXPECT_DOUBLE_EQ(l.p50_us, 500);
  EXPECT_DOUBLE_EQ(l.p99_us, 990);
  EXPECT_DOUBLE_EQ(l.p999_us, 999);
  EXPECT_DOUBLE_EQ(l.max_us, 1000);
  EXPECT_EQ(l.samples, 1000u);
}

PeerRun FakeRun(const char* peer, const char* transport, double get_seconds) {
  PeerRun r{.peer = peer, .transport = transport, .tier = "dram", .block_bytes = 1 << 20};
  r.ops.push_back({.op = "get",
                   .depth = 8,
                   .blocks = 100,
                   .bytes = 100ull << 20,
                   .seconds = get_seconds,
                   .latency = {.p50_us = get_seconds * 100}});
  r.verified_blocks = 100;
  return r;
}

TEST(Ratios, PairsMatchingTransportsAndMarksTargets) {
  std::vector<PeerRun> runs = {FakeRun("kvstash", "ucx-sm", 0.1), FakeRun("redis", "unix", 0.4),
                               FakeRun("kvstash", "ucx-tcp", 0.2), FakeRun("redis", "tcp", 0.1)};
  std::vector<PeerRatio> r = ComputeRatios(runs);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].theirs, "redis/unix/dram");
  EXPECT_NEAR(r[0].gbps_ratio, 4.0, 1e-9);
  EXPECT_NEAR(r[0].p50_speedup, 4.0, 1e-9);
  EXPECT_NEAR(r[1].gbps_ratio, 0.5, 1e-9);
  nlohmann::json j = ReportToJson({.runs = runs, .ratios = r});
  ASSERT_EQ(j["targets"].size(), 2u);
  EXPECT_TRUE(j["targets"][0]["met"].get<bool>());
  EXPECT_FALSE(j["targets"][1]["met"].get<bool>());
  EXPECT_TRUE(j["ok"].get<bool>());
}

// The Redis and Mooncake goals apply from 128 KiB up (the sizes their targets name); the flash
// goal, which names no size, at every size.
TEST(Ratios, GoalsApplyFromTheSizesTheirTargetsName) {
  auto at = [](PeerRun r, const char* tier, uint64_t block) {
    r.tier = tier;
    r.block_bytes = block;
    return r;
  };
  std::vector<PeerRun> runs = {at(FakeRun("kvstash", "ucx-sm", 0.1), "dram", 16 << 10),
                               at(FakeRun("redis", "unix", 0.4), "dram", 16 << 10),
                               at(FakeRun("kvstash", "ucx-sm", 0.1), "flash", 16 << 10),
                               at(FakeRun("filestore", "odirect", 0.3), "flash", 16 << 10)};
  std::vector<PeerRatio> r = ComputeRatios(runs);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].theirs, "redis/unix/dram");
  EXPECT_EQ(r[0].goal, 0) << "16 KiB is below the Redis target's sizes";
  EXPECT_EQ(r[1].theirs, "filestore/odirect/flash");
  EXPECT_EQ(r[1].goal, 2);
  EXPECT_NEAR(r[1].gbps_ratio, 3.0, 1e-9);
}

TEST(Json, RunRoundTrips) {
  PeerRun a = FakeRun("mooncake", "tcp", 0.3);
  a.note = "n";
  auto b = RunFromJson(RunToJson(a));
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(RunLabel(*b), "mooncake/tcp/dram");
  EXPECT_EQ(b->ops[0].bytes, a.ops[0].bytes);
  EXPECT_DOUBLE_EQ(b->ops[0].latency.p50_us, a.ops[0].latency.p50_us);
  nlohmann::json bad = RunToJson(a);
  bad.erase("ops");
  EXPECT_EQ(RunFromJson(bad).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kvstash
