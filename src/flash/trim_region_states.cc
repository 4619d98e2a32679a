#include "flash/trim_region_states.h"

#include <string>

namespace kvstash {
namespace {

uint32_t& CountOf(RegionStateCounts& c, RegionTrimState s) {
  switch (s) {
    case RegionTrimState::kInUse:
      return c.in_use;
    case RegionTrimState::kFreeDirty:
      return c.free_dirty;
    case RegionTrimState::kTrimming:
      return c.trimming;
    case RegionTrimState::kFreeClean:
      break;
  }
  return c.free_clean;
}

}  // namespace

std::string_view RegionTrimStateName(RegionTrimState state) {
  switch (state) {
    case RegionTrimState::kInUse:
      return "IN_USE";
    case RegionTrimState::kFreeDirty:
      return "FREE_DIRTY";
    case RegionTrimState::kTrimming:
      return "TRIMMING";
    case RegionTrimState::kFreeClean:
      return "FREE_CLEAN";
  }
  return "UNKNOWN";
}

RegionStates::RegionStates(uint32_t num_regions, RegionTrimState initial)
    : num_regions_(num_regions) {
  MutexLock lock(&mu_);
  regions_.assign(num_regions, Slot{initial, 0});
  CountOf(counts_, initial) = num_regions;
  FreeQueue* queue = QueueOf(initial);
  for (uint32_t r = 0; r < num_regions; ++r) {
    regions_[r].seq = next_seq_++;
    if (queue != nullptr) queue->emplace(regions_[r].seq, r);
  }
}

RegionStates::FreeQueue* RegionStates::QueueOf(RegionTrimState state) {
  if (state == RegionTrimState::kFreeClean) return &clean_;
  if (state == RegionTrimState::kFreeDirty) return &dirty_;
  return nullptr;
}

std::optional<RegionId> RegionStates::AllocateForWrite() {
  MutexLock lock(&mu_);
  FreeQueue* queue = !clean_.empty() ? &clean_ : (!dirty_.empty() ? &dirty_ : nullptr);
  if (queue == nullptr) return std::nullopt;
  const RegionId region(queue->begin()->second);
  Transition(region, regions_[region.value()].state, RegionTrimState::kInUse).IgnoreError();
  return region;
}

Status RegionStates::Release(RegionId region) {
  MutexLock lock(&mu_);
  return Transition(region, RegionTrimState::kInUse, RegionTrimState::kFreeDirty);
}

Status RegionStates::BeginTrim(RegionId region) {
  MutexLock lock(&mu_);
  return Transition(region, RegionTrimState::kFreeDirty, RegionTrimState::kTrimming);
}

Status RegionStates::FinishTrim(RegionId region, bool trimmed) {
  MutexLock lock(&mu_);
  return Transition(region, RegionTrimState::kTrimming,
                    trimmed ? RegionTrimState::kFreeClean : RegionTrimState::kFreeDirty);
}

// Moves `region` from `from` to `to`, keeping the free queues and counts in step.
Status RegionStates::Transition(RegionId region, RegionTrimState from, RegionTrimState to) {
  if (region.value() >= regions_.size()) {
    return Status::InvalidArgument("region " + std::to_string(region.value()) + " out of range (" +
                                   std::to_string(regions_.size()) + " regions)");
  }
  Slot& slot = regions_[region.value()];
  if (slot.state != from) {
    return Status::Internal("region " + std::to_string(region.value()) + " is " +
                            std::string(RegionTrimStateName(slot.state)) + ", not " +
                            std::string(RegionTrimStateName(from)));
  }
  if (FreeQueue* q = QueueOf(from)) q->erase({slot.seq, region.value()});
  --CountOf(counts_, from);
  slot.state = to;
  slot.seq = next_seq_++;
  if (FreeQueue* q = QueueOf(to)) q->emplace(slot.seq, region.value());
  ++CountOf(counts_, to);
  return Status::Ok();
}

RegionTrimState RegionStates::state(RegionId region) const {
  MutexLock lock(&mu_);
  if (region.value() >= regions_.size()) return RegionTrimState::kInUse;  // never free
  return regions_[region.value()].state;
}

RegionStateCounts RegionStates::counts() const {
  MutexLock lock(&mu_);
  return counts_;
}

}  // namespace kvstash
