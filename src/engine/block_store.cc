#include "engine/block_store.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <thread>

#include "absl/container/flat_hash_set.h"
#include "common/checksum.h"
#include "common/logging.h"
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
  if (dram_free_regions >= dram_bytes / dram_region_bytes) {
    return Status::InvalidArgument("dram_free_regions must be below the DRAM region count");
  }
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
  // Writes the victim's admitted COMMITTED blocks to flash (-> PERSISTED). No lock held
  // while bytes move.
  void FlushVictim(RegionId victim, const std::vector<BlockRecord*>& records);
  void PersistOne(BlockRecord* r, RegionId victim);
  void DetachFromVictim(BlockRecord* r, RegionId victim);
  // RegionStore's drop callback: a flash copy is going away.
  void OnFlashDrop(const DroppedEntry& e);
  void DrainReinserts();
  // Removes a PERSISTED flash-only block whose flash copy failed a read.
  void DropBadFlashCopy(NamespaceId ns, std::string_view key, uint64_t packed);
  size_t ExpireLeases();
  void Maintain();
  void MaintenanceLoop();
  // Drops one reference (index, DRAM region or lease queue); frees the record into its
  // shard's slab when none is left. REQUIRES: `shard` is r's shard.
  void DropRef(Shard& shard, BlockRecord* r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  // ALLOCATED -> DELETED (abort or expiry). REQUIRES: r's shard lock held.
  void EndAllocation(Shard& shard, BlockRecord* r, Transition t)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);

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
  std::atomic<uint64_t> flash_read_failures{0}, flash_persist_failures{0}, reinserted{0};
  std::atomic<uint64_t> checksum_mismatch_on_flush{0}, dram_memcpy_bytes{0};

  // flash_degraded: set when the device reported an I/O error since the last look, cleared
  // once a region write succeeded after the last error (the device healed). Updated by
  // FlashDegraded() from Stats().
  Mutex degraded_mu;
  uint64_t degraded_seen_errors ABSL_GUARDED_BY(degraded_mu) = 0;
  uint64_t degraded_written_at_error ABSL_GUARDED_BY(degraded_mu) = 0;
  bool degraded ABSL_GUARDED_BY(degraded_mu) = false;
  bool FlashDegraded(uint64_t io_errors, uint64_t device_bytes_written) {
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

  std::unique_ptr<FlashTier> flash;  // null: DRAM only
  // Flushing (and so RegionStore::Append) is done by one thread at a time.
  Mutex flush_mu;
  struct Reinsert {
    NamespaceId ns;
    std::string key;
    uint64_t old_packed;
    Checksum checksum;
    std::vector<std::byte> data;
  };
  Mutex reinsert_mu;
  std::vector<Reinsert> reinserts ABSL_GUARDED_BY(reinsert_mu);

  Mutex bg_mu;
  bool stop ABSL_GUARDED_BY(bg_mu) = false;
  std::thread maintenance;
};

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

void BlockStore::Impl::DropRef(Shard& shard, BlockRecord* r) {
  if (--r->refs == 0) shard.FreeRecord(r);
}

