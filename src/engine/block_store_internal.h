// BlockStore::Impl: the engine's state and its private helpers, shared by the files that
// implement BlockStore. Not for callers: include engine/block_store.h.
//
// Which file holds what:
//   block_store.cc             options, creation and teardown, the writer/delete/exists API
//   block_store_read.cc        Lookup, ReadInto(V), BlockPin
//   block_store_lease.cc       lease grant, expiry and allocation end (ALLOCATED -> DELETED)
//   block_store_reclaim.cc     DRAM reclaim, persist (flush to flash), maintenance thread
//   block_store_flash_drop.cc  flash copies going away: OnFlashDrop, reinsertion, bad copies
//   block_store_stats.cc       Stats()
//
// Locking (docs/ARCHITECTURE.md): a record's fields are guarded by its index shard's `mu`. A
// thread holds at most one shard lock; with it, it may take the DRAM regions' lock, lease_mu
// or the RegionStore's locks, never the reverse. flush_mu serialises appends to flash and is
// taken with no shard lock held.
#ifndef KVSTASH_ENGINE_BLOCK_STORE_INTERNAL_H_
#define KVSTASH_ENGINE_BLOCK_STORE_INTERNAL_H_

#include <atomic>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/mutex.h"
#include "dram/dram_arena.h"
#include "dram/dram_regions.h"
#include "engine/block_store.h"
#include "index/key_index.h"
#include "index/lifecycle.h"

namespace kvstash {
namespace engine_internal {

using Shard = KeyIndex::Shard;

inline Status ValidateKey(std::string_view key) {
  if (key.empty() || key.size() > kMaxKeyBytes) {
    return Status::InvalidArgument("key must be 1.." + std::to_string(kMaxKeyBytes) +
                                   " bytes, got " + std::to_string(key.size()));
  }
  return Status::Ok();
}

// True iff r is a block a reader may see (committed, in DRAM or on flash).
inline bool Readable(const BlockRecord* r) {
  return r != nullptr &&
         (r->state() == BlockState::kCommitted || r->state() == BlockState::kPersisted);
}

}  // namespace engine_internal

struct BlockStore::Impl {
  using Shard = KeyIndex::Shard;

  Impl(const StoreOptions& o, std::unique_ptr<DramArena> a)
      : opts(o),
        arena(std::move(a)),
        regions(arena->size(), o.dram_region_bytes),
        index(o.index_shards) {}
  ~Impl();

  // ---- references (block_store_internal.h) ----
  // Drops one reference (index, DRAM region or lease queue); frees the record into its
  // shard's slab when none is left. REQUIRES: `shard` is r's shard.
  void DropRef(Shard& shard, BlockRecord* r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu) {
    if (--r->refs == 0) shard.FreeRecord(r);
  }

  // ---- writers (block_store.cc) ----
  // One allocation attempt under the key's shard lock. *retry: failed for lack of DRAM
  // space, worth another try after a reclaim.
  Result<Allocation> TryAllocate(const KeyRef& k, uint64_t size, bool* retry);

