// BlockStore's API and lifecycle: options, creation and teardown, and the writer, delete and
// exists calls (Allocate/Commit/Abort/Delete/Exists...). Reads are in block_store_read.cc,
// leases in block_store_lease.cc, DRAM reclaim in block_store_reclaim.cc, flash drops in
// block_store_flash_drop.cc, Stats() in block_store_stats.cc (map: block_store_internal.h).
#include "engine/block_store.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "engine/block_store_internal.h"

namespace kvstash {

using engine_internal::Readable;
using engine_internal::Shard;
using engine_internal::ValidateKey;

Status StoreOptions::Validate() const {
  if (dram_region_bytes < (64 << 10)) return Status::InvalidArgument("DRAM region < 64 KiB");
  if (dram_bytes < dram_region_bytes) {
    return Status::InvalidArgument("DRAM size must hold at least one region");
  }
  if (max_value_bytes == 0 || max_value_bytes > dram_region_bytes) {
    return Status::InvalidArgument("max value size must be 1..region size");
  }
  if (max_value_bytes > UINT32_MAX) return Status::InvalidArgument("max value size > 4 GiB");
  if (index_shards == 0 || (index_shards & (index_shards - 1)) != 0 || index_shards > 65536) {
    return Status::InvalidArgument("index shards must be a power of two <= 65536");
  }
  if (lease.count() <= 0) return Status::InvalidArgument("lease must be > 0 ms");
  if (clock == nullptr) return Status::InvalidArgument("clock is null");
  if (dram_free_regions >= dram_bytes / dram_region_bytes) {
    return Status::InvalidArgument("dram_free_regions must be below the DRAM region count");
  }
  return Status::Ok();
}

// ---- creation and teardown -----------------------------------------------------------------

namespace {

Result<std::unique_ptr<DramArena>> CreateArena(const StoreOptions& options) {
  uint64_t bytes = options.dram_bytes / options.dram_region_bytes * options.dram_region_bytes;
  if (!options.arena_allocator) {
    return DramArena::Create(bytes, options.try_hugepages, options.prefault);
  }
  KVSTASH_ASSIGN_OR_RETURN(ArenaMemory memory, options.arena_allocator(bytes));
  if (memory.size < bytes) {
    if (memory.release) memory.release();
    return Status::Internal("arena allocator returned less than asked");
  }
  return DramArena::Adopt(std::move(memory), options.prefault);
}

}  // namespace

Result<std::unique_ptr<BlockStore>> BlockStore::Create(const StoreOptions& options) {
  KVSTASH_RETURN_IF_ERROR(options.Validate());
  KVSTASH_ASSIGN_OR_RETURN(std::unique_ptr<DramArena> arena, CreateArena(options));
  std::unique_ptr<BlockStore> store(new BlockStore(options));
  store->impl_ = std::make_unique<Impl>(options, std::move(arena));
  Impl* impl = store->impl_.get();
  if (!options.flash.path.empty() || options.flash_device != nullptr) {
    KVSTASH_ASSIGN_OR_RETURN(
        impl->flash, FlashTier::Create(options.flash, options.flash_device, options.clock,
                                       [impl](const DroppedEntry& e) { impl->OnFlashDrop(e); }));
  }
  if (options.background) impl->maintenance = std::thread([impl] { impl->MaintenanceLoop(); });
  return store;
}

BlockStore::BlockStore(const StoreOptions&) {}
BlockStore::~BlockStore() = default;

BlockStore::Impl::~Impl() {
  if (maintenance.joinable()) {
    {
      MutexLock lock(&bg_mu);
      stop = true;
    }
    maintenance.join();
  }
  flash.reset();  // stops the flusher and TRIM threads before records go away
  // Every record is referenced from at least one of: index, a region list, the lease queue.
  absl::flat_hash_set<BlockRecord*> all;
  for (BlockRecord* r : regions.TakeAllRecords()) all.insert(r);
  {
    MutexLock lock(&lease_mu);
    for (const Lease& l : leases) all.insert(l.rec);
    leases.clear();
  }
  for (BlockRecord* r : all) {
    Shard& s = index.ShardOf(r);
    MutexLock lock(&s.mu);
    s.Erase(r);  // no-op if absent
    s.FreeRecord(r);
  }
  // Records only the index still held (flash-resident) are freed by ~KeyIndex.
}

// ---- writers -------------------------------------------------------------------------------

Result<Allocation> BlockStore::Impl::TryAllocate(const KeyRef& k, uint64_t size, bool* retry) {
  *retry = false;
  Shard& shard = index.ShardFor(k);
  MutexLock lock(&shard.mu);
  if (BlockRecord* existing = shard.Find(k)) {
    if (existing->state() == BlockState::kAllocated) {
      busy.fetch_add(1, std::memory_order_relaxed);
      return Status::Busy("key is being written by another writer");
    }
    already_exists.fetch_add(1, std::memory_order_relaxed);
    return Status::AlreadyExists("key already stored");
  }
  BlockRecord* r = shard.NewRecord(k.ns, k.key, static_cast<uint32_t>(size));
  auto grant = regions.Allocate(size, r);
  if (!grant.ok()) {
    shard.FreeRecord(r);
    *retry = grant.status().Is(StatusCode::kResourceExhausted);
    return grant.status();
  }
  r->dram_loc = grant->offset.value();
  r->refs = 3;  // index + region + lease queue
  shard.Insert(r);
  life.OnAllocated(r);
  int64_t deadline = StartLease(shard, r);
  return Allocation{grant->offset, size, deadline};
}

Result<Allocation> BlockStore::Allocate(NamespaceId ns, std::string_view key, uint64_t size) {
  KVSTASH_RETURN_IF_ERROR(ValidateKey(key));
  if (size == 0 || size > impl_->opts.max_value_bytes) {
    return Status::InvalidArgument("value size must be 1.." +
                                   std::to_string(impl_->opts.max_value_bytes) + " bytes, got " +
                                   std::to_string(size));
  }
  KeyRef k(ns, key);
  if (impl_->flash) impl_->flash->admission().RecordAccess(k.hash);
  // Each reclaim frees a region or proves none can be freed: bounded by the region count.
  for (uint32_t attempt = 0; attempt <= impl_->regions.num_regions() + 1; ++attempt) {
    bool retry = false;
    auto result = impl_->TryAllocate(k, size, &retry);
    if (result.ok() || !retry) return result;
    if (!impl_->ReclaimOne()) break;
  }
  return Status::ResourceExhausted(
      "DRAM tier full: every region is open, pinned or has writes in flight");
}

Status BlockStore::Commit(NamespaceId ns, std::string_view key, ArenaOffset offset,
                          std::optional<Checksum> checksum) {
  KVSTASH_RETURN_IF_ERROR(ValidateKey(key));
  KeyRef k(ns, key);
  Shard& shard = impl_->index.ShardFor(k);
  MutexLock lock(&shard.mu);
  BlockRecord* r = shard.Find(k);
  if (r == nullptr || r->dram_loc != offset.value()) {
    return Status::NotFound("no allocation of this key at this offset");
  }
  if (r->state() != BlockState::kAllocated) return Status::AlreadyExists("already committed");
  if (impl_->LeaseRanOut(shard, r)) {
    impl_->EndAllocation(shard, r, Transition::kExpire);
    return Status::LeaseExpired("lease expired before commit; the allocation was aborted");
  }
  KVSTASH_RETURN_IF_ERROR(impl_->life.Apply(r, Transition::kCommit));
  r->set_flash_location(BlockRecord::kNoLocation);  // the lease deadline is done with
  if (checksum) {
    r->checksum = checksum->value();
    r->flags |= BlockRecord::kHasChecksum;
  }
  impl_->regions.CloseAllocation(impl_->regions.RegionOf(offset), /*committed=*/true, r->size);
  return Status::Ok();
}

Status BlockStore::Abort(NamespaceId ns, std::string_view key, ArenaOffset offset) {
  KVSTASH_RETURN_IF_ERROR(ValidateKey(key));
  KeyRef k(ns, key);
  Shard& shard = impl_->index.ShardFor(k);
  MutexLock lock(&shard.mu);
  BlockRecord* r = shard.Find(k);
  if (r == nullptr || r->dram_loc != offset.value() || r->state() != BlockState::kAllocated) {
    return Status::NotFound("no open allocation of this key at this offset");
  }
  impl_->EndAllocation(shard, r, Transition::kAbort);
  return Status::Ok();
}

// ---- delete and exists ---------------------------------------------------------------------

Status BlockStore::Delete(NamespaceId ns, std::string_view key) {
  KVSTASH_RETURN_IF_ERROR(ValidateKey(key));
  KeyRef k(ns, key);
  Shard& shard = impl_->index.ShardFor(k);
  MutexLock lock(&shard.mu);
  BlockRecord* r = shard.Find(k);
  if (r == nullptr) return Status::NotFound("key not found");
  if (r->state() == BlockState::kAllocated) return Status::Busy("key is being written");
  bool had_flash = r->in_flash();
  uint64_t flash_loc = had_flash ? r->flash_location() : BlockRecord::kNoLocation;
  uint64_t size = r->size;
  KVSTASH_RETURN_IF_ERROR(impl_->life.Apply(r, Transition::kDelete));
  shard.Erase(r);
  if (r->in_dram()) {
    impl_->regions.RemoveLive(impl_->regions.RegionOf(ArenaOffset(r->dram_loc)), r->size);
  } else {
    impl_->life.Apply(r, Transition::kReclaim).IgnoreError();  // no DRAM space held
  }
  impl_->DropRef(shard, r);
  // The flash copy is dead; a region whose entries are all dead is reclaimed (and trimmed).
  if (had_flash && impl_->flash) impl_->flash->MarkDead(flash_loc, size);
  return Status::Ok();
}

bool BlockStore::Exists(NamespaceId ns, std::string_view key) {
  if (!ValidateKey(key).ok()) return false;
  KeyRef k(ns, key);
  Shard& shard = impl_->index.ShardFor(k);
  MutexLock lock(&shard.mu);
  return Readable(shard.Find(k));
}

void BlockStore::ExistsBatch(NamespaceId ns, std::span<const std::string_view> keys,
                             std::vector<bool>* present) {
  present->assign(keys.size(), false);
  std::vector<KeyRef> refs;
  std::vector<size_t> where;  // refs[j] is keys[where[j]]
  refs.reserve(keys.size());
  where.reserve(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    if (!ValidateKey(keys[i]).ok()) continue;
    refs.emplace_back(ns, keys[i]);
    where.push_back(i);
  }
  impl_->index.FindBatch(
      refs, [&](size_t j, const BlockRecord* r) { (*present)[where[j]] = Readable(r); });
}

size_t BlockStore::LongestPrefix(NamespaceId ns, std::span<const std::string_view> keys) {
  // Batch by batch, so that a gap early in a long list stops the lookups soon.
  std::vector<bool> present;
  size_t n = 0;
  while (n < keys.size()) {
    auto batch = keys.subspan(n, std::min(KeyIndex::kBatch, keys.size() - n));
    ExistsBatch(ns, batch, &present);
    for (bool p : present) {
      if (!p) return n;
      ++n;
    }
  }
  return n;
}

// ---- maintenance and accessors -------------------------------------------------------------

size_t BlockStore::ExpireLeases() { return impl_->ExpireLeases(); }

void BlockStore::RunMaintenance() { impl_->Maintain(); }

Status BlockStore::FlushFlash() {
  if (!impl_->flash) return Status::Ok();
  MutexLock flush_lock(&impl_->flush_mu);
  return impl_->flash->store().Flush();
}

bool BlockStore::has_flash() const { return impl_->flash != nullptr; }

std::byte* BlockStore::arena_base() const { return impl_->arena->base(); }
uint64_t BlockStore::arena_size() const { return impl_->arena->size(); }

}  // namespace kvstash
