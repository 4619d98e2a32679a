// BlockRecord's shared 8-byte slot: the lease deadline while ALLOCATED, the packed flash
// location once PERSISTED; and the record's size budget.
#include "index/block_record.h"

#include <gtest/gtest.h>

#include <cstdint>

#include "index/lifecycle.h"

namespace kvstash {
namespace {

class BlockRecordSlotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    r_ = BlockRecord::New(slab_, 0, "key", 10);
    life_.OnAllocated(r_);
  }
  void TearDown() override { BlockRecord::Free(slab_, r_); }
  void Step(Transition t) { ASSERT_TRUE(life_.Apply(r_, t).ok()); }

  RecordSlab slab_;
  Lifecycle life_;
  BlockRecord* r_ = nullptr;
};

TEST_F(BlockRecordSlotTest, NewRecordIsInNoTier) {
  EXPECT_FALSE(r_->in_dram());
  EXPECT_FALSE(r_->in_flash());
}

TEST_F(BlockRecordSlotTest, LeaseDeadlineRoundTripsWhileAllocated) {
  for (int64_t deadline : {int64_t{0}, int64_t{1}, int64_t{-5}, INT64_MAX, INT64_MIN}) {
    r_->set_lease_deadline(deadline);
    EXPECT_EQ(r_->lease_deadline(), deadline);
    EXPECT_FALSE(r_->in_flash()) << "a deadline is never read as a flash location";
  }
}

TEST_F(BlockRecordSlotTest, FlashLocationOnlyOncePersisted) {
  r_->set_lease_deadline(12345);
  Step(Transition::kCommit);
  r_->set_flash_location(BlockRecord::kNoLocation);  // what Commit does
  EXPECT_FALSE(r_->in_flash());
  Step(Transition::kPersist);
  r_->set_flash_location(0xabcdef);
  EXPECT_TRUE(r_->in_flash());
  EXPECT_EQ(r_->flash_location(), 0xabcdefu);
  r_->set_flash_location(BlockRecord::kNoLocation);  // flash copy dropped, DRAM copy serves
  EXPECT_FALSE(r_->in_flash());
  EXPECT_EQ(r_->flash_location(), BlockRecord::kNoLocation);
}

TEST_F(BlockRecordSlotTest, DeadlineSetJustBeforeCommitIsNotAFlashLocation) {
  // The slot keeps the deadline's bits until Commit clears them; in_flash() must not trust
  // the bits of a record that is not PERSISTED.
  r_->set_lease_deadline(42);
  Step(Transition::kCommit);
  EXPECT_FALSE(r_->in_flash());
}

#ifndef NDEBUG
TEST_F(BlockRecordSlotTest, WrongMeaningForTheStateAssertsInDebugBuilds) {
  EXPECT_DEATH((void)r_->flash_location(), "kPersisted");
  Step(Transition::kCommit);
  EXPECT_DEATH((void)r_->lease_deadline(), "kAllocated");
  EXPECT_DEATH(r_->set_flash_location(7), "kCommitted");
}
#endif

TEST(BlockRecordSizeTest, HeaderStays36Bytes) {
  // 36-byte header + key rounded up to 8: a 55-byte key takes a 96-byte slot
  // (docs/ARCHITECTURE.md, index memory). Growing the header would make this 104.
  EXPECT_EQ(BlockRecord::SlotBytes(55), 96u);
  EXPECT_EQ(BlockRecord::SlotBytes(4), 40u);
}

}  // namespace
}  // namespace kvstash
