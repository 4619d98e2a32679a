// RegionStore under concurrency: one appender filling a small device again and again (FIFO
// reclaim, background flush and TRIM, random MarkDead) while reader threads read random
// entries. Every read must return the right bytes or NotFound (the entry was reclaimed):
// never DataLoss, never wrong bytes. Run it under TSan (KVSTASH_SANITIZE=thread) too.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <random>
#include <thread>

#include "flash/memory_device.h"
#include "flash/region_store.h"
#include "flash/region_test_util.h"

namespace kvstash {
namespace {

using testing::KeyOf;
using testing::MakeValue;
using testing::Stored;

constexpr uint64_t kMiB = 1 << 20;

TEST(RegionStoreStressTest, ReadersNeverSeeWrongBytesWhileRegionsAreRecycled) {
  auto dev = std::move(MemoryDevice::Create(6 * kMiB)).value();
  std::atomic<uint64_t> dropped{0};
  RegionStoreOptions o;
  o.region_bytes = kMiB;
  o.write_buffers = 2;
  o.write_io_bytes = 128 << 10;
  o.on_drop = [&](const DroppedEntry&) { dropped.fetch_add(1); };
  auto store = std::move(RegionStore::Create(o, dev.get())).value();

  constexpr int kEntries = 3000;
  std::vector<Stored> stored(kEntries);
  std::atomic<int> published{0};
  std::atomic<bool> done{false};
  std::atomic<int> ok{0}, missing{0}, bad{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&, t] {
      std::mt19937 rng(t);
      std::vector<FlashRead> batch(4);
      std::vector<std::vector<std::byte>> out(4, std::vector<std::byte>(64 << 10));
      int picked[4];
      while (!done.load()) {
        int n = published.load();
        if (n == 0) continue;
        for (int i = 0; i < 4; ++i) {
          picked[i] = static_cast<int>(rng() % n);
          const Stored& s = stored[picked[i]];
          batch[i] = FlashRead{s.loc, s.ns, s.key, out[i], Status::Ok()};
        }
        store->ReadV(batch).IgnoreError();
        for (int i = 0; i < 4; ++i) {
          const Stored& s = stored[picked[i]];
          if (batch[i].result.ok()) {
            bool same = std::equal(s.value.begin(), s.value.end(), out[i].begin());
            (same ? ok : bad).fetch_add(1);
          } else if (batch[i].result.Is(StatusCode::kNotFound)) {
            missing.fetch_add(1);
          } else {
            ADD_FAILURE() << batch[i].result.ToString();
            bad.fetch_add(1);
          }
        }
      }
    });
  }
  std::mt19937 rng(99);
  for (int i = 0; i < kEntries; ++i) {
    Stored s{KeyOf(i), static_cast<NamespaceId>(i % 2), MakeValue(1 + rng() % (60 << 10), i), {}};
    auto loc = store->Append(s.ns, s.key, s.value, ComputeChecksum(s.value));
    if (!loc.ok()) {
      ADD_FAILURE() << i << ": " << loc.status().ToString();
      break;
    }
    s.loc = *loc;
    stored[i] = std::move(s);
    published.store(i + 1);
    if (rng() % 4 == 0) store->MarkDead(stored[rng() % (i + 1)].loc);
  }
  EXPECT_TRUE(store->Flush().ok());
  done.store(true);
  for (auto& t : readers) t.join();
  RegionStoreStats st = store->stats();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(ok.load(), 0);
  EXPECT_GT(st.regions_reclaimed, 10u);
  EXPECT_GT(st.regions_reclaimed_dead + st.regions_reclaimed, 10u);
  EXPECT_EQ(st.checksum_failures, 0u);
  EXPECT_EQ(st.entries_reclaimed, dropped.load());
  EXPECT_LE(st.region_states.in_use, 6u);
  std::printf("reads ok=%d missing=%d; regions written=%llu reclaimed=%llu dead=%llu\n", ok.load(),
              missing.load(), (unsigned long long)st.regions_written,
              (unsigned long long)st.regions_reclaimed,
              (unsigned long long)st.regions_reclaimed_dead);
}

// Space that is about to come back is waited for, not reported as exhausted: a reader's pin
// released a little later lets the blocked Append proceed.
TEST(RegionStoreStressTest, AppendWaitsForAPinnedRegion) {
  auto dev = std::move(MemoryDevice::Create(2 * kMiB)).value();
  RegionStoreOptions o;
  o.region_bytes = kMiB;
  o.background_flush = false;
  o.space_wait = std::chrono::seconds(10);
  auto store = std::move(RegionStore::Create(o, dev.get())).value();
  auto v = MakeValue(900 << 10, 1);
  FlashLocation a = *store->Append(0, "a", v, ComputeChecksum(v));
  FlashLocation b = *store->Append(0, "b", v, ComputeChecksum(v));
  auto pin_a = std::move(store->Pin(a)).value();
  auto pin_b = std::move(store->Pin(b)).value();
  std::thread releaser([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    pin_a.Release();
  });
  auto start = std::chrono::steady_clock::now();
  auto c = store->Append(0, "c", v, ComputeChecksum(v));  // seals b, must reclaim a
  auto waited = std::chrono::steady_clock::now() - start;
  releaser.join();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->region, a.region);
  EXPECT_GE(waited, std::chrono::milliseconds(40));
  EXPECT_EQ(store->stats().regions_reclaimed, 1u);  // a only: b stayed pinned and in place
  std::vector<std::byte> out(v.size());
  EXPECT_TRUE(store->Read(b, 0, "b", out).ok());
}

}  // namespace
}  // namespace kvstash