void BlockStore::Impl::EndAllocation(Shard& shard, BlockRecord* r, Transition t) {
  life.Apply(r, t).IgnoreError();  // caller checked state == ALLOCATED
  shard.Erase(r);
  regions.CloseAllocation(regions.RegionOf(ArenaOffset(r->dram_loc)), /*committed=*/false, r->size);
  DropRef(shard, r);  // the index's reference; the region's stays until recycle
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
  BlockRecord* r = shard.NewRecord(k.ns, k.key, static_cast<uint32_t>(size));
  auto grant = regions.Allocate(size, r);
  if (!grant.ok()) {
    shard.FreeRecord(r);
    *retry = grant.status().Is(StatusCode::kResourceExhausted);
    return grant.status();
  }
  int64_t deadline = opts.clock->NowNanos() +
                     std::chrono::duration_cast<std::chrono::nanoseconds>(opts.lease).count();
  r->dram_loc = grant->offset.value();
  r->set_lease_deadline(deadline);
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

void BlockStore::Impl::PersistOne(BlockRecord* r, RegionId victim) {
  // Snapshot under the shard lock; the record stays alive (the region's reference) and its
  // payload stays put (the region is being reclaimed: no allocation can land in it).
  NamespaceId ns;
  uint64_t loc, size;
  std::optional<Checksum> known;
  {
    Shard& shard = index.ShardOf(r);
    MutexLock lock(&shard.mu);
    if (r->state() != BlockState::kCommitted || !r->in_dram()) return;
    AdmissionCandidate c;
    c.key_hash = HashKey(r->ns, r->key());
    c.size_bytes = r->size;
    c.dram_hits = r->hits;
    if (!flash->admission().Admit(c)) return;
    ns = r->ns;
    loc = r->dram_loc;
    size = r->size;
    if (r->flags & BlockRecord::kHasChecksum) known = Checksum(r->checksum);
  }
  std::string_view key = r->key();  // immutable
  auto payload = arena->At(ArenaOffset(loc), size);
  Checksum sum = known ? *known : ComputeChecksum(payload);
  auto packed = flash->Persist(ns, key, payload, sum);
  if (!packed.ok()) {
    // DataLoss: the bytes do not match the writer's checksum (a corrupt or lying writer):
    // never persist them. Other errors: the block stays DRAM-only and is evicted as usual.
    if (packed.status().Is(StatusCode::kDataLoss)) checksum_mismatch_on_flush.fetch_add(1);
    flash_persist_failures.fetch_add(1, std::memory_order_relaxed);
    KVSTASH_LOG_EVERY_N_SEC(warn, 5, "flash persist failed: {}", packed.status().ToString());
    return;
  }
  bool published = false;
  {
    Shard& shard = index.ShardOf(r);
    MutexLock lock(&shard.mu);
    if (r->state() == BlockState::kCommitted && r->dram_loc == loc) {
      published = life.Apply(r, Transition::kPersist).ok();
      r->set_flash_location(*packed);
      r->checksum = sum.value();
      r->flags |= BlockRecord::kHasChecksum;
      r->hits = 0;  // from now on: hits since written (reinsertion)
    }
  }
  if (!published) flash->MarkDead(*packed, size);  // deleted meanwhile
}

void BlockStore::Impl::OnFlashDrop(const DroppedEntry& e) {
  KeyRef k(e.ns, e.key);
  uint64_t packed = flash->Pack(e.location);
  bool reinsert = false;
  {
    Shard& shard = index.ShardFor(k);
    MutexLock lock(&shard.mu);
    BlockRecord* r = shard.Find(k);
    if (r == nullptr || r->state() != BlockState::kPersisted || r->flash_location() != packed)
      return;
    if (r->in_dram()) {
      r->set_flash_location(BlockRecord::kNoLocation);  // the DRAM copy keeps serving
      return;
    }
    reinsert = e.reason == DropReason::kReclaimed && opts.flash.reinsert_hits && r->hits > 0;
    if (!reinsert) {
      life.Apply(r, Transition::kEvict).IgnoreError();
      life.Apply(r, Transition::kReclaim).IgnoreError();  // its flash space goes now
      shard.Erase(r);
      DropRef(shard, r);
      return;
    }
    r->hits = 0;
  }
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

void BlockStore::Impl::DrainReinserts() {
  for (;;) {
    std::vector<Reinsert> batch;
    {
      MutexLock lock(&reinsert_mu);
      batch.swap(reinserts);
    }
    if (batch.empty()) return;
    for (Reinsert& item : batch) {
      auto packed = flash->Persist(item.ns, item.key, item.data, item.checksum);
      KeyRef k(item.ns, item.key);
      Shard& shard = index.ShardFor(k);
      MutexLock lock(&shard.mu);
      BlockRecord* r = shard.Find(k);
      bool ours = r != nullptr && r->state() == BlockState::kPersisted &&
                  r->flash_location() == item.old_packed && !r->in_dram();
      if (ours && packed.ok()) {
        r->set_flash_location(*packed);
        reinserted.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      if (ours) {  // could not write it again: evict
        life.Apply(r, Transition::kEvict).IgnoreError();
        life.Apply(r, Transition::kReclaim).IgnoreError();
        shard.Erase(r);
        DropRef(shard, r);
      } else if (packed.ok()) {
        flash->MarkDead(*packed, item.data.size());
      }
    }
  }
}

void BlockStore::Impl::DropBadFlashCopy(NamespaceId ns, std::string_view key, uint64_t packed) {
  flash_read_failures.fetch_add(1, std::memory_order_relaxed);
  KeyRef k(ns, key);
  Shard& shard = index.ShardFor(k);
  MutexLock lock(&shard.mu);
  BlockRecord* r = shard.Find(k);
  if (r == nullptr || r->state() != BlockState::kPersisted || r->flash_location() != packed) return;
  if (r->in_dram()) {
    r->set_flash_location(BlockRecord::kNoLocation);
    return;
  }
  life.Apply(r, Transition::kEvict).IgnoreError();
  life.Apply(r, Transition::kReclaim).IgnoreError();
  shard.Erase(r);
  DropRef(shard, r);
}

size_t BlockStore::Impl::ExpireLeases() {
  int64_t now = opts.clock->NowNanos();
  size_t expired = 0;
  for (;;) {
    BlockRecord* r;
    {
      MutexLock lock(&lease_mu);
      if (leases.empty() || leases.front().deadline_ns >= now) break;
      r = leases.front().rec;
      leases.pop_front();
    }
    Shard& shard = index.ShardOf(r);
    MutexLock lock(&shard.mu);
    if (r->state() == BlockState::kAllocated) {
      EndAllocation(shard, r, Transition::kExpire);
      ++expired;
    }
    DropRef(shard, r);  // the lease queue's reference
  }
  return expired;
}

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

// ---- BlockStore ----------------------------------------------------------------------------

Result<std::unique_ptr<BlockStore>> BlockStore::Create(const StoreOptions& options) {
  RETURN_IF_ERROR(options.Validate());
  uint64_t bytes = options.dram_bytes / options.dram_region_bytes * options.dram_region_bytes;
  std::unique_ptr<DramArena> arena;
  if (options.arena_allocator) {
    ASSIGN_OR_RETURN(ArenaMemory memory, options.arena_allocator(bytes));
    if (memory.size < bytes) {
      if (memory.release) memory.release();
      return Status::Internal("arena allocator returned less than asked");
    }
    ASSIGN_OR_RETURN(arena, DramArena::Adopt(std::move(memory), options.prefault));
  } else {
    ASSIGN_OR_RETURN(arena, DramArena::Create(bytes, options.try_hugepages, options.prefault));
  }
  std::unique_ptr<BlockStore> store(new BlockStore(options));
  store->impl_ = std::make_unique<Impl>(options, std::move(arena));
  Impl* impl = store->impl_.get();
  if (!options.flash.path.empty() || options.flash_device != nullptr) {
    ASSIGN_OR_RETURN(impl->flash,
                     FlashTier::Create(options.flash, options.flash_device, options.clock,
                                       [impl](const DroppedEntry& e) { impl->OnFlashDrop(e); }));
  }
  if (options.background) impl->maintenance = std::thread([impl] { impl->MaintenanceLoop(); });
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
  RETURN_IF_ERROR(ValidateKey(key));
  KeyRef k(ns, key);
  Shard& shard = impl_->index.ShardFor(k);
  MutexLock lock(&shard.mu);
  BlockRecord* r = shard.Find(k);
  if (r == nullptr || r->dram_loc != offset.value()) {
    return Status::NotFound("no allocation of this key at this offset");
  }
  if (r->state() != BlockState::kAllocated) return Status::AlreadyExists("already committed");
  if (impl_->opts.clock->NowNanos() > r->lease_deadline()) {
    impl_->EndAllocation(shard, r, Transition::kExpire);
    return Status::LeaseExpired("lease expired before commit; the allocation was aborted");
  }
  RETURN_IF_ERROR(impl_->life.Apply(r, Transition::kCommit));
  r->set_flash_location(BlockRecord::kNoLocation);
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
  Impl& m = *impl_;
  m.lookups.fetch_add(1, std::memory_order_relaxed);
  KeyRef k(ns, key);
  if (m.flash) m.flash->admission().RecordAccess(k.hash);
  Shard& shard = m.index.ShardFor(k);
  MutexLock lock(&shard.mu);
  BlockRecord* r = shard.Find(k);
  if (Readable(r) && r->in_dram()) {
    if (r->hits < 255) r->hits++;
    BlockPin pin;
    pin.store_ = this;
    pin.tier_ = Tier::kDram;
    pin.offset_ = ArenaOffset(r->dram_loc);
    pin.region_ = m.regions.RegionOf(pin.offset_);
    pin.size_ = r->size;
    pin.checksum_ = Checksum(r->checksum);
    m.regions.Pin(pin.region_);
    m.hits_dram.fetch_add(1, std::memory_order_relaxed);
    return pin;
  }
  if (Readable(r) && r->in_flash() && m.flash) {
    auto region_pin = m.flash->Pin(r->flash_location(), r->size);
    if (region_pin.ok()) {
      if (r->hits < 255) r->hits++;
      BlockPin pin;
      pin.store_ = this;
      pin.tier_ = Tier::kFlash;
      pin.size_ = r->size;
      pin.checksum_ = Checksum(r->checksum);
      pin.flash_loc_ = r->flash_location();
      pin.ns_ = ns;
      pin.key_ = std::string(key);
      pin.flash_pin_ = std::move(*region_pin);
      m.hits_flash.fetch_add(1, std::memory_order_relaxed);
      return pin;
    }
  }
  m.misses.fetch_add(1, std::memory_order_relaxed);
  return Status::NotFound("key not found");
}

Status BlockStore::ReadInto(const BlockPin& pin, std::span<std::byte> dest) {
  const BlockPin* p = &pin;
  Status result;
  (void)ReadIntoV({&p, 1}, {&dest, 1}, {&result, 1});
  return result;
}

Status BlockStore::ReadIntoV(std::span<const BlockPin* const> pins,
                             std::span<const std::span<std::byte>> dests,
                             std::span<Status> results) {
  if (pins.size() != dests.size() || pins.size() != results.size()) {
    return Status::InvalidArgument("ReadIntoV: pins, dests and results differ in size");
  }
  std::vector<FlashTier::BlockRead> flash;
  std::vector<size_t> flash_items;  // flash[j] is item flash_items[j]
  for (size_t i = 0; i < pins.size(); ++i) {
    const BlockPin* pin = pins[i];
    if (pin == nullptr || !pin->valid() || pin->store_ != this) {
      results[i] = Status::InvalidArgument("invalid pin");
    } else if (dests[i].size() < pin->size()) {
      results[i] = Status::InvalidArgument("destination too small");
    } else if (pin->tier() == Tier::kDram) {
      std::memcpy(dests[i].data(), pin->data().data(), pin->size());
      impl_->dram_memcpy_bytes.fetch_add(pin->size(), std::memory_order_relaxed);
      results[i] = Status::Ok();
    } else {
      flash.push_back({pin->flash_loc_, pin->ns_, pin->key_, pin->size(), dests[i], {}});
      flash_items.push_back(i);
    }
  }
  if (!flash.empty()) impl_->flash->ReadV(flash);
  for (size_t j = 0; j < flash.size(); ++j) {
    const FlashTier::BlockRead& r = flash[j];
    if (r.result.Is(StatusCode::kDataLoss) || r.result.Is(StatusCode::kIOError) ||
        r.result.Is(StatusCode::kNotFound)) {
      KVSTASH_LOG_EVERY_N_SEC(warn, 5, "flash read failed, block dropped: {}", r.result.ToString());
      impl_->DropBadFlashCopy(r.ns, r.key, r.packed);
    }
    results[flash_items[j]] = r.result;
  }
  for (const Status& s : results) {
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

Status BlockStore::Delete(NamespaceId ns, std::string_view key) {
  RETURN_IF_ERROR(ValidateKey(key));
  KeyRef k(ns, key);
  Shard& shard = impl_->index.ShardFor(k);
  MutexLock lock(&shard.mu);
  BlockRecord* r = shard.Find(k);
  if (r == nullptr) return Status::NotFound("key not found");
  if (r->state() == BlockState::kAllocated) return Status::Busy("key is being written");
  bool had_flash = r->in_flash();
  uint64_t flash_loc = had_flash ? r->flash_location() : BlockRecord::kNoLocation;
  uint64_t size = r->size;
  RETURN_IF_ERROR(impl_->life.Apply(r, Transition::kDelete));
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

size_t BlockStore::ExpireLeases() { return impl_->ExpireLeases(); }

void BlockStore::RunMaintenance() { impl_->Maintain(); }

Status BlockStore::FlushFlash() {
  if (!impl_->flash) return Status::Ok();
  MutexLock flush_lock(&impl_->flush_mu);
  return impl_->flash->store().Flush();
}

bool BlockStore::has_flash() const { return impl_->flash != nullptr; }

void BlockStore::Unpin(BlockPin& pin) {
  if (pin.tier_ == Tier::kDram) {
    impl_->regions.Unpin(pin.region_);
  } else {
    pin.flash_pin_.Release();
  }
}

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
  s.dram_hugepages = m.arena->backing() == PageBacking::kHugeTlb ||
                             m.arena->backing() == PageBacking::kTransparentHuge
                         ? 1
                         : 0;
  s.dram_payload_memcpy_bytes = m.dram_memcpy_bytes.load();
  s.flash_reinserted = m.reinserted.load();
  s.flash_read_errors = m.flash_read_failures.load();
  s.flash_persist_failures = m.flash_persist_failures.load();
  s.flash_checksum_mismatch_on_flush = m.checksum_mismatch_on_flush.load();
  if (m.flash) {
    RegionStoreStats f = m.flash->store().stats();
    s.flash_capacity_bytes = uint64_t{f.regions_total} * m.flash->store().region_bytes();
    s.flash_bytes_written = f.bytes_appended;
    s.flash_device_bytes_written = f.device_bytes_written;
    s.flash_write_errors = f.write_io_errors;
    s.flash_checksum_failures = f.checksum_failures;
    s.flash_regions_reclaimed = f.regions_reclaimed + f.regions_reclaimed_dead;
    s.flash_regions = f.regions_total;
    s.flash_regions_sealed = f.regions_sealed;
    s.discard_calls = f.trim.discard_calls;
    s.discard_bytes = f.trim.bytes_discarded;
    s.discard_extents = f.trim.extents_done;
    s.discard_unsupported = f.trim.unsupported;
    s.flash_degraded = impl_->FlashDegraded(f.io_errors(), f.device_bytes_written) ? 1 : 0;
    AdmissionStats a = m.flash->admission().Stats();
    s.admission_admitted = a.admitted;
    s.admission_rejected = a.rejected;
    s.admission_admitted_bytes = a.bytes_admitted;
    s.admission_rejected_bytes = a.bytes_rejected;
    s.admission_rejected_by_budget = a.rejected_by_budget;
  }
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
    flash_loc_ = o.flash_loc_;
    ns_ = o.ns_;
    key_ = std::move(o.key_);
    flash_pin_ = std::move(o.flash_pin_);
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
