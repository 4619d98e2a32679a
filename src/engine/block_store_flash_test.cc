// The engine with a flash tier: flush on DRAM reclaim, flash hits, admission, flash reclaim
// with reinsertion, delete -> TRIM, and faults (EIO, bit flips) that must never yield wrong
// bytes. Deterministic: no background threads (RunMaintenance() and synchronous flushes).
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "common/checksum.h"
#include "engine/block_store.h"
#include "engine/engine_test_util.h"
#include "flash/fault_device.h"
#include "flash/memory_device.h"

namespace kvstash {
namespace {

constexpr uint64_t kBlock = 96 << 10;  // 2 per 256 KiB DRAM region, ~10 per 1 MiB flash region

std::string Value(int i, uint64_t size = kBlock) {
  std::string v(size, '\0');
  for (uint64_t j = 0; j < size; ++j) v[j] = static_cast<char>((i * 31 + j * 7) & 0xFF);
  return v;
}

class FlashStoreTest : public ::testing::Test {
 protected:
  void Open(const std::string& admission, uint64_t flash_bytes = 8 << 20,
            FaultInjectionOptions* faults = nullptr) {
    store_.reset();
    mem_ = std::move(MemoryDevice::Create(flash_bytes).value());
    Device* dev = mem_.get();
    if (faults != nullptr) {
      fault_ = std::make_unique<FaultInjectionDevice>(mem_.get(), *faults);
      dev = fault_.get();
    }
    StoreOptions o = testing::SmallFlashOptions(dev);
    o.dram_free_regions = 1;
    o.clock = &clock_;
    o.flash.admission.kind = admission;
    auto s = BlockStore::Create(o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
  }
  Status Put(const std::string& key, const std::string& v) {
    auto a = store_->Allocate(0, key, v.size());
    if (!a.ok()) return a.status();
    std::memcpy(store_->arena_base() + a->offset.value(), v.data(), v.size());
    return store_->Commit(0, key, a->offset, ComputeChecksum(v.data(), v.size()));
  }
  // Returns the bytes, or "<Code>" on a miss/error; `tier` receives the tier of a hit.
  std::string Get(const std::string& key, Tier* tier = nullptr) {
    auto pin = store_->Lookup(0, key);
    if (!pin.ok()) return "<" + std::string(StatusCodeName(pin.status().code())) + ">";
    if (tier) *tier = pin->tier();
    std::string out(pin->size(), '\0');
    Status s = store_->ReadInto(*pin, {reinterpret_cast<std::byte*>(out.data()), out.size()});
    if (!s.ok()) return "<" + std::string(StatusCodeName(s.code())) + ">";
    return out;
  }

  ManualClock clock_;
  std::unique_ptr<MemoryDevice> mem_;
  std::unique_ptr<FaultInjectionDevice> fault_;
  std::unique_ptr<BlockStore> store_;
};

TEST_F(FlashStoreTest, AdmitAllPersistsOnDramPressureAndServesFlashHits) {
  Open("all");
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(Put("k" + std::to_string(i), Value(i)).ok()) << i;
  ASSERT_TRUE(store_->FlushFlash().ok());
  auto s = store_->Stats();
  EXPECT_GT(s.persists, 10u);
  EXPECT_GT(s.dram_copies_dropped, 10u);
  EXPECT_EQ(s.evictions, 0u) << "admit-all with room on flash evicts nothing";
  for (int i = 0; i < 30; ++i) {
    Tier tier = Tier::kDram;
    ASSERT_EQ(Get("k" + std::to_string(i), &tier), Value(i)) << i;
    if (i == 0) {
      EXPECT_EQ(tier, Tier::kFlash);
    }
  }
  s = store_->Stats();
  EXPECT_GT(s.hits_flash, 10u);
  EXPECT_GT(s.hits_dram, 0u);
  EXPECT_EQ(s.flash_checksum_failures, 0u);
  EXPECT_GE(s.flash_device_bytes_written, s.flash_bytes_written);
}

TEST_F(FlashStoreTest, ReuseAwareWritesOnlyBlocksThatWereReused) {
  Open("reuse");
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(Put("k" + std::to_string(i), Value(i)).ok());
    if (i % 5 == 0) {
      ASSERT_EQ(Get("k" + std::to_string(i)), Value(i));  // reused while in DRAM
    }
  }
  ASSERT_TRUE(store_->FlushFlash().ok());
  auto s = store_->Stats();
  EXPECT_GT(s.admission_rejected, 0u);
  EXPECT_GT(s.evictions, 0u);
  EXPECT_EQ(Get("k0"), Value(0)) << "a reused block survives DRAM eviction on flash";
  EXPECT_EQ(Get("k1"), "<NotFound>") << "a one-shot block was not written to flash";
  EXPECT_LT(s.flash_bytes_written, 10 * kBlock);
}

TEST_F(FlashStoreTest, BitFlipOnReadIsAMissNeverWrongBytes) {
  FaultInjectionOptions f;
  f.bit_flip_one_in = 1;
  Open("all", 8 << 20, &f);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(Put("k" + std::to_string(i), Value(i)).ok());
  ASSERT_TRUE(store_->FlushFlash().ok());
  int flash_errors = 0;
  for (int i = 0; i < 20; ++i) {
    std::string got = Get("k" + std::to_string(i));
    if (got[0] == '<') {
      EXPECT_TRUE(got == "<DataLoss>" || got == "<NotFound>") << got;
      ++flash_errors;
    } else {
      EXPECT_EQ(got, Value(i)) << "WRONG BYTES for k" << i;
    }
  }
  EXPECT_GT(flash_errors, 0);
  EXPECT_GT(store_->Stats().flash_checksum_failures, 0u);
  // The corrupted blocks are gone from the index: a second read is a clean miss.
  EXPECT_EQ(Get("k0"), "<NotFound>");
}

// Bytes that do not repeat (unlike Value): a value can be found on the medium by its bytes.
std::string Noise(int i, uint64_t size = kBlock) {
  std::string v(size, '\0');
  uint64_t x = 0x9E3779B97F4A7C15ull * (i + 1);
  for (uint64_t j = 0; j < size; ++j) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    v[j] = static_cast<char>(x);
  }
  return v;
}

// Flash keys among k0..k29 after a flush (the newest blocks stay in DRAM).
std::vector<int> FlashResident(BlockStore& store, int n) {
  std::vector<int> out;
  for (int i = 0; i < n; ++i) {
    auto pin = store.Lookup(0, "k" + std::to_string(i));
    if (pin.ok() && pin->tier() == Tier::kFlash) out.push_back(i);
  }
  return out;
}

TEST_F(FlashStoreTest, ReadIntoVServesAMixedBatchItemByItem) {
  Open("all");
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(Put("k" + std::to_string(i), Noise(i)).ok()) << i;
  ASSERT_TRUE(store_->FlushFlash().ok());
  std::vector<BlockPin> pins;
  int flash = 0, dram = 0;
  for (int i = 0; i < 30; ++i) {
    auto pin = store_->Lookup(0, "k" + std::to_string(i));
    ASSERT_TRUE(pin.ok()) << i;
    (pin->tier() == Tier::kFlash ? flash : dram)++;
    pins.push_back(std::move(*pin));
  }
  ASSERT_GT(flash, 5);
  ASSERT_GT(dram, 0);
  // Item 30: a destination one byte short fails that item only.
  std::vector<std::string> out(31);
  std::vector<const BlockPin*> ptrs;
  std::vector<std::span<std::byte>> dests;
  for (int i = 0; i <= 30; ++i) {
    const BlockPin& pin = pins[i % 30];
    out[i].resize(i == 30 ? pin.size() - 1 : pin.size());
    ptrs.push_back(&pin);
    dests.push_back({reinterpret_cast<std::byte*>(out[i].data()), out[i].size()});
  }
  std::vector<Status> results(31);
  uint64_t device_reads = mem_->stats().read_ops;
  Status s = store_->ReadIntoV(ptrs, dests, results);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(results[i].ok()) << i << " " << results[i].ToString();
    EXPECT_EQ(out[i], Noise(i)) << "WRONG BYTES for k" << i;
  }
  EXPECT_EQ(results[30].code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(mem_->stats().read_ops - device_reads, uint64_t(flash)) << "one read per flash item";
  EXPECT_EQ(store_->Stats().flash_read_errors, 0u);
  // Spans of different sizes touch nothing.
  results.assign(31, Status::Ok());
  EXPECT_EQ(store_->ReadIntoV(ptrs, std::span(dests).first(30), results).code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(results[0].ok());
}

TEST_F(FlashStoreTest, ReadIntoVCorruptFlashBlockFailsOnlyItself) {
  Open("all");
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(Put("k" + std::to_string(i), Noise(i)).ok()) << i;
  ASSERT_TRUE(store_->FlushFlash().ok());
  std::vector<int> on_flash = FlashResident(*store_, 30);
  ASSERT_GE(on_flash.size(), 6u);
  // Corrupt one byte in the middle of one flash block's value, found by its bytes on the medium.
  const int victim = on_flash[on_flash.size() / 2];
  std::string v = Noise(victim);
  std::span<std::byte> raw = mem_->raw();
  std::string_view medium(reinterpret_cast<const char*>(raw.data()), raw.size());
  size_t at = medium.find(std::string_view(v).substr(0, 512));
  ASSERT_NE(at, std::string_view::npos);
  raw[at + v.size() / 2] ^= std::byte{0x01};
  std::vector<BlockPin> pins;
  std::vector<std::string> out(on_flash.size());
  std::vector<const BlockPin*> ptrs;
  std::vector<std::span<std::byte>> dests;
  for (size_t j = 0; j < on_flash.size(); ++j) {
    auto pin = store_->Lookup(0, "k" + std::to_string(on_flash[j]));
    ASSERT_TRUE(pin.ok());
    out[j].resize(pin->size());
    pins.push_back(std::move(*pin));
    dests.push_back({reinterpret_cast<std::byte*>(out[j].data()), out[j].size()});
  }
  for (const BlockPin& p : pins) ptrs.push_back(&p);
  std::vector<Status> results(on_flash.size());
  EXPECT_EQ(store_->ReadIntoV(ptrs, dests, results).code(), StatusCode::kDataLoss);
  for (size_t j = 0; j < on_flash.size(); ++j) {
    if (on_flash[j] == victim) {
      EXPECT_EQ(results[j].code(), StatusCode::kDataLoss) << results[j].ToString();
    } else {
      ASSERT_TRUE(results[j].ok()) << on_flash[j] << " " << results[j].ToString();
      EXPECT_EQ(out[j], Noise(on_flash[j])) << "WRONG BYTES for k" << on_flash[j];
    }
  }
  pins.clear();
  auto s = store_->Stats();
  EXPECT_EQ(s.flash_checksum_failures, 1u);
  EXPECT_EQ(s.flash_read_errors, 1u);
  EXPECT_EQ(Get("k" + std::to_string(victim)), "<NotFound>") << "dropped from the index";
  EXPECT_EQ(Get("k" + std::to_string(on_flash[0])), Noise(on_flash[0]));
}

TEST_F(FlashStoreTest, WriteErrorsKeepServingDramAndCount) {
  FaultInjectionOptions f;
  f.write_error_one_in = 1;
  Open("all", 8 << 20, &f);
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(Put("k" + std::to_string(i), Value(i)).ok()) << i;
  (void)store_->FlushFlash();
  auto s = store_->Stats();
  EXPECT_GT(s.flash_write_errors + s.flash_persist_failures, 0u);
  EXPECT_EQ(s.flash_degraded, 1u);
  for (int i = 0; i < 30; ++i) {
    std::string got = Get("k" + std::to_string(i));
    EXPECT_TRUE(got == Value(i) || got == "<NotFound>" || got == "<IOError>") << i;
  }
  EXPECT_EQ(Get("k29"), Value(29)) << "the newest block is still in DRAM";
  // The device heals: new blocks reach flash again.
  fault_->SetHealthy(true);
  for (int i = 100; i < 130; ++i) ASSERT_TRUE(Put("k" + std::to_string(i), Value(i)).ok());
  ASSERT_TRUE(store_->FlushFlash().ok());
  EXPECT_EQ(Get("k100"), Value(100));
  EXPECT_EQ(store_->Stats().flash_degraded, 0u) << "degraded clears once a write succeeds";
}

TEST_F(FlashStoreTest, FlashReclaimEvictsColdAndReinsertsHot) {
  Open("all", 4 << 20);  // 4 flash regions of 1 MiB: ~40 blocks
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(Put("k" + std::to_string(i), Value(i)).ok()) << i;
    if (i >= 20) {
      ASSERT_EQ(Get("k5"), Value(5)) << "k5 is hot at step " << i;
    }
  }
  ASSERT_TRUE(store_->FlushFlash().ok());
  auto s = store_->Stats();
  EXPECT_GT(s.flash_regions_reclaimed, 0u);
  EXPECT_GT(s.flash_reinserted, 0u);
  EXPECT_EQ(Get("k5"), Value(5));
  EXPECT_EQ(Get("k6"), "<NotFound>") << "a cold block aged out of flash";
  EXPECT_LE(s.flash_capacity_bytes, 4u << 20);
}

TEST_F(FlashStoreTest, DeletingEveryBlockOfARegionTrimsIt) {
  Open("all");
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(Put("k" + std::to_string(i), Value(i)).ok());
  ASSERT_TRUE(store_->FlushFlash().ok());
  uint64_t before = store_->Stats().discard_bytes;
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(store_->Delete(0, "k" + std::to_string(i)).ok());
  store_->RunMaintenance();
  // Synchronous TRIM mode: the pipeline runs when the store drives it.
  (void)store_->FlushFlash();
  auto s = store_->Stats();
  EXPECT_GT(s.flash_regions_reclaimed, 0u);
  EXPECT_GT(s.discard_bytes, before);
  for (int i = 0; i < 40; ++i) EXPECT_EQ(Get("k" + std::to_string(i)), "<NotFound>");
}

}  // namespace
}  // namespace kvstash
