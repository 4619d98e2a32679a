#include "index/key_index.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace kvstash {
namespace {

BlockRecord* Insert(KeyIndex& idx, NamespaceId ns, const std::string& key) {
  KeyRef k(ns, key);
  auto& s = idx.ShardFor(k);
  MutexLock lock(&s.mu);
  BlockRecord* r = BlockRecord::New(ns, key, 1);
  r->refs = 1;
  s.Insert(r);
  return r;
}

BlockRecord* Find(KeyIndex& idx, NamespaceId ns, std::string_view key) {
  KeyRef k(ns, key);
  auto& s = idx.ShardFor(k);
  MutexLock lock(&s.mu);
  return s.Find(k);
}

TEST(KeyIndexTest, FindsByNamespaceAndKeyBytes) {
  KeyIndex idx(16);
  BlockRecord* a = Insert(idx, 0, "alpha");
  BlockRecord* b = Insert(idx, 1, "alpha");
  std::string binary("a\0b", 3);
  BlockRecord* c = Insert(idx, 0, binary);
  EXPECT_EQ(Find(idx, 0, "alpha"), a);
  EXPECT_EQ(Find(idx, 1, "alpha"), b);
  EXPECT_EQ(Find(idx, 0, binary), c);
  EXPECT_EQ(Find(idx, 0, std::string_view("a", 1)), nullptr);
  EXPECT_EQ(Find(idx, 2, "alpha"), nullptr);
  EXPECT_EQ(idx.Size(), 3u);
}

TEST(KeyIndexTest, MaxLengthKeys) {
  KeyIndex idx(4);
  std::string k1(256, 'x'), k2(256, 'x');
  k2[255] = 'y';
  BlockRecord* a = Insert(idx, 0, k1);
  EXPECT_EQ(Find(idx, 0, k1), a);
  EXPECT_EQ(Find(idx, 0, k2), nullptr);
  EXPECT_EQ(a->key().size(), 256u);
}

TEST(KeyIndexTest, MemoryOverheadIsMeasuredAndBounded) {
  KeyIndex idx(64);
  constexpr int kN = 200000;
  for (int i = 0; i < kN; ++i) Insert(idx, 0, "model@1@0@" + std::to_string(i * 7919ull));
  auto m = idx.Measure();
  EXPECT_EQ(m.entries, uint64_t(kN));
  EXPECT_GT(m.key_bytes, 0u);
  // 32-byte record header + malloc header/rounding + ~9-18 bytes of table per entry.
  EXPECT_GT(m.overhead_per_entry(), 40.0);
  EXPECT_LT(m.overhead_per_entry(), 80.0);
}

TEST(KeyIndexTest, ConcurrentInsertsAndFinds) {
  KeyIndex idx(64);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20000; ++i) Insert(idx, 0, std::to_string(t) + ":" + std::to_string(i));
      for (int i = 0; i < 20000; ++i) {
        ASSERT_NE(Find(idx, 0, std::to_string(t) + ":" + std::to_string(i)), nullptr);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(idx.Size(), 80000u);
}

}  // namespace
}  // namespace kvstash
