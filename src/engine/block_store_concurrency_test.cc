// Concurrency: readers, writers, deleters and an evicting writer on one store, with content
// verification of every hit. Run under TSan (scripts/sanitize thread) to check the locking.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "engine/block_store.h"

namespace kvstash {
namespace {

// Value bytes are a function of the key, so any reader can verify any hit.
void FillFor(std::byte* p, uint64_t size, uint32_t key) {
  for (uint64_t i = 0; i < size; ++i) p[i] = std::byte((key * 131 + i * 7) & 0xFF);
}
bool CheckFor(std::span<const std::byte> d, uint32_t key) {
  for (uint64_t i = 0; i < d.size(); ++i) {
    if (d[i] != std::byte((key * 131 + i * 7) & 0xFF)) return false;
  }
  return true;
}
uint64_t SizeFor(uint32_t key) { return 1 + (key * 2654435761u) % 20000; }

TEST(BlockStoreConcurrencyTest, ReadersWritersDeletersEvictors) {
  StoreOptions o;
  o.dram_bytes = 16 * (256 << 10);
  o.dram_region_bytes = 256 << 10;
  o.max_value_bytes = 64 << 10;
  o.index_shards = 16;
  o.try_hugepages = false;
  auto store = std::move(BlockStore::Create(o).value());
  constexpr uint32_t kKeys = 2000;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> hits{0}, wrong{0}, puts{0};

  auto writer = [&](uint32_t seed) {
    std::mt19937 rng(seed);
    while (!stop.load()) {
      uint32_t k = rng() % kKeys;
      std::string key = "key" + std::to_string(k);
      auto a = store->Allocate(0, key, SizeFor(k));
      if (!a.ok()) continue;
      FillFor(store->arena_base() + a->offset.value(), SizeFor(k), k);
      if (rng() % 16 == 0) {
        ASSERT_TRUE(store->Abort(0, key, a->offset).ok());
      } else {
        ASSERT_TRUE(store->Commit(0, key, a->offset).ok());
        puts.fetch_add(1);
      }
    }
  };
  auto reader = [&](uint32_t seed) {
    std::mt19937 rng(seed);
    while (!stop.load()) {
      uint32_t k = rng() % kKeys;
      auto pin = store->Lookup(0, "key" + std::to_string(k));
      if (!pin.ok()) continue;
      hits.fetch_add(1);
      if (pin->size() != SizeFor(k) || !CheckFor(pin->data(), k)) wrong.fetch_add(1);
    }
  };
  auto deleter = [&](uint32_t seed) {
    std::mt19937 rng(seed);
    while (!stop.load()) {
      store->Delete(0, "key" + std::to_string(rng() % kKeys)).IgnoreError();
      store->ExpireLeases();
      std::this_thread::yield();
    }
  };
  std::vector<std::thread> threads;
  threads.emplace_back(writer, 1);
  threads.emplace_back(writer, 2);
  threads.emplace_back(reader, 3);
  threads.emplace_back(reader, 4);
  threads.emplace_back(deleter, 5);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  stop = true;
  for (auto& t : threads) t.join();
  auto s = store->Stats();
  EXPECT_EQ(wrong.load(), 0u) << "a reader saw wrong bytes";
  EXPECT_GT(hits.load(), 100u);
  EXPECT_GT(puts.load(), 100u);
  EXPECT_GT(s.evictions, 0u) << "the arena must have been under pressure";
  EXPECT_LE(s.dram_used_bytes, s.dram_capacity_bytes);
  EXPECT_EQ(s.blocks_allocated, 0u);
}

}  // namespace
}  // namespace kvstash
