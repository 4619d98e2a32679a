// End to end through the kernel: TRIM issued by the TrimPipeline must reach the medium.
//
// Loop device: a sparse file is attached with losetup; UringDevice opens /dev/loopN (a real
// block device: BLKGETSIZE64, BLKDISCARD); the loop driver turns each discard into a punched
// hole in the backing file, so the backing file's st_blocks shows the TRIM arrive. Needs root
// and losetup; skipped (with the reason) otherwise. The loop device is always detached.
//
// Sparse file: the same flow on a regular file, where a discard is fallocate(PUNCH_HOLE).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "flash/device_test_util.h"
#include "flash/loop_device_util.h"
#include "flash/trim_pipeline.h"
#include "flash/uring_device.h"

namespace kvstash {
namespace {

using testing::AlignedBuffer;
using testing::AllocatedBytes;
using testing::LoopDevice;
using testing::TempDir;

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kRegion = 4 * kMiB;
constexpr uint32_t kRegions = 16;                           // a 64 MiB device
constexpr int64_t kTolerance = static_cast<int64_t>(kMiB);  // filesystem metadata, rounding

void WriteRegions(Device& dev, uint32_t count) {
  AlignedBuffer data(count * kRegion);
  data.Fill(99);
  std::vector<IoRequest> reqs;
  for (uint64_t off = 0; off < data.size(); off += kMiB) {
    reqs.push_back({DeviceOffset(off), data.subspan(off, kMiB), {}});
  }
  ASSERT_TRUE(dev.WriteV(reqs).ok());
}

bool RegionIsZero(Device& dev, uint32_t region) {
  AlignedBuffer buf(kRegion);
  EXPECT_TRUE(dev.Read(DeviceOffset(region * kRegion), buf.span()).ok());
  return buf.IsZero();
}

// The shared scenario: write 12 regions, trim regions 2..7 and 10 through the pipeline (the
// owner's RegionStates flow), and check the medium lost exactly those bytes.
void WriteTrimAndCheck(Device& dev, const std::string& backing) {
  const int64_t empty = AllocatedBytes(backing);
  WriteRegions(dev, 12);
  const int64_t written = AllocatedBytes(backing) - empty;
  EXPECT_GE(written, static_cast<int64_t>(12 * kRegion) - kTolerance);
  EXPECT_LE(written, static_cast<int64_t>(12 * kRegion) + kTolerance);

  RegionStates states(kRegions, RegionTrimState::kFreeClean);
  for (uint32_t r = 0; r < 12; ++r) ASSERT_EQ(states.AllocateForWrite(), RegionId(r));
  TrimPipelineOptions o;
  o.background_thread = false;
  o.max_discard_bytes = 64 * kMiB;
  std::vector<uint32_t> done;
  auto pipeline = std::move(TrimPipeline::Create(
                                &dev, o,
                                [&](RegionId r, const Status& s) {
                                  EXPECT_TRUE(s.ok()) << s.ToString();
                                  done.push_back(r.value());
                                },
                                &states))
                      .value();
  for (uint32_t r : {7u, 2u, 10u, 3u, 4u, 6u, 5u}) {
    ASSERT_TRUE(states.Release(RegionId(r)).ok());
    ASSERT_TRUE(pipeline->Enqueue(RegionId(r), DeviceOffset(r * kRegion), kRegion).ok());
  }
  while (pipeline->RunOnce() > 0) {
  }
  EXPECT_EQ(done, (std::vector<uint32_t>{2, 3, 4, 5, 6, 7, 10}));
  EXPECT_EQ(pipeline->stats().discard_calls, 2u);  // 2..7 coalesced, 10 alone
  EXPECT_EQ(pipeline->stats().bytes_discarded, 7 * kRegion);
  EXPECT_EQ(states.counts().free_clean, 4u + 7u);

  const int64_t freed = AllocatedBytes(backing) - empty - written;
  EXPECT_LE(freed, -static_cast<int64_t>(7 * kRegion) + kTolerance) << "TRIM did not arrive";
  EXPECT_GE(freed, -static_cast<int64_t>(7 * kRegion) - kTolerance);
  for (uint32_t r = 0; r < 12; ++r) {
    const bool trimmed = (r >= 2 && r <= 7) || r == 10;
    EXPECT_EQ(RegionIsZero(dev, r), trimmed) << "region " << r;
  }
  // Startup discard of the whole device leaves the medium (nearly) empty.
  ASSERT_TRUE(DiscardAll(dev, 16 * kMiB).ok());
  EXPECT_LE(AllocatedBytes(backing) - empty, kTolerance);
}

class TrimEndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    backing_ = dir_.File("backing.img");
    int fd = open(backing_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(ftruncate(fd, kRegions * kRegion), 0);  // sparse
    close(fd);
  }

  TempDir dir_;
  std::string backing_;
};

TEST_F(TrimEndToEndTest, LoopDeviceDiscardPunchesTheBackingFile) {
  LoopDevice loop;  // declared first: detached after the device is closed
  if (std::string why = loop.Attach(backing_); !why.empty()) {
    GTEST_SKIP() << "loop device unavailable: " << why;
  }
  UringDeviceOptions o;
  o.path = loop.path();
  auto dev = UringDevice::OpenUring(o);
  ASSERT_TRUE(dev.ok()) << dev.status().ToString();
  EXPECT_TRUE((*dev)->is_block_device());
  ASSERT_EQ((*dev)->size(), kRegions * kRegion);
  WriteTrimAndCheck(**dev, backing_);
  EXPECT_TRUE((*dev)->discard_supported());
  EXPECT_EQ((*dev)->stats().discard_unsupported, 0u);
}

TEST_F(TrimEndToEndTest, SparseFileDiscardPunchesHoles) {
  UringDeviceOptions o;
  o.path = backing_;
  auto dev = UringDevice::OpenUring(o);
  ASSERT_TRUE(dev.ok()) << dev.status().ToString();
  EXPECT_FALSE((*dev)->is_block_device());
  WriteTrimAndCheck(**dev, backing_);
}

}  // namespace
}  // namespace kvstash
