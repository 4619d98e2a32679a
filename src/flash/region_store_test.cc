#include "flash/region_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <random>
#include <set>
#include <thread>

#include "flash/device_test_util.h"
#include "flash/memory_device.h"
#include "flash/region_test_util.h"
#include "flash/uring_device.h"

namespace kvstash {
namespace {

using testing::AppendValue;
using testing::DropRecorder;
using testing::KeyOf;
using testing::MakeValue;
using testing::ReadBack;
using testing::Stored;

constexpr uint64_t kMiB = 1 << 20;

RegionStoreOptions SyncOptions(uint64_t region_bytes = kMiB) {
  RegionStoreOptions o;
  o.region_bytes = region_bytes;
  o.background_flush = false;
  o.auto_reclaim = false;
  return o;
}

std::unique_ptr<MemoryDevice> MakeMemoryDevice(uint64_t size) {
  auto d = MemoryDevice::Create(size);
  EXPECT_TRUE(d.ok()) << d.status().ToString();
  return std::move(d).value();
}

std::unique_ptr<RegionStore> MakeStore(const RegionStoreOptions& o, Device* dev) {
  auto s = RegionStore::Create(o, dev);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return std::move(s).value();
}

// Random sizes 1 B .. 4 MiB, odd ones included; the total stays below `budget`.
std::vector<size_t> RandomSizes(uint64_t seed, uint64_t budget) {
  std::mt19937_64 rng(seed);
  std::vector<size_t> sizes = {1, 4096 - 49, 4096 - 48, 131072, 1048576, 4 * kMiB};
  uint64_t total = 0;
  for (size_t s : sizes) total += s;
  while (total < budget) {
    size_t s = rng() % 3 == 0 ? 1 + rng() % 8192 : 1 + rng() % (4 * kMiB);
    sizes.push_back(s);
    total += s;
  }
  return sizes;
}

// Appends `sizes`, reads every entry back before Flush (buffered or already written) and
// after, and checks that what reached the device parses as valid regions.
void RoundTrip(RegionStore& store, Device& dev, const std::vector<size_t>& sizes) {
  std::vector<Stored> stored;
  for (size_t i = 0; i < sizes.size(); ++i) {
    Stored s{
        KeyOf(static_cast<int>(i)), static_cast<NamespaceId>(i % 3), MakeValue(sizes[i], i), {}};
    auto loc = AppendValue(store, s.ns, s.key, s.value);
    ASSERT_TRUE(loc.ok()) << i << ": " << loc.status().ToString();
    s.loc = *loc;
    EXPECT_EQ(s.loc.extent_bytes % 4096, 0u);
    EXPECT_EQ(s.loc.offset.value() % 4096, 0u);
    stored.push_back(std::move(s));
  }
  for (const Stored& s : stored) ASSERT_TRUE(ReadBack(store, s).ok()) << s.key;
  ASSERT_TRUE(store.Flush().ok());
  for (const Stored& s : stored) {
    Status st = ReadBack(store, s);
    ASSERT_TRUE(st.ok()) << s.key << ": " << st.ToString();
  }
  RegionStoreStats st = store.stats();
  EXPECT_EQ(st.appends, sizes.size());
  EXPECT_EQ(st.device_bytes_written, dev.stats().write_bytes);
  // Header blocks and entry tables on top of the value extents, each table one or a few blocks.
  EXPECT_GT(st.device_bytes_written, st.extent_bytes_appended + 4096 * st.regions_written);
  EXPECT_LE(st.device_bytes_written,
            st.extent_bytes_appended + 4096 * st.regions_written +
                EntryTableExtentBytes(sizes.size() * EntryRecordBytes(KeyOf(0).size() + 4)) +
                4096 * st.regions_written);
  EXPECT_EQ(st.checksum_failures, 0u);
}

TEST(RegionStoreTest, RoundTripRandomSizesOnMemoryDevice) {
  auto dev = MakeMemoryDevice(256 * kMiB);
  auto store = MakeStore(SyncOptions(8 * kMiB), dev.get());
  RoundTrip(*store, *dev, RandomSizes(1, 150 * kMiB));
  // Every region on the device is a well-formed image.
  for (uint32_t r = 0; r < store->stats().regions_written; ++r) {
    auto parsed = ParseRegion(dev->raw().subspan(r * 8 * kMiB, 8 * kMiB), 8 * kMiB);
    ASSERT_TRUE(parsed.ok()) << "region " << r << ": " << parsed.status().ToString();
  }
}

TEST(RegionStoreTest, RoundTripOnUringDeviceWithBackgroundFlush) {
  testing::TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  UringDeviceOptions uo;
  uo.path = dir.File("flash");
  uo.size = 128 * kMiB;
  uo.create = true;
  auto dev = UringDevice::Open(uo);
  ASSERT_TRUE(dev.ok()) << dev.status().ToString();
  RegionStoreOptions o;
  o.region_bytes = 8 * kMiB;
  o.write_buffers = 3;
  o.auto_reclaim = false;
  auto store = MakeStore(o, dev->get());
  RoundTrip(*store, **dev, RandomSizes(2, 80 * kMiB));
  EXPECT_GT(store->stats().regions_written, 5u);
}

TEST(RegionStoreTest, ReadsOfTheOpenRegionComeFromTheBuffer) {
  auto dev = MakeMemoryDevice(8 * kMiB);
  auto store = MakeStore(SyncOptions(), dev.get());
  Stored s{"k", 1, MakeValue(5000, 1), {}};
  s.loc = *AppendValue(*store, s.ns, s.key, s.value);
  EXPECT_EQ(store->region_sequence(s.loc.region), s.loc.sequence);
  EXPECT_EQ(store->region_sequence(RegionId(1000)), RegionSequence(0));
  ASSERT_TRUE(ReadBack(*store, s).ok());
  EXPECT_EQ(dev->stats().read_ops, 0u);
  EXPECT_EQ(dev->stats().write_ops, 0u);
  EXPECT_EQ(store->stats().buffer_reads, 1u);
  ASSERT_TRUE(store->Flush().ok());
  ASSERT_TRUE(ReadBack(*store, s).ok());
  EXPECT_EQ(dev->stats().read_ops, 1u);
  EXPECT_EQ(dev->stats().read_bytes, s.loc.extent_bytes);  // one aligned extent, one read
  // A flushed partial region writes its used prefix only: header, value, one table block.
  EXPECT_EQ(dev->stats().write_bytes, 4096u + s.loc.extent_bytes + 4096u);
  EXPECT_EQ(store->stats().reads, 2u);
}

TEST(RegionStoreTest, ConcurrentReadersWhileAppending) {
  auto dev = MakeMemoryDevice(64 * kMiB);
  RegionStoreOptions o;
  o.region_bytes = 2 * kMiB;
  o.auto_reclaim = false;
  auto store = MakeStore(o, dev.get());
  std::vector<Stored> stored(400);
  std::atomic<int> published{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&, t] {
      std::mt19937 rng(t);
      while (published.load() < static_cast<int>(stored.size())) {
        int n = published.load();
        if (n == 0) continue;
        if (!ReadBack(*store, stored[rng() % n]).ok()) failures.fetch_add(1);
      }
    });
  }
  for (size_t i = 0; i < stored.size(); ++i) {
    stored[i] = Stored{KeyOf(i), 0, MakeValue(1 + (i * 7919) % 100000, i), {}};
    stored[i].loc = *AppendValue(*store, 0, stored[i].key, stored[i].value);
    published.store(static_cast<int>(i + 1));
  }
  for (auto& t : readers) t.join();
  EXPECT_EQ(failures.load(), 0);
  ASSERT_TRUE(store->Flush().ok());
}

