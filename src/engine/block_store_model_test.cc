// Randomized model-based test: millions of random operations against BlockStore and against
// a simple reference model, comparing every answer. Capacity pressure is deliberate (a tiny
// arena), so eviction is the one non-determinism the model allows: a committed key may
// vanish (and only while evictions are counted), but a key must never return bytes other than
// the ones committed, an uncommitted key is never visible, and Busy/AlreadyExists/NotFound/
// LeaseExpired must match the model exactly.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "engine/block_store.h"

namespace kvstash {
namespace {

uint64_t SplitMix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

void Fill(std::byte* p, uint64_t size, uint64_t seed) {
  for (uint64_t i = 0; i < size; i += 8) {
    uint64_t w = SplitMix(seed + i);
    std::memcpy(p + i, &w, std::min<uint64_t>(8, size - i));
  }
}

bool Matches(std::span<const std::byte> d, uint64_t size, uint64_t seed) {
  if (d.size() != size) return false;
  std::vector<std::byte> want(size);
  Fill(want.data(), size, seed);
  return std::memcmp(d.data(), want.data(), size) == 0;
}

struct ModelBlock {
  enum { kAllocated, kCommitted } state;
  ArenaOffset offset;
  uint64_t size;
  uint64_t seed;
  int64_t deadline;
};

class ModelTest : public ::testing::TestWithParam<uint64_t> {
 protected:
  void Run(uint64_t seed, int ops);
  void DoAllocate(const std::string& key);
  void DoCommit(const std::string& key);
  void DoAbort(const std::string& key);
  void DoLookup(const std::string& key);
  void DoDelete(const std::string& key);
  void DoExpire();
  void DoPinOrRelease();

