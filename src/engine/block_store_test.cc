#include "engine/block_store.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "common/checksum.h"

namespace kvstash {
namespace {

class BlockStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(4 << 20, 1 << 20); }
  void Open(uint64_t dram, uint64_t region) {
    StoreOptions o;
    o.dram_bytes = dram;
    o.dram_region_bytes = region;
    o.max_value_bytes = region;
    o.lease = std::chrono::milliseconds(1000);
    o.index_shards = 16;
    o.try_hugepages = false;
    o.clock = &clock_;
    o.background = false;  // deterministic: the test drives maintenance
    store_.reset();
    auto s = BlockStore::Create(o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
  }
  // Allocate + write + commit, like a client's one-sided put.
  Status Put(const std::string& key, const std::string& value, NamespaceId ns = 0) {
    auto a = store_->Allocate(ns, key, value.size());
    if (!a.ok()) return a.status();
    std::memcpy(store_->arena_base() + a->offset.value(), value.data(), value.size());
    return store_->Commit(ns, key, a->offset, ComputeChecksum(value.data(), value.size()));
  }
  std::string Get(const std::string& key, NamespaceId ns = 0) {
    auto pin = store_->Lookup(ns, key);
    if (!pin.ok()) return "<" + std::string(StatusCodeName(pin.status().code())) + ">";
    auto d = pin->data();
    return std::string(reinterpret_cast<const char*>(d.data()), d.size());
  }

  ManualClock clock_;
  std::unique_ptr<BlockStore> store_;
};

TEST_F(BlockStoreTest, PutGetRoundTrip) {
  ASSERT_TRUE(Put("a", "hello").ok());
  EXPECT_EQ(Get("a"), "hello");
  EXPECT_EQ(Get("b"), "<NotFound>");
  auto pin = store_->Lookup(0, "a");
  ASSERT_TRUE(pin.ok());
  EXPECT_EQ(pin->tier(), Tier::kDram);
  EXPECT_EQ(pin->checksum(), ComputeChecksum("hello", 5));
  auto s = store_->Stats();
  EXPECT_EQ(s.commits, 1u);
  EXPECT_EQ(s.blocks_committed, 1u);
  EXPECT_EQ(s.hits_dram, 2u);
  EXPECT_EQ(s.misses, 1u);
}

// The index counters of Stats() follow what the index holds (they were always 0 once).
TEST_F(BlockStoreTest, IndexCountersFollowEntriesAndKeyBytes) {
  EXPECT_EQ(store_->Stats().index_entries, 0u);
  uint64_t key_bytes = 0;
  for (int i = 0; i < 200; ++i) {
    std::string key =
        "index-counter-" + std::string(static_cast<size_t>(i % 7), 'k') + std::to_string(i);
    key_bytes += key.size();
    ASSERT_TRUE(Put(key, "v").ok()) << i;
  }
  auto s = store_->Stats();
  EXPECT_EQ(s.index_entries, 200u);
  EXPECT_EQ(s.index_key_bytes, key_bytes);
  EXPECT_GT(s.index_memory_bytes, key_bytes + 200 * 36);  // record headers at least
  for (int i = 0; i < 50; ++i) {
    std::string key =
        "index-counter-" + std::string(static_cast<size_t>(i % 7), 'k') + std::to_string(i);
    key_bytes -= key.size();
    ASSERT_TRUE(store_->Delete(0, key).ok()) << i;
  }
  s = store_->Stats();
  EXPECT_EQ(s.index_entries, 150u);
  EXPECT_EQ(s.index_key_bytes, key_bytes);
  // The same figures leave under their exported names (kvstash stat --json, /metrics).
  auto kv = s.ToKeyValues();
  auto find = [&](const std::string& name) {
    for (auto& [k, v] : kv) {
      if (k == name) return v;
    }
    ADD_FAILURE() << name;
    return uint64_t{0};
  };
  EXPECT_EQ(find("index_entries"), 150u);
  EXPECT_EQ(find("index_key_bytes"), key_bytes);
}

TEST_F(BlockStoreTest, UncommittedIsInvisibleAndBusy) {
  auto a = store_->Allocate(0, "k", 10);
  ASSERT_TRUE(a.ok());
  EXPECT_FALSE(store_->Exists(0, "k"));
  EXPECT_EQ(Get("k"), "<NotFound>");
  EXPECT_EQ(store_->Allocate(0, "k", 10).status().code(), StatusCode::kBusy);
  EXPECT_EQ(store_->Delete(0, "k").code(), StatusCode::kBusy);
  ASSERT_TRUE(store_->Commit(0, "k", a->offset).ok());
  EXPECT_TRUE(store_->Exists(0, "k"));
  EXPECT_EQ(store_->Allocate(0, "k", 10).status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(store_->Commit(0, "k", a->offset).code(), StatusCode::kAlreadyExists);
}

TEST_F(BlockStoreTest, CommitRequiresTheWritersOffset) {
  auto a = store_->Allocate(0, "k", 10);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(store_->Commit(0, "k", ArenaOffset(a->offset.value() + 64)).code(),
            StatusCode::kNotFound);
  EXPECT_EQ(store_->Commit(0, "other", a->offset).code(), StatusCode::kNotFound);
  EXPECT_TRUE(store_->Commit(0, "k", a->offset).ok());
}

TEST_F(BlockStoreTest, NamespacesAreSeparate) {
  ASSERT_TRUE(Put("k", "zero", 0).ok());
  ASSERT_TRUE(Put("k", "one", 1).ok());
  EXPECT_EQ(Get("k", 0), "zero");
  EXPECT_EQ(Get("k", 1), "one");
  EXPECT_EQ(Get("k", 2), "<NotFound>");
}

TEST_F(BlockStoreTest, RejectsBadArguments) {
  EXPECT_EQ(store_->Allocate(0, "", 1).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Allocate(0, std::string(257, 'k'), 1).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(store_->Allocate(0, std::string(256, 'k'), 1).ok());
  EXPECT_EQ(store_->Allocate(0, "k", 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Allocate(0, "k", (1 << 20) + 1).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Lookup(0, "").status().code(), StatusCode::kInvalidArgument);
}

TEST_F(BlockStoreTest, AbortFreesTheKey) {
  auto a = store_->Allocate(0, "k", 10);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(store_->Abort(0, "k", a->offset).ok());
  EXPECT_EQ(store_->Abort(0, "k", a->offset).code(), StatusCode::kNotFound);
  EXPECT_TRUE(Put("k", "again").ok());
  EXPECT_EQ(store_->Stats().aborts, 1u);
}

TEST_F(BlockStoreTest, LeaseExpiryAbortsWithoutSleeping) {
  auto a = store_->Allocate(0, "dead-writer", 100);
  auto b = store_->Allocate(0, "late-writer", 100);
  ASSERT_TRUE(a.ok() && b.ok());
  clock_.AdvanceMillis(999);
  EXPECT_EQ(store_->ExpireLeases(), 0u);
  clock_.AdvanceMillis(2);
  // The late writer's commit arrives after its lease: refused and aborted.
  EXPECT_EQ(store_->Commit(0, "late-writer", b->offset).code(), StatusCode::kLeaseExpired);
  EXPECT_EQ(store_->ExpireLeases(), 1u);  // the dead writer
  EXPECT_EQ(store_->Commit(0, "dead-writer", a->offset).code(), StatusCode::kNotFound);
  auto s = store_->Stats();
  EXPECT_EQ(s.lease_aborts, 2u);
  EXPECT_EQ(s.blocks_allocated, 0u);
  EXPECT_TRUE(Put("dead-writer", "now").ok());
}

TEST_F(BlockStoreTest, DeleteThenReclaim) {
  ASSERT_TRUE(Put("k", std::string(1000, 'x')).ok());
  ASSERT_TRUE(store_->Delete(0, "k").ok());
  EXPECT_EQ(store_->Delete(0, "k").code(), StatusCode::kNotFound);
  EXPECT_FALSE(store_->Exists(0, "k"));
  auto s = store_->Stats();
  EXPECT_EQ(s.deletes, 1u);
  EXPECT_EQ(s.blocks_evicted, 1u) << "space not yet reclaimed";
  EXPECT_EQ(s.dram_live_bytes, 0u);
}

TEST_F(BlockStoreTest, EvictsOldestRegionWhenFull) {
  std::string v(256 << 10, 'v');  // 4 per 1 MiB region, 16 in the 4 MiB arena
  for (int i = 0; i < 40; ++i) {
    v[0] = static_cast<char>('a' + i % 26);
    ASSERT_TRUE(Put("k" + std::to_string(i), v).ok()) << i;
  }
  auto s = store_->Stats();
  EXPECT_GT(s.evictions, 0u);
  EXPECT_LE(s.dram_used_bytes, s.dram_capacity_bytes);
  EXPECT_EQ(Get("k0"), "<NotFound>") << "FIFO: the oldest went first";
  v[0] = static_cast<char>('a' + 39 % 26);
  EXPECT_EQ(Get("k39"), v);
  EXPECT_EQ(s.reclaimed, s.evictions);
}

TEST_F(BlockStoreTest, PinPreventsReuseAndEvictionStillCompletes) {
  std::string v(512 << 10, 'p');
  ASSERT_TRUE(Put("pinned", v).ok());
  auto pin = store_->Lookup(0, "pinned");
  ASSERT_TRUE(pin.ok());
  std::string w(512 << 10, 'w');
  for (int i = 0; i < 20; ++i) {
    Status st = Put("w" + std::to_string(i), w);
    ASSERT_TRUE(st.ok() || st.Is(StatusCode::kResourceExhausted)) << st.ToString();
  }
  EXPECT_FALSE(store_->Exists(0, "pinned")) << "evicted from the index";
  // ...but the pinned bytes were not overwritten.
  auto d = pin->data();
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(d.data()), d.size()), v);
  pin->Release();
  EXPECT_TRUE(Put("after", w).ok());
}

TEST_F(BlockStoreTest, AllOpenAllocationsMeansResourceExhausted) {
  std::vector<Allocation> held;
  for (int i = 0; i < 4; ++i) {
    auto a = store_->Allocate(0, "big" + std::to_string(i), 1 << 20);
    ASSERT_TRUE(a.ok());
    held.push_back(*a);
  }
  auto r = store_->Allocate(0, "one-more", 1);
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
  clock_.AdvanceMillis(2000);
  EXPECT_EQ(store_->ExpireLeases(), 4u);
  EXPECT_TRUE(store_->Allocate(0, "one-more", 1).ok()) << "space came back after the leases";
}

TEST_F(BlockStoreTest, LongestPrefix) {
  ASSERT_TRUE(Put("h1", "a").ok());
  ASSERT_TRUE(Put("h2", "b").ok());
  ASSERT_TRUE(Put("h4", "d").ok());
  std::vector<std::string_view> keys = {"h1", "h2", "h3", "h4"};
  EXPECT_EQ(store_->LongestPrefix(0, keys), 2u);
  EXPECT_EQ(store_->LongestPrefix(1, keys), 0u);
  EXPECT_EQ(store_->LongestPrefix(0, {}), 0u);
}

// Lists longer than one FindBatch batch (16): the gap is found wherever it is, invalid keys
// are absent, ALLOCATED (uncommitted) blocks are not.
TEST_F(BlockStoreTest, ExistsBatchAndLongPrefixes) {
  std::vector<std::string> names;
  for (int i = 0; i < 40; ++i) names.push_back("p" + std::to_string(i));
  for (int i = 0; i < 40; ++i) {
    if (i == 33) continue;  // the gap
    ASSERT_TRUE(Put(names[i], "v").ok()) << i;
  }
  ASSERT_TRUE(store_->Allocate(0, "pending", 1).ok());
  std::vector<std::string_view> keys(names.begin(), names.end());
  EXPECT_EQ(store_->LongestPrefix(0, keys), 33u);
  std::string too_long(300, 'k');
  std::vector<std::string_view> mixed = {names[0], "", too_long, "pending", names[33], names[39]};
  std::vector<bool> present;
  store_->ExistsBatch(0, mixed, &present);
  EXPECT_EQ(present, (std::vector<bool>{true, false, false, false, false, true}));
  store_->ExistsBatch(1, mixed, &present);
  EXPECT_EQ(present, std::vector<bool>(6, false));
  for (size_t i = 0; i < mixed.size(); ++i) EXPECT_EQ(present[i], store_->Exists(1, mixed[i]));
}

TEST(StoreOptionsTest, Validate) {
  StoreOptions o;
  EXPECT_TRUE(o.Validate().ok());
  o.index_shards = 3;
  EXPECT_FALSE(o.Validate().ok());
  o = StoreOptions();
  o.max_value_bytes = o.dram_region_bytes + 1;
  EXPECT_FALSE(o.Validate().ok());
  o = StoreOptions();
  o.dram_bytes = 1;
  EXPECT_FALSE(o.Validate().ok());
}

}  // namespace
}  // namespace kvstash