TEST(RegionStoreTest, WriteAmplificationIsAboutOne) {
  auto dev = MakeMemoryDevice(64 * kMiB);
  auto store = MakeStore(SyncOptions(16 * kMiB), dev.get());
  auto value = MakeValue(kMiB, 3);
  for (int i = 0; i < 45; ++i) ASSERT_TRUE(AppendValue(*store, 0, KeyOf(i), value).ok());
  ASSERT_TRUE(store->Flush().ok());
  RegionStoreStats st = store->stats();
  EXPECT_EQ(st.bytes_appended, 45 * kMiB);
  EXPECT_EQ(st.device_bytes_written, dev->stats().write_bytes);
  EXPECT_GT(st.host_write_amplification(), 1.0);
  EXPECT_LT(st.host_write_amplification(), 1.01);
}

TEST(RegionStoreTest, WriteAmplificationOf128KiBValuesIsWithinTwoPercent) {
  // KV blocks are powers of two: a value must cost its own bytes, not one more 4 KiB block.
  auto dev = MakeMemoryDevice(64 * kMiB);
  auto store = MakeStore(SyncOptions(16 * kMiB), dev.get());
  auto value = MakeValue(128 << 10, 5);
  std::vector<FlashLocation> locs;
  for (int i = 0; i < 3 * 127; ++i) {
    auto loc = AppendValue(*store, 0, KeyOf(i), value);
    ASSERT_TRUE(loc.ok()) << loc.status().ToString();
    locs.push_back(*loc);
  }
  ASSERT_TRUE(store->Flush().ok());
  RegionStoreStats st = store->stats();
  EXPECT_EQ(st.regions_written, 3u);  // 127 values of 128 KiB and their table fill 16 MiB
  EXPECT_EQ(st.extent_bytes_appended, st.bytes_appended);
  EXPECT_EQ(st.device_bytes_written, dev->stats().write_bytes);
  EXPECT_LT(st.host_write_amplification(), 1.002);
  // Reads fetch exactly the value bytes, through a bounce buffer or straight into aligned
  // memory.
  std::vector<std::byte> out(value.size());
  auto aligned = AlignedBuffer::Create(value.size());
  ASSERT_TRUE(aligned.ok());
  for (int i = 0; i < 10; ++i) {
    std::span<std::byte> dest = i % 2 == 0 ? std::span<std::byte>(out) : aligned->span();
    std::fill(dest.begin(), dest.end(), std::byte{0});
    ASSERT_TRUE(store->Read(locs[i * 30], 0, KeyOf(i * 30), dest).ok());
    ASSERT_EQ(0, std::memcmp(dest.data(), value.data(), value.size())) << i;
  }
  EXPECT_EQ(store->stats().device_read_bytes, store->stats().read_bytes);
}

