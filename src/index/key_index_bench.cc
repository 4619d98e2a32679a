// Index micro-benchmarks: lookup throughput (hits/s per core) and memory per entry.
//   kvstash-index-bench --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "index/key_index.h"

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

struct Fixture {
  explicit Fixture(size_t n) : idx(256) {
    keys.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      keys.push_back(MakeKey(i));
      KeyRef k(0, keys.back());
      auto& s = idx.ShardFor(k);
      MutexLock lock(&s.mu);
      BlockRecord* r = s.NewRecord(0, keys.back(), 131072);
      r->refs = 1;
      s.Insert(r);
    }
  }
  KeyIndex idx;
  std::vector<std::string> keys;
};

void BM_LookupHit(benchmark::State& state) {
  static Fixture* f = new Fixture(static_cast<size_t>(state.range(0)));
  std::mt19937_64 rng(state.thread_index());
  size_t n = f->keys.size();
  char key[kKeyLen];
  for (auto _ : state) {
    WriteKey(rng() % n, key);
    KeyRef k(0, std::string_view(key, kKeyLen));
    auto& s = f->idx.ShardFor(k);
    MutexLock lock(&s.mu);
    benchmark::DoNotOptimize(s.Find(k));
  }
  state.counters["hits_per_s"] =
      benchmark::Counter(double(state.iterations()), benchmark::Counter::kIsRate);
  if (state.thread_index() == 0) {
    auto m = f->idx.Measure();
    state.counters["entries"] = double(m.entries);
    state.counters["bytes_per_entry_overhead"] = m.overhead_per_entry();
    state.counters["avg_key_bytes"] = double(m.key_bytes) / double(m.entries);
    state.counters["slab_bytes_per_entry"] = double(m.slab_bytes) / double(m.entries);
    state.counters["table_bytes_per_entry"] = double(m.table_bytes) / double(m.entries);
  }
}
BENCHMARK(BM_LookupHit)->Arg(1 << 20)->Threads(1)->Threads(2)->UseRealTime();

void BM_LookupMiss(benchmark::State& state) {
  static Fixture* f = new Fixture(1 << 16);
  uint64_t i = 1ull << 40;
  char key[kKeyLen];
  for (auto _ : state) {
    WriteKey(i++, key);
    KeyRef k(0, std::string_view(key, kKeyLen));
    auto& s = f->idx.ShardFor(k);
    MutexLock lock(&s.mu);
    benchmark::DoNotOptimize(s.Find(k));
  }
  state.counters["lookups_per_s"] =
      benchmark::Counter(double(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_LookupMiss);

void BM_Insert(benchmark::State& state) {
  KeyIndex idx(256);
  std::vector<std::string> keys;
  for (int i = 0; i < 1 << 18; ++i) keys.push_back(MakeKey(i));
  size_t i = 0;
  for (auto _ : state) {
    const std::string& key = keys[i++ & ((1 << 18) - 1)];
    KeyRef k(0, key);
    auto& s = idx.ShardFor(k);
    MutexLock lock(&s.mu);
    if (s.Find(k) == nullptr) {
      BlockRecord* r = s.NewRecord(0, key, 1);
      r->refs = 1;
      s.Insert(r);
    }
  }
}
BENCHMARK(BM_Insert);

}  // namespace
}  // namespace kvstash

BENCHMARK_MAIN();
