#include "index/lifecycle.h"

#include <gtest/gtest.h>

namespace kvstash {
namespace {

constexpr Transition kAll[] = {Transition::kAllocate, Transition::kCommit,  Transition::kAbort,
                               Transition::kExpire,   Transition::kPersist, Transition::kEvict,
                               Transition::kDelete,   Transition::kReclaim};

// The legal table, written out independently of the implementation.
bool Expected(BlockState from, Transition t) {
  switch (from) {
    case BlockState::kAllocated:
      return t == Transition::kCommit || t == Transition::kAbort || t == Transition::kExpire;
    case BlockState::kCommitted:
      return t == Transition::kPersist || t == Transition::kEvict || t == Transition::kDelete;
    case BlockState::kPersisted:
      return t == Transition::kEvict || t == Transition::kDelete;
    case BlockState::kEvicted:
      return t == Transition::kReclaim;
    case BlockState::kDeleted:
      return false;
  }
  return false;
}

// The records' allocator (these tests need no index; they are single-threaded).
RecordSlab& Slab() {
  static RecordSlab* slab = new RecordSlab;
  return *slab;
}

// Drives a fresh record into `target` through legal transitions.
BlockRecord* RecordIn(Lifecycle& life, BlockState target) {
  BlockRecord* r = BlockRecord::New(Slab(), 0, "key", 10);
  life.OnAllocated(r);
  auto step = [&](Transition t) { ASSERT_TRUE(life.Apply(r, t).ok()); };
  if (target == BlockState::kAllocated) return r;
  if (target == BlockState::kDeleted) {
    step(Transition::kAbort);
    return r;
  }
  step(Transition::kCommit);
  if (target == BlockState::kPersisted) step(Transition::kPersist);
  if (target == BlockState::kEvicted) step(Transition::kEvict);
  return r;
}

TEST(LifecycleTest, EveryPairMatchesTheDesign) {
  for (int s = 0; s < kNumBlockStates; ++s) {
    for (Transition t : kAll) {
      BlockState from = static_cast<BlockState>(s);
      EXPECT_EQ(Lifecycle::IsLegal(from, t), Expected(from, t))
          << BlockStateName(from) << " transition " << int(t);
      Lifecycle life;
      BlockRecord* r = RecordIn(life, from);
      ASSERT_EQ(r->state(), from);
      Status st = life.Apply(r, t);
      if (Expected(from, t)) {
        EXPECT_TRUE(st.ok());
        EXPECT_EQ(r->state(), Lifecycle::Target(t));
      } else {
        EXPECT_EQ(st.code(), StatusCode::kInternal);
        EXPECT_EQ(r->state(), from) << "an illegal transition must not change the state";
        EXPECT_EQ(life.illegal_attempts(), 1u);
      }
      BlockRecord::Free(Slab(), r);
    }
  }
}

TEST(LifecycleTest, GaugesAndCountersFollowTransitions) {
  Lifecycle life;
  BlockRecord* a = RecordIn(life, BlockState::kPersisted);
  BlockRecord* b = RecordIn(life, BlockState::kAllocated);
  EXPECT_EQ(life.in_state(BlockState::kPersisted), 1u);
  EXPECT_EQ(life.in_state(BlockState::kAllocated), 1u);
  EXPECT_EQ(life.in_state(BlockState::kCommitted), 0u);
  ASSERT_TRUE(life.Apply(b, Transition::kExpire).ok());
  EXPECT_EQ(life.in_state(BlockState::kAllocated), 0u);
  EXPECT_EQ(life.count(Transition::kExpire), 1u);
  ASSERT_TRUE(life.Apply(a, Transition::kDelete).ok());
  ASSERT_TRUE(life.Apply(a, Transition::kReclaim).ok());
  EXPECT_EQ(life.in_state(BlockState::kEvicted), 0u);
  EXPECT_EQ(life.count(Transition::kAllocate), 2u);
  BlockRecord::Free(Slab(), a);
  BlockRecord::Free(Slab(), b);
}

}  // namespace
}  // namespace kvstash