TEST(RegionStoreTest, ReclaimReportsLiveEntriesInFifoOrder) {
  auto dev = MakeMemoryDevice(4 * kMiB);
  DropRecorder drops;
  RegionStoreOptions o = SyncOptions();
  o.on_drop = drops.Callback();
  auto store = MakeStore(o, dev.get());
  // 300 KiB values: 3 per 1 MiB region; 12 values fill the 4 regions.
  std::vector<Stored> stored;
  for (int i = 0; i < 12; ++i) {
    Stored s{KeyOf(i), 2, MakeValue(300 << 10, i), {}};
    s.loc = *AppendValue(*store, s.ns, s.key, s.value);
    stored.push_back(std::move(s));
  }
  ASSERT_TRUE(store->Flush().ok());
  store->MarkDead(stored[1].loc);
  for (int region = 0; region < 4; ++region) {
    drops.clear();
    ASSERT_TRUE(store->ReclaimOldest().ok());
    std::vector<std::string> keys;
    for (const auto& d : drops.drops()) {
      EXPECT_EQ(d.reason, DropReason::kReclaimed);
      EXPECT_EQ(d.ns, 2);
      keys.push_back(d.key);
    }
    std::vector<std::string> expect;
    for (int i = 3 * region; i < 3 * region + 3; ++i) {
      if (i != 1) expect.push_back(KeyOf(i));
      EXPECT_EQ(stored[i].loc.region, stored[3 * region].loc.region);
    }
    EXPECT_EQ(keys, expect) << "region " << region;
    // Reclaimed entries are gone: a stale location is a miss, never old bytes.
    EXPECT_EQ(ReadBack(*store, stored[3 * region]).code(), StatusCode::kNotFound);
  }
  EXPECT_EQ(store->ReclaimOldest().code(), StatusCode::kNotFound);
  EXPECT_EQ(store->region_sequence(stored[0].loc.region), RegionSequence(0));  // free now
  RegionStoreStats st = store->stats();
  EXPECT_EQ(st.regions_reclaimed, 4u);
  EXPECT_EQ(st.entries_reclaimed, 11u);
  EXPECT_EQ(st.stale_reads, 4u);
  // Reclaimed regions go through the TRIM pipeline.
  while (store->trim_pipeline().RunOnce() > 0) {
  }
  EXPECT_EQ(store->stats().region_states.free_clean, 4u);
  EXPECT_EQ(store->stats().trim.bytes_discarded, 4 * kMiB);
}

