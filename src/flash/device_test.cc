// The Device base class contract (alignment, bounds, batching, stats), exercised through the
// MemoryDevice: the checks live in the base class and reach every implementation.
#include "flash/device.h"

#include <gtest/gtest.h>

#include <vector>

#include "flash/device_test_util.h"
#include "flash/memory_device.h"

namespace kvstash {
namespace {

using testing::AlignedBuffer;

constexpr uint64_t kSize = 1 << 20;

std::unique_ptr<MemoryDevice> NewDevice(uint32_t alignment = 4096) {
  MemoryDeviceOptions o;
  o.size = kSize;
  o.io_alignment = alignment;
  return std::move(MemoryDevice::Create(o)).value();
}

TEST(DeviceTest, RejectsMisalignedOffsetLengthAndBuffer) {
  auto dev = NewDevice();
  AlignedBuffer buf(3 * 4096);
  EXPECT_TRUE(dev->Read(DeviceOffset(512), buf.subspan(0, 4096)).Is(StatusCode::kInvalidArgument));
  EXPECT_TRUE(dev->Read(DeviceOffset(0), buf.subspan(0, 4000)).Is(StatusCode::kInvalidArgument));
  EXPECT_TRUE(dev->Write(DeviceOffset(0), buf.subspan(8, 4096)).Is(StatusCode::kInvalidArgument));
  EXPECT_TRUE(dev->Discard(DeviceOffset(4096), 100).Is(StatusCode::kInvalidArgument));
  DeviceStats s = dev->stats();
  EXPECT_EQ(s.invalid_requests, 4u);
  EXPECT_EQ(s.read_ops + s.write_ops + s.discard_calls, 0u);  // nothing reached the device
  EXPECT_EQ(s.read_errors + s.write_errors, 0u);
}

TEST(DeviceTest, RejectsOutOfBoundsIncludingOverflow) {
  auto dev = NewDevice();
  AlignedBuffer buf(8192);
  EXPECT_TRUE(
      dev->Read(DeviceOffset(kSize), buf.subspan(0, 4096)).Is(StatusCode::kInvalidArgument));
  EXPECT_TRUE(dev->Write(DeviceOffset(kSize - 4096), buf.span()).Is(StatusCode::kInvalidArgument));
  // offset + len wraps around 2^64: must still be rejected.
  EXPECT_TRUE(dev->Discard(DeviceOffset(UINT64_MAX - 4095), 8192).Is(StatusCode::kInvalidArgument));
  EXPECT_TRUE(dev->Discard(DeviceOffset(0), kSize + 4096).Is(StatusCode::kInvalidArgument));
  // The very last block is fine.
  EXPECT_TRUE(dev->Write(DeviceOffset(kSize - 4096), buf.subspan(0, 4096)).ok());
  EXPECT_TRUE(dev->Discard(DeviceOffset(0), kSize).ok());
}

TEST(DeviceTest, ZeroLengthIsANoOp) {
  auto dev = NewDevice();
  AlignedBuffer buf(4096);
  EXPECT_TRUE(dev->Read(DeviceOffset(0), buf.subspan(0, 0)).ok());
  EXPECT_TRUE(dev->Discard(DeviceOffset(0), 0).ok());
  EXPECT_EQ(dev->stats().read_ops, 0u);
  EXPECT_EQ(dev->stats().discard_calls, 0u);
}

TEST(DeviceTest, SmallerAlignmentIsHonoured) {
  auto dev = NewDevice(512);
  AlignedBuffer buf(1024, 512);
  buf.Fill(7);
  ASSERT_TRUE(dev->Write(DeviceOffset(512), buf.span()).ok());
  AlignedBuffer back(1024, 512);
  ASSERT_TRUE(dev->Read(DeviceOffset(512), back.span()).ok());
  EXPECT_TRUE(back.SameAs(buf));
  EXPECT_TRUE(dev->Read(DeviceOffset(256), back.subspan(0, 512)).Is(StatusCode::kInvalidArgument));
}

TEST(DeviceTest, BatchSetsEveryResultAndSubmitsTheValidOnes) {
  auto dev = NewDevice();
  AlignedBuffer data(4 * 4096);
  data.Fill(1);
  std::vector<IoRequest> w = {
      {DeviceOffset(0), data.subspan(0, 4096), {}},
      {DeviceOffset(100), data.subspan(4096, 4096), {}},  // misaligned offset
      {DeviceOffset(8192), data.subspan(8192, 8192), {}},
      {DeviceOffset(kSize), data.subspan(0, 4096), {}},  // out of bounds
  };
  Status s = dev->WriteV(w);
  EXPECT_TRUE(s.Is(StatusCode::kInvalidArgument));  // the first failure in request order
  EXPECT_TRUE(w[0].result.ok());
  EXPECT_TRUE(w[1].result.Is(StatusCode::kInvalidArgument));
  EXPECT_TRUE(w[2].result.ok());
  EXPECT_TRUE(w[3].result.Is(StatusCode::kInvalidArgument));
  DeviceStats st = dev->stats();
  EXPECT_EQ(st.write_ops, 2u);
  EXPECT_EQ(st.write_bytes, 3u * 4096);
  EXPECT_EQ(st.invalid_requests, 2u);

  AlignedBuffer back(3 * 4096);
  std::vector<IoRequest> r = {{DeviceOffset(0), back.subspan(0, 4096), {}},
                              {DeviceOffset(8192), back.subspan(4096, 8192), {}}};
  ASSERT_TRUE(dev->ReadV(r).ok());
  EXPECT_EQ(0, std::memcmp(back.data(), data.data(), 4096));
  EXPECT_EQ(0, std::memcmp(back.data() + 4096, data.data() + 8192, 8192));
  EXPECT_EQ(dev->stats().read_ops, 2u);
  EXPECT_EQ(dev->stats().read_bytes, 3u * 4096);
}

TEST(DeviceTest, StatsCountDiscards) {
  auto dev = NewDevice();
  ASSERT_TRUE(dev->Discard(DeviceOffset(0), 65536).ok());
  ASSERT_TRUE(dev->Discard(DeviceOffset(65536), 4096).ok());
  DeviceStats s = dev->stats();
  EXPECT_EQ(s.discard_calls, 2u);
  EXPECT_EQ(s.discard_bytes, 65536u + 4096);
  EXPECT_EQ(s.discard_unsupported, 0u);
  EXPECT_TRUE(dev->discard_supported());
}

}  // namespace
}  // namespace kvstash
