// Gets of blocks that live on flash: the server's reader threads read them (BlockStore::
// ReadIntoV) into its registered bounce memory and the worker writes them from there
// (docs/ARCHITECTURE.md §4), without blocking its event loop. In-memory flash device, no
// background threads: the test decides when blocks move to flash.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "flash/memory_device.h"
#include "net/proto/protocol.h"
#include "net/server/server_bounce_arena.h"
#include "net/tests/net_test_util.h"

namespace kvstash::testing {
namespace {

constexpr size_t kSize = (20 << 10) + 123;  // not a multiple of 4 KiB on purpose

// Passes everything to `inner`; while armed, a read waits (up to 5 s) until `want` read
// requests are inside the device at once (in one batch or in concurrent calls), and the most
// ever inside together is recorded. A server that reads flash one block at a time never gets
// two inside.
class GatedDevice final : public Device {
 public:
  explicit GatedDevice(Device* inner)
      : Device(inner->size(), inner->io_alignment()), inner_(inner) {}
  void Arm(int want) {
    std::lock_guard<std::mutex> lock(mu_);
    want_ = want;
    max_inside_ = 0;
  }
  // The same gate counting ReadV calls instead of requests: opens when `want` calls (from
  // different threads) are inside at once.
  void ArmCalls(int want) {
    std::lock_guard<std::mutex> lock(mu_);
    want_calls_ = want;
    max_calls_ = 0;
  }
  int max_calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return max_calls_;
  }
  int max_inside() {
    std::lock_guard<std::mutex> lock(mu_);
    return max_inside_;
  }

 private:
  Status ReadVImpl(std::span<IoRequest> requests) override {
    {
      std::unique_lock<std::mutex> lock(mu_);
      inside_ += static_cast<int>(requests.size());
      max_inside_ = std::max(max_inside_, inside_);
      max_calls_ = std::max(max_calls_, ++calls_);
      cv_.notify_all();
      cv_.wait_for(lock, std::chrono::seconds(5),
                   [&] { return inside_ >= want_ && calls_ >= want_calls_; });
      want_ = want_calls_ = 0;  // the gate opened (or timed out): everyone passes from now on
    }
    Status s = inner_->ReadV(requests);
    std::lock_guard<std::mutex> lock(mu_);
    inside_ -= static_cast<int>(requests.size());
    --calls_;
    return s;
  }
  Status WriteVImpl(std::span<IoRequest> requests) override { return inner_->WriteV(requests); }
  Status DiscardImpl(DeviceOffset offset, uint64_t len, bool* unsupported) override {
    Status s = inner_->Discard(offset, len);
    *unsupported = !inner_->discard_supported();
    return s;
  }

