// Placement micro-benchmarks: ns per key for Owner() (the per-request cost on every client)
// at N = 3, 16, 64 nodes, equal weights and all-different weights, on pre-hashed keys and with
// KeyHash of a 64-byte key included. The target is <= 150 ns per key at N = 64. BM_KeyHash is
// the floor the KeyHash variants stand on.
//   placement_bench --benchmark_filter=Owner
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "cluster/placement.h"

namespace kvstash::cluster {
namespace {

constexpr size_t kKeys = 4096;  // a power of two; small enough to stay in L1/L2

// Weighted nodes all get different weights (1 .. 4.56), as capacities in bytes would.
Placement MakePlacement(int64_t n, bool weighted) {
  std::vector<PlacementNode> nodes;
  for (int64_t i = 0; i < n; ++i) {
    double w =
        weighted ? 1.0 + 0.5 * static_cast<double>(i % 8) + 0.001 * static_cast<double>(i) : 1.0;
    nodes.push_back({"kvstash-node-" + std::to_string(i), w});
  }
  return Placement(std::move(nodes));
}

// 64-byte keys, as a connector's block keys look (model, request and block ids).
std::vector<std::string> MakeKeys() {
  std::vector<std::string> keys;
  for (size_t i = 0; i < kKeys; ++i) {
    std::string k = "model=llama-70b/tp=8/layer=all/req=" + std::to_string(i) + "/blk=";
    k.resize(64, 'x');
    keys.push_back(std::move(k));
  }
  return keys;
}

std::vector<uint64_t> MakeHashes() {
  std::vector<uint64_t> hashes;
  for (const std::string& k : MakeKeys()) hashes.push_back(Placement::KeyHash(k));
  return hashes;
}

void BM_Owner(benchmark::State& state, bool weighted) {
  Placement p = MakePlacement(state.range(0), weighted);
  std::vector<uint64_t> hashes = MakeHashes();
  size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(p.Owner(hashes[i++ % kKeys]));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_Owner, uniform, false)->Arg(3)->Arg(16)->Arg(64);
BENCHMARK_CAPTURE(BM_Owner, weighted, true)->Arg(3)->Arg(16)->Arg(64);

void BM_OwnerWithKeyHash(benchmark::State& state, bool weighted) {
  Placement p = MakePlacement(state.range(0), weighted);
  std::vector<std::string> keys = MakeKeys();
  size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(p.Owner(keys[i++ % kKeys]));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_OwnerWithKeyHash, uniform, false)->Arg(64);
BENCHMARK_CAPTURE(BM_OwnerWithKeyHash, weighted, true)->Arg(64);

void BM_KeyHash(benchmark::State& state) {
  std::vector<std::string> keys = MakeKeys();
  size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(Placement::KeyHash(keys[i++ % kKeys]));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_KeyHash);

// The fallback list a client walks when the owner is down: top 3 of N.
void BM_Rank3(benchmark::State& state, bool weighted) {
  Placement p = MakePlacement(state.range(0), weighted);
  std::vector<uint64_t> hashes = MakeHashes();
  std::vector<size_t> out;
  size_t i = 0;
  for (auto _ : state) {
    p.Rank(hashes[i++ % kKeys], 3, &out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_Rank3, uniform, false)->Arg(64);
BENCHMARK_CAPTURE(BM_Rank3, weighted, true)->Arg(64);

}  // namespace
}  // namespace kvstash::cluster

BENCHMARK_MAIN();
