// RegionStore against a misbehaving device (FaultInjectionDevice): failed and torn region
// writes, a full device, read errors and silent bit flips. The invariant under test: the store
// returns the right bytes or an error, never wrong bytes, and every lost entry is reported.
#include <gtest/gtest.h>

#include <set>

#include "flash/fault_device.h"
#include "flash/memory_device.h"
#include "flash/region_store.h"
#include "flash/region_test_util.h"

namespace kvstash {
namespace {

using testing::AppendValue;
using testing::DropRecorder;
using testing::KeyOf;
using testing::MakeValue;
using testing::ReadBack;
using testing::Stored;

constexpr uint64_t kMiB = 1 << 20;

class RegionStoreFaultTest : public ::testing::Test {
 protected:
  // A healthy fault device over `size` bytes of memory and a store on it (1 MiB regions,
  // 256 KiB write I/Os so a region write is several requests).
  void SetUpStore(uint64_t size, bool background = false, bool mem_discard = true) {
    mem_ =
        std::move(MemoryDevice::Create({.size = size, .discard_supported = mem_discard})).value();
    fault_ = std::make_unique<FaultInjectionDevice>(mem_.get(), FaultInjectionOptions{});
    fault_->SetHealthy(true);
    RegionStoreOptions o;
    o.region_bytes = kMiB;
    o.write_io_bytes = 256 << 10;
    o.background_flush = background;
    o.auto_reclaim = false;
    o.on_drop = drops_.Callback();
    auto s = RegionStore::Create(o, fault_.get());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }
  void Inject(const FaultInjectionOptions& f) {
    fault_->SetOptions(f);
    fault_->SetHealthy(false);
  }
  Stored Put(int i, size_t size) {
    Stored s{KeyOf(i), 1, MakeValue(size, i), {}};
    auto loc = AppendValue(*store_, s.ns, s.key, s.value);
    EXPECT_TRUE(loc.ok()) << loc.status().ToString();
    if (loc.ok()) s.loc = *loc;
    return s;
  }

