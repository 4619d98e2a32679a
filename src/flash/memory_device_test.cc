#include "flash/memory_device.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "flash/device_test_util.h"

namespace kvstash {
namespace {

using testing::AlignedBuffer;

TEST(MemoryDeviceTest, CreateValidatesOptions) {
  EXPECT_TRUE(MemoryDevice::Create(0).status().Is(StatusCode::kInvalidArgument));
  EXPECT_TRUE(MemoryDevice::Create(4096 + 512).status().Is(StatusCode::kInvalidArgument));
  MemoryDeviceOptions o;
  o.io_alignment = 3000;
  EXPECT_TRUE(MemoryDevice::Create(o).status().Is(StatusCode::kInvalidArgument));
  auto dev = MemoryDevice::Create(1 << 20);
  ASSERT_TRUE(dev.ok());
  EXPECT_EQ((*dev)->size(), 1u << 20);
  EXPECT_EQ((*dev)->io_alignment(), 4096u);
}

TEST(MemoryDeviceTest, RoundTripAndInitiallyZero) {
  auto dev = std::move(MemoryDevice::Create(8 << 20)).value();
  AlignedBuffer zero(1 << 20);
  ASSERT_TRUE(dev->Read(DeviceOffset(3 << 20), zero.span()).ok());
  EXPECT_TRUE(zero.IsZero());
  AlignedBuffer data(1 << 20), back(1 << 20);
  data.Fill(42);
  ASSERT_TRUE(dev->Write(DeviceOffset(5 << 20), data.span()).ok());
  ASSERT_TRUE(dev->Read(DeviceOffset(5 << 20), back.span()).ok());
  EXPECT_TRUE(back.SameAs(data));
}

TEST(MemoryDeviceTest, DiscardZeroesExactlyTheRangeAndIsRecorded) {
  MemoryDeviceOptions o;
  o.size = 1 << 20;
  o.io_alignment = 512;  // sub-page discards take the memset path
  auto dev = std::move(MemoryDevice::Create(o)).value();
  AlignedBuffer data(1 << 20), back(1 << 20);
  data.Fill(3);
  ASSERT_TRUE(dev->Write(DeviceOffset(0), data.span()).ok());
  ASSERT_TRUE(dev->Discard(DeviceOffset(512), 512).ok());                  // within a page
  ASSERT_TRUE(dev->Discard(DeviceOffset(3 * 4096 - 512), 3 * 4096).ok());  // ragged pages
  ASSERT_TRUE(dev->Read(DeviceOffset(0), back.span()).ok());
  for (size_t i = 0; i < back.size(); ++i) {
    const bool discarded = (i >= 512 && i < 1024) || (i >= 3 * 4096 - 512 && i < 6 * 4096 - 512);
    ASSERT_EQ(back.data()[i], discarded ? std::byte{0} : data.data()[i]) << "byte " << i;
  }
  std::vector<DiscardedExtent> want = {{DeviceOffset(512), 512},
                                       {DeviceOffset(3 * 4096 - 512), 3 * 4096}};
  EXPECT_EQ(dev->discard_history(), want);
  EXPECT_EQ(dev->stats().discard_bytes, 512u + 3 * 4096);
}

TEST(MemoryDeviceTest, UnsupportedDiscardKeepsDataAndCounts) {
  MemoryDeviceOptions o;
  o.size = 1 << 20;
  o.discard_supported = false;
  auto dev = std::move(MemoryDevice::Create(o)).value();
  AlignedBuffer data(4096), back(4096);
  data.Fill(9);
  ASSERT_TRUE(dev->Write(DeviceOffset(0), data.span()).ok());
  EXPECT_TRUE(dev->Discard(DeviceOffset(0), 4096).ok());
  EXPECT_FALSE(dev->discard_supported());
  EXPECT_TRUE(dev->Discard(DeviceOffset(0), 4096).ok());  // sticky: not even tried again
  ASSERT_TRUE(dev->Read(DeviceOffset(0), back.span()).ok());
  EXPECT_TRUE(back.SameAs(data));
  EXPECT_EQ(dev->stats().discard_unsupported, 2u);
  EXPECT_EQ(dev->stats().discard_bytes, 0u);
  EXPECT_TRUE(dev->discard_history().empty());
}

TEST(MemoryDeviceTest, ConcurrentDisjointWriters) {
  auto dev = std::move(MemoryDevice::Create(16 << 20)).value();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&dev, t] {
      AlignedBuffer data(64 << 10), back(64 << 10);
      for (int i = 0; i < 32; ++i) {
        data.Fill(t * 1000 + i);
        DeviceOffset off((t * 32 + i) * (64ull << 10));
        EXPECT_TRUE(dev->Write(off, data.span()).ok());
        EXPECT_TRUE(dev->Read(off, back.span()).ok());
        EXPECT_TRUE(back.SameAs(data));
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(dev->stats().write_ops, 128u);
}

}  // namespace
}  // namespace kvstash
