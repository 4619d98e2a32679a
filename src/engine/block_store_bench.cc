// Engine micro-benchmarks: Lookup (pin + unpin) hits/s and Allocate+Commit/s through the full
// BlockStore path, plus index memory per entry at 1M blocks.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/block_store.h"

namespace kvstash {
namespace {

// LMCache-style key: model@world@worker@<chained hash>@dtype (55 bytes). Written into `out`
// without snprintf so the benchmark measures the index, not the formatter: on a server the
// key arrives in a message that is already in cache.
constexpr size_t kKeyLen = 55;
void WriteKey(uint64_t i, char* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::memcpy(out, "llama-3.1-70b@8@0@", 18);
  out[16] = static_cast<char>('0' + i % 8);
  uint64_t words[2] = {i * 0x9E3779B97F4A7C15ull, i};
  for (int w = 0; w < 2; ++w) {
    for (int d = 0; d < 16; ++d) out[18 + w * 16 + d] = kHex[(words[w] >> (60 - 4 * d)) & 15];
  }
  std::memcpy(out + 50, "@bf16", 5);
}
std::string MakeKey(uint64_t i) {
  std::string s(kKeyLen, '\0');
  WriteKey(i, s.data());
  return s;
}

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
