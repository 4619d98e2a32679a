// The engine with a flash tier: flush on DRAM reclaim, flash hits, admission, flash reclaim
// with reinsertion, delete -> TRIM, and faults (EIO, bit flips) that must never yield wrong
// bytes. Deterministic: no background threads (RunMaintenance() and synchronous flushes).
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "common/checksum.h"
#include "engine/block_store.h"
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
    StoreOptions o;
    o.dram_bytes = 4 * (256 << 10);
    o.dram_region_bytes = 256 << 10;
    o.max_value_bytes = 256 << 10;
    o.try_hugepages = false;
    o.background = false;
    o.dram_free_regions = 1;
    o.clock = &clock_;
    o.flash_device = dev;
    o.flash.regions.region_bytes = 1 << 20;
    o.flash.regions.background_flush = false;
    o.flash.regions.trim.background_thread = false;
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
    if (i == 0) EXPECT_EQ(tier, Tier::kFlash);
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
    if (i % 5 == 0) ASSERT_EQ(Get("k" + std::to_string(i)), Value(i));  // reused while in DRAM
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
    if (i >= 20) ASSERT_EQ(Get("k5"), Value(5)) << "k5 is hot at step " << i;
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