  Device* const inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  int inside_ = 0, want_ = 0, max_inside_ = 0;
  int calls_ = 0, want_calls_ = 0, max_calls_ = 0;
};

// First fit in 4 KiB units; frees coalesce, in any order.
TEST(BounceArenaTest, FirstFitAndCoalescingFrees) {
  auto ctx = net::UcxContext::Create();
  ASSERT_TRUE(ctx.ok()) << ctx.status().ToString();
  auto arena = net::BounceArena::Create(**ctx, (64 << 10) - 100);  // rounded up to 64 KiB
  ASSERT_TRUE(arena.ok()) << arena.status().ToString();
  net::BounceArena& a = **arena;
  ASSERT_EQ(a.capacity(), 64u << 10);
  std::vector<net::BounceArena::Slice> s;
  for (int i = 0; i < 4; ++i) {
    auto slice = a.Allocate((16 << 10) - 1);
    ASSERT_TRUE(slice.has_value()) << i;
    EXPECT_EQ(slice->offset, uint64_t(i) * (16 << 10));
    EXPECT_EQ(slice->bytes, 16u << 10);
    s.push_back(*slice);
  }
  EXPECT_FALSE(a.Allocate(1).has_value()) << "full";
  a.Free(s[2]);
  a.Free(s[1]);  // coalesces with s[2]'s range
  EXPECT_FALSE(a.Allocate(33 << 10).has_value());
  auto mid = a.Allocate(32 << 10);
  ASSERT_TRUE(mid.has_value());
  EXPECT_EQ(mid->offset, 16u << 10);
  std::ranges::fill(a.bytes(*mid), std::byte{7});  // the memory is there and writable
  a.Free(s[0]);
  a.Free(s[3]);
  a.Free(*mid);
  EXPECT_EQ(a.free_bytes(), a.capacity());
  auto all = a.Allocate(a.capacity());
  ASSERT_TRUE(all.has_value()) << "frees did not coalesce into one range";
  EXPECT_EQ(all->offset, 0u);
}

class NetFlashTest : public ::testing::Test {
 protected:
  // DRAM: 4 regions of 256 KiB; flash: 16 MiB in 1 MiB regions, admit everything; `n` blocks
  // "f<i>" = Pattern(i, kSize) put and flushed: the oldest end up on flash only, the newest
  // stay in DRAM.
  // `shared`: the arena in shared memory (as kvstashd has it), so that over shared memory the
  // server maps a client's AllocateBuffer memory; `block`: the block size.
  void Open(int n, ServerOptions so = {}, bool gated = false, bool shared = false,
            size_t block = kSize) {
    mem_ = std::move(MemoryDevice::Create(16 << 20)).value();
    gate_ = std::make_unique<GatedDevice>(mem_.get());
    StoreOptions o = SmallFlashStoreOptions(gated ? static_cast<Device*>(gate_.get()) : mem_.get());
    so.max_value_bytes = 256 << 10;
    ts_ = shared ? StartSharedArenaServer(o, so) : StartServer(0, 1, o, so);
    ASSERT_NE(ts_, nullptr);
    auto c = Client::Connect(TestClientOptions(*ts_));
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    for (int i = 0; i < n; ++i) ASSERT_TRUE((*c)->Put(Key(i), Pattern(i, block)).ok()) << i;
    ASSERT_TRUE(ts_->store->FlushFlash().ok());
    for (int i = 0; i < n; ++i) {
      auto pin = ts_->store->Lookup(0, Key(i));
      ASSERT_TRUE(pin.ok()) << i;
      (pin->tier() == Tier::kFlash ? flash_ : dram_).push_back(i);
    }
  }
  void TearDown() override { ts_.reset(); }
  static std::string Key(int i) { return "f" + std::to_string(i); }

