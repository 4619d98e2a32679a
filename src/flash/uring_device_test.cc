// UringDevice on a temporary regular file: O_DIRECT io_uring round trips, batching at queue
// depths 1..64, real short completions and retries (kernel-level injection), errors.
#include "flash/uring_device.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "flash/device_test_util.h"

namespace kvstash {
namespace {

using testing::AlignedBuffer;
using testing::TempDir;

constexpr uint64_t kDeviceBytes = 64 << 20;

class UringDeviceTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(dir_.path().empty()); }
  UringDeviceOptions Options(uint32_t qd = 32) {
    UringDeviceOptions o;
    o.path = dir_.File("device.dat");
    o.size = kDeviceBytes;
    o.create = true;
    o.queue_depth = qd;
    return o;
  }
  std::unique_ptr<UringDevice> OpenOrDie(const UringDeviceOptions& o) {
    auto dev = UringDevice::OpenUring(o);
    EXPECT_TRUE(dev.ok()) << dev.status().ToString();
    return dev.ok() ? std::move(dev).value() : nullptr;
  }

  TempDir dir_;
};

TEST_F(UringDeviceTest, OpenValidatesAndSizesTheFile) {
  UringDeviceOptions o = Options();
  o.create = false;
  EXPECT_TRUE(UringDevice::Open(o).status().Is(StatusCode::kNotFound));
  o.queue_depth = 0;
  EXPECT_TRUE(UringDevice::Open(o).status().Is(StatusCode::kInvalidArgument));
  o = Options();
  o.size = kDeviceBytes + 100;
  EXPECT_TRUE(UringDevice::Open(o).status().Is(StatusCode::kInvalidArgument));
  o = Options();
  o.path = dir_.path();  // a directory
  EXPECT_FALSE(UringDevice::Open(o).ok());

  Result<std::unique_ptr<Device>> dev = UringDevice::Open(Options());
  ASSERT_TRUE(dev.ok()) << dev.status().ToString();
  EXPECT_EQ((*dev)->size(), kDeviceBytes);
  EXPECT_EQ((*dev)->io_alignment(), 4096u);
  struct stat st {};
  ASSERT_EQ(stat(Options().path.c_str(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), kDeviceBytes);
  EXPECT_LT(static_cast<uint64_t>(st.st_blocks) * 512, 1u << 20);  // sparse by default
  dev = Status::Internal("closed");

  o = Options();
  o.size = 0;  // reopen at the existing size
  o.create = false;
  auto again = OpenOrDie(o);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->size(), kDeviceBytes);
  EXPECT_FALSE(again->is_block_device());
}

TEST_F(UringDeviceTest, PreallocateAllocatesBlocks) {
  UringDeviceOptions o = Options();
  o.size = 8 << 20;
  o.preallocate = true;
  auto dev = OpenOrDie(o);
  ASSERT_NE(dev, nullptr);
  struct stat st {};
  ASSERT_EQ(stat(o.path.c_str(), &st), 0);
  EXPECT_GE(static_cast<uint64_t>(st.st_blocks) * 512, 8u << 20);
}

TEST_F(UringDeviceTest, RoundTripsOfVariousSizesAndSurvivesReopen) {
  const std::vector<uint64_t> sizes = {4096, 8192, 65536 + 4096, 1 << 20, 3 << 20, 5 << 20};
  {
    auto dev = OpenOrDie(Options());
    ASSERT_NE(dev, nullptr);
    uint64_t off = 0;
    for (uint64_t n : sizes) {
      AlignedBuffer data(n), back(n);
      data.Fill(n);
      ASSERT_TRUE(dev->Write(DeviceOffset(off), data.span()).ok());
      ASSERT_TRUE(dev->Read(DeviceOffset(off), back.span()).ok());
      EXPECT_TRUE(back.SameAs(data)) << n;
      off += n;
    }
    EXPECT_EQ(dev->stats().write_ops, sizes.size());
  }
  auto dev = OpenOrDie(Options());
  uint64_t off = 0;
  for (uint64_t n : sizes) {
    AlignedBuffer data(n), back(n);
    data.Fill(n);
    ASSERT_TRUE(dev->Read(DeviceOffset(off), back.span()).ok());
    EXPECT_TRUE(back.SameAs(data)) << "after reopen, size " << n;
    off += n;
  }
}

