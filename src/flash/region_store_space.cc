// RegionStore: space. FIFO reclaim, dead-entry accounting, handing freed regions to the TRIM
// pipeline, and stats.
#include <algorithm>
#include <string>

#include "flash/region_store.h"

namespace kvstash {

Status RegionStore::ReclaimOldest() {
  MutexLock lock(&append_mu_);
  return ReclaimOldestLocked();
}

// Picks the oldest sealed region no pin holds (FIFO; a pinned region keeps its place and the
// next one goes instead, so a long read never stalls the writer). The region stays readable
// while the owner hears about its live entries, so the owner may read hot ones back to
// reinsert them; then it is freed (once the last pin is gone) and queued for TRIM.
Status RegionStore::ReclaimOldestLocked() {
  uint32_t index;
  std::vector<DroppedRecord> live;
  std::string keys;
  {
    MutexLock lock(&mu_);
    if (fifo_.empty()) return Status::NotFound("no sealed region to reclaim");
    auto it = std::find_if(
        fifo_.begin(), fifo_.end(),
        [this](uint32_t i) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return regions_[i].pins == 0; });
    if (it == fifo_.end()) {
      return Status::Busy("all " + std::to_string(fifo_.size()) + " sealed regions are pinned");
    }
    index = *it;
    fifo_.erase(it);
    regions_[index].state = State::kReclaiming;
    CollectLiveLocked(index, &live, &keys);
  }
  Report(live, keys, DropReason::kReclaimed);
  MutexLock lock(&mu_);
  counters_.entries_reclaimed.fetch_add(live.size(), std::memory_order_relaxed);
  counters_.regions_reclaimed.fetch_add(1, std::memory_order_relaxed);
  regions_[index].state = State::kFree;
  ReleaseRegionLocked(index);
  return Status::Ok();
}

void RegionStore::CollectLiveLocked(uint32_t index, std::vector<DroppedRecord>* out,
                                    std::string* keys) {
  const Region& r = regions_[index];
  out->reserve(r.entries.live_count());
  for (const RegionEntries::Entry& e : r.entries.entries()) {
    if (!e.live) continue;
    DroppedRecord rec;
    rec.ns = e.ns;
    rec.key_offset = static_cast<uint32_t>(keys->size());
    rec.key_bytes = e.key_bytes;
    rec.location =
        FlashLocation{RegionId(index), e.offset, e.extent_bytes, e.value_bytes, r.sequence};
    keys->append(r.entries.key(e));
    out->push_back(rec);
  }
}

void RegionStore::Report(const std::vector<DroppedRecord>& records, const std::string& keys,
                         DropReason reason) {
  if (!options_.on_drop) return;
  for (const DroppedRecord& rec : records) {
    options_.on_drop(DroppedEntry{rec.ns,
                                  std::string_view(keys).substr(rec.key_offset, rec.key_bytes),
                                  rec.location, reason});
  }
}

void RegionStore::MarkDead(const FlashLocation& location) {
  const uint32_t index = location.region.value();
  MutexLock lock(&mu_);
  if (index >= regions_.size()) return;
  Region& r = regions_[index];
  if (r.state == State::kFree || r.sequence != location.sequence) return;
  r.entries.MarkDead(location.offset);
  if (r.pins == 0) MaybeReclaimDeadLocked(index);
}

// A written region whose entries are all dead goes back at once, skipping the FIFO. (An OPEN
// or WRITING one is checked again when its write finishes.)
void RegionStore::MaybeReclaimDeadLocked(uint32_t index) {
  Region& r = regions_[index];
  if (r.state != State::kSealed || r.entries.live_count() > 0) return;
  auto it = std::find(fifo_.begin(), fifo_.end(), index);
  if (it != fifo_.end()) fifo_.erase(it);
  r.state = State::kFree;
  counters_.regions_reclaimed_dead.fetch_add(1, std::memory_order_relaxed);
  ReleaseRegionLocked(index);
}

void RegionStore::ReleaseRegionLocked(uint32_t index) {
  if (regions_[index].pins > 0) {
    regions_[index].release_when_unpinned = true;
    ++pending_releases_;
    return;
  }
  FreeRegionLocked(index);
}

// IN_USE -> FREE_DIRTY, then into the TRIM queue (-> TRIMMING -> FREE_CLEAN). If the region
// was allocated again before the pipeline took it, or the pipeline is stopping, it stays
// FREE_DIRTY or is simply reused: overwriting without TRIM is correct, only less kind.
void RegionStore::FreeRegionLocked(uint32_t index) {
  Region& r = regions_[index];
  if (r.release_when_unpinned) --pending_releases_;
  r.release_when_unpinned = false;
  r.entries.Clear();
  ++space_events_;
  if (!states_.Release(RegionId(index)).ok()) return;
  trim_->Enqueue(RegionId(index), RegionOffsetOnDevice(index), options_.region_bytes).IgnoreError();
}

RegionSequence RegionStore::region_sequence(RegionId region) const {
  MutexLock lock(&mu_);
  if (region.value() >= regions_.size()) return RegionSequence(0);
  const Region& r = regions_[region.value()];
  return r.state == State::kFree ? RegionSequence(0) : r.sequence;
}

RegionStoreStats RegionStore::stats() const {
  RegionStoreStats s;
  auto get = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  s.appends = get(counters_.appends);
  s.bytes_appended = get(counters_.bytes_appended);
  s.extent_bytes_appended = get(counters_.extent_bytes_appended);
  s.device_bytes_written = get(counters_.device_bytes_written);
  s.regions_written = get(counters_.regions_written);
  s.regions_reclaimed = get(counters_.regions_reclaimed);
  s.regions_reclaimed_dead = get(counters_.regions_reclaimed_dead);
  s.regions_dropped = get(counters_.regions_dropped);
  s.entries_reclaimed = get(counters_.entries_reclaimed);
  s.entries_lost = get(counters_.entries_lost);
  s.append_buffer_waits = get(counters_.append_buffer_waits);
  s.reads = get(counters_.reads);
  s.read_bytes = get(counters_.read_bytes);
  s.buffer_reads = get(counters_.buffer_reads);
  s.device_read_bytes = get(counters_.device_read_bytes);
  s.stale_reads = get(counters_.stale_reads);
  s.checksum_failures = get(counters_.checksum_failures);
  s.read_io_errors = get(counters_.read_io_errors);
  s.write_io_errors = get(counters_.write_io_errors);
  s.region_states = states_.counts();
  s.trim = trim_->stats();
  MutexLock lock(&mu_);
  s.regions_total = static_cast<uint32_t>(regions_.size());
  s.regions_sealed = static_cast<uint32_t>(fifo_.size());
  for (const Region& r : regions_) s.regions_pinned += r.pins > 0;
  return s;
}

}  // namespace kvstash
