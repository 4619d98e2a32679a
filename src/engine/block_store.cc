#include "engine/block_store.h"

#include <algorithm>
#include <deque>

#include "absl/container/flat_hash_set.h"
#include "dram/dram_arena.h"
#include "dram/dram_regions.h"
#include "index/key_index.h"
#include "index/lifecycle.h"

namespace kvstash {
namespace {

using Shard = KeyIndex::Shard;

Status ValidateKey(std::string_view key) {
  if (key.empty() || key.size() > kMaxKeyBytes) {
    return Status::InvalidArgument("key must be 1.." + std::to_string(kMaxKeyBytes) +
                                   " bytes, got " + std::to_string(key.size()));
  }
  return Status::Ok();
}

bool Readable(const BlockRecord* r) {
  return r != nullptr &&
         (r->state() == BlockState::kCommitted || r->state() == BlockState::kPersisted);
}

}  // namespace

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
  return Status::Ok();
}

struct BlockStore::Impl {
  Impl(const StoreOptions& o, std::unique_ptr<DramArena> a)
      : opts(o),
        arena(std::move(a)),
        regions(arena->size(), o.dram_region_bytes),
        index(o.index_shards) {}
  ~Impl();

  Result<Allocation> TryAllocate(const KeyRef& k, uint64_t size, bool* retry);
  bool ReclaimOne();
  void DetachFromVictim(BlockRecord* r, RegionId victim);
  // Drops one reference (index, DRAM region or lease queue); frees the record when none is
  // left. REQUIRES: r's shard lock held.
  void DropRef(BlockRecord* r);
  // ALLOCATED -> DELETED (abort or expiry). REQUIRES: r's shard lock held.
  void EndAllocation(Shard& shard, BlockRecord* r, Transition t);

  const StoreOptions opts;
  std::unique_ptr<DramArena> arena;
  DramRegions regions;
  KeyIndex index;
  Lifecycle life;

  struct Lease {
    int64_t deadline_ns;
    BlockRecord* rec;  // holds a reference until popped
  };
  Mutex lease_mu;
  std::deque<Lease> leases ABSL_GUARDED_BY(lease_mu);

  std::atomic<uint64_t> lookups{0}, hits_dram{0}, hits_flash{0}, misses{0};
  std::atomic<uint64_t> already_exists{0}, busy{0}, dram_copies_dropped{0};
};

BlockStore::Impl::~Impl() {
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
  }
  for (BlockRecord* r : all) BlockRecord::Free(r);
  // Records only the index still held (flash-resident) are freed by ~KeyIndex.
}

void BlockStore::Impl::DropRef(BlockRecord* r) {
  if (--r->refs == 0) BlockRecord::Free(r);
}

void BlockStore::Impl::EndAllocation(Shard& shard, BlockRecord* r, Transition t) {
  life.Apply(r, t).IgnoreError();  // caller checked state == ALLOCATED
  shard.Erase(r);
  regions.CloseAllocation(regions.RegionOf(ArenaOffset(r->dram_loc)), /*committed=*/false, r->size);
  DropRef(r);  // the index's reference; the region's stays until recycle
}

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
  BlockRecord* r = BlockRecord::New(k.ns, k.key, static_cast<uint32_t>(size));
  auto grant = regions.Allocate(size, r);
  if (!grant.ok()) {
    BlockRecord::Free(r);
    *retry = grant.status().Is(StatusCode::kResourceExhausted);
    return grant.status();
  }
  int64_t deadline = opts.clock->NowNanos() +
                     std::chrono::duration_cast<std::chrono::nanoseconds>(opts.lease).count();
  r->dram_loc = grant->offset.value();
  r->flash_loc = static_cast<uint64_t>(deadline);
  r->refs = 3;  // index + region + lease queue
  shard.Insert(r);
  life.OnAllocated(r);
  {
    MutexLock lease_lock(&lease_mu);
    leases.push_back({deadline, r});
  }
  return Allocation{grant->offset, size, deadline};
}

bool BlockStore::Impl::ReclaimOne() {
  RegionId victim;
  std::vector<BlockRecord*> records;
  if (!regions.BeginReclaim(&victim, &records)) return false;
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
      DropRef(r);  // the index's reference (r still holds the region's)
    }
  }
  // The region's space is being recycled: an evicted block's space is reclaimed now.
  if (r->state() == BlockState::kEvicted) life.Apply(r, Transition::kReclaim).IgnoreError();
  DropRef(r);  // the region's reference
}