TEST_F(UringDeviceTest, RejectsMisalignedAndOutOfBounds) {
  auto dev = OpenOrDie(Options());
  AlignedBuffer buf(8192);
  EXPECT_TRUE(
      dev->Read(DeviceOffset(kDeviceBytes - 4096), buf.span()).Is(StatusCode::kInvalidArgument));
  EXPECT_TRUE(
      dev->Write(DeviceOffset(2048), buf.subspan(0, 4096)).Is(StatusCode::kInvalidArgument));
  EXPECT_EQ(dev->counters().submissions, 0u);
}

// Writes `n` requests of mixed sizes in one batch, reads them back in another batch.
void BatchRoundTrip(Device& dev, int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<AlignedBuffer> data, back;
  std::vector<IoRequest> writes, reads;
  uint64_t off = 0;
  for (int i = 0; i < n; ++i) {
    const uint64_t len = (1 + rng() % 32) * 4096;
    data.emplace_back(len);
    back.emplace_back(len);
    data.back().Fill(seed * 1000 + i);
    off += 4096 * (rng() % 3);  // gaps, so requests are not all contiguous
    ASSERT_LE(off + len, dev.size());
    writes.push_back({DeviceOffset(off), data.back().span(), {}});
    reads.push_back({DeviceOffset(off), back.back().span(), {}});
    off += len;
  }
  ASSERT_TRUE(dev.WriteV(writes).ok());
  ASSERT_TRUE(dev.ReadV(reads).ok());
  for (int i = 0; i < n; ++i) {
    EXPECT_TRUE(writes[i].result.ok());
    EXPECT_TRUE(reads[i].result.ok());
    ASSERT_TRUE(back[i].SameAs(data[i])) << "request " << i;
  }
}

class UringQueueDepthTest : public UringDeviceTest,
                            public ::testing::WithParamInterface<uint32_t> {};

TEST_P(UringQueueDepthTest, BatchesLargerThanTheQueueDepth) {
  const uint32_t qd = GetParam();
  auto dev = OpenOrDie(Options(qd));
  ASSERT_NE(dev, nullptr);
  const int n = 3 * static_cast<int>(qd) + 5;  // several refills of the queue
  BatchRoundTrip(*dev, n, qd);
  EXPECT_EQ(dev->stats().write_ops, static_cast<uint64_t>(n));
  EXPECT_EQ(dev->stats().read_ops, static_cast<uint64_t>(n));
  EXPECT_EQ(dev->counters().submissions, 2u * n);  // no short I/O on a healthy file
  EXPECT_EQ(dev->counters().rings_created, 1u);    // one caller, one ring, reused
}

INSTANTIATE_TEST_SUITE_P(QueueDepths, UringQueueDepthTest,
                         ::testing::Values(1u, 2u, 7u, 8u, 32u, 64u));

TEST_F(UringDeviceTest, ShortCompletionsAndRetriesAreResubmitted) {
  for (uint32_t qd : {1u, 4u, 64u}) {
    UringDeviceOptions o = Options(qd);
    o.inject.short_io_one_in = 2;
    o.inject.eagain_one_in = 5;
    o.inject.eintr_one_in = 7;
    o.inject.seed = qd;
    auto dev = OpenOrDie(o);
    ASSERT_NE(dev, nullptr);
    BatchRoundTrip(*dev, 100, 100 + qd);
    UringDeviceCounters c = dev->counters();
    EXPECT_GT(c.injected_short, 10u) << "qd " << qd;
    // A shortened submission is resubmitted, unless its completion was turned into a retry.
    EXPECT_GT(c.short_resubmits, 0u);
    EXPECT_LE(c.short_resubmits, c.injected_short);
    EXPECT_GT(c.injected_eagain, 0u);
    EXPECT_GT(c.injected_eintr, 0u);
    EXPECT_EQ(c.retries, c.injected_eagain + c.injected_eintr);
    EXPECT_EQ(c.submissions, 200 + c.short_resubmits + c.retries);
    EXPECT_EQ(dev->stats().write_errors + dev->stats().read_errors, 0u);
  }
}

