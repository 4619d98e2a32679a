// TRIM end to end through the whole engine: BlockStore on a loop device over a sparse file
// (and on a plain sparse file). Fill past the flash capacity, delete everything, and the
// backing file's allocated blocks must drop by the bytes the TRIM pipeline discarded.
// Needs root and losetup for the loop-device case; skipped with the reason otherwise.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "common/checksum.h"
#include "engine/block_store.h"
#include "flash/device_test_util.h"
#include "flash/loop_device_util.h"

namespace kvstash {
namespace {

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kFlash = 32 * kMiB;  // 8 regions of 4 MiB
constexpr uint64_t kBlock = 256 << 10;
constexpr uint64_t kRegion = 4 * kMiB;
constexpr int64_t kTolerance = static_cast<int64_t>(2 * kMiB);

class TrimThroughEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    backing_ = dir_.File("flash.img");
    int fd = open(backing_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(ftruncate(fd, kFlash), 0);  // sparse
    close(fd);
  }

  void Run(const std::string& flash_path) {
    StoreOptions o;
    o.dram_bytes = 8 * kMiB;
    o.dram_region_bytes = 1 * kMiB;
    o.max_value_bytes = 1 * kMiB;
    o.try_hugepages = false;
    o.background = false;
    o.flash.path = flash_path;
    o.flash.regions.region_bytes = kRegion;
    o.flash.regions.background_flush = false;
    o.flash.admission.kind = "all";
    auto created = BlockStore::Create(o);
    ASSERT_TRUE(created.ok()) << created.status().ToString();
    auto store = std::move(*created);
    const int64_t empty = testing::AllocatedBytes(backing_);
    EXPECT_LE(empty, kTolerance) << "the whole device is discarded at start";

    // 3x the flash capacity: flash regions are reclaimed (and trimmed) along the way.
    std::string v(kBlock, 'x');
    int n = static_cast<int>(3 * kFlash / kBlock);
    for (int i = 0; i < n; ++i) {
      std::memcpy(v.data(), &i, sizeof(i));
      std::string key = "block-" + std::to_string(i);
      auto a = store->Allocate(0, key, v.size());
      ASSERT_TRUE(a.ok()) << a.status().ToString();
      std::memcpy(store->arena_base() + a->offset.value(), v.data(), v.size());
      ASSERT_TRUE(store->Commit(0, key, a->offset).ok());
      store->RunMaintenance();
    }
    ASSERT_TRUE(store->FlushFlash().ok());
    store->RunMaintenance();
    auto s = store->Stats();
    EXPECT_GT(s.flash_regions_reclaimed, 0u);
    EXPECT_LE(s.flash_capacity_bytes, kFlash);
    const int64_t full = testing::AllocatedBytes(backing_);
    EXPECT_GT(full - empty, static_cast<int64_t>(kFlash / 2)) << "flash holds data";
    EXPECT_LE(full, static_cast<int64_t>(kFlash) + kTolerance) << "capacity never exceeded";

    // Delete everything: every region dies, is reclaimed at once, and TRIM punches it out.
    const uint64_t discarded_before = s.discard_bytes;
    for (int i = 0; i < n; ++i) store->Delete(0, "block-" + std::to_string(i)).IgnoreError();
    for (int round = 0; round < 50; ++round) store->RunMaintenance();
    s = store->Stats();
    const int64_t discarded = static_cast<int64_t>(s.discard_bytes - discarded_before);
    const int64_t after = testing::AllocatedBytes(backing_);
    EXPECT_GT(discarded, static_cast<int64_t>(kFlash / 2));
    // A discard covers whole regions; the last region written before a reclaim may have been
    // written only up to its used prefix, so the freed bytes can fall short by < one region.
    EXPECT_NEAR(static_cast<double>(full - after), static_cast<double>(discarded),
                static_cast<double>(kRegion + kTolerance))
        << "st_blocks must drop by the discarded bytes";
    EXPECT_LE(after - empty, kTolerance + static_cast<int64_t>(kRegion))
        << "at most the open region stays allocated";
  }

  testing::TempDir dir_;
  std::string backing_;
};

TEST_F(TrimThroughEngineTest, LoopDevice) {
  testing::LoopDevice loop;
  if (std::string why = loop.Attach(backing_); !why.empty()) {
    GTEST_SKIP() << "loop device unavailable: " << why;
  }
  Run(loop.path());
}

TEST_F(TrimThroughEngineTest, SparseFile) { Run(backing_); }

}  // namespace
}  // namespace kvstash