// ---- BlockStore ----------------------------------------------------------------------------

Result<std::unique_ptr<BlockStore>> BlockStore::Create(const StoreOptions& options) {
  RETURN_IF_ERROR(options.Validate());
  uint64_t bytes = options.dram_bytes / options.dram_region_bytes * options.dram_region_bytes;
  ASSIGN_OR_RETURN(auto arena, DramArena::Create(bytes, options.try_hugepages));
  std::unique_ptr<BlockStore> store(new BlockStore(options));
  store->impl_ = std::make_unique<Impl>(options, std::move(arena));
  return store;
}

BlockStore::BlockStore(const StoreOptions&) {}
BlockStore::~BlockStore() = default;

Result<Allocation> BlockStore::Allocate(NamespaceId ns, std::string_view key, uint64_t size) {
  RETURN_IF_ERROR(ValidateKey(key));
  if (size == 0 || size > impl_->opts.max_value_bytes) {
    return Status::InvalidArgument("value size must be 1.." +
                                   std::to_string(impl_->opts.max_value_bytes) + " bytes, got " +
                                   std::to_string(size));
  }
  KeyRef k(ns, key);
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
  RETURN_IF_ERROR(ValidateKey(key));
  KeyRef k(ns, key);
  Shard& shard = impl_->index.ShardFor(k);
  MutexLock lock(&shard.mu);
  BlockRecord* r = shard.Find(k);
  if (r == nullptr || r->dram_loc != offset.value()) {
    return Status::NotFound("no allocation of this key at this offset");
  }
  if (r->state() != BlockState::kAllocated) return Status::AlreadyExists("already committed");
  if (impl_->opts.clock->NowNanos() > static_cast<int64_t>(r->flash_loc)) {
    impl_->EndAllocation(shard, r, Transition::kExpire);
    return Status::LeaseExpired("lease expired before commit; the allocation was aborted");
  }
  RETURN_IF_ERROR(impl_->life.Apply(r, Transition::kCommit));
  r->flash_loc = BlockRecord::kNoLocation;
  if (checksum) {
    r->checksum = checksum->value();
    r->flags |= BlockRecord::kHasChecksum;
  }
  impl_->regions.CloseAllocation(impl_->regions.RegionOf(offset), /*committed=*/true, r->size);
  return Status::Ok();
}

