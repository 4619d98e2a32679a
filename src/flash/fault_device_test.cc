#include "flash/fault_device.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "flash/device_test_util.h"
#include "flash/memory_device.h"

namespace kvstash {
namespace {

using testing::AlignedBuffer;

constexpr uint64_t kBlock = 64 << 10;

class FaultDeviceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    mem_ = std::move(MemoryDevice::Create(4 << 20)).value();
    old_.Fill(1);
    new_.Fill(2);
    ASSERT_TRUE(mem_->Write(DeviceOffset(0), old_.span()).ok());
  }
  // Compares the inner device's block 0 with `old_` / `new_`: returns the length of the
  // prefix that holds new data, checking the rest still holds old data.
  uint64_t NewPrefixOnMedium() {
    AlignedBuffer medium(kBlock);
    EXPECT_TRUE(mem_->Read(DeviceOffset(0), medium.span()).ok());
    uint64_t n = 0;
    while (n < kBlock && medium.data()[n] == new_.data()[n]) ++n;
    n = n / 4096 * 4096;
    EXPECT_EQ(0, std::memcmp(medium.data() + n, old_.data() + n, kBlock - n));
    return n;
  }

  std::unique_ptr<MemoryDevice> mem_;
  AlignedBuffer old_{kBlock}, new_{kBlock}, buf_{kBlock};
};

TEST_F(FaultDeviceTest, PassThroughWithoutFaults) {
  FaultInjectionDevice dev(mem_.get(), {});
  ASSERT_TRUE(dev.Write(DeviceOffset(0), new_.span()).ok());
  ASSERT_TRUE(dev.Read(DeviceOffset(0), buf_.span()).ok());
  EXPECT_TRUE(buf_.SameAs(new_));
  EXPECT_EQ(dev.counts().total(), 0u);
  EXPECT_EQ(dev.size(), mem_->size());
}

TEST_F(FaultDeviceTest, ReadWriteAndDiscardErrors) {
  FaultInjectionOptions o;
  o.read_error_one_in = o.write_error_one_in = o.discard_error_one_in = 1;
  FaultInjectionDevice dev(mem_.get(), o);
  EXPECT_TRUE(dev.Read(DeviceOffset(0), buf_.span()).Is(StatusCode::kIOError));
  EXPECT_TRUE(dev.Write(DeviceOffset(0), new_.span()).Is(StatusCode::kIOError));
  EXPECT_TRUE(dev.Discard(DeviceOffset(0), kBlock).Is(StatusCode::kIOError));
  EXPECT_EQ(NewPrefixOnMedium(), 0u);  // the failed write wrote nothing
  FaultCounts c = dev.counts();
  EXPECT_EQ(c.read_errors, 1u);
  EXPECT_EQ(c.write_errors, 1u);
  EXPECT_EQ(c.discard_errors, 1u);
  EXPECT_EQ(dev.stats().read_errors, 1u);
  EXPECT_EQ(dev.stats().discard_errors, 1u);
  EXPECT_EQ(mem_->stats().discard_calls, 0u);
}

TEST_F(FaultDeviceTest, ShortWriteTransfersAPrefixThenFails) {
  FaultInjectionOptions o;
  o.short_write_one_in = 1;
  o.seed = 5;
  FaultInjectionDevice dev(mem_.get(), o);
  Status s = dev.Write(DeviceOffset(0), new_.span());
  EXPECT_TRUE(s.Is(StatusCode::kIOError));
  EXPECT_NE(s.message().find("short write"), std::string::npos) << s.ToString();
  EXPECT_LT(NewPrefixOnMedium(), kBlock);
  EXPECT_EQ(dev.counts().short_writes, 1u);
}

TEST_F(FaultDeviceTest, ShortReadFails) {
  FaultInjectionOptions o;
  o.short_read_one_in = 1;
  FaultInjectionDevice dev(mem_.get(), o);
  Status s = dev.Read(DeviceOffset(0), buf_.span());
  EXPECT_TRUE(s.Is(StatusCode::kIOError));
  EXPECT_NE(s.message().find("short read"), std::string::npos) << s.ToString();
  EXPECT_EQ(dev.counts().short_reads, 1u);
}

TEST_F(FaultDeviceTest, BitFlipsCorruptSilently) {
  FaultInjectionOptions o;
  o.bit_flip_one_in = 1;
  o.bit_flips = 3;
  FaultInjectionDevice dev(mem_.get(), o);
  ASSERT_TRUE(dev.Read(DeviceOffset(0), buf_.span()).ok());  // success: only checksums see it
  int differing_bits = 0;
  for (size_t i = 0; i < kBlock; ++i) {
    differing_bits += std::popcount(static_cast<unsigned>(buf_.data()[i] ^ old_.data()[i]));
  }
  EXPECT_GE(differing_bits, 1);  // 3 flips, two may hit the same bit
  EXPECT_LE(differing_bits, 3);
  EXPECT_EQ(dev.counts().bit_flips, 1u);
  EXPECT_EQ(NewPrefixOnMedium(), 0u);  // the medium itself is intact
}

