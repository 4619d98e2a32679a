// BlockStore DRAM reclaim and persist: recycling a sealed DRAM region (ReclaimOne), writing
// its admitted COMMITTED blocks to flash first (FlushVictim/PersistOne: -> PERSISTED), then
// detaching every record from it; and the maintenance pass/thread that keeps DRAM regions
// free. The steps and their locking are in docs/ARCHITECTURE.md ("Reclaim").
#include <optional>

#include "common/checksum.h"
#include "common/logging.h"
#include "engine/block_store_internal.h"

namespace kvstash {

using engine_internal::Readable;
using engine_internal::Shard;

bool BlockStore::Impl::ReclaimOne() {
  RegionId victim;
  std::vector<BlockRecord*> records;
  if (!regions.BeginReclaim(&victim, &records)) return false;
  if (flash) FlushVictim(victim, records);
  for (BlockRecord* r : records) DetachFromVictim(r, victim);
  regions.FinishReclaim(victim);
  return true;
}

void BlockStore::Impl::DetachFromVictim(BlockRecord* r, RegionId victim) {
  Shard& shard = index.ShardOf(r);
  MutexLock lock(&shard.mu);
  if (Readable(r) && r->in_dram()) {
    regions.RemoveLive(victim, r->size);
    if (r->in_flash()) {
      r->dram_loc = BlockRecord::kNoLocation;  // the flash copy serves from now on
      dram_copies_dropped.fetch_add(1, std::memory_order_relaxed);
    } else {
      life.Apply(r, Transition::kEvict).IgnoreError();
      shard.Erase(r);
      r->dram_loc = BlockRecord::kNoLocation;
      DropRef(shard, r);  // the index's reference (r still holds the region's)
    }
  }
  // The region's space is being recycled: an evicted block's space is reclaimed now.
  if (r->state() == BlockState::kEvicted) life.Apply(r, Transition::kReclaim).IgnoreError();
  DropRef(shard, r);  // the region's reference
}

void BlockStore::Impl::FlushVictim(RegionId victim, const std::vector<BlockRecord*>& records) {
  MutexLock flush_lock(&flush_mu);
  for (BlockRecord* r : records) PersistOne(r, victim);
  DrainReinserts();
}

bool BlockStore::Impl::SnapshotForFlush(BlockRecord* r, FlushSnapshot* snap) {
  Shard& shard = index.ShardOf(r);
  MutexLock lock(&shard.mu);
  if (r->state() != BlockState::kCommitted || !r->in_dram()) return false;
  AdmissionCandidate c;
  c.key_hash = HashKey(r->ns, r->key());
  c.size_bytes = r->size;
  c.dram_hits = r->hits;
  if (!flash->admission().Admit(c)) return false;
  *snap = {r->ns, r->dram_loc, r->size, std::nullopt};
  if (r->flags & BlockRecord::kHasChecksum) snap->known = Checksum(r->checksum);
  return true;
}

void BlockStore::Impl::PersistOne(BlockRecord* r, RegionId victim) {
  // Snapshot under the shard lock; the record stays alive (the region's reference) and its
  // payload stays put (the region is being reclaimed: no allocation can land in it).
  FlushSnapshot snap;
  if (!SnapshotForFlush(r, &snap)) return;
  std::string_view key = r->key();  // immutable
  auto payload = arena->At(ArenaOffset(snap.loc), snap.size);
  Checksum sum = snap.known ? *snap.known : ComputeChecksum(payload);
  auto packed = flash->Persist(snap.ns, key, payload, sum);
  if (!packed.ok()) {
    // DataLoss: the bytes do not match the writer's checksum (a corrupt or lying writer):
    // never persist them. Other errors: the block stays DRAM-only and is evicted as usual.
    if (packed.status().Is(StatusCode::kDataLoss)) checksum_mismatch_on_flush.fetch_add(1);
    flash_persist_failures.fetch_add(1, std::memory_order_relaxed);
    KVSTASH_LOG_EVERY_N_SEC(warn, 5, "flash persist failed: {}", packed.status().ToString());
    return;
  }
  if (!PublishPersisted(r, snap.loc, *packed, sum)) {
    flash->MarkDead(*packed, snap.size);  // deleted meanwhile
  }
}

bool BlockStore::Impl::PublishPersisted(BlockRecord* r, uint64_t dram_loc, uint64_t packed,
                                        Checksum sum) {
  Shard& shard = index.ShardOf(r);
  MutexLock lock(&shard.mu);
  if (r->state() != BlockState::kCommitted || r->dram_loc != dram_loc) return false;
  bool published = life.Apply(r, Transition::kPersist).ok();
  r->set_flash_location(packed);
  r->checksum = sum.value();
  r->flags |= BlockRecord::kHasChecksum;
  r->hits = 0;  // from now on: hits since written (reinsertion)
  return published;
}

// ---- maintenance ---------------------------------------------------------------------------

void BlockStore::Impl::Maintain() {
  ExpireLeases();
  while (regions.GetStats().free_regions < opts.dram_free_regions) {
    if (!ReclaimOne()) break;
  }
  if (flash) {
    {
      MutexLock flush_lock(&flush_mu);
      DrainReinserts();
    }
    // Without the pipeline's own thread (deterministic mode) maintenance drives TRIM.
    if (!opts.flash.regions.background_flush) flash->store().trim_pipeline().RunOnce();
  }
}

void BlockStore::Impl::MaintenanceLoop() {
  MutexLock lock(&bg_mu);
  while (!stop) {
    bg_mu.Unlock();
    Maintain();
    bg_mu.Lock();
    bg_mu.AwaitWithTimeout(Condition(&stop), opts.maintenance_interval);
  }
}

}  // namespace kvstash
