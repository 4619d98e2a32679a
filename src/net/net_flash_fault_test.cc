// Fault scenarios of a serving node (in-process BlockStore + Server, flash on an in-memory
// device behind a seeded FaultInjectionDevice): device I/O errors, corrupted flash bytes,
// full tiers. Each asserts what a client sees: correct bytes or a clean error, never wrong
// bytes, never a call that blocks without bound.
#include <gtest/gtest.h>

#include <chrono>

#include "flash/fault_device.h"
#include "flash/memory_device.h"
#include "net/net_test_util.h"

namespace kvstash::testing {
namespace {

using SteadyClock = std::chrono::steady_clock;
constexpr size_t kBlock = (48 << 10) + 77;  // not a multiple of 4 KiB on purpose

class FlashFaultTest : public ::testing::Test {
 protected:
  // DRAM: 4 regions of 256 KiB; flash: `flash_bytes` in 1 MiB regions; admit everything.
  void Open(uint64_t flash_bytes, const FaultInjectionOptions& faults = {}) {
    mem_ = std::move(MemoryDevice::Create(flash_bytes)).value();
    fault_ = std::make_unique<FaultInjectionDevice>(mem_.get(), faults);
    StoreOptions o;
    o.dram_bytes = 4 * (256 << 10);
    o.dram_region_bytes = 256 << 10;
    o.max_value_bytes = 256 << 10;
    o.try_hugepages = false;
    o.background = false;
    o.flash_device = fault_.get();
    o.flash.regions.region_bytes = 1 << 20;
    o.flash.regions.background_flush = false;
    o.flash.regions.trim.background_thread = false;
    o.flash.admission.kind = "all";
    ServerOptions so;
    so.max_value_bytes = 256 << 10;
    ts_ = StartServer(0, 1, o, so);
    ASSERT_NE(ts_, nullptr);
    ClientOptions co = TestClientOptions(*ts_);
    co.timeout = std::chrono::seconds(5);
    client_ = std::move(Client::Connect(co)).value();
  }
  void TearDown() override {
    client_.reset();
    ts_.reset();
  }
  static std::string Key(int i) { return "blk" + std::to_string(i); }
  // Reads key i: 1 = correct bytes, 0 = a clean error (miss/DataLoss/IOError), -1 = WRONG bytes.
  int Check(int i) {
    std::vector<std::byte> dest(kBlock);
    auto got = client_->Get(Key(i), dest);
    if (!got.ok()) {
      StatusCode c = got.status().code();
      EXPECT_TRUE(c == StatusCode::kNotFound || c == StatusCode::kDataLoss ||
                  c == StatusCode::kIOError)
          << got.status().ToString();
      return 0;
    }
    return *got == kBlock && dest == Pattern(i, kBlock) ? 1 : -1;
  }
  uint64_t StoreStat(const std::string& name) {
    auto st = client_->Stats();
    EXPECT_TRUE(st.ok());
    return st.ok() ? st->at("store." + name) : 0;
  }