  std::unique_ptr<MemoryDevice> mem_;
  std::unique_ptr<GatedDevice> gate_;
  std::unique_ptr<TestServer> ts_;
  std::vector<int> flash_, dram_;  // which blocks live where after Open
};

TEST_F(NetFlashTest, FlashHitsAreServedThroughTheBounceMemory) {
  Open(90);
  ASSERT_GT(flash_.size(), 5u) << "nothing moved to flash";
  auto c = std::move(Client::Connect(TestClientOptions(*ts_))).value();
  std::vector<std::byte> pool(kSize);
  auto reg = c->RegisterBuffer(pool.data(), pool.size());
  ASSERT_TRUE(reg.ok());
  uint64_t hits_flash = ts_->store->Stats().hits_flash;
  for (int i = 0; i < 90; ++i) {
    auto got = c->Get(Key(i), pool);
    ASSERT_TRUE(got.ok()) << i << " " << got.status().ToString();
    ASSERT_EQ(*got, kSize);
    ASSERT_EQ(pool, Pattern(i, kSize)) << i;
  }
  ServerStats st = ts_->server->Stats();
  EXPECT_EQ(st.get_bytes_flash, flash_.size() * kSize);
  EXPECT_EQ(ts_->store->Stats().hits_flash - hits_flash, flash_.size());
  EXPECT_EQ(st.flash_reads_unavailable, 0u);
  EXPECT_EQ(st.dram_payload_memcpy_bytes, 0u);
}

// Into a buffer from AllocateBuffer on a shared-arena server: over shared memory the server
// maps it and the readers read flash hits straight into it (no bounce slot, no copy by the
// worker), 4 KiB-aligned or not; over TCP the same Gets take the payload path. Every byte
// checked either way.
TEST_F(NetFlashTest, FlashHitsLandStraightInAMappedClientBuffer) {
  for (size_t block : {size_t{16} << 10, kSize}) {
    SCOPED_TRACE(block);
    Open(120, {}, /*gated=*/false, /*shared=*/true, block);
    ASSERT_GE(flash_.size(), 16u);
    auto c = std::move(Client::Connect(TestClientOptions(*ts_))).value();
    const size_t slot = (block + 4095) / 4096 * 4096;
    auto pool = c->AllocateBuffer(9 * slot);
    ASSERT_TRUE(pool.ok()) << pool.status().ToString();
    auto* base = static_cast<std::byte*>(pool->data());
    const ServerStats before = ts_->server->Stats();
    uint64_t bytes = 0;
    for (size_t first = 0; first + 8 <= 16; first += 8) {
      std::vector<std::string> keys;
      keys.reserve(8);  // the items view these strings
      std::vector<GetItem> items;
      for (size_t k = 0; k < 8; ++k) {
        keys.push_back(Key(flash_[first + k]));
        // Slot-aligned, except the last one (odd offset: the reader copies it in).
        std::byte* at = base + k * slot + (k == 7 ? 100 : 0);
        items.push_back({keys.back(), std::span(at, block)});
      }
      auto got = c->GetBatch(items);
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      for (size_t k = 0; k < 8; ++k) {
        ASSERT_TRUE((*got)[k].ok()) << k << ": " << (*got)[k].status().ToString();
        ASSERT_EQ(*(*got)[k], block);
        ASSERT_TRUE(std::ranges::equal(items[k].dest, Pattern(flash_[first + k], block)))
            << "WRONG BYTES, item " << k;
        bytes += block;
      }
    }
    const ServerStats after = ts_->server->Stats();
    EXPECT_EQ(after.get_bytes_flash - before.get_bytes_flash, bytes);
    EXPECT_EQ(after.get_bytes_mapped - before.get_bytes_mapped, ShmMode() ? bytes : 0u);
    // Not through a bounce slot and a memcpy (which counts as mapped too).
    EXPECT_EQ(after.get_bytes_flash_direct - before.get_bytes_flash_direct, ShmMode() ? bytes : 0u);
    EXPECT_EQ(after.flash_reads_unavailable, 0u);
    *pool = BufferHandle();  // unmapped before its client goes
    c.reset();
    ts_.reset();
    flash_.clear();
    dram_.clear();
  }
}

// Four clients at once, each reading batches of 16 keys (8 on flash, 8 in DRAM, interleaved)
// into one registered buffer; every byte checked. Once with RMA writes into the registered
// buffer, once with payload messages (the Get path where the endpoint has no native RMA).
class NetFlashTransferTest : public NetFlashTest,
                             public ::testing::WithParamInterface<ClientOptions::Transfer> {};

TEST_P(NetFlashTransferTest, ConcurrentClientsBatchedMixedGetsGetTheRightBytes) {
  Open(120);
  ASSERT_GE(flash_.size(), 32u);
  ASSERT_GE(dram_.size(), 8u);
  constexpr int kClients = 4, kRounds = 12, kBatch = 16;
  std::atomic<int> wrong{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kClients; ++t) {
    threads.emplace_back([&, t] {
      ClientOptions co = TestClientOptions(*ts_);
      co.transfer = GetParam();
      auto c = Client::Connect(co);
      if (!c.ok()) {
        failed += kRounds * kBatch;
        return;
      }
      std::vector<std::byte> pool(kBatch * kSize);
      auto reg = (*c)->RegisterBuffer(pool.data(), pool.size());
      if (!reg.ok()) {
        failed += kRounds * kBatch;
        return;
      }
      for (int r = 0; r < kRounds; ++r) {
        std::vector<int> ids;
        std::vector<std::string> keys;
        std::vector<GetItem> items;
        for (int k = 0; k < kBatch; ++k) {
          size_t n = static_cast<size_t>(t * 37 + r * 11 + k);
          ids.push_back(k % 2 == 0 ? flash_[n % flash_.size()] : dram_[n % dram_.size()]);
          keys.push_back(Key(ids.back()));
        }
        for (int k = 0; k < kBatch; ++k) {
          items.push_back({keys[k], std::span(pool).subspan(k * kSize, kSize)});
        }
        auto got = (*c)->GetBatch(items);
        if (!got.ok()) {
          failed += kBatch;
          continue;
        }
        for (int k = 0; k < kBatch; ++k) {
          const auto& one = (*got)[k];
          if (!one.ok() || *one != kSize) {
            ++failed;
          } else if (!std::ranges::equal(items[k].dest, Pattern(ids[k], kSize))) {
            ++wrong;
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0) << "WRONG BYTES";
  EXPECT_EQ(failed.load(), 0);
  ServerStats st = ts_->server->Stats();
  EXPECT_EQ(st.get_bytes_flash, uint64_t{kClients * kRounds * kBatch / 2} * kSize);
  EXPECT_EQ(st.get_bytes_dram, uint64_t{kClients * kRounds * kBatch / 2} * kSize);
  EXPECT_EQ(st.key_errors, 0u);
  EXPECT_EQ(st.flash_reads_unavailable, 0u);
  const uint64_t total = uint64_t{kClients * kRounds * kBatch} * kSize;
  EXPECT_EQ(st.get_bytes_messages, GetParam() == ClientOptions::Transfer::kMessage ? total : 0u);
}

INSTANTIATE_TEST_SUITE_P(Transfers, NetFlashTransferTest,
                         ::testing::Values(ClientOptions::Transfer::kRma,
                                           ClientOptions::Transfer::kMessage),
                         [](const auto& info) {
                           return info.param == ClientOptions::Transfer::kRma ? "Rma" : "Message";
                         });

// The flash reads of Gets from different connections are in the device at the same time: the
// gate holds the first read until a second one arrives (a server that reads on its event loop
// never lets a second one in, and the gate times out).
TEST_F(NetFlashTest, FlashReadsOfSeveralConnectionsOverlap) {
  Open(90, {}, /*gated=*/true);
  ASSERT_GE(flash_.size(), 4u);
  constexpr int kClients = 4;
  std::vector<std::unique_ptr<Client>> clients;
  for (int t = 0; t < kClients; ++t) {
    clients.push_back(std::move(Client::Connect(TestClientOptions(*ts_))).value());
  }
  gate_->Arm(2);
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kClients; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::byte> dest(kSize);
      auto got = clients[t]->Get(Key(flash_[t]), dest);
      if (got.ok() && *got == kSize && dest == Pattern(flash_[t], kSize)) ++good;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(good.load(), kClients);
  EXPECT_GE(gate_->max_inside(), 2) << "flash reads of different connections did not overlap";
}

// One Get of many flash keys is cut into chunks that several reader threads read at once (and
// each chunk is written as soon as it is read): a server that reads a Get's keys in one job never
// has two device calls inside together.
TEST_F(NetFlashTest, OneGetsChunksAreReadBySeveralReadersAtOnce) {
  Open(90, {}, /*gated=*/true);
  ASSERT_GE(flash_.size(), 8u);
  auto c = Client::Connect(TestClientOptions(*ts_));
  ASSERT_TRUE(c.ok());
  std::vector<std::byte> mem(8 * kSize);
  auto reg = (*c)->RegisterBuffer(mem.data(), mem.size());
  ASSERT_TRUE(reg.ok()) << reg.status().ToString();
  std::vector<std::string> keys;
  for (int i = 0; i < 8; ++i) keys.push_back(Key(flash_[i]));
  std::vector<GetItem> items;
  for (int i = 0; i < 8; ++i) items.push_back({keys[i], std::span(mem).subspan(i * kSize, kSize)});
  gate_->ArmCalls(2);
  auto got = (*c)->GetBatch(items);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE((*got)[i].ok()) << i << ": " << (*got)[i].status().ToString();
    ASSERT_TRUE(
        std::ranges::equal(std::span(mem).subspan(i * kSize, kSize), Pattern(flash_[i], kSize)))
        << "WRONG BYTES for " << Key(flash_[i]);
  }
  EXPECT_GE(gate_->max_calls(), 2) << "the chunks of one Get were not read in parallel";
}

// Pipelined Gets on one connection with bounce memory for only one chunk of 10 blocks: every
// Get (16 flash keys, so two chunks) waits its turn and is served whole, never failed.
TEST_F(NetFlashTest, PipelinedGetsWaitForBounceMemoryAndAreServedInChunks) {
  ServerOptions so;
  so.flash_bounce_bytes = 4096;  // raised to max_value_bytes: 256 KiB = 10 slots of 24 KiB
  Open(220, so);
  constexpr int kGets = 8, kBatch = 16;
  ASSERT_GE(flash_.size(), size_t{kGets * kBatch});
  auto raw = RawPeer::Connect("127.0.0.1", ts_->server->port());
  ASSERT_NE(raw, nullptr);
  std::vector<std::byte> mem(kGets * kBatch * kSize);
  const uint32_t buffer_id = raw->HelloAndRegister(mem);
  ASSERT_NE(buffer_id, 0u);
  std::vector<std::string> keys;
  for (int i = 0; i < kGets * kBatch; ++i) keys.push_back(Key(flash_[i]));
  std::vector<std::vector<std::byte>> burst;
  for (int g = 0; g < kGets; ++g) {
    net::GetRequest req;
    for (int k = 0; k < kBatch; ++k) {
      int i = g * kBatch + k;
      req.items.push_back({keys[i], buffer_id, uint64_t(i) * kSize, kSize});
    }
    burst.push_back(net::EncodeRequest(net::Opcode::kGet, 100 + g, req));
  }
  ASSERT_TRUE(raw->SendBurst(burst));
  auto replies = raw->CollectReplies(kGets, 20000);
  ASSERT_EQ(replies.size(), size_t{kGets});
  for (const auto& r : replies) {
    std::span<const std::byte> body;
    Status st = RawPeer::ReplyStatus(r, &body);
    ASSERT_TRUE(st.ok()) << st.ToString();
    net::GetReply gr;
    ASSERT_TRUE(net::DecodeBody(body, net::Limits{}, &gr).ok());
    ASSERT_EQ(gr.items.size(), size_t{kBatch});
    for (const auto& item : gr.items) {
      EXPECT_EQ(item.status, StatusCode::kOk);
      EXPECT_EQ(item.size, kSize);
    }
  }
  for (int i = 0; i < kGets * kBatch; ++i) {
    ASSERT_TRUE(
        std::ranges::equal(std::span(mem).subspan(i * kSize, kSize), Pattern(flash_[i], kSize)))
        << "WRONG BYTES for " << keys[i];
  }
  ServerStats st = ts_->server->Stats();
  EXPECT_EQ(st.get_bytes_flash, uint64_t{kGets * kBatch} * kSize);
  EXPECT_EQ(st.key_errors, 0u);
  EXPECT_EQ(st.get_write_errors, 0u);
}

// A flash block's pin guards its device region, which the RMA write does not read (it reads the
// bounce memory): the reader releases it once the block is read. A Get still waiting for a
// client that does not progress (its flush cannot complete) must not keep the region from
// being reclaimed: the flash appender, often a worker thread reclaiming DRAM inline, would
// wait for a pin that only the worker releases.
TEST_F(NetFlashTest, AGetWaitingForItsClientDoesNotPinTheFlashRegion) {
  Open(90);
  ASSERT_GE(flash_.size(), 1u);
  auto raw = RawPeer::Connect("127.0.0.1", ts_->server->port());
  ASSERT_NE(raw, nullptr);
  std::vector<std::byte> mem(kSize);
  const uint32_t buffer_id = raw->HelloAndRegister(mem);
  ASSERT_NE(buffer_id, 0u);
  const std::string key = Key(flash_[0]);
  uint64_t reads = mem_->stats().read_ops;
  net::GetRequest req{{{key, buffer_id, 0, kSize}}};
  ASSERT_TRUE(raw->Send(net::EncodeRequest(net::Opcode::kGet, 3, req)));
  // The peer does not progress from here: the server's RMA write and flush wait for it.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (mem_->stats().read_ops == reads && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_GT(mem_->stats().read_ops, reads) << "the block was not read";
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  // Every block deleted: each written region is dead and goes back at once unless pinned.
  auto c = std::move(Client::Connect(TestClientOptions(*ts_))).value();
  for (int i = 0; i < 90; ++i) ASSERT_TRUE(c->Delete(Key(i)).ok()) << i;
  ts_->store->RunMaintenance();
  ASSERT_TRUE(ts_->store->FlushFlash().ok());
  EXPECT_EQ(ts_->store->Stats().flash_regions_sealed, 0u)
      << "a Get waiting for its client kept a flash region pinned";
  // The client gets its bytes all the same: they were in the bounce memory.
  auto replies = raw->CollectReplies(1, 5000);
  ASSERT_EQ(replies.size(), 1u);
  std::span<const std::byte> body;
  ASSERT_TRUE(RawPeer::ReplyStatus(replies[0], &body).ok());
  net::GetReply gr;
  ASSERT_TRUE(net::DecodeBody(body, net::Limits{}, &gr).ok());
  ASSERT_EQ(gr.items.size(), 1u);
  EXPECT_EQ(gr.items[0].status, StatusCode::kOk);
  EXPECT_EQ(mem, Pattern(flash_[0], kSize)) << "WRONG BYTES";
}

}  // namespace
}  // namespace kvstash::testing