TEST(RegionStoreTest, AllDeadRegionIsReclaimedAtOnce) {
  auto dev = MakeMemoryDevice(4 * kMiB);
  auto store = MakeStore(SyncOptions(), dev.get());
  std::vector<FlashLocation> locs;
  for (int i = 0; i < 4; ++i) {
    locs.push_back(*AppendValue(*store, 0, KeyOf(i), MakeValue(400 << 10, i)));
  }
  ASSERT_TRUE(store->Flush().ok());
  size_t before = dev->discard_history().size();
  // Region of entries 0 and 1 (400 KiB each: two per region).
  ASSERT_EQ(locs[0].region, locs[1].region);
  store->MarkDead(locs[0]);
  EXPECT_EQ(store->stats().regions_reclaimed_dead, 0u);
  store->MarkDead(locs[0]);  // idempotent
  store->MarkDead(locs[1]);
  EXPECT_EQ(store->stats().regions_reclaimed_dead, 1u);
  EXPECT_EQ(store->stats().regions_sealed, 1u);
  while (store->trim_pipeline().RunOnce() > 0) {
  }
  auto history = dev->discard_history();
  ASSERT_EQ(history.size(), before + 1);
  EXPECT_EQ(history.back().offset, DeviceOffset(locs[0].region.value() * kMiB));
  EXPECT_EQ(history.back().len, kMiB);
  store->MarkDead(locs[1]);  // stale now: ignored
  std::vector<std::byte> out(400 << 10);
  EXPECT_EQ(store->Read(locs[0], 0, KeyOf(0), out).code(), StatusCode::kNotFound);
  EXPECT_TRUE(store->Read(locs[2], 0, KeyOf(2), out).ok());
}

TEST(RegionStoreTest, PinnedRegionIsNotReclaimed) {
  auto dev = MakeMemoryDevice(3 * kMiB);
  DropRecorder drops;
  RegionStoreOptions o = SyncOptions();
  o.on_drop = drops.Callback();
  auto store = MakeStore(o, dev.get());
  std::vector<Stored> stored;
  for (int i = 0; i < 3; ++i) {
    Stored s{KeyOf(i), 0, MakeValue(900 << 10, i), {}};
    s.loc = *AppendValue(*store, 0, s.key, s.value);
    stored.push_back(std::move(s));
  }
  ASSERT_TRUE(store->Flush().ok());
  auto pin0 = store->Pin(stored[0].loc);
  ASSERT_TRUE(pin0.ok());
  ASSERT_TRUE(store->ReclaimOldest().ok());  // skips pinned region 0, takes region 1
  ASSERT_EQ(drops.drops().size(), 1u);
  EXPECT_EQ(drops.drops()[0].key, KeyOf(1));
  auto pin2 = store->Pin(stored[2].loc);
  ASSERT_TRUE(pin2.ok());
  EXPECT_EQ(store->ReclaimOldest().code(), StatusCode::kBusy);
  EXPECT_TRUE(ReadBack(*store, stored[0]).ok());
  // A dead entry's region is not freed while pinned, then is at the last unpin.
  store->MarkDead(stored[0].loc);
  EXPECT_EQ(store->stats().regions_reclaimed_dead, 0u);
  EXPECT_TRUE(ReadBack(*store, stored[0]).ok());
  pin0->Release();
  EXPECT_EQ(store->stats().regions_reclaimed_dead, 1u);
  EXPECT_EQ(store->Pin(stored[0].loc).status().code(), StatusCode::kNotFound);
}