Status BlockStore::Abort(NamespaceId ns, std::string_view key, ArenaOffset offset) {
  RETURN_IF_ERROR(ValidateKey(key));
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

Result<BlockPin> BlockStore::Lookup(NamespaceId ns, std::string_view key) {
  RETURN_IF_ERROR(ValidateKey(key));
  impl_->lookups.fetch_add(1, std::memory_order_relaxed);
  KeyRef k(ns, key);
  Shard& shard = impl_->index.ShardFor(k);
  MutexLock lock(&shard.mu);
  BlockRecord* r = shard.Find(k);
  if (!Readable(r) || !r->in_dram()) {
    impl_->misses.fetch_add(1, std::memory_order_relaxed);
    return Status::NotFound("key not found");
  }
  if (r->hits < 255) r->hits++;
  BlockPin pin;
  pin.store_ = this;
  pin.tier_ = Tier::kDram;
  pin.offset_ = ArenaOffset(r->dram_loc);
  pin.region_ = impl_->regions.RegionOf(pin.offset_);
  pin.size_ = r->size;
  pin.checksum_ = Checksum(r->checksum);
  impl_->regions.Pin(pin.region_);
  impl_->hits_dram.fetch_add(1, std::memory_order_relaxed);
  return pin;
}

Status BlockStore::Delete(NamespaceId ns, std::string_view key) {
  RETURN_IF_ERROR(ValidateKey(key));
  KeyRef k(ns, key);
  Shard& shard = impl_->index.ShardFor(k);
  MutexLock lock(&shard.mu);
  BlockRecord* r = shard.Find(k);
  if (r == nullptr) return Status::NotFound("key not found");
  if (r->state() == BlockState::kAllocated) return Status::Busy("key is being written");
  RETURN_IF_ERROR(impl_->life.Apply(r, Transition::kDelete));
  shard.Erase(r);
  if (r->in_dram()) {
    impl_->regions.RemoveLive(impl_->regions.RegionOf(ArenaOffset(r->dram_loc)), r->size);
  } else {
    impl_->life.Apply(r, Transition::kReclaim).IgnoreError();  // no DRAM space held
  }
  impl_->DropRef(r);
  return Status::Ok();
}

bool BlockStore::Exists(NamespaceId ns, std::string_view key) {
  if (!ValidateKey(key).ok()) return false;
  KeyRef k(ns, key);
  Shard& shard = impl_->index.ShardFor(k);
  MutexLock lock(&shard.mu);
  return Readable(shard.Find(k));
}

size_t BlockStore::LongestPrefix(NamespaceId ns, std::span<const std::string_view> keys) {
  size_t n = 0;
  while (n < keys.size() && Exists(ns, keys[n])) ++n;
  return n;
}

size_t BlockStore::ExpireLeases() {
  int64_t now = impl_->opts.clock->NowNanos();
  size_t expired = 0;
  for (;;) {
    BlockRecord* r;
    {
      MutexLock lock(&impl_->lease_mu);
      if (impl_->leases.empty() || impl_->leases.front().deadline_ns >= now) break;
      r = impl_->leases.front().rec;
      impl_->leases.pop_front();
    }
    Shard& shard = impl_->index.ShardOf(r);
    MutexLock lock(&shard.mu);
    if (r->state() == BlockState::kAllocated) {
      impl_->EndAllocation(shard, r, Transition::kExpire);
      ++expired;
    }
    impl_->DropRef(r);  // the lease queue's reference
  }
  return expired;
}

void BlockStore::Unpin(const BlockPin& pin) { impl_->regions.Unpin(pin.region_); }

std::byte* BlockStore::arena_base() const { return impl_->arena->base(); }
uint64_t BlockStore::arena_size() const { return impl_->arena->size(); }

StoreStats BlockStore::Stats() const {
  const Impl& m = *impl_;
  StoreStats s;
  s.blocks_allocated = m.life.in_state(BlockState::kAllocated);
  s.blocks_committed = m.life.in_state(BlockState::kCommitted);
  s.blocks_persisted = m.life.in_state(BlockState::kPersisted);
  s.blocks_evicted = m.life.in_state(BlockState::kEvicted);
  s.allocations = m.life.count(Transition::kAllocate);
  s.commits = m.life.count(Transition::kCommit);
  s.aborts = m.life.count(Transition::kAbort);
  s.lease_aborts = m.life.count(Transition::kExpire);
  s.persists = m.life.count(Transition::kPersist);
  s.evictions = m.life.count(Transition::kEvict);
  s.deletes = m.life.count(Transition::kDelete);
  s.reclaimed = m.life.count(Transition::kReclaim);
  s.already_exists = m.already_exists.load();
  s.busy = m.busy.load();
  s.lookups = m.lookups.load();
  s.hits_dram = m.hits_dram.load();
  s.hits_flash = m.hits_flash.load();
  s.misses = m.misses.load();
  auto d = m.regions.GetStats();
  s.dram_capacity_bytes = m.regions.capacity();
  s.dram_used_bytes = d.used_bytes;
  s.dram_live_bytes = d.live_bytes;
  s.dram_regions = m.regions.num_regions();
  s.dram_regions_free = d.free_regions;
  s.dram_region_recycles = d.recycles;
  s.dram_copies_dropped = m.dram_copies_dropped.load();
  s.dram_hugepages = m.arena->backing() == PageBacking::kSmall ? 0 : 1;
  return s;
}

// ---- BlockPin ------------------------------------------------------------------------------

BlockPin& BlockPin::operator=(BlockPin&& o) noexcept {
  if (this != &o) {
    Release();
    store_ = o.store_;
    tier_ = o.tier_;
    region_ = o.region_;
    offset_ = o.offset_;
    size_ = o.size_;
    checksum_ = o.checksum_;
    o.store_ = nullptr;
  }
  return *this;
}

void BlockPin::Release() {
  if (store_ != nullptr) {
    store_->Unpin(*this);
    store_ = nullptr;
  }
}

std::span<const std::byte> BlockPin::data() const {
  return store_->impl_->arena->At(offset_, size_);
}

}  // namespace kvstash
