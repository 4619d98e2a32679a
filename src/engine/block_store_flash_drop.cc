// BlockStore flash drops: what happens to a block when its flash copy goes away. The
// RegionStore reclaims its oldest region and reports each live entry (OnFlashDrop): a block
// with a DRAM copy keeps serving from DRAM; a hot flash-only block is read back now and
// appended again later (DrainReinserts); the rest leave the engine (RemoveFlashOnlyBlock).
// A flash copy that fails a read goes the same way (DropBadFlashCopy).
#include "common/checksum.h"
#include "engine/block_store_internal.h"

namespace kvstash {

using engine_internal::Shard;

BlockRecord* BlockStore::Impl::FindPersistedAt(Shard& shard, const KeyRef& k, uint64_t packed) {
  BlockRecord* r = shard.Find(k);
  if (r == nullptr || r->state() != BlockState::kPersisted || r->flash_location() != packed) {
    return nullptr;
  }
  return r;
}

void BlockStore::Impl::RemoveFlashOnlyBlock(Shard& shard, BlockRecord* r) {
  life.Apply(r, Transition::kEvict).IgnoreError();
  life.Apply(r, Transition::kReclaim).IgnoreError();  // its flash space goes now
  shard.Erase(r);
  DropRef(shard, r);  // the index's reference
}

void BlockStore::Impl::OnFlashDrop(const DroppedEntry& e) {
  uint64_t packed = flash->Pack(e.location);
  if (!SettleDroppedCopy(e, packed)) return;
  // Hot block: read it while its region is still readable (the callback contract), write it
  // again after the reclaim (DrainReinserts). Until then lookups miss on the stale location.
  Reinsert item{e.ns, std::string(e.key), packed, Checksum(0), {}};
  item.data.resize(e.location.value_bytes);
  if (!flash->store().Read(e.location, e.ns, e.key, item.data).ok()) {
    DropBadFlashCopy(e.ns, e.key, packed);
    return;
  }
  item.checksum = ComputeChecksum(item.data.data(), item.data.size());
  MutexLock lock(&reinsert_mu);
  reinserts.push_back(std::move(item));
}

bool BlockStore::Impl::SettleDroppedCopy(const DroppedEntry& e, uint64_t packed) {
  KeyRef k(e.ns, e.key);
  Shard& shard = index.ShardFor(k);
  MutexLock lock(&shard.mu);
  BlockRecord* r = FindPersistedAt(shard, k, packed);
  if (r == nullptr) return false;
  if (r->in_dram()) {
    r->set_flash_location(BlockRecord::kNoLocation);  // the DRAM copy keeps serving
    return false;
  }
  bool reinsert = e.reason == DropReason::kReclaimed && opts.flash.reinsert_hits && r->hits > 0;
  if (!reinsert) {
    RemoveFlashOnlyBlock(shard, r);
    return false;
  }
  r->hits = 0;
  return true;
}

void BlockStore::Impl::DrainReinserts() {
  for (;;) {
    std::vector<Reinsert> batch;
    {
      MutexLock lock(&reinsert_mu);
      batch.swap(reinserts);
    }
    if (batch.empty()) return;
    for (Reinsert& item : batch) ReinsertOne(item);
  }
}

void BlockStore::Impl::ReinsertOne(Reinsert& item) {
  auto packed = flash->Persist(item.ns, item.key, item.data, item.checksum);
  KeyRef k(item.ns, item.key);
  Shard& shard = index.ShardFor(k);
  MutexLock lock(&shard.mu);
  BlockRecord* r = FindPersistedAt(shard, k, item.old_packed);
  bool ours = r != nullptr && !r->in_dram();
  if (ours && packed.ok()) {
    r->set_flash_location(*packed);
    reinserted.fetch_add(1, std::memory_order_relaxed);
  } else if (ours) {  // could not write it again: evict
    RemoveFlashOnlyBlock(shard, r);
  } else if (packed.ok()) {
    flash->MarkDead(*packed, item.data.size());
  }
}

void BlockStore::Impl::DropBadFlashCopy(NamespaceId ns, std::string_view key, uint64_t packed) {
  flash_read_failures.fetch_add(1, std::memory_order_relaxed);
  KeyRef k(ns, key);
  Shard& shard = index.ShardFor(k);
  MutexLock lock(&shard.mu);
  BlockRecord* r = FindPersistedAt(shard, k, packed);
  if (r == nullptr) return;
  if (r->in_dram()) {
    r->set_flash_location(BlockRecord::kNoLocation);
    return;
  }
  RemoveFlashOnlyBlock(shard, r);
}

}  // namespace kvstash