TEST_F(FaultDeviceTest, TornWriteReportedOrSilent) {
  FaultInjectionOptions o;
  o.torn_write_one_in = 1;
  o.seed = 11;
  FaultInjectionDevice dev(mem_.get(), o);
  EXPECT_TRUE(dev.Write(DeviceOffset(0), new_.span()).Is(StatusCode::kIOError));
  EXPECT_LT(NewPrefixOnMedium(), kBlock);

  ASSERT_TRUE(mem_->Write(DeviceOffset(0), old_.span()).ok());
  o.torn_write_silent = true;
  dev.SetOptions(o);
  EXPECT_TRUE(dev.Write(DeviceOffset(0), new_.span()).ok());  // claims success...
  EXPECT_LT(NewPrefixOnMedium(), kBlock);                     // ...but the tail is lost
  EXPECT_EQ(dev.counts().torn_writes, 2u);
}

TEST_F(FaultDeviceTest, AddedLatency) {
  FaultInjectionOptions o;
  o.latency_one_in = 1;
  o.latency = std::chrono::milliseconds(30);
  FaultInjectionDevice dev(mem_.get(), o);
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(dev.Read(DeviceOffset(0), buf_.span()).ok());
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(30));
  EXPECT_EQ(dev.counts().latency_injections, 1u);
}

TEST_F(FaultDeviceTest, DeviceFullBeyondLimit) {
  FaultInjectionOptions o;
  o.full_beyond_offset = 1 << 20;
  FaultInjectionDevice dev(mem_.get(), o);
  EXPECT_TRUE(dev.Write(DeviceOffset((1 << 20) - kBlock), new_.span()).ok());
  EXPECT_TRUE(
      dev.Write(DeviceOffset((1 << 20) - 4096), new_.span()).Is(StatusCode::kResourceExhausted));
  EXPECT_TRUE(dev.Write(DeviceOffset(2 << 20), new_.span()).Is(StatusCode::kResourceExhausted));
  EXPECT_EQ(dev.counts().no_space_errors, 2u);
  AlignedBuffer medium(kBlock);
  ASSERT_TRUE(mem_->Read(DeviceOffset(2 << 20), medium.span()).ok());
  EXPECT_TRUE(medium.IsZero());  // nothing written
}

TEST_F(FaultDeviceTest, HealthyToggleForRecovery) {
  FaultInjectionOptions o;
  o.write_error_one_in = 1;
  o.full_beyond_offset = 0;
  FaultInjectionDevice dev(mem_.get(), o);
  EXPECT_FALSE(dev.Write(DeviceOffset(0), new_.span()).ok());
  dev.SetHealthy(true);
  EXPECT_TRUE(dev.healthy());
  EXPECT_TRUE(dev.Write(DeviceOffset(0), new_.span()).ok());
  EXPECT_EQ(NewPrefixOnMedium(), kBlock);
  dev.SetHealthy(false);
  EXPECT_FALSE(dev.Write(DeviceOffset(0), new_.span()).ok());
}

// Reads `n` blocks one at a time and returns which ones failed.
std::vector<bool> FailurePattern(Device& dev, int n) {
  AlignedBuffer b(4096);
  std::vector<bool> failed;
  for (int i = 0; i < n; ++i) failed.push_back(!dev.Read(DeviceOffset(0), b.span()).ok());
  return failed;
}

TEST_F(FaultDeviceTest, SeededOneInNIsDeterministicAndHasTheRightRate) {
  FaultInjectionOptions o;
  o.read_error_one_in = 4;
  o.seed = 77;
  FaultInjectionDevice a(mem_.get(), o), b(mem_.get(), o);
  std::vector<bool> pa = FailurePattern(a, 4000);
  EXPECT_EQ(pa, FailurePattern(b, 4000));
  const auto failures = std::count(pa.begin(), pa.end(), true);
  EXPECT_GT(failures, 800);
  EXPECT_LT(failures, 1200);
  o.seed = 78;
  FaultInjectionDevice c(mem_.get(), o);
  EXPECT_NE(pa, FailurePattern(c, 4000));
  a.SetOptions(o);  // reseeds: `a` now repeats a fresh device seeded 78
  FaultInjectionDevice d(mem_.get(), o);
  EXPECT_EQ(FailurePattern(a, 100), FailurePattern(d, 100));
}

TEST_F(FaultDeviceTest, BatchedRequestsFailIndividually) {
  FaultInjectionOptions o;
  o.read_error_one_in = 2;
  o.seed = 3;
  FaultInjectionDevice dev(mem_.get(), o);
  AlignedBuffer b(16 * 4096);
  std::vector<IoRequest> reqs;
  for (int i = 0; i < 16; ++i)
    reqs.push_back({DeviceOffset(i * 4096), b.subspan(i * 4096, 4096), {}});
  Status s = dev.ReadV(reqs);
  int failed = 0;
  for (const IoRequest& r : reqs) failed += !r.result.ok();
  EXPECT_GT(failed, 0);
  EXPECT_LT(failed, 16);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(static_cast<uint64_t>(failed), dev.counts().read_errors);
  EXPECT_EQ(mem_->stats().read_ops, static_cast<uint64_t>(16 - failed));
}

TEST(FaultDeviceOwnershipTest, OwnsTheInnerDevice) {
  auto mem = std::move(MemoryDevice::Create(1 << 20)).value();
  Device* inner = mem.get();
  FaultInjectionDevice dev(std::unique_ptr<Device>(std::move(mem)), {});
  EXPECT_EQ(dev.inner(), inner);
  AlignedBuffer b(4096);
  EXPECT_TRUE(dev.Write(DeviceOffset(0), b.span()).ok());
}

}  // namespace
}  // namespace kvstash
