#include "index/lifecycle.h"

#include <string>

namespace kvstash {

bool Lifecycle::IsLegal(BlockState from, Transition t) {
  switch (t) {
    case Transition::kAllocate:
      return false;  // only via OnAllocated
    case Transition::kCommit:
    case Transition::kAbort:
    case Transition::kExpire:
      return from == BlockState::kAllocated;
    case Transition::kPersist:
      return from == BlockState::kCommitted;
    case Transition::kEvict:
    case Transition::kDelete:
      return from == BlockState::kCommitted || from == BlockState::kPersisted;
    case Transition::kReclaim:
      return from == BlockState::kEvicted;
  }
  return false;
}

BlockState Lifecycle::Target(Transition t) {
  switch (t) {
    case Transition::kAllocate:
      return BlockState::kAllocated;
    case Transition::kCommit:
      return BlockState::kCommitted;
    case Transition::kAbort:
    case Transition::kExpire:
    case Transition::kReclaim:
      return BlockState::kDeleted;
    case Transition::kPersist:
      return BlockState::kPersisted;
    case Transition::kEvict:
    case Transition::kDelete:
      return BlockState::kEvicted;
  }
  return BlockState::kDeleted;
}

void Lifecycle::OnAllocated(BlockRecord* r) {
  gauges_[static_cast<int>(BlockState::kAllocated)].fetch_add(1, std::memory_order_relaxed);
  counters_[static_cast<int>(Transition::kAllocate)].fetch_add(1, std::memory_order_relaxed);
}

Status Lifecycle::Apply(BlockRecord* r, Transition t) {
  BlockState from = r->state_;
  if (!IsLegal(from, t)) {
    illegal_.fetch_add(1, std::memory_order_relaxed);
    return Status::Internal("illegal lifecycle transition " + std::to_string(static_cast<int>(t)) +
                            " from " + std::string(BlockStateName(from)));
  }
  BlockState to = Target(t);
  r->state_ = to;
  gauges_[static_cast<int>(from)].fetch_sub(1, std::memory_order_relaxed);
  // DELETED is terminal: the record is about to be freed, so it is not a live gauge.
  if (to != BlockState::kDeleted) {
    gauges_[static_cast<int>(to)].fetch_add(1, std::memory_order_relaxed);
  }
  counters_[static_cast<int>(t)].fetch_add(1, std::memory_order_relaxed);
  return Status::Ok();
}

}  // namespace kvstash
