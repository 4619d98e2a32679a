#include "tools/peers/peer_workload.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>

namespace kvstash {
namespace {

using SteadyClock = std::chrono::steady_clock;

uint64_t SplitMix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Fills one block: a per-block seed, then a cheap xorshift stream (generation must not dominate
// the benchmark's setup time for GiB-sized sets).
void FillBlock(std::byte* p, uint64_t bytes, uint64_t block_seed) {
  uint64_t s = SplitMix(block_seed) | 1;
  uint64_t words = bytes / 8;
  for (uint64_t w = 0; w < words; ++w) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    std::memcpy(p + w * 8, &s, 8);
  }
  for (uint64_t b = words * 8; b < bytes; ++b) p[b] = static_cast<std::byte>(s >> (b % 8 * 8));
}

uint64_t Nanos(SteadyClock::time_point a, SteadyClock::time_point b) {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count());
}

}  // namespace

std::byte* AllocAligned(uint64_t bytes) {
  uint64_t rounded = (bytes + 4095) / 4096 * 4096;
  void* p = std::aligned_alloc(4096, rounded == 0 ? 4096 : rounded);
  if (p != nullptr) std::memset(p, 0, rounded);
  return static_cast<std::byte*>(p);
}

void FreeAligned(std::byte* p) { std::free(p); }

Result<std::unique_ptr<BlockSet>> BlockSet::Create(uint64_t block_bytes, uint32_t count,
                                                   uint64_t seed) {
  if (block_bytes == 0 || count == 0) return Status::InvalidArgument("empty block set");
  std::unique_ptr<BlockSet> set(new BlockSet());
  set->block_bytes_ = block_bytes;
  set->count_ = count;
  set->base_ = AllocAligned(block_bytes * count);
  if (set->base_ == nullptr) {
    return Status::ResourceExhausted("cannot allocate " + std::to_string(block_bytes * count));
  }
  for (uint32_t i = 0; i < count; ++i) {
    FillBlock(set->base_ + i * block_bytes, block_bytes, seed ^ (block_bytes << 20) ^ i);
    set->keys_.push_back("peers@" + std::to_string(seed) + "@" + std::to_string(block_bytes) + "@" +
                         std::to_string(i));
  }
  return set;
}

BlockSet::~BlockSet() { FreeAligned(base_); }

std::span<const std::byte> BlockSet::block(uint32_t i) const {
  return {base_ + static_cast<uint64_t>(i) * block_bytes_, block_bytes_};
}

bool BlockSet::Matches(uint32_t i, std::span<const std::byte> got) const {
  return got.size() == block_bytes_ && std::memcmp(got.data(), block(i).data(), block_bytes_) == 0;
}

PeerLatency SummarizeNanos(std::vector<uint64_t>* nanos) {
  PeerLatency s;
  if (nanos->empty()) return s;
  std::sort(nanos->begin(), nanos->end());
  auto pct = [&](double q) {
    size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(nanos->size())));
    return static_cast<double>((*nanos)[std::clamp<size_t>(rank, 1, nanos->size()) - 1]) / 1e3;
  };
  s.samples = nanos->size();
  s.p50_us = pct(0.50);
  s.p99_us = pct(0.99);
  s.p999_us = pct(0.999);
  s.max_us = static_cast<double>(nanos->back()) / 1e3;
  long double sum = std::accumulate(nanos->begin(), nanos->end(), 0.0L);
  s.mean_us = static_cast<double>(sum / nanos->size() / 1e3);
  return s;
}

const OpResult* PeerRun::Find(const std::string& op) const {
  for (const OpResult& r : ops) {
    if (r.op == op) return &r;
  }
  return nullptr;
}

