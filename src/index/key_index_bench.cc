// Index micro-benchmarks: lookup throughput (hits/s per core) and memory per entry.
//   kvstash-index-bench --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "index/bench_keys.h"
#include "index/key_index.h"

namespace kvstash {
namespace {

using bench::kKeyLen;
using bench::MakeKey;
using bench::WriteKey;

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

// The same random hits through KeyIndex::FindBatch, 16 keys per call (a batched Get, Exists
// or LongestPrefix request).
void BM_LookupHitBatch(benchmark::State& state) {
  static Fixture* f = new Fixture(static_cast<size_t>(state.range(0)));
  std::mt19937_64 rng(state.thread_index() + 100);
  size_t n = f->keys.size();
  constexpr size_t kKeys = KeyIndex::kBatch;
  char keys[kKeys][kKeyLen];
  std::vector<KeyRef> refs;
  refs.reserve(kKeys);
  size_t found = 0;
  for (auto _ : state) {
    refs.clear();
    for (size_t i = 0; i < kKeys; ++i) {
      WriteKey(rng() % n, keys[i]);
      refs.emplace_back(0, std::string_view(keys[i], kKeyLen));
    }
    f->idx.FindBatch(refs, [&](size_t, BlockRecord* r) { found += r != nullptr; });
  }
  benchmark::DoNotOptimize(found);
  if (found != state.iterations() * kKeys) state.SkipWithError("a batched lookup missed");
  state.counters["hits_per_s"] =
      benchmark::Counter(double(state.iterations() * kKeys), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_LookupHitBatch)->Arg(1 << 20)->Threads(1)->Threads(2)->UseRealTime();

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