  // ---- leases (block_store_lease.cc) ----
  // Starts r's lease: sets its deadline and queues it (the queue takes one of r's refs).
  // Returns the deadline. REQUIRES: r is ALLOCATED; r's shard lock held.
  int64_t StartLease(Shard& shard, BlockRecord* r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  // True iff r's lease ran out. REQUIRES: r is ALLOCATED; r's shard lock held.
  bool LeaseRanOut(Shard& shard, const BlockRecord* r) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  // ALLOCATED -> DELETED (abort or expiry). REQUIRES: r's shard lock held.
  void EndAllocation(Shard& shard, BlockRecord* r, Transition t)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  // Pops every lease past its deadline: ALLOCATED ones are aborted (kExpire), and the
  // queue's reference is dropped either way. Returns how many were aborted.
  size_t ExpireLeases();

  // ---- DRAM reclaim and persist (block_store_reclaim.cc) ----
  // Recycles one sealed DRAM region (flushing admitted blocks first). False: none can be.
  bool ReclaimOne();
  // Writes the victim's admitted COMMITTED blocks to flash (-> PERSISTED). No lock held
  // while bytes move.
  void FlushVictim(RegionId victim, const std::vector<BlockRecord*>& records);
  // One block of FlushVictim: admission, append to flash, publish PERSISTED.
  void PersistOne(BlockRecord* r, RegionId victim) ABSL_EXCLUSIVE_LOCKS_REQUIRED(flush_mu);
  // What PersistOne writes, read under r's shard lock.
  struct FlushSnapshot {
    NamespaceId ns;
    uint64_t loc;  // r's DRAM location when read
    uint64_t size;
    std::optional<Checksum> known;  // the writer's checksum, if it gave one
  };
  // Takes r's shard lock. False: r is not COMMITTED in DRAM, or admission said no.
  bool SnapshotForFlush(BlockRecord* r, FlushSnapshot* snap);
  // Takes r's shard lock; publishes PERSISTED at `packed` if r is still COMMITTED at
  // `dram_loc`. False: it changed meanwhile (deleted, evicted): the flash copy is dead.
  bool PublishPersisted(BlockRecord* r, uint64_t dram_loc, uint64_t packed, Checksum sum);
  // Takes r off the victim region under its shard lock: a PERSISTED block keeps serving
  // from flash, a COMMITTED one is evicted; drops the region's reference.
  void DetachFromVictim(BlockRecord* r, RegionId victim);
  // One maintenance pass (see BlockStore::RunMaintenance); MaintenanceLoop runs it every
  // opts.maintenance_interval until `stop`.
  void Maintain();
  void MaintenanceLoop();

  // ---- flash copies going away (block_store_flash_drop.cc) ----
  // RegionStore's drop callback: a flash copy is going away.
  void OnFlashDrop(const DroppedEntry& e);
  // Under the shard lock, settles what a dropped flash copy means for its block. True: the
  // block is hot and flash-only, to be read back and reinserted.
  bool SettleDroppedCopy(const DroppedEntry& e, uint64_t packed);
  // Appends the queued reinsertions to flash (DrainReinserts -> ReinsertOne each).
  void DrainReinserts() ABSL_EXCLUSIVE_LOCKS_REQUIRED(flush_mu);
  // Removes a PERSISTED flash-only block whose flash copy failed a read.
  void DropBadFlashCopy(NamespaceId ns, std::string_view key, uint64_t packed);
  // The record for `k` if it is PERSISTED with its flash copy at `packed`, else null (the
  // block changed since that copy was taken: deleted, rewritten, moved).
  BlockRecord* FindPersistedAt(Shard& shard, const KeyRef& k, uint64_t packed)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  // Takes a flash-only block whose flash copy is gone (dropped by flash reclaim, unreadable,
  // or not rewritten) out of the engine: EVICTED and at once DELETED (it holds no DRAM space,
  // so nothing is left to reclaim), erased from the index, and the index's reference dropped
  // (the last reference frees it; the lease queue may still hold one until it is popped).
  // REQUIRES: `shard` is r's shard, its lock held; r in the index, PERSISTED, !in_dram().
  void RemoveFlashOnlyBlock(Shard& shard, BlockRecord* r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);

  // ---- stats (block_store_stats.cc) ----
  bool FlashDegraded(uint64_t io_errors, uint64_t device_bytes_written);

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

  std::unique_ptr<FlashTier> flash;  // null: DRAM only
  // Flushing (and so RegionStore::Append) is done by one thread at a time.
  Mutex flush_mu;
  // A hot block read back from a reclaimed flash region, to be appended again.
  struct Reinsert {
    NamespaceId ns;
    std::string key;
    uint64_t old_packed;
    Checksum checksum;
    std::vector<std::byte> data;
  };
  void ReinsertOne(Reinsert& item) ABSL_EXCLUSIVE_LOCKS_REQUIRED(flush_mu);
  Mutex reinsert_mu;
  std::vector<Reinsert> reinserts ABSL_GUARDED_BY(reinsert_mu);

  Mutex bg_mu;
  bool stop ABSL_GUARDED_BY(bg_mu) = false;
  std::thread maintenance;
};

}  // namespace kvstash

#endif  // KVSTASH_ENGINE_BLOCK_STORE_INTERNAL_H_
