// Unit tests: NIXL descriptor pairs -> one batched client call, and per-item results -> the
// request's one status (first failing descriptor wins).
#include "nixl/xfer_plan.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <string>
#include <vector>

namespace kvstash::nixl {
namespace {

class XferPlanTest : public ::testing::Test {
 protected:
  XferPlanTest() : buf_(4096), a_{"key-a", 0}, b_{"key-b", 0} {}

  uintptr_t At(size_t off) { return reinterpret_cast<uintptr_t>(buf_.data() + off); }
  std::vector<XferDesc> TwoDescs() {
    return {XferDesc{At(0), 1024, 0, &a_}, XferDesc{At(1024), 512, 0, &b_}};
  }

  std::vector<std::byte> buf_;
  ObjectTarget a_, b_;
};

TEST(ObjectKeyTest, MetaInfoElseDecimalDevId) {
  EXPECT_EQ(ObjectKeyFor("llama@0@0@abc", 7).value(), "llama@0@0@abc");
  EXPECT_EQ(ObjectKeyFor("", 18446744073709551615ull).value(), "18446744073709551615");
  EXPECT_EQ(ObjectKeyFor(std::string(256, 'k'), 0).value().size(), 256u);
  Result<std::string> too_long = ObjectKeyFor(std::string(257, 'k'), 0);
  EXPECT_EQ(too_long.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(XferPlanTest, WriteBecomesOnePutBatchInDescriptorOrder) {
  auto descs = TwoDescs();
  Result<XferPlan> plan =
      XferPlan::Build(XferOp::kWrite, MemKind::kDram, MemKind::kObject, descs, false);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_EQ(plan->puts().size(), 2u);
  EXPECT_TRUE(plan->gets().empty());
  EXPECT_EQ(plan->puts()[0].key, "key-a");
  EXPECT_EQ(plan->puts()[0].value.data(), buf_.data());
  EXPECT_EQ(plan->puts()[0].value.size(), 1024u);
  EXPECT_EQ(plan->puts()[1].key, "key-b");
  EXPECT_EQ(plan->puts()[1].value.data(), buf_.data() + 1024);
  EXPECT_EQ(plan->total_bytes(), 1536u);
}

TEST_F(XferPlanTest, ReadBecomesOneGetBatchAndOwnsItsKeys) {
  auto descs = TwoDescs();
  Result<XferPlan> plan =
      XferPlan::Build(XferOp::kRead, MemKind::kDram, MemKind::kObject, descs, false);
  ASSERT_TRUE(plan.ok());
  a_.key = "changed-after-build";  // a deregistration must not change a prepared request
  ASSERT_EQ(plan->gets().size(), 2u);
  EXPECT_EQ(plan->gets()[0].key, "key-a");
  EXPECT_EQ(plan->gets()[1].dest.size(), 512u);
}

TEST_F(XferPlanTest, CheckRejectsWhatKvstashCannotDo) {
  auto descs = TwoDescs();
  auto check = [&](XferOp op, MemKind l, MemKind r, bool vram) {
    return XferPlan::Check(op, l, r, descs, vram).code;
  };
  EXPECT_EQ(check(XferOp::kWrite, MemKind::kDram, MemKind::kObject, false), XferCode::kSuccess);
  EXPECT_EQ(check(XferOp::kWrite, MemKind::kVram, MemKind::kObject, false),
            XferCode::kNotSupported);
  EXPECT_EQ(check(XferOp::kWrite, MemKind::kVram, MemKind::kObject, true), XferCode::kSuccess);
  EXPECT_EQ(check(XferOp::kRead, MemKind::kObject, MemKind::kDram, true), XferCode::kNotSupported);
  EXPECT_EQ(check(XferOp::kRead, MemKind::kDram, MemKind::kOther, true), XferCode::kNotSupported);

  descs[1].remote_offset = 4096;
  XferOutcome o = XferPlan::Check(XferOp::kRead, MemKind::kDram, MemKind::kObject, descs, false);
  EXPECT_EQ(o.code, XferCode::kNotSupported);
  EXPECT_EQ(o.failed_index, 1u);
  EXPECT_FALSE(XferPlan::Build(XferOp::kRead, MemKind::kDram, MemKind::kObject, descs, false).ok());
}

TEST_F(XferPlanTest, CheckRejectsInvalidDescriptors) {
  std::vector<XferDesc> none;
  EXPECT_EQ(XferPlan::Check(XferOp::kRead, MemKind::kDram, MemKind::kObject, none, false).code,
            XferCode::kInvalidParam);
  for (int which = 0; which < 3; ++which) {
    auto descs = TwoDescs();
    if (which == 0) descs[1].target = nullptr;  // not our registration
    if (which == 1) descs[1].len = 0;
    if (which == 2) descs[1].local_addr = 0;
    XferOutcome o = XferPlan::Check(XferOp::kWrite, MemKind::kDram, MemKind::kObject, descs, false);
    EXPECT_EQ(o.code, XferCode::kInvalidParam) << which;
    EXPECT_EQ(o.failed_index, 1u) << which;
  }
}

TEST_F(XferPlanTest, SummarizeGetsFirstFailingDescriptorWins) {
  auto descs = TwoDescs();
  XferPlan plan =
      XferPlan::Build(XferOp::kRead, MemKind::kDram, MemKind::kObject, descs, false).value();
  using Items = std::vector<Result<size_t>>;
  EXPECT_EQ(plan.SummarizeGets(Items{size_t{1024}, size_t{512}}).code, XferCode::kSuccess);

  XferOutcome miss = plan.SummarizeGets(Items{Status::NotFound("x"), Status::DataLoss("y")});
  EXPECT_EQ(miss.code, XferCode::kNotFound);
  EXPECT_EQ(miss.failed_index, 0u);
  EXPECT_TRUE(miss.per_item);

  XferOutcome second = plan.SummarizeGets(Items{size_t{1024}, Status::DataLoss("y")});
  EXPECT_EQ(second.code, XferCode::kBackend);
  EXPECT_EQ(second.failed_index, 1u);

  // A block shorter than its descriptor would leave stale bytes behind: mismatch.
  XferOutcome short_block = plan.SummarizeGets(Items{size_t{1024}, size_t{100}});
  EXPECT_EQ(short_block.code, XferCode::kMismatch);
  EXPECT_EQ(short_block.failed_index, 1u);

  XferOutcome whole = plan.SummarizeGets(Status::Unavailable("server gone"));
  EXPECT_EQ(whole.code, XferCode::kBackend);
  EXPECT_FALSE(whole.per_item);
  EXPECT_EQ(plan.SummarizeGets(Items{size_t{1024}}).code, XferCode::kBackend);  // count
}

TEST_F(XferPlanTest, SummarizePutsExistingKeyPolicy) {
  auto descs = TwoDescs();
  XferPlan plan =
      XferPlan::Build(XferOp::kWrite, MemKind::kDram, MemKind::kObject, descs, false).value();
  using Items = std::vector<Status>;
  EXPECT_EQ(plan.SummarizePuts(Items{Status::Ok(), Status::Ok()}, false).code, XferCode::kSuccess);
  Items existing{Status::Ok(), Status::AlreadyExists()};
  EXPECT_EQ(plan.SummarizePuts(existing, true).code, XferCode::kSuccess);
  XferOutcome refused = plan.SummarizePuts(existing, false);
  EXPECT_EQ(refused.code, XferCode::kNotAllowed);
  EXPECT_EQ(refused.failed_index, 1u);
  EXPECT_EQ(plan.SummarizePuts(Items{Status::ResourceExhausted(), Status::Ok()}, true).code,
            XferCode::kBackend);
  EXPECT_EQ(plan.SummarizePuts(Status::Timeout(), true).code, XferCode::kBackend);
}

}  // namespace
}  // namespace kvstash::nixl
