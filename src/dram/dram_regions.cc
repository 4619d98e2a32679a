#include "dram/dram_regions.h"

#include <algorithm>

namespace kvstash {
namespace {

// Blocks of a page or more start on a page boundary (so a flush or a GPU copy can use them
// with O_DIRECT/DMA alignment); smaller ones on a cache line.
uint64_t AlignFor(uint64_t size) { return size >= 4096 ? 4096 : 64; }
uint64_t AlignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

}  // namespace

DramRegions::DramRegions(uint64_t arena_bytes, uint64_t region_bytes)
    : region_bytes_(region_bytes) {
  uint64_t n = arena_bytes / region_bytes;
  regions_.reserve(n);
  for (uint64_t i = 0; i < n; ++i) regions_.push_back(std::make_unique<Region>());
  MutexLock lock(&mu_);
  for (uint64_t i = n; i > 0; --i) free_.push_back(static_cast<uint32_t>(i - 1));
}

bool DramRegions::OpenNewRegionLocked() {
  if (open_ >= 0) {
    regions_[open_]->state = State::kSealed;
    sealed_.push_back(static_cast<uint32_t>(open_));
    open_ = -1;
  }
  if (free_.empty()) return false;
  uint32_t id = free_.back();
  free_.pop_back();
  Region& r = *regions_[id];
  r.state = State::kOpen;
  r.write_pos = 0;
  open_ = id;
  return true;
}

Result<DramRegions::Grant> DramRegions::Allocate(uint64_t size, BlockRecord* rec) {
  if (size == 0 || size > region_bytes_) {
    return Status::InvalidArgument("block size exceeds the DRAM region size");
  }
  MutexLock lock(&mu_);
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (open_ >= 0) {
      Region& r = *regions_[open_];
      uint64_t start = AlignUp(r.write_pos, AlignFor(size));
      if (start + size <= region_bytes_) {
        used_bytes_ += start + size - r.write_pos;
        r.write_pos = start + size;
        r.open_allocs++;
        r.records.push_back(rec);
        return Grant{ArenaOffset(uint64_t(open_) * region_bytes_ + start),
                     RegionId(static_cast<uint32_t>(open_))};
      }
    }
    if (!OpenNewRegionLocked()) break;
  }
  return Status::ResourceExhausted("DRAM tier full");
}

void DramRegions::CloseAllocation(RegionId region, bool committed, uint64_t size) {
  MutexLock lock(&mu_);
  Region& r = *regions_[region.value()];
  r.open_allocs--;
  if (committed) {
    r.live_bytes += size;
    live_bytes_ += size;
  }
}

void DramRegions::RemoveLive(RegionId region, uint64_t size) {
  MutexLock lock(&mu_);
  regions_[region.value()]->live_bytes -= size;
  live_bytes_ -= size;
}

void DramRegions::Pin(RegionId region) {
  regions_[region.value()]->pins.fetch_add(1, std::memory_order_acq_rel);
}

void DramRegions::Unpin(RegionId region) {
  Region& r = *regions_[region.value()];
  if (r.pins.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  MutexLock lock(&mu_);
  if (r.state == State::kDraining && r.pins.load(std::memory_order_acquire) == 0) {
    FreeRegionLocked(region.value());
  }
}

bool DramRegions::BeginReclaim(RegionId* victim, std::vector<BlockRecord*>* records) {
  MutexLock lock(&mu_);
  auto pick = sealed_.end();
  for (auto it = sealed_.begin(); it != sealed_.end(); ++it) {
    const Region& r = *regions_[*it];
    if (r.open_allocs != 0) continue;
    if (r.live_bytes == 0) {  // fully dead: the cheapest victim, reclaimed at once
      pick = it;
      break;
    }
    if (pick == sealed_.end()) pick = it;  // else the oldest
  }
  if (pick == sealed_.end()) return false;
  uint32_t id = *pick;
  sealed_.erase(pick);
  Region& r = *regions_[id];
  r.state = State::kReclaiming;
  records->swap(r.records);
  r.records.clear();
  *victim = RegionId(id);
  return true;
}

bool DramRegions::FinishReclaim(RegionId victim) {
  MutexLock lock(&mu_);
  Region& r = *regions_[victim.value()];
  if (r.pins.load(std::memory_order_acquire) != 0) {
    r.state = State::kDraining;
    return false;
  }
  FreeRegionLocked(victim.value());
  return true;
}

void DramRegions::FreeRegionLocked(uint32_t id) {
  Region& r = *regions_[id];
  used_bytes_ -= r.write_pos;
  live_bytes_ -= r.live_bytes;
  r.state = State::kFree;
  r.write_pos = 0;
  r.live_bytes = 0;
  free_.push_back(id);
  recycles_++;
}

std::vector<BlockRecord*> DramRegions::TakeAllRecords() {
  MutexLock lock(&mu_);
  std::vector<BlockRecord*> all;
  for (auto& r : regions_) {
    all.insert(all.end(), r->records.begin(), r->records.end());
    r->records.clear();
  }
  return all;
}

DramRegions::Stats DramRegions::GetStats() const {
  MutexLock lock(&mu_);
  return Stats{used_bytes_, live_bytes_, free_.size(), recycles_};
}

DramRegions::State DramRegions::state(RegionId r) const {
  MutexLock lock(&mu_);
  return regions_[r.value()]->state;
}

}  // namespace kvstash