TEST(RegionStoreTest, CapacityIsNeverExceeded) {
  auto dev = MakeMemoryDevice(4 * kMiB);
  auto store = MakeStore(SyncOptions(), dev.get());
  int appended = 0;
  Status last;
  for (int i = 0; i < 100 && last.ok(); ++i) {
    auto loc = AppendValue(*store, 0, KeyOf(i), MakeValue(200 << 10, i));
    last = loc.status();
    appended += loc.ok();
  }
  EXPECT_EQ(last.code(), StatusCode::kResourceExhausted);
  // Header block, then 200 KiB values, then the entry table (one block).
  const int per_region = (kMiB - 2 * 4096) / ValueExtentBytes(200 << 10);
  EXPECT_EQ(per_region, 5);
  EXPECT_EQ(appended, 4 * per_region);
  EXPECT_LE(dev->stats().write_bytes, dev->size());
  // The failing append sealed (and wrote) the 4th region before finding no free one.
  EXPECT_EQ(store->stats().regions_written, 4u);
  EXPECT_EQ(store->stats().region_states.in_use, 4u);
  // A value that can never fit is InvalidArgument, not ResourceExhausted.
  EXPECT_EQ(AppendValue(*store, 0, "big", MakeValue(kMiB, 1)).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(RegionStoreTest, AutoReclaimKeepsAppendingAndReportsDrops) {
  auto dev = MakeMemoryDevice(4 * kMiB);
  DropRecorder drops;
  RegionStoreOptions o = SyncOptions();
  o.auto_reclaim = true;
  o.on_drop = drops.Callback();
  auto store = MakeStore(o, dev.get());
  std::vector<Stored> stored;
  for (int i = 0; i < 200; ++i) {
    Stored s{KeyOf(i), 0, MakeValue(100 << 10, i), {}};
    auto loc = AppendValue(*store, 0, s.key, s.value);
    ASSERT_TRUE(loc.ok()) << i << ": " << loc.status().ToString();
    s.loc = *loc;
    stored.push_back(std::move(s));
  }
  ASSERT_TRUE(store->Flush().ok());
  RegionStoreStats st = store->stats();
  EXPECT_LE(dev->stats().write_bytes, st.regions_written * kMiB);
  EXPECT_EQ(st.entries_reclaimed, drops.drops().size());
  // Everything not dropped reads back; everything dropped is a miss.
  std::set<std::string> dropped;
  for (const auto& d : drops.drops()) dropped.insert(d.key);
  for (const Stored& s : stored) {
    EXPECT_EQ(ReadBack(*store, s).code(),
              dropped.count(s.key) ? StatusCode::kNotFound : StatusCode::kOk);
  }
  EXPECT_GT(dropped.size(), 150u);
}

TEST(RegionStoreTest, AllRegionsPinnedIsResourceExhausted) {
  auto dev = MakeMemoryDevice(2 * kMiB);
  RegionStoreOptions o = SyncOptions();
  o.auto_reclaim = true;
  o.space_wait = std::chrono::milliseconds(20);  // the pins below are never released in time
  auto store = MakeStore(o, dev.get());
  auto a = *AppendValue(*store, 0, "a", MakeValue(900 << 10, 1));
  auto b = *AppendValue(*store, 0, "b", MakeValue(900 << 10, 2));
  auto pa = store->Pin(a);
  auto pb = store->Pin(b);
  auto c = AppendValue(*store, 0, "c", MakeValue(900 << 10, 3));
  EXPECT_EQ(c.status().code(), StatusCode::kResourceExhausted);
  pa->Release();
  EXPECT_TRUE(AppendValue(*store, 0, "c", MakeValue(900 << 10, 3)).ok());
}

TEST(RegionStoreTest, CorruptionOnTheMediumIsDataLoss) {
  auto dev = MakeMemoryDevice(2 * kMiB);
  auto store = MakeStore(SyncOptions(), dev.get());
  Stored s{"corrupt-me", 4, MakeValue(10000, 9), {}};
  s.loc = *AppendValue(*store, s.ns, s.key, s.value);
  ASSERT_TRUE(store->Flush().ok());
  const size_t base = s.loc.region.value() * kMiB + s.loc.offset.value();
  // Value bytes, first to last: each flip is caught, read through a bounce buffer.
  for (size_t off : {0ul, 9ul, 20ul, 41ul, 50ul, 58ul, 100ul, 5000ul, 9999ul}) {
    dev->raw()[base + off] ^= std::byte{0x04};
    std::vector<std::byte> out(s.value.size(), std::byte{0x5A});
    EXPECT_EQ(store->Read(s.loc, s.ns, s.key, out).code(), StatusCode::kDataLoss) << off;
    for (std::byte b : out) ASSERT_EQ(b, std::byte{0x5A}) << "bytes leaked at " << off;
    dev->raw()[base + off] ^= std::byte{0x04};
  }
  EXPECT_TRUE(ReadBack(*store, s).ok());
  EXPECT_EQ(store->stats().checksum_failures, 9u);
  // The same read straight into aligned memory (no bounce): still DataLoss, never OK.
  auto aligned = AlignedBuffer::Create(s.loc.extent_bytes);
  ASSERT_TRUE(aligned.ok());
  dev->raw()[base + 7777] ^= std::byte{0x80};
  EXPECT_EQ(store->Read(s.loc, s.ns, s.key, aligned->span()).code(), StatusCode::kDataLoss);
  dev->raw()[base + 7777] ^= std::byte{0x80};
  ASSERT_TRUE(store->Read(s.loc, s.ns, s.key, aligned->span()).ok());
  EXPECT_EQ(0, std::memcmp(aligned->data(), s.value.data(), s.value.size()));
  EXPECT_EQ(store->stats().checksum_failures, 10u);
  // Asking for another key or namespace at a valid location is DataLoss too.
  std::vector<std::byte> out(s.value.size());
  EXPECT_EQ(store->Read(s.loc, s.ns, "other", out).code(), StatusCode::kDataLoss);
  EXPECT_EQ(store->Read(s.loc, 5, s.key, out).code(), StatusCode::kDataLoss);
}

TEST(RegionStoreTest, ReadVMixesBufferedAndFlashReads) {
  auto dev = MakeMemoryDevice(8 * kMiB);
  auto store = MakeStore(SyncOptions(2 * kMiB), dev.get());
  std::vector<Stored> stored;
  for (int i = 0; i < 30; ++i) {
    Stored s{KeyOf(i), 0, MakeValue(100000 + i, i), {}};
    s.loc = *AppendValue(*store, 0, s.key, s.value);
    stored.push_back(std::move(s));
  }
  EXPECT_GT(store->stats().regions_written, 0u);  // some on flash, the tail buffered
  std::vector<std::vector<std::byte>> outs(stored.size());
  std::vector<FlashRead> reads;
  for (size_t i = 0; i < stored.size(); ++i) {
    outs[i].resize(stored[i].value.size());
    reads.push_back(FlashRead{stored[i].loc, 0, stored[i].key, outs[i], Status::Ok()});
  }
  reads[7].key = "wrong";
  EXPECT_EQ(store->ReadV(reads).code(), StatusCode::kDataLoss);
  for (size_t i = 0; i < reads.size(); ++i) {
    if (i == 7) {
      EXPECT_EQ(reads[i].result.code(), StatusCode::kDataLoss);
      continue;
    }
    ASSERT_TRUE(reads[i].result.ok()) << i << reads[i].result.ToString();
    EXPECT_EQ(outs[i], stored[i].value);
  }
  EXPECT_GT(store->stats().buffer_reads, 0u);
  EXPECT_GT(dev->stats().read_ops, 0u);
}

TEST(RegionStoreTest, AppendRejectsBadInput) {
  auto dev = MakeMemoryDevice(2 * kMiB);
  auto store = MakeStore(SyncOptions(), dev.get());
  auto v = MakeValue(100, 1);
  EXPECT_EQ(store->Append(0, "", v, ComputeChecksum(v)).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(store->Append(0, std::string(257, 'k'), v, ComputeChecksum(v)).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(store->Append(0, "k", v, Checksum(1)).status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(store->stats().appends, 0u);
  auto loc = *store->Append(0, "k", v, ComputeChecksum(v));
  std::vector<std::byte> small(50);
  EXPECT_EQ(store->Read(loc, 0, "k", small).code(), StatusCode::kInvalidArgument);
  FlashLocation bogus = loc;
  bogus.offset = RegionOffset(loc.offset.value() + 4096);
  EXPECT_EQ(store->Read(bogus, 0, "k", v).code(), StatusCode::kInvalidArgument);
  bogus = loc;
  bogus.region = RegionId(99);
  EXPECT_EQ(store->Read(bogus, 0, "k", v).code(), StatusCode::kInvalidArgument);
}

TEST(RegionStoreTest, CreateDiscardsTheDeviceAndValidates) {
  auto dev = MakeMemoryDevice(4 * kMiB);
  std::memset(dev->raw().data(), 0x77, dev->size());
  auto store = MakeStore(SyncOptions(), dev.get());
  EXPECT_EQ(dev->stats().discard_bytes, 4 * kMiB);
  EXPECT_EQ(dev->raw()[12345], std::byte{0});
  EXPECT_EQ(store->stats().region_states.free_clean, 4u);

  RegionStoreOptions bad = SyncOptions();
  bad.region_bytes = kMiB + 4096;
  EXPECT_EQ(bad.Validate().code(), StatusCode::kInvalidArgument);
  bad = SyncOptions();
  bad.write_buffers = 0;
  EXPECT_EQ(bad.Validate().code(), StatusCode::kInvalidArgument);
  bad = SyncOptions();
  bad.write_io_bytes = 1000;
  EXPECT_EQ(bad.Validate().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(RegionStore::Create(SyncOptions(8 * kMiB), dev.get()).status().code(),
            StatusCode::kInvalidArgument);  // device smaller than one region
  EXPECT_EQ(RegionStore::Create(SyncOptions(), nullptr).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kvstash