  std::unique_ptr<MemoryDevice> mem_;
  std::unique_ptr<FaultInjectionDevice> fault_;
  std::unique_ptr<TestServer> ts_;
  std::unique_ptr<Client> client_;
};

TEST_F(FlashFaultTest, DeviceErrorsKeepDramServingMarkDegradedAndRecover) {
  FaultInjectionOptions f;
  f.seed = 7;
  f.write_error_one_in = 1;
  f.read_error_one_in = 1;
  Open(16 << 20, f);
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(client_->Put(Key(i), Pattern(i, kBlock)).ok()) << i;
  (void)ts_->store->FlushFlash();
  EXPECT_EQ(StoreStat("flash_degraded"), 1u);
  EXPECT_GT(StoreStat("flash_write_errors") + StoreStat("flash_persist_failures"), 0u);
  int good = 0;
  for (int i = 0; i < 40; ++i) {
    int r = Check(i);
    ASSERT_NE(r, -1) << "WRONG BYTES for " << Key(i);
    good += r;
  }
  EXPECT_EQ(Check(39), 1) << "the newest block is served from DRAM";
  EXPECT_GT(good, 0);
  // The device heals: new blocks reach flash, are served from it, and the flag clears.
  fault_->SetHealthy(true);
  for (int i = 100; i < 160; ++i) ASSERT_TRUE(client_->Put(Key(i), Pattern(i, kBlock)).ok());
  ASSERT_TRUE(ts_->store->FlushFlash().ok());
  EXPECT_EQ(StoreStat("flash_degraded"), 0u);
  uint64_t flash_hits = StoreStat("hits_flash");
  for (int i = 100; i < 110; ++i) EXPECT_EQ(Check(i), 1) << Key(i);
  EXPECT_GT(StoreStat("hits_flash"), flash_hits) << "served from the healed flash";
}

TEST_F(FlashFaultTest, CorruptedFlashBytesAreMissesAndCountedNeverWrongData) {
  Open(16 << 20);
  constexpr int kN = 80;
  for (int i = 0; i < kN; ++i) ASSERT_TRUE(client_->Put(Key(i), Pattern(i, kBlock)).ok()) << i;
  ASSERT_TRUE(ts_->store->FlushFlash().ok());
  ASSERT_GT(ts_->store->Stats().dram_copies_dropped, 0u) << "nothing moved to flash";
  // Flip one byte in every 4 KiB of the medium, under the running store.
  std::span<std::byte> raw = mem_->raw();
  for (size_t off = 1234; off < raw.size(); off += 4096) raw[off] ^= std::byte{0x5A};
  int good = 0, clean_errors = 0;
  for (int i = 0; i < kN; ++i) {
    int r = Check(i);
    ASSERT_NE(r, -1) << "WRONG BYTES for " << Key(i);
    good += r;
    clean_errors += r == 0;
  }
  EXPECT_GT(clean_errors, 0);
  EXPECT_GT(good, 0) << "blocks still in DRAM are unaffected";
  EXPECT_GT(StoreStat("checksum_failures"), 0u);
  for (int i = 0; i < kN; ++i) ASSERT_NE(Check(i), -1);  // and a second pass is clean misses
}

TEST_F(FlashFaultTest, FullFlashAndFullDramNeverBlock) {
  FaultInjectionOptions f;
  f.full_beyond_offset = 2 << 20;  // the device "fills up" after two regions
  Open(8 << 20, f);
  auto t0 = SteadyClock::now();
  int ok = 0;
  for (int i = 0; i < 300; ++i) {
    auto c0 = SteadyClock::now();
    Status s = client_->Put(Key(i), Pattern(i, kBlock));
    EXPECT_LT(SteadyClock::now() - c0, std::chrono::seconds(2)) << "put " << i;
    EXPECT_TRUE(s.ok() || s.code() == StatusCode::kResourceExhausted) << s.ToString();
    ok += s.ok();
    if (i % 20 == 0) ts_->store->RunMaintenance();
  }
  EXPECT_GT(ok, 0);
  for (int i = 0; i < 300; ++i) ASSERT_NE(Check(i), -1);
  // DRAM full of open allocations (writers that have not committed): Put is refused with
  // ResourceExhausted at once, not queued.
  std::vector<Allocation> held;
  for (int i = 0; i < 64; ++i) {
    auto a = ts_->store->Allocate(0, "held" + std::to_string(i), 200 << 10);
    if (!a.ok()) {
      EXPECT_EQ(a.status().code(), StatusCode::kResourceExhausted) << a.status().ToString();
      break;
    }
    held.push_back(*a);
  }
  auto c0 = SteadyClock::now();
  Status s = client_->Put("one-more", Pattern(1, 200 << 10));
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s.ToString();
  EXPECT_LT(SteadyClock::now() - c0, std::chrono::seconds(1));
  EXPECT_LT(SteadyClock::now() - t0, std::chrono::seconds(120));
  for (size_t i = 0; i < held.size(); ++i) {
    EXPECT_TRUE(ts_->store->Abort(0, "held" + std::to_string(i), held[i].offset).ok());
  }
}

}  // namespace
}  // namespace kvstash::testing
