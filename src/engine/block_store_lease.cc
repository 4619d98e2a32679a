// BlockStore leases: an allocation's deadline (granted by Allocate, checked by Commit) and the
// lease queue the maintenance thread drains (ExpireLeases), plus the end of an allocation
// (ALLOCATED -> DELETED) shared by Abort, a late Commit and expiry.
//
// The deadline lives in the record (BlockRecord::lease_deadline(), valid while ALLOCATED) and
// in the FIFO `leases` (deadline, record), which holds one reference to the record until the
// entry is popped, so expiry never touches a freed record.
#include <chrono>

#include "engine/block_store_internal.h"

namespace kvstash {

using engine_internal::Shard;

int64_t BlockStore::Impl::StartLease(Shard& /*shard: locked*/, BlockRecord* r) {
  int64_t deadline = opts.clock->NowNanos() +
                     std::chrono::duration_cast<std::chrono::nanoseconds>(opts.lease).count();
  r->set_lease_deadline(deadline);
  MutexLock lease_lock(&lease_mu);  // lock order: shard lock, then lease_mu
  leases.push_back({deadline, r});
  return deadline;
}

bool BlockStore::Impl::LeaseRanOut(Shard& /*shard: locked*/, const BlockRecord* r) const {
  return opts.clock->NowNanos() > r->lease_deadline();
}

void BlockStore::Impl::EndAllocation(Shard& shard, BlockRecord* r, Transition t) {
  life.Apply(r, t).IgnoreError();  // caller checked state == ALLOCATED
  shard.Erase(r);
  regions.CloseAllocation(regions.RegionOf(ArenaOffset(r->dram_loc)), /*committed=*/false, r->size);
  DropRef(shard, r);  // the index's reference; the region's stays until recycle
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

}  // namespace kvstash
