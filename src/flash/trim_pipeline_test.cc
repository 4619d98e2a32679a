// TrimPipeline in deterministic mode (RunOnce + ManualClock) on a MemoryDevice, whose discard
// history shows exactly which Discard calls reached the device; plus the threaded mode.
#include "flash/trim_pipeline.h"

#include <gtest/gtest.h>

#include <chrono>
#include <utility>
#include <vector>

#include "common/mutex.h"
#include "flash/device_test_util.h"
#include "flash/fault_device.h"
#include "flash/memory_device.h"

namespace kvstash {
namespace {

using testing::AlignedBuffer;

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kRegion = kMiB;  // regions of 1 MiB on a 32 MiB device

// Records completions in order; thread-safe.
class Completions {
 public:
  TrimDoneCallback Callback() {
    return [this](RegionId r, const Status& s) {
      MutexLock lock(&mu_);
      done_.emplace_back(r.value(), s.code());
    };
  }
  std::vector<std::pair<uint32_t, StatusCode>> Take() {
    MutexLock lock(&mu_);
    return std::exchange(done_, {});
  }

 private:
  Mutex mu_;
  std::vector<std::pair<uint32_t, StatusCode>> done_ ABSL_GUARDED_BY(mu_);
};

class TrimPipelineTest : public ::testing::Test {
 protected:
  void SetUp() override { dev_ = std::move(MemoryDevice::Create(32 * kMiB)).value(); }
  std::unique_ptr<TrimPipeline> Make(TrimPipelineOptions o, Device* dev = nullptr,
                                     RegionStates* states = nullptr) {
    o.clock = &clock_;
    o.background_thread = false;
    auto p = TrimPipeline::Create(dev != nullptr ? dev : dev_.get(), o, done_.Callback(), states);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return std::move(p).value();
  }
  Status EnqueueRegion(TrimPipeline& p, uint32_t r, uint64_t regions = 1) {
    return p.Enqueue(RegionId(r), DeviceOffset(r * kRegion), regions * kRegion);
  }