  std::mt19937_64 rng_;
  ManualClock clock_;
  std::unique_ptr<BlockStore> store_;
  std::map<std::string, ModelBlock> model_;
  struct HeldPin {
    BlockPin pin;
    uint64_t size, seed;
  };
  std::vector<HeldPin> pins_;
  uint64_t next_seed_ = 1;
  uint64_t vanished_ = 0;
  const int64_t lease_ns_ = 50'000'000;  // 50 ms
};

void ModelTest::DoAllocate(const std::string& key) {
  uint64_t size = 1 + rng_() % (rng_() % 4 == 0 ? 40000 : 3000);
  auto r = store_->Allocate(0, key, size);
  auto it = model_.find(key);
  if (it != model_.end() && it->second.state == ModelBlock::kAllocated) {
    ASSERT_EQ(r.status().code(), StatusCode::kBusy);
    return;
  }
  if (it != model_.end() && !r.ok()) {
    ASSERT_EQ(r.status().code(), StatusCode::kAlreadyExists);
    return;
  }
  if (!r.ok()) {
    ASSERT_EQ(r.status().code(), StatusCode::kResourceExhausted) << r.status().ToString();
    bool open = false;
    for (auto& [k, b] : model_) open |= b.state == ModelBlock::kAllocated;
    ASSERT_TRUE(open || !pins_.empty()) << "DRAM full with nothing open or pinned";
    return;
  }
  if (it != model_.end()) {  // the committed block must have been evicted meanwhile
    ASSERT_GT(store_->Stats().evictions, 0u);
    ++vanished_;
  }
  uint64_t seed = next_seed_++;
  Fill(store_->arena_base() + r->offset.value(), size, seed);
  model_[key] = {ModelBlock::kAllocated, r->offset, size, seed, r->lease_deadline_ns};
}

void ModelTest::DoCommit(const std::string& key) {
  auto it = model_.find(key);
  if (it == model_.end() || it->second.state != ModelBlock::kAllocated) {
    Status s = store_->Commit(0, key, ArenaOffset(rng_() % 4096));
    ASSERT_TRUE(s.Is(StatusCode::kNotFound) || s.Is(StatusCode::kAlreadyExists)) << s.ToString();
    return;
  }
  Status s = store_->Commit(0, key, it->second.offset);
  if (clock_.NowNanos() > it->second.deadline) {
    ASSERT_EQ(s.code(), StatusCode::kLeaseExpired);
    model_.erase(it);
    return;
  }
  ASSERT_TRUE(s.ok()) << s.ToString();
  it->second.state = ModelBlock::kCommitted;
}

void ModelTest::DoAbort(const std::string& key) {
  auto it = model_.find(key);
  bool open = it != model_.end() && it->second.state == ModelBlock::kAllocated;
  Status s = store_->Abort(0, key, open ? it->second.offset : ArenaOffset(0));
  if (!open) {
    ASSERT_EQ(s.code(), StatusCode::kNotFound);
    return;
  }
  ASSERT_TRUE(s.ok()) << s.ToString();
  model_.erase(it);
}

void ModelTest::DoLookup(const std::string& key) {
  auto r = store_->Lookup(0, key);
  auto it = model_.find(key);
  if (it == model_.end() || it->second.state != ModelBlock::kCommitted) {
    ASSERT_EQ(r.status().code(), StatusCode::kNotFound) << "uncommitted key visible: " << key;
    ASSERT_FALSE(store_->Exists(0, key));
    return;
  }
  if (!r.ok()) {
    ASSERT_EQ(r.status().code(), StatusCode::kNotFound);
    ASSERT_GT(store_->Stats().evictions, 0u);
    ++vanished_;
    model_.erase(it);
    return;
  }
  ASSERT_TRUE(Matches(r->data(), it->second.size, it->second.seed)) << "WRONG BYTES for " << key;
  if (rng_() % 8 == 0 && pins_.size() < 3) {
    pins_.push_back({std::move(*r), it->second.size, it->second.seed});
  }
}

void ModelTest::DoDelete(const std::string& key) {
  Status s = store_->Delete(0, key);
  auto it = model_.find(key);
  if (it == model_.end()) {
    ASSERT_EQ(s.code(), StatusCode::kNotFound);
  } else if (it->second.state == ModelBlock::kAllocated) {
    ASSERT_EQ(s.code(), StatusCode::kBusy);
  } else {
    ASSERT_TRUE(s.ok() || s.Is(StatusCode::kNotFound)) << s.ToString();
    model_.erase(it);
  }
}

void ModelTest::DoExpire() {
  clock_.Advance(std::chrono::nanoseconds(rng_() % (lease_ns_ / 2)));
  size_t expected = 0;
  for (auto it = model_.begin(); it != model_.end();) {
    if (it->second.state == ModelBlock::kAllocated && it->second.deadline < clock_.NowNanos()) {
      ++expected;
      it = model_.erase(it);
    } else {
      ++it;
    }
  }
  ASSERT_EQ(store_->ExpireLeases(), expected);
}

void ModelTest::DoPinOrRelease() {
  if (pins_.empty()) return;
  size_t i = rng_() % pins_.size();
  ASSERT_TRUE(Matches(pins_[i].pin.data(), pins_[i].size, pins_[i].seed))
      << "pinned bytes changed under the pin";
  pins_.erase(pins_.begin() + static_cast<long>(i));
}

void ModelTest::Run(uint64_t seed, int ops) {
  rng_.seed(seed);
  StoreOptions o;
  o.dram_bytes = 8 * (128 << 10);
  o.dram_region_bytes = 128 << 10;
  o.max_value_bytes = 64 << 10;
  o.lease = std::chrono::milliseconds(lease_ns_ / 1'000'000);
  o.index_shards = 8;
  o.try_hugepages = false;
  o.clock = &clock_;
  o.background = false;  // deterministic: the test drives maintenance
  store_ = std::move(BlockStore::Create(o).value());
  for (int i = 0; i < ops && !HasFatalFailure(); ++i) {
    std::string key = "k" + std::to_string(rng_() % 300);
    switch (rng_() % 16) {
      case 0:
      case 1:
      case 2:
        DoAllocate(key);
        break;
      case 3:
      case 4:
      case 5:
        DoCommit(key);
        break;
      case 6:
        DoAbort(key);
        break;
      case 7:
      case 8:
      case 9:
      case 10:
      case 11:
        DoLookup(key);
        break;
      case 12:
        DoDelete(key);
        break;
      case 13:
        DoExpire();
        break;
      default:
        DoPinOrRelease();
        break;
    }
  }
  pins_.clear();
  auto s = store_->Stats();
  EXPECT_LE(s.dram_used_bytes, s.dram_capacity_bytes);
  EXPECT_GT(s.evictions, 0u) << "the test must exercise capacity pressure";
  EXPECT_GT(s.lease_aborts, 0u);
  EXPECT_GT(s.commits, 1000u);
  uint64_t committed = 0, allocated = 0;
  for (auto& [k, b] : model_) {
    committed += b.state == ModelBlock::kCommitted;
    allocated += b.state == ModelBlock::kAllocated;
  }
  EXPECT_EQ(s.blocks_allocated, allocated);
  EXPECT_LE(s.blocks_committed, committed) << "the store holds keys the model does not";
}

TEST_P(ModelTest, RandomOperationsMatchTheModel) {
  int ops = 1'000'000;
  if (const char* env = std::getenv("KVSTASH_MODEL_OPS")) ops = std::atoi(env);
  Run(GetParam(), ops);
}

INSTANTIATE_TEST_SUITE_P(Seeds, ModelTest, ::testing::Values(1, 2, 3));

}  // namespace
}  // namespace kvstash