namespace {

// Runs `ids` through `call` in chunks of `depth`, timing each call and the whole pass.
template <typename Call>
Status TimedPasses(const char* op, std::span<const uint32_t> ids, uint32_t depth, uint32_t rounds,
                   uint64_t block_bytes, double trace_slow_ms, Call&& call, OpResult* out) {
  out->op = op;
  out->depth = depth;
  std::vector<uint64_t> nanos;
  auto start = SteadyClock::now();
  for (uint32_t r = 0; r < rounds; ++r) {
    for (size_t i = 0; i < ids.size(); i += depth) {
      std::span<const uint32_t> chunk = ids.subspan(i, std::min<size_t>(depth, ids.size() - i));
      auto a = SteadyClock::now();
      KVSTASH_RETURN_IF_ERROR(call(chunk));
      nanos.push_back(Nanos(a, SteadyClock::now()));
      if (trace_slow_ms > 0 && nanos.back() > trace_slow_ms * 1e6) {
        std::fprintf(stderr, "[kvstash-peers] slow %s call %zu of %zu (%llu B blocks): %.1f ms\n",
                     op, nanos.size() - 1, (ids.size() + depth - 1) / depth * rounds,
                     static_cast<unsigned long long>(block_bytes), nanos.back() / 1e6);
      }
      out->blocks += chunk.size();
    }
  }
  out->seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  out->bytes = out->blocks * block_bytes;
  out->latency = SummarizeNanos(&nanos);
  return Status::Ok();
}

}  // namespace

Result<PeerRun> RunPeer(PeerStore& store, const BlockSet& set, const RunOptions& options) {
  PeerRun run;
  run.block_bytes = set.block_bytes();
  run.count = set.count();
  uint32_t depth = std::max<uint32_t>(1, options.depth);
  KVSTASH_RETURN_IF_ERROR(store.Prepare(set));
  KVSTASH_ASSIGN_OR_RETURN(std::byte * dest, store.DestBuffer(depth * set.block_bytes()));

  std::vector<uint32_t> all(set.count());
  std::iota(all.begin(), all.end(), 0);
  if (options.put && options.warmup) {
    for (size_t i = 0; i < all.size(); i += depth) {
      KVSTASH_RETURN_IF_ERROR(store.PutBlocks(
          set, std::span<const uint32_t>(all).subspan(i, std::min<size_t>(depth, all.size() - i))));
    }
    KVSTASH_RETURN_IF_ERROR(store.Clear(set));
  }
  if (options.put) {
    OpResult put;
    KVSTASH_RETURN_IF_ERROR(TimedPasses(
        "put", all, depth, 1, set.block_bytes(), options.trace_slow_ms,
        [&](std::span<const uint32_t> c) { return store.PutBlocks(set, c); }, &put));
    run.ops.push_back(put);
  }

  std::vector<uint32_t> gets = options.get_ids;
  if (gets.empty()) {
    gets = all;
    std::shuffle(gets.begin(), gets.end(), std::mt19937_64(set.block_bytes()));
  }
  auto get = [&](std::span<const uint32_t> c) { return store.GetBlocks(set, c, dest); };
  if (options.get_rounds > 0) {
    OpResult g;
    KVSTASH_RETURN_IF_ERROR(TimedPasses("get", gets, depth, options.get_rounds, set.block_bytes(),
                                        options.trace_slow_ms, get, &g));
    run.ops.push_back(g);
  }
  if (options.qd1_samples > 0) {
    std::vector<uint32_t> ids;
    for (uint32_t i = 0; i < options.qd1_samples; ++i) ids.push_back(gets[i % gets.size()]);
    OpResult g1;
    KVSTASH_RETURN_IF_ERROR(
        TimedPasses("get_qd1", ids, 1, 1, set.block_bytes(), options.trace_slow_ms, get, &g1));
    run.ops.push_back(g1);
  }
  run.note = store.Note();

  // Content verification, untimed: every id once, through the same batched path.
  for (size_t i = 0; i < gets.size(); i += depth) {
    std::span<const uint32_t> chunk(gets.data() + i, std::min<size_t>(depth, gets.size() - i));
    std::memset(dest, 0xA5, chunk.size() * set.block_bytes());
    KVSTASH_RETURN_IF_ERROR(store.GetBlocks(set, chunk, dest));
    for (size_t k = 0; k < chunk.size(); ++k) {
      std::span<const std::byte> got(dest + k * set.block_bytes(), set.block_bytes());
      ++run.verified_blocks;
      if (!set.Matches(chunk[k], got)) ++run.mismatched_blocks;
    }
  }
  if (options.clear) KVSTASH_RETURN_IF_ERROR(store.Clear(set));
  return run;
}

}  // namespace kvstash