  DropRecorder drops_;
  std::unique_ptr<MemoryDevice> mem_;
  std::unique_ptr<FaultInjectionDevice> fault_;
  std::unique_ptr<RegionStore> store_;
};

TEST_F(RegionStoreFaultTest, WriteErrorReportsEntriesLostSynchronously) {
  SetUpStore(4 * kMiB);
  std::vector<Stored> first = {Put(0, 300 << 10), Put(1, 300 << 10), Put(2, 300 << 10)};
  Inject({.write_error_one_in = 1});
  // The 4th entry does not fit: sealing writes region 0, which fails.
  auto v = MakeValue(300 << 10, 3);
  auto loc = AppendValue(*store_, 1, KeyOf(3), v);
  EXPECT_EQ(loc.status().code(), StatusCode::kIOError);
  auto drops = drops_.drops();
  ASSERT_EQ(drops.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(drops[i].key, KeyOf(i));
    EXPECT_EQ(drops[i].reason, DropReason::kWriteFailed);
    EXPECT_EQ(drops[i].loc, first[i].loc);
    EXPECT_EQ(ReadBack(*store_, first[i]).code(), StatusCode::kNotFound);
  }
  RegionStoreStats st = store_->stats();
  EXPECT_EQ(st.write_io_errors, 1u);
  EXPECT_EQ(st.regions_dropped, 1u);
  EXPECT_EQ(st.entries_lost, 3u);
  EXPECT_EQ(st.device_bytes_written, 0u);
  // The device heals: appends go on, the dropped region is reusable.
  fault_->SetHealthy(true);
  Stored again = Put(3, 300 << 10);
  ASSERT_TRUE(store_->Flush().ok());
  EXPECT_TRUE(ReadBack(*store_, again).ok());
}

TEST_F(RegionStoreFaultTest, WriteErrorInBackgroundIsReturnedByFlush) {
  SetUpStore(4 * kMiB, /*background=*/true);
  Inject({.write_error_one_in = 1});
  std::vector<Stored> stored;
  for (int i = 0; i < 5; ++i) stored.push_back(Put(i, 300 << 10));
  Status s = store_->Flush();
  EXPECT_EQ(s.code(), StatusCode::kIOError);
  EXPECT_EQ(drops_.drops().size(), 5u);
  EXPECT_EQ(store_->stats().entries_lost, 5u);
  EXPECT_EQ(store_->stats().write_io_errors, 2u);
  for (const Stored& st : stored) EXPECT_EQ(ReadBack(*store_, st).code(), StatusCode::kNotFound);
  fault_->SetHealthy(true);
  EXPECT_TRUE(store_->Flush().ok());  // the error is reported once
}

TEST_F(RegionStoreFaultTest, DeviceFullDropsTheRegion) {
  SetUpStore(4 * kMiB);
  Inject({.full_beyond_offset = 2 * kMiB});
  std::vector<Stored> stored;
  Status last;
  for (int i = 0; i < 16 && last.ok(); ++i) {
    Stored s{KeyOf(i), 1, MakeValue(500 << 10, i), {}};
    auto loc = AppendValue(*store_, 1, s.key, s.value);
    last = loc.status();
    if (loc.ok()) stored.push_back(Stored{s.key, 1, s.value, *loc});
  }
  EXPECT_EQ(last.code(), StatusCode::kResourceExhausted);  // from the device: ENOSPC
  EXPECT_EQ(store_->stats().write_io_errors, 1u);
  ASSERT_EQ(drops_.drops().size(), 2u);
  std::set<std::string> lost;
  for (const auto& d : drops_.drops()) lost.insert(d.key);
  for (const Stored& s : stored) {
    EXPECT_EQ(ReadBack(*store_, s).code(),
              lost.count(s.key) ? StatusCode::kNotFound : StatusCode::kOk);
  }
}

TEST_F(RegionStoreFaultTest, ReadErrorIsAnErrorNeverBytes) {
  SetUpStore(4 * kMiB);
  Stored s = Put(0, 70000);
  ASSERT_TRUE(store_->Flush().ok());
  Inject({.read_error_one_in = 1});
  std::vector<std::byte> out(s.value.size(), std::byte{0x33});
  EXPECT_EQ(store_->Read(s.loc, s.ns, s.key, out).code(), StatusCode::kIOError);
  for (std::byte b : out) ASSERT_EQ(b, std::byte{0x33});
  EXPECT_EQ(store_->stats().read_io_errors, 1u);
  EXPECT_EQ(store_->stats().io_errors(), 1u);
  Inject({.short_read_one_in = 1});
  EXPECT_FALSE(store_->Read(s.loc, s.ns, s.key, out).ok());
  for (std::byte b : out) ASSERT_EQ(b, std::byte{0x33});
  fault_->SetHealthy(true);
  EXPECT_TRUE(ReadBack(*store_, s).ok());
}

TEST_F(RegionStoreFaultTest, BitFlipsAreCaughtEveryTime) {
  SetUpStore(8 * kMiB);
  std::vector<Stored> stored;
  for (int i = 0; i < 40; ++i) stored.push_back(Put(i, 1 + (i * 40503) % 150000));
  ASSERT_TRUE(store_->Flush().ok());
  Inject({.seed = 7, .bit_flip_one_in = 2, .bit_flips = 1});
  int ok = 0, lost = 0;
  for (int round = 0; round < 5; ++round) {
    for (const Stored& s : stored) {
      Status st = ReadBack(*store_, s);  // Internal would mean wrong bytes came back
      ASSERT_TRUE(st.ok() || st.Is(StatusCode::kDataLoss)) << st.ToString();
      (st.ok() ? ok : lost)++;
    }
  }
  FaultCounts fc = fault_->counts();
  EXPECT_GT(fc.bit_flips, 50u);
  // A flip may land in padding (not covered by any checksum): then the read is correct.
  EXPECT_LE(static_cast<uint64_t>(lost), fc.bit_flips);
  EXPECT_GT(lost, 0);
  EXPECT_EQ(store_->stats().checksum_failures, static_cast<uint64_t>(lost));
}

TEST_F(RegionStoreFaultTest, TornRegionWriteIsRejectedOnRead) {
  // One region, on a device without TRIM: the rewritten region still holds the previous
  // generation's bytes, the worst case for a torn write.
  SetUpStore(kMiB, false, /*mem_discard=*/false);
  std::vector<Stored> old_gen;
  for (int i = 0; i < 10; ++i) old_gen.push_back(Put(i, 90 << 10));
  ASSERT_TRUE(store_->Flush().ok());
  ASSERT_TRUE(store_->ReclaimOldest().ok());
  // The same keys and sizes land at the same offsets: only the generation (and the value
  // checksum) tell old and new entries apart.
  Inject({.seed = 3, .torn_write_one_in = 1, .torn_write_silent = true});
  std::vector<Stored> new_gen;
  for (int i = 0; i < 10; ++i) {
    Stored s{KeyOf(i), 1, MakeValue(90 << 10, 1000 + i), {}};
    auto loc = AppendValue(*store_, s.ns, s.key, s.value);
    ASSERT_TRUE(loc.ok()) << loc.status().ToString();
    s.loc = *loc;
    EXPECT_EQ(s.loc.offset, old_gen[i].loc.offset);
    new_gen.push_back(s);
  }
  ASSERT_TRUE(store_->Flush().ok());  // silent: the device claims success
  EXPECT_GT(fault_->counts().torn_writes, 0u);
  int rejected = 0;
  for (const Stored& s : new_gen) {
    Status st = ReadBack(*store_, s);  // Internal would mean wrong bytes came back
    ASSERT_TRUE(st.ok() || st.Is(StatusCode::kDataLoss)) << st.ToString();
    rejected += st.Is(StatusCode::kDataLoss);
  }
  EXPECT_GT(rejected, 0);
  EXPECT_EQ(store_->stats().checksum_failures, static_cast<uint64_t>(rejected));
  // The image on the medium is rejected as a whole too (or, if even the header block was
  // lost, it is the previous generation's image, which no new location matches).
  auto parsed = ParseRegion(mem_->raw(), kMiB);
  if (parsed.ok()) {
    EXPECT_NE(DecodeRegionHeader(mem_->raw(), kMiB)->sequence, new_gen[0].loc.sequence);
  }
}

}  // namespace
}  // namespace kvstash
