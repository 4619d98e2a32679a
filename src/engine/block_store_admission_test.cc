// Admission through the whole engine: on a stream where 80% of blocks are never read again,
// reuse-aware admission must write far fewer bytes to flash than admit-all, at a hit ratio
// within a few points (docs/ARCHITECTURE.md §1: writing one-shot blocks burns bandwidth and endurance).
// On a prefix-cache stream, "prefix" admission must hit like admit-all, writing less.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "common/checksum.h"
#include "engine/block_store.h"
#include "engine/engine_test_util.h"
#include "flash/memory_device.h"

namespace kvstash {
namespace {

constexpr uint64_t kBlock = 32 << 10;

struct Outcome {
  uint64_t reads = 0, hits = 0, flash_bytes = 0, wrong = 0;
  double hit_ratio() const { return reads ? double(hits) / double(reads) : 0; }
};

// Multi-turn shape: every block is written once; 20% are "conversations" that come back: a
// follow-up read soon (still in DRAM) and three more much later (long after DRAM eviction).
// A miss is a recompute: the block is written again, as an inference engine would.
Outcome Replay(const std::string& admission) {
  auto dev = std::move(MemoryDevice::Create(16 << 20).value());
  StoreOptions o;
  o.dram_bytes = 16 * (128 << 10);  // 2 MiB: ~64 blocks
  o.dram_region_bytes = 128 << 10;
  o.max_value_bytes = 128 << 10;
  o.try_hugepages = false;
  o.background = false;
  o.flash_device = dev.get();
  o.flash.regions.region_bytes = 1 << 20;  // 16 MiB of flash: ~480 blocks
  o.flash.regions.background_flush = false;
  o.flash.admission.kind = admission;
  auto store = std::move(BlockStore::Create(o).value());

  std::mt19937_64 rng(42);
  std::string buf(kBlock, '\0');
  auto put = [&](int id) {
    std::string key = "blk" + std::to_string(id);
    for (uint64_t j = 0; j < kBlock; j += 8) std::memcpy(&buf[j], &id, sizeof(id));
    auto a = store->Allocate(0, key, kBlock);
    if (!a.ok()) return;
    std::memcpy(store->arena_base() + a->offset.value(), buf.data(), kBlock);
    (void)store->Commit(0, key, a->offset, ComputeChecksum(buf.data(), kBlock));
    store->RunMaintenance();
  };
  Outcome out;
  std::string got(kBlock, '\0');
  auto read = [&](int id) {
    ++out.reads;
    auto pin = store->Lookup(0, "blk" + std::to_string(id));
    if (pin.ok() &&
        store->ReadInto(*pin, {reinterpret_cast<std::byte*>(got.data()), kBlock}).ok()) {
      ++out.hits;
      int first;
      std::memcpy(&first, got.data(), sizeof(first));
      if (first != id) ++out.wrong;
      return;
    }
    put(id);  // recompute and store again
  };
  // Pending reads: (due step, block).
  std::multimap<int, int> due;
  constexpr int kBlocks = 3000;
  for (int step = 0; step < kBlocks; ++step) {
    put(step);
    if (rng() % 5 == 0) {
      due.emplace(step + 8, step);  // follow-up turn: still in DRAM
      for (int k = 0; k < 3; ++k) due.emplace(step + 150 + static_cast<int>(rng() % 250), step);
    }
    for (auto it = due.begin(); it != due.end() && it->first <= step;) {
      read(it->second);
      it = due.erase(it);
    }
  }
  (void)store->FlushFlash();
  out.flash_bytes = store->Stats().flash_bytes_written;
  return out;
}

TEST(AdmissionThroughEngineTest, ReuseAwareWritesFarLessAtASimilarHitRatio) {
  Outcome all = Replay("all");
  Outcome reuse = Replay("reuse");
  RecordProperty("admit_all_flash_bytes", std::to_string(all.flash_bytes));
  RecordProperty("reuse_flash_bytes", std::to_string(reuse.flash_bytes));
  std::printf(
      "admit-all: hit ratio %.3f, flash bytes %llu\nreuse:     hit ratio %.3f, flash "
      "bytes %llu\n",
      all.hit_ratio(), static_cast<unsigned long long>(all.flash_bytes), reuse.hit_ratio(),
      static_cast<unsigned long long>(reuse.flash_bytes));
  EXPECT_EQ(all.wrong + reuse.wrong, 0u);
  EXPECT_GT(all.flash_bytes, 0u);
  EXPECT_LT(reuse.flash_bytes, all.flash_bytes * 4 / 10) << "reuse-aware must write < 40%";
  EXPECT_GT(reuse.hit_ratio(), all.hit_ratio() - 0.05) << "hit ratio within 5 points";
  EXPECT_GT(reuse.hit_ratio(), 0.5);
}

// Prefix-cache shape (the Mooncake trace replay): prompts of 4 full blocks and a smaller
// partial tail; 40% of prompts are asked again 30..120 prompts later, long after DRAM
// eviction, with a new tail (more tokens change the last block). A re-ask looks its full
// blocks up in order and recomputes (puts) from the first miss on.
Outcome ReplayPrompts(const std::string& admission) {
  constexpr uint64_t kFull = 32 << 10, kTail = 10 << 10;
  auto dev = std::move(MemoryDevice::Create(16 << 20).value());
  StoreOptions o = testing::SmallFlashOptions(dev.get());
  o.dram_bytes = 16 * (128 << 10);
  o.dram_region_bytes = 128 << 10;
  o.max_value_bytes = 128 << 10;
  o.flash.admission.kind = admission;
  auto store = std::move(BlockStore::Create(o).value());
  std::string buf(kFull, 'x');
  auto put = [&](const std::string& key, uint64_t size) {
    auto a = store->Allocate(0, key, size);
    if (!a.ok()) return;
    std::memcpy(store->arena_base() + a->offset.value(), buf.data(), size);
    (void)store->Commit(0, key, a->offset, ComputeChecksum(buf.data(), size));
    store->RunMaintenance();
  };
  std::mt19937_64 rng(9);
  std::multimap<int, int> asks;  // due prompt step -> prompt asked again
  Outcome out;
  int tails = 0;
  for (int step = 0; step < 1500; ++step) {
    for (int b = 0; b < 4; ++b) put("p" + std::to_string(step) + "/" + std::to_string(b), kFull);
    put("tail" + std::to_string(tails++), kTail);
    if (rng() % 5 < 2) asks.emplace(step + 30 + static_cast<int>(rng() % 90), step);
    for (auto it = asks.begin(); it != asks.end() && it->first <= step; it = asks.erase(it)) {
      bool hit = true;
      for (int b = 0; b < 4; ++b) {
        std::string key = "p" + std::to_string(it->second) + "/" + std::to_string(b);
        ++out.reads;
        hit = hit && store->Lookup(0, key).ok();
        if (hit) {
          ++out.hits;
        } else {
          put(key, kFull);
        }
      }
      put("tail" + std::to_string(tails++), kTail);
    }
  }
  (void)store->FlushFlash();
  out.flash_bytes = store->Stats().flash_bytes_written;
  return out;
}

TEST(AdmissionThroughEngineTest, PrefixMatchesAdmitAllHitsWithoutWritingTails) {
  Outcome all = ReplayPrompts("all");
  Outcome prefix = ReplayPrompts("prefix");
  Outcome reuse = ReplayPrompts("reuse");
  std::printf("hit ratio / flash bytes: all %.3f %llu, prefix %.3f %llu, reuse %.3f %llu\n",
              all.hit_ratio(), static_cast<unsigned long long>(all.flash_bytes), prefix.hit_ratio(),
              static_cast<unsigned long long>(prefix.flash_bytes), reuse.hit_ratio(),
              static_cast<unsigned long long>(reuse.flash_bytes));
  EXPECT_GT(all.hit_ratio(), 0.3);
  // Tails only take flash space from full blocks: prefix hits at least as often.
  EXPECT_GE(prefix.hit_ratio(), all.hit_ratio() - 0.01);
  EXPECT_LT(prefix.flash_bytes, all.flash_bytes * 97 / 100);
  // Reuse never sees these blocks twice before they leave DRAM: it loses the re-asks.
  EXPECT_LT(reuse.hit_ratio(), prefix.hit_ratio() - 0.1);
}

}  // namespace
}  // namespace kvstash
