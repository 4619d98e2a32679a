// Fault scenarios of a serving node (in-process BlockStore + Server, flash on an in-memory
// device behind a seeded FaultInjectionDevice): device I/O errors, corrupted flash bytes,
// full tiers. Each asserts what a client sees: correct bytes or a clean error, never wrong
// bytes, never a call that blocks without bound.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "flash/fault_device.h"
#include "flash/memory_device.h"
#include "net/proto/protocol.h"
#include "net/tests/net_test_util.h"

namespace kvstash::testing {
namespace {

using SteadyClock = std::chrono::steady_clock;
constexpr size_t kBlock = (48 << 10) + 77;  // not a multiple of 4 KiB on purpose

class FlashFaultTest : public ::testing::Test {
 protected:
  // DRAM: 4 regions of 256 KiB; flash: `flash_bytes` in 1 MiB regions; admit everything.
  void Open(uint64_t flash_bytes, const FaultInjectionOptions& faults = {}, ServerOptions so = {}) {
    mem_ = std::move(MemoryDevice::Create(flash_bytes)).value();
    fault_ = std::make_unique<FaultInjectionDevice>(mem_.get(), faults);
    StoreOptions o = SmallFlashStoreOptions(fault_.get());
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
  // Keys 0..n-1 whose block lives on flash only.
  std::vector<int> FlashResident(int n) {
    std::vector<int> out;
    for (int i = 0; i < n; ++i) {
      auto pin = ts_->store->Lookup(0, Key(i));
      if (pin.ok() && pin->tier() == Tier::kFlash) out.push_back(i);
    }
    return out;
  }
  // Puts keys 0..n-1 and flushes them to flash: the keys whose block is then flash-only.
  std::vector<int> PutAndFlush(int n) {
    for (int i = 0; i < n; ++i) {
      Status s = client_->Put(Key(i), Pattern(i, kBlock));
      EXPECT_TRUE(s.ok()) << i << ": " << s.ToString();
      if (!s.ok()) return {};
    }
    EXPECT_TRUE(ts_->store->FlushFlash().ok());
    return FlashResident(n);
  }
  // Every device call from now on takes `latency`.
  void SlowDevice(std::chrono::milliseconds latency) {
    FaultInjectionOptions slow;
    slow.latency_one_in = 1;
    slow.latency = latency;
    fault_->SetOptions(slow);
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

TEST_F(FlashFaultTest, CorruptFlashBlockInABatchFailsThatKeyOnly) {
  Open(16 << 20);
  constexpr int kN = 80;
  std::vector<int> on_flash = PutAndFlush(kN);
  ASSERT_GE(on_flash.size(), 12u);
  // One batch: 12 flash keys and 4 DRAM keys (the newest); one flash block corrupted on the
  // medium, found by its bytes.
  std::vector<int> ids(on_flash.begin(), on_flash.begin() + 12);
  for (int i = kN - 4; i < kN; ++i) ids.push_back(i);
  const int victim = ids[5];
  std::vector<std::byte> v = Pattern(victim, kBlock);
  std::span<std::byte> raw = mem_->raw();
  auto at = std::search(raw.begin(), raw.end(), v.begin(), v.begin() + 256);
  ASSERT_NE(at, raw.end());
  at[kBlock / 2] ^= std::byte{0x10};
  std::vector<std::byte> pool(ids.size() * kBlock);
  auto reg = client_->RegisterBuffer(pool.data(), pool.size());
  ASSERT_TRUE(reg.ok());
  std::vector<std::string> keys;
  for (int id : ids) keys.push_back(Key(id));
  std::vector<GetItem> items;
  for (size_t k = 0; k < ids.size(); ++k) {
    items.push_back({keys[k], std::span(pool).subspan(k * kBlock, kBlock)});
  }
  auto got = client_->GetBatch(items);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  for (size_t k = 0; k < ids.size(); ++k) {
    const auto& one = (*got)[k];
    if (ids[k] == victim) {
      EXPECT_EQ(one.status().code(), StatusCode::kDataLoss) << one.status().ToString();
      continue;
    }
    ASSERT_TRUE(one.ok()) << keys[k] << " " << one.status().ToString();
    EXPECT_EQ(*one, kBlock);
    EXPECT_TRUE(std::ranges::equal(items[k].dest, Pattern(ids[k], kBlock)))
        << "WRONG BYTES for " << keys[k];
  }
  EXPECT_EQ(StoreStat("checksum_failures"), 1u);
  EXPECT_EQ(ts_->server->Stats().key_errors, 1u);
  EXPECT_EQ(ts_->server->Stats().get_bytes_flash, 11u * kBlock);
  std::vector<std::byte> dest(kBlock);
  EXPECT_EQ(client_->Get(Key(victim), dest).status().code(), StatusCode::kNotFound)
      << "a block that failed its checksum is dropped";
}

// A client sends Gets of slow flash blocks and disconnects while they are being read. The
// server drops the results (no writes, no replies) and frees the bounce memory and pins: with
// room for only two reads in flight, later Gets would otherwise wait forever.
TEST_F(FlashFaultTest, ClientGoneWhileItsFlashReadsRunLeaksNothing) {
  ServerOptions so;
  so.flash_bounce_bytes = 4096;  // raised to one max-size block: 256 KiB = 4 of these
  Open(16 << 20, {}, so);
  constexpr int kN = 80;
  std::vector<int> on_flash = PutAndFlush(kN);
  ASSERT_GE(on_flash.size(), 8u);
  SlowDevice(std::chrono::milliseconds(150));
  {
    auto raw = RawPeer::Connect("127.0.0.1", ts_->server->port());
    ASSERT_NE(raw, nullptr);
    std::vector<std::byte> mem(8 * kBlock);
    const uint32_t buffer_id = raw->HelloAndRegister(mem);
    ASSERT_NE(buffer_id, 0u);
    std::vector<std::string> keys;
    for (int i = 0; i < 8; ++i) keys.push_back(Key(on_flash[i]));
    std::vector<std::vector<std::byte>> burst;
    for (int g = 0; g < 4; ++g) {
      net::GetRequest req;
      for (int k = 0; k < 2; ++k) {
        int i = g * 2 + k;
        req.items.push_back({keys[i], buffer_id, uint64_t(i) * kBlock, kBlock});
      }
      burst.push_back(net::EncodeRequest(net::Opcode::kGet, 10 + g, req));
    }
    ASSERT_TRUE(raw->SendBurst(burst));
    EXPECT_TRUE(raw->CollectReplies(1, 50).empty()) << "a reply before the slow reads finished";
  }  // disconnects with every read queued or running
  auto deadline = SteadyClock::now() + std::chrono::seconds(10);
  while (ts_->server->Stats().connections_active > 1 && SteadyClock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(ts_->server->Stats().connections_active, 1u);
  // Some reads may still be running: they finish for nobody.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ(ts_->server->Stats().get_bytes_flash, 0u) << "written to a closed connection";
  fault_->SetHealthy(true);
  // Every flash block reads fine afterwards, through the same (small) bounce memory.
  for (int i = 0; i < 8; ++i) EXPECT_EQ(Check(on_flash[i]), 1) << Key(on_flash[i]);
  EXPECT_EQ(ts_->server->Stats().get_bytes_flash, 8u * kBlock);
}

// Stop() while a Get's flash reads run: the reads finish or are cancelled, the readers are
// joined, the client sees an error (or its bytes), never a hang or wrong bytes.
TEST_F(FlashFaultTest, StopWhileFlashReadsRunJoinsTheReaders) {
  Open(16 << 20);
  constexpr int kN = 80;
  std::vector<int> on_flash = PutAndFlush(kN);
  ASSERT_GE(on_flash.size(), 4u);
  SlowDevice(std::chrono::milliseconds(300));
  std::vector<std::string> keys;
  for (int i = 0; i < 4; ++i) keys.push_back(Key(on_flash[i]));
  std::vector<std::byte> pool(4 * kBlock);
  std::vector<GetItem> items;
  for (int k = 0; k < 4; ++k)
    items.push_back({keys[k], std::span(pool).subspan(k * kBlock, kBlock)});
  Result<std::vector<Result<size_t>>> got = Status::Internal("not run");
  std::thread getter([&] { got = client_->GetBatch(items); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto t0 = SteadyClock::now();
  ts_->server->Stop();
  EXPECT_LT(SteadyClock::now() - t0, std::chrono::seconds(5));
  getter.join();
  if (got.ok()) {
    for (int k = 0; k < 4; ++k) {
      if ((*got)[k].ok()) {
        EXPECT_TRUE(std::ranges::equal(items[k].dest, Pattern(on_flash[k], kBlock)))
            << "WRONG BYTES for " << keys[k];
      }
    }
  }
  EXPECT_LE(ts_->server->Stats().get_bytes_flash, 4u * kBlock);
}

}  // namespace
}  // namespace kvstash::testing
