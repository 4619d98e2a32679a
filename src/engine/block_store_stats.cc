// BlockStore::Stats(): one snapshot of the engine's counters (engine/store_stats.h), read from
// where each one lives: the lifecycle's gauges and transition counters, the engine's own
// atomics, the DRAM regions, and (with a flash tier) the RegionStore, its TRIM pipeline and
// the admission policy, and the index's own accounting (O(shards)). Also the flash_degraded
// latch.
//
// Not filled here (so reported as 0): flash_live_bytes (the RegionStore does not count live
// value bytes yet).
#include "admission/admission_policy.h"
#include "engine/block_store_internal.h"

namespace kvstash {
namespace {

void FillLifecycle(const Lifecycle& life, StoreStats* s) {
  s->blocks_allocated = life.in_state(BlockState::kAllocated);
  s->blocks_committed = life.in_state(BlockState::kCommitted);
  s->blocks_persisted = life.in_state(BlockState::kPersisted);
  s->blocks_evicted = life.in_state(BlockState::kEvicted);
  s->allocations = life.count(Transition::kAllocate);
  s->commits = life.count(Transition::kCommit);
  s->aborts = life.count(Transition::kAbort);
  s->lease_aborts = life.count(Transition::kExpire);
  s->persists = life.count(Transition::kPersist);
  s->evictions = life.count(Transition::kEvict);
  s->deletes = life.count(Transition::kDelete);
  s->reclaimed = life.count(Transition::kReclaim);
}

void FillDram(const DramRegions& regions, const DramArena& arena, StoreStats* s) {
  auto d = regions.GetStats();
  s->dram_capacity_bytes = regions.capacity();
  s->dram_used_bytes = d.used_bytes;
  s->dram_live_bytes = d.live_bytes;
  s->dram_regions = regions.num_regions();
  s->dram_regions_free = d.free_regions;
  s->dram_region_recycles = d.recycles;
  s->dram_hugepages =
      arena.backing() == PageBacking::kHugeTlb || arena.backing() == PageBacking::kTransparentHuge
          ? 1
          : 0;
}

// The flash tier's own counters: the RegionStore, its TRIM pipeline and admission.
void FillFlash(const RegionStoreStats& f, uint64_t region_bytes, const AdmissionStats& a,
               StoreStats* s) {
  s->flash_capacity_bytes = uint64_t{f.regions_total} * region_bytes;
  s->flash_bytes_written = f.bytes_appended;
  s->flash_device_bytes_written = f.device_bytes_written;
  s->flash_write_errors = f.write_io_errors;
  s->flash_checksum_failures = f.checksum_failures;
  s->flash_regions_reclaimed = f.regions_reclaimed + f.regions_reclaimed_dead;
  s->flash_regions = f.regions_total;
  s->flash_regions_sealed = f.regions_sealed;
  s->discard_calls = f.trim.discard_calls;
  s->discard_bytes = f.trim.bytes_discarded;
  s->discard_extents = f.trim.extents_done;
  s->discard_unsupported = f.trim.unsupported;
  s->admission_admitted = a.admitted;
  s->admission_rejected = a.rejected;
  s->admission_admitted_bytes = a.bytes_admitted;
  s->admission_rejected_bytes = a.bytes_rejected;
  s->admission_rejected_by_budget = a.rejected_by_budget;
}

}  // namespace

StoreStats BlockStore::Stats() const {
  Impl& m = *impl_;
  StoreStats s;
  FillLifecycle(m.life, &s);
  s.already_exists = m.already_exists.load();
  s.busy = m.busy.load();
  s.lookups = m.lookups.load();
  s.hits_dram = m.hits_dram.load();
  s.hits_flash = m.hits_flash.load();
  s.misses = m.misses.load();
  FillDram(m.regions, *m.arena, &s);
  KeyIndex::MemoryUsage index = m.index.Measure();
  s.index_entries = index.entries;
  s.index_key_bytes = index.key_bytes;
  s.index_memory_bytes = index.slab_bytes + index.table_bytes + index.fixed_bytes;
  s.dram_copies_dropped = m.dram_copies_dropped.load();
  s.dram_payload_memcpy_bytes = m.dram_memcpy_bytes.load();
  s.flash_reinserted = m.reinserted.load();
  s.flash_read_errors = m.flash_read_failures.load();
  s.flash_persist_failures = m.flash_persist_failures.load();
  s.flash_checksum_mismatch_on_flush = m.checksum_mismatch_on_flush.load();
  if (m.flash) {
    RegionStoreStats f = m.flash->store().stats();
    FillFlash(f, m.flash->store().region_bytes(), m.flash->admission().Stats(), &s);
    s.flash_degraded = m.FlashDegraded(f.io_errors(), f.device_bytes_written) ? 1 : 0;
  }
  return s;
}

bool BlockStore::Impl::FlashDegraded(uint64_t io_errors, uint64_t device_bytes_written) {
  MutexLock lock(&degraded_mu);
  if (io_errors != degraded_seen_errors) {
    degraded_seen_errors = io_errors;
    degraded_written_at_error = device_bytes_written;
    degraded = true;
  } else if (device_bytes_written > degraded_written_at_error) {
    degraded = false;
  }
  return degraded;
}

}  // namespace kvstash