TEST_F(UringDeviceTest, FullSubmissionQueueDropsNoRequest) {
  UringDeviceOptions o = Options(64);
  o.inject.ring_entries = 4;  // SQ of 4 entries (CQ of 8) under a batch at queue depth 64
  auto dev = OpenOrDie(o);
  ASSERT_NE(dev, nullptr);
  BatchRoundTrip(*dev, 150, 9);
  EXPECT_GT(dev->counters().sq_full_flushes, 0u);
  EXPECT_EQ(dev->counters().submissions, 300u);
  EXPECT_EQ(dev->stats().write_ops, 150u);
}

TEST_F(UringDeviceTest, PersistentRetriesEventuallyFail) {
  UringDeviceOptions o = Options(4);
  o.inject.eagain_one_in = 1;  // every completion "fails" with EAGAIN
  auto dev = OpenOrDie(o);
  AlignedBuffer buf(4096);
  Status s = dev->Read(DeviceOffset(0), buf.span());
  EXPECT_TRUE(s.Is(StatusCode::kBusy)) << s.ToString();  // EAGAIN -> Busy via ErrnoToStatus
  EXPECT_EQ(dev->stats().read_errors, 1u);
}

TEST_F(UringDeviceTest, ReadPastATruncatedFileFailsInsteadOfSpinning) {
  auto dev = OpenOrDie(Options());
  ASSERT_EQ(truncate(Options().path.c_str(), 1 << 20), 0);  // shrunk behind the device's back
  AlignedBuffer buf(8192);
  Status s = dev->Read(DeviceOffset(2 << 20), buf.span());
  EXPECT_TRUE(s.Is(StatusCode::kIOError)) << s.ToString();
  // A read straddling the new end completes short, then hits the end.
  s = dev->Read(DeviceOffset((1 << 20) - 4096), buf.span());
  EXPECT_TRUE(s.Is(StatusCode::kIOError)) << s.ToString();
  EXPECT_EQ(dev->counters().short_resubmits, 1u);
}

TEST_F(UringDeviceTest, ConcurrentCallersGetTheirOwnRings) {
  auto dev = OpenOrDie(Options(8));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&dev, t] {
      AlignedBuffer data(256 << 10), back(256 << 10);
      for (int i = 0; i < 16; ++i) {
        data.Fill(t * 100 + i);
        const DeviceOffset off((t * 16 + i) * (256ull << 10));
        EXPECT_TRUE(dev->Write(off, data.span()).ok());
        EXPECT_TRUE(dev->Read(off, back.span()).ok());
        EXPECT_TRUE(back.SameAs(data));
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_LE(dev->counters().rings_created, 5u);
  EXPECT_EQ(dev->stats().write_ops, 64u);
}

TEST_F(UringDeviceTest, DiscardPunchesHolesInARegularFile) {
  auto dev = OpenOrDie(Options());
  AlignedBuffer data(8 << 20), back(8 << 20);
  data.Fill(5);
  ASSERT_TRUE(dev->Write(DeviceOffset(0), data.span()).ok());
  struct stat before {
  }, after{};
  ASSERT_EQ(stat(dev->path().c_str(), &before), 0);
  ASSERT_TRUE(dev->Discard(DeviceOffset(1 << 20), 4 << 20).ok());
  ASSERT_EQ(stat(dev->path().c_str(), &after), 0);
  const int64_t freed = (before.st_blocks - after.st_blocks) * 512;
  EXPECT_GE(freed, (4 << 20) - (64 << 10));
  EXPECT_LE(freed, (4 << 20) + (64 << 10));
  EXPECT_EQ(after.st_size, before.st_size);  // KEEP_SIZE
  ASSERT_TRUE(dev->Read(DeviceOffset(0), back.span()).ok());
  EXPECT_EQ(0, std::memcmp(back.data(), data.data(), 1 << 20));
  AlignedBuffer zeros(4 << 20);
  EXPECT_EQ(0, std::memcmp(back.data() + (1 << 20), zeros.data(), 4 << 20));
  EXPECT_EQ(0, std::memcmp(back.data() + (5 << 20), data.data() + (5 << 20), 3 << 20));
  EXPECT_EQ(dev->stats().discard_bytes, 4u << 20);
  EXPECT_TRUE(dev->discard_supported());
}

}  // namespace
}  // namespace kvstash