  ManualClock clock_;
  std::unique_ptr<MemoryDevice> dev_;
  Completions done_;
};

TEST_F(TrimPipelineTest, AdjacentExtentsCoalesceIntoOneDiscard) {
  auto p = Make({});
  for (uint32_t r : {5u, 3u, 4u, 6u}) ASSERT_TRUE(EnqueueRegion(*p, r).ok());
  EXPECT_EQ(p->pending(), 4u);
  EXPECT_EQ(p->RunOnce(), 4u);
  EXPECT_EQ(dev_->discard_history(),
            (std::vector<DiscardedExtent>{{DeviceOffset(3 * kMiB), 4 * kMiB}}));
  // Callbacks within a round: ascending offsets, whatever the enqueue order.
  using Done = std::vector<std::pair<uint32_t, StatusCode>>;
  EXPECT_EQ(
      done_.Take(),
      (Done{
          {3, StatusCode::kOk}, {4, StatusCode::kOk}, {5, StatusCode::kOk}, {6, StatusCode::kOk}}));
  TrimStats s = p->stats();
  EXPECT_EQ(s.discard_calls, 1u);
  EXPECT_EQ(s.extents_enqueued, 4u);
  EXPECT_EQ(s.extents_done, 4u);
  EXPECT_EQ(s.coalesced_extents, 3u);
  EXPECT_EQ(s.bytes_discarded, 4 * kMiB);
  EXPECT_EQ(p->RunOnce(), 0u);
}

TEST_F(TrimPipelineTest, RoundsStartFromTheOldestExtent) {
  auto p = Make({});
  ASSERT_TRUE(EnqueueRegion(*p, 10).ok());
  ASSERT_TRUE(EnqueueRegion(*p, 2).ok());
  ASSERT_TRUE(EnqueueRegion(*p, 20).ok());
  ASSERT_TRUE(EnqueueRegion(*p, 11).ok());  // joins the oldest (10)
  EXPECT_EQ(p->RunOnce(), 2u);
  EXPECT_EQ(p->RunOnce(), 1u);
  EXPECT_EQ(p->RunOnce(), 1u);
  using Done = std::vector<std::pair<uint32_t, StatusCode>>;
  EXPECT_EQ(done_.Take(), (Done{{10, StatusCode::kOk},
                                {11, StatusCode::kOk},
                                {2, StatusCode::kOk},
                                {20, StatusCode::kOk}}));
  EXPECT_EQ(dev_->discard_history(),
            (std::vector<DiscardedExtent>{{DeviceOffset(10 * kMiB), 2 * kMiB},
                                          {DeviceOffset(2 * kMiB), kMiB},
                                          {DeviceOffset(20 * kMiB), kMiB}}));
}

TEST_F(TrimPipelineTest, CoalescingStopsAtMaxDiscardBytes) {
  TrimPipelineOptions o;
  o.max_discard_bytes = 4 * kMiB;
  auto p = Make(o);
  for (uint32_t r = 0; r < 6; ++r) ASSERT_TRUE(EnqueueRegion(*p, r).ok());
  EXPECT_EQ(p->RunOnce(), 4u);
  EXPECT_EQ(p->RunOnce(), 2u);
  EXPECT_EQ(dev_->discard_history(),
            (std::vector<DiscardedExtent>{{DeviceOffset(0), 4 * kMiB},
                                          {DeviceOffset(4 * kMiB), 2 * kMiB}}));
}

TEST_F(TrimPipelineTest, ALongExtentIsSplitButCompletesOnce) {
  TrimPipelineOptions o;
  o.max_discard_bytes = 2 * kMiB;
  auto p = Make(o);
  ASSERT_TRUE(EnqueueRegion(*p, 0, 5).ok());
  EXPECT_EQ(p->RunOnce(), 1u);
  EXPECT_EQ(dev_->discard_history().size(), 3u);  // 2 + 2 + 1 MiB
  EXPECT_EQ(p->stats().discard_calls, 3u);
  EXPECT_EQ(done_.Take().size(), 1u);
}

TEST_F(TrimPipelineTest, DiscardRateIsLimited) {
  TrimPipelineOptions o;
  o.rate_bytes_per_sec = kMiB;  // 1 MiB/s, burst 1 MiB (= max_discard_bytes)
  o.max_discard_bytes = kMiB;
  auto p = Make(o);
  for (uint32_t r : {0u, 2u, 4u}) ASSERT_TRUE(EnqueueRegion(*p, r).ok());
  EXPECT_EQ(p->RunOnce(), 1u);  // the initial burst
  EXPECT_EQ(p->RunOnce(), 0u);  // throttled
  clock_.AdvanceMillis(500);
  EXPECT_EQ(p->RunOnce(), 0u);  // half the tokens
  clock_.AdvanceMillis(501);    // (1 ms of slack for floating-point refill)
  EXPECT_EQ(p->RunOnce(), 1u);
  clock_.AdvanceMillis(990);
  EXPECT_EQ(p->RunOnce(), 0u);
  clock_.AdvanceMillis(11);
  EXPECT_EQ(p->RunOnce(), 1u);
  EXPECT_EQ(p->stats().throttled, 3u);
  EXPECT_EQ(dev_->stats().discard_calls, 3u);
}

TEST_F(TrimPipelineTest, RejectsBadExtents) {
  auto p = Make({});
  EXPECT_TRUE(p->Enqueue(RegionId(0), DeviceOffset(100), kMiB).Is(StatusCode::kInvalidArgument));
  EXPECT_TRUE(p->Enqueue(RegionId(0), DeviceOffset(0), 0).Is(StatusCode::kInvalidArgument));
  EXPECT_TRUE(
      p->Enqueue(RegionId(0), DeviceOffset(31 * kMiB), 2 * kMiB).Is(StatusCode::kInvalidArgument));
  ASSERT_TRUE(EnqueueRegion(*p, 4, 2).ok());
  EXPECT_TRUE(EnqueueRegion(*p, 5).Is(StatusCode::kInvalidArgument));  // overlaps 4..5
  EXPECT_TRUE(EnqueueRegion(*p, 3, 2).Is(StatusCode::kInvalidArgument));
  EXPECT_TRUE(EnqueueRegion(*p, 6).ok());  // touches, does not overlap
  EXPECT_EQ(p->pending(), 2u);
  TrimPipelineOptions bad;
  bad.max_discard_bytes = 1000;
  EXPECT_FALSE(TrimPipeline::Create(dev_.get(), bad, nullptr).ok());
}

TEST_F(TrimPipelineTest, UnsupportedDiscardCompletesOkAndIsCounted) {
  MemoryDeviceOptions mo;
  mo.size = 32 * kMiB;
  mo.discard_supported = false;
  auto dev = std::move(MemoryDevice::Create(mo)).value();
  auto p = Make({}, dev.get());
  ASSERT_TRUE(EnqueueRegion(*p, 0).ok());
  ASSERT_TRUE(EnqueueRegion(*p, 8).ok());
  EXPECT_EQ(p->RunOnce() + p->RunOnce(), 2u);
  for (auto [r, code] : done_.Take()) EXPECT_EQ(code, StatusCode::kOk) << r;
  EXPECT_EQ(p->stats().unsupported, 2u);
  EXPECT_EQ(p->stats().bytes_discarded, 0u);
}

TEST_F(TrimPipelineTest, FailedDiscardsReportErrorsAndLeaveRegionsDirty) {
  FaultInjectionOptions fo;
  fo.discard_error_one_in = 1;
  FaultInjectionDevice faulty(dev_.get(), fo);
  RegionStates states(32, RegionTrimState::kFreeDirty);
  auto p = Make({}, &faulty, &states);
  ASSERT_TRUE(EnqueueRegion(*p, 1).ok());
  ASSERT_TRUE(EnqueueRegion(*p, 2).ok());
  EXPECT_EQ(states.state(RegionId(1)), RegionTrimState::kTrimming);
  EXPECT_EQ(p->RunOnce(), 2u);
  using Done = std::vector<std::pair<uint32_t, StatusCode>>;
  EXPECT_EQ(done_.Take(), (Done{{1, StatusCode::kIOError}, {2, StatusCode::kIOError}}));
  EXPECT_EQ(states.state(RegionId(1)), RegionTrimState::kFreeDirty);
  EXPECT_EQ(p->stats().discard_errors, 1u);
  EXPECT_EQ(p->stats().extents_failed, 2u);
  // Healed: the owner may trim them again.
  faulty.SetHealthy(true);
  ASSERT_TRUE(EnqueueRegion(*p, 1).ok());
  EXPECT_EQ(p->RunOnce(), 1u);
  EXPECT_EQ(states.state(RegionId(1)), RegionTrimState::kFreeClean);
}

TEST_F(TrimPipelineTest, TrimmingRegionsAreNeverAllocated) {
  RegionStates states(4, RegionTrimState::kFreeDirty);
  auto p = Make({}, nullptr, &states);
  // Regions 0 and 1 go to the pipeline: TRIMMING until their discard completes.
  ASSERT_TRUE(EnqueueRegion(*p, 0).ok());
  ASSERT_TRUE(EnqueueRegion(*p, 1).ok());
  EXPECT_TRUE(EnqueueRegion(*p, 0).Is(StatusCode::kInternal));  // not FREE_DIRTY any more
  std::vector<uint32_t> got;
  while (auto r = states.AllocateForWrite()) got.push_back(r->value());
  EXPECT_EQ(got, (std::vector<uint32_t>{2, 3}));  // never 0 or 1
  // An allocated region cannot be trimmed (its BeginTrim fails), so nothing is discarded.
  EXPECT_FALSE(EnqueueRegion(*p, 2).ok());
  EXPECT_EQ(p->pending(), 2u);
  EXPECT_EQ(p->RunOnce(), 2u);
  EXPECT_EQ(states.state(RegionId(0)), RegionTrimState::kFreeClean);
  EXPECT_EQ(states.AllocateForWrite(), RegionId(0));  // clean regions come back, oldest first
  EXPECT_EQ(states.AllocateForWrite(), RegionId(1));
}

TEST_F(TrimPipelineTest, StopFailsPendingExtentsAndLaterEnqueues) {
  RegionStates states(8, RegionTrimState::kFreeDirty);
  auto p = Make({}, nullptr, &states);
  ASSERT_TRUE(EnqueueRegion(*p, 3).ok());
  ASSERT_TRUE(EnqueueRegion(*p, 6).ok());
  p->Stop();
  using Done = std::vector<std::pair<uint32_t, StatusCode>>;
  EXPECT_EQ(done_.Take(), (Done{{3, StatusCode::kUnavailable}, {6, StatusCode::kUnavailable}}));
  EXPECT_EQ(states.state(RegionId(3)), RegionTrimState::kFreeDirty);
  EXPECT_TRUE(EnqueueRegion(*p, 4).Is(StatusCode::kUnavailable));
  EXPECT_EQ(states.state(RegionId(4)), RegionTrimState::kFreeDirty);  // rolled back
  EXPECT_TRUE(dev_->discard_history().empty());
  p->Stop();  // idempotent
  EXPECT_TRUE(done_.Take().empty());
}

TEST_F(TrimPipelineTest, BackgroundWorkerDiscardsAndCallbacksMayEnqueue) {
  AlignedBuffer data(32 * kMiB);
  data.Fill(1);
  ASSERT_TRUE(dev_->Write(DeviceOffset(0), data.span()).ok());
  std::unique_ptr<TrimPipeline> p;
  bool reenqueued = false;
  TrimPipelineOptions o;  // real clock, worker thread
  auto created = TrimPipeline::Create(dev_.get(), o, [&](RegionId r, const Status& s) {
    EXPECT_TRUE(s.ok());
    if (r.value() == 0 && !reenqueued) {  // from the worker thread: must not deadlock
      reenqueued = true;
      EXPECT_TRUE(p->Enqueue(RegionId(31), DeviceOffset(31 * kMiB), kMiB).ok());
    }
  });
  ASSERT_TRUE(created.ok());
  p = std::move(created).value();
  for (uint32_t r = 0; r < 16; ++r) ASSERT_TRUE(EnqueueRegion(*p, r * 2).ok());
  p->WaitIdle();
  EXPECT_TRUE(reenqueued);
  EXPECT_EQ(p->stats().extents_done, 17u);
  AlignedBuffer back(kMiB);
  for (uint32_t r = 0; r < 32; ++r) {
    ASSERT_TRUE(dev_->Read(DeviceOffset(r * kMiB), back.span()).ok());
    EXPECT_EQ(back.IsZero(), r % 2 == 0 || r == 31) << "region " << r;
  }
}

TEST_F(TrimPipelineTest, BackgroundWorkerHonoursTheRateOnTheRealClock) {
  TrimPipelineOptions o;
  o.rate_bytes_per_sec = 40 * kMiB;
  o.max_discard_bytes = kMiB;  // burst 1 MiB
  auto p = std::move(TrimPipeline::Create(dev_.get(), o, nullptr)).value();
  const auto start = std::chrono::steady_clock::now();
  for (uint32_t r = 0; r < 9; ++r) ASSERT_TRUE(EnqueueRegion(*p, r * 2).ok());
  p->WaitIdle();
  // 9 MiB with a 1 MiB burst at 40 MiB/s: at least 8/40 s.
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(190));
  EXPECT_EQ(p->stats().extents_done, 9u);
}

TEST_F(TrimPipelineTest, DiscardAllCoversTheDeviceInChunks) {
  AlignedBuffer data(32 * kMiB), back(32 * kMiB);
  data.Fill(2);
  ASSERT_TRUE(dev_->Write(DeviceOffset(0), data.span()).ok());
  ASSERT_TRUE(DiscardAll(*dev_, 10 * kMiB).ok());
  EXPECT_EQ(dev_->discard_history().size(), 4u);  // 10 + 10 + 10 + 2
  ASSERT_TRUE(dev_->Read(DeviceOffset(0), back.span()).ok());
  EXPECT_TRUE(back.IsZero());
  EXPECT_TRUE(DiscardAll(*dev_, 1000).Is(StatusCode::kInvalidArgument));
  FaultInjectionOptions fo;
  fo.discard_error_one_in = 1;
  FaultInjectionDevice faulty(dev_.get(), fo);
  EXPECT_TRUE(DiscardAll(faulty).Is(StatusCode::kIOError));
}

}  // namespace
}  // namespace kvstash
