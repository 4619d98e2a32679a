// Engine micro-benchmarks: Lookup (pin + unpin) hits/s and Allocate+Commit/s through the full
// BlockStore path, plus index memory per entry at 1M blocks.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/block_store.h"
#include "index/bench_keys.h"

namespace kvstash {
namespace {

using bench::kKeyLen;
using bench::MakeKey;
using bench::WriteKey;

struct Loaded {
  explicit Loaded(size_t n) {
    StoreOptions o;
    o.dram_bytes = 256ull << 20;
    o.dram_region_bytes = 16ull << 20;
    o.max_value_bytes = 1 << 20;
    store = std::move(BlockStore::Create(o).value());
    for (size_t i = 0; i < n; ++i) {
      keys.push_back(MakeKey(i));
      auto a = store->Allocate(0, keys.back(), 64).value();
      store->Commit(0, keys.back(), a.offset).IgnoreError();
    }
  }
  std::unique_ptr<BlockStore> store;
  std::vector<std::string> keys;
};

Loaded& Fixture() {
  static Loaded* l = new Loaded(1 << 20);
  return *l;
}

void BM_StoreLookupHit(benchmark::State& state) {
  Loaded& l = Fixture();
  std::mt19937_64 rng(state.thread_index() + 1);
  char key[kKeyLen];
  for (auto _ : state) {
    WriteKey(rng() % l.keys.size(), key);
    auto pin = l.store->Lookup(0, std::string_view(key, kKeyLen));
    benchmark::DoNotOptimize(pin.ok());
  }
  state.counters["hits_per_s"] =
      benchmark::Counter(double(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_StoreLookupHit)->Threads(1)->Threads(2)->UseRealTime();

void BM_StoreLongestPrefix32(benchmark::State& state) {
  Loaded& l = Fixture();
  std::vector<std::string_view> chain;
  for (int i = 0; i < 32; ++i) chain.push_back(l.keys[1000 + i]);
  for (auto _ : state) benchmark::DoNotOptimize(l.store->LongestPrefix(0, chain));
  state.counters["keys_per_s"] =
      benchmark::Counter(32.0 * double(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_StoreLongestPrefix32);

void BM_StoreAllocateCommit(benchmark::State& state) {
  StoreOptions o;
  o.dram_bytes = 64ull << 20;
  o.dram_region_bytes = 4ull << 20;
  o.max_value_bytes = 1 << 20;
  auto store = std::move(BlockStore::Create(o).value());
  uint64_t i = 0;
  for (auto _ : state) {
    std::string key = MakeKey(i++);
    auto a = store->Allocate(0, key, 4096);
    if (a.ok()) store->Commit(0, key, a->offset).IgnoreError();
  }
  state.counters["puts_per_s"] =
      benchmark::Counter(double(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_StoreAllocateCommit);

}  // namespace
}  // namespace kvstash

BENCHMARK_MAIN();
