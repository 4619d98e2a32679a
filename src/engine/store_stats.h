// StoreStats: a snapshot of the engine's counters. Every lifecycle transition is counted, so a
// test (or an operator, via `kvstash stat`) can see the lifecycle from outside.
#ifndef KVSTASH_ENGINE_STORE_STATS_H_
#define KVSTASH_ENGINE_STORE_STATS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace kvstash {

struct StoreStats {
  // Lifecycle: current number of blocks in each live state (gauges)...
  uint64_t blocks_allocated = 0;
  uint64_t blocks_committed = 0;
  uint64_t blocks_persisted = 0;
  uint64_t blocks_evicted = 0;  // out of the index, space not yet reclaimed
  // ...and transitions since start (counters).
  uint64_t allocations = 0;     // -> ALLOCATED
  uint64_t commits = 0;         // ALLOCATED -> COMMITTED
  uint64_t aborts = 0;          // ALLOCATED -> DELETED by Abort()
  uint64_t lease_aborts = 0;    // ALLOCATED -> DELETED by lease expiry
  uint64_t persists = 0;        // COMMITTED -> PERSISTED
  uint64_t evictions = 0;       // -> EVICTED by capacity pressure
  uint64_t deletes = 0;         // -> EVICTED by Delete()
  uint64_t reclaimed = 0;       // EVICTED/aborted -> DELETED (space reclaimed)
  uint64_t already_exists = 0;  // Allocate() refused: committed
  uint64_t busy = 0;            // Allocate() refused: another writer

  // Reads.
  uint64_t lookups = 0;
  uint64_t hits_dram = 0;
  uint64_t hits_flash = 0;
  uint64_t misses = 0;

  // DRAM tier.
  uint64_t dram_capacity_bytes = 0;
  uint64_t dram_used_bytes = 0;  // bytes handed out in open or sealed regions
  uint64_t dram_live_bytes = 0;  // bytes of blocks still reachable through the index
  uint64_t dram_regions = 0;
  uint64_t dram_regions_free = 0;
  uint64_t dram_region_recycles = 0;
  uint64_t dram_copies_dropped = 0;        // persisted blocks whose DRAM copy was dropped
  uint64_t dram_hugepages = 0;             // 1 if the arena is backed by huge pages
  uint64_t dram_payload_memcpy_bytes = 0;  // payload bytes the engine copied out of DRAM

  // Flash tier (0 when there is none).
  uint64_t flash_capacity_bytes = 0;
  uint64_t flash_live_bytes = 0;
  uint64_t flash_bytes_written = 0;
  uint64_t flash_device_bytes_written = 0;
  uint64_t flash_regions = 0;
  uint64_t flash_regions_sealed = 0;
  uint64_t flash_write_errors = 0;
  uint64_t flash_persist_failures = 0;            // admitted blocks that did not reach flash
  uint64_t flash_checksum_mismatch_on_flush = 0;  // writer's checksum did not match its bytes
  uint64_t flash_read_errors = 0;
  uint64_t flash_checksum_failures = 0;
  uint64_t flash_regions_reclaimed = 0;
  uint64_t flash_reinserted = 0;
  uint64_t flash_degraded = 0;
  uint64_t discard_calls = 0;
  uint64_t discard_bytes = 0;
  uint64_t discard_extents = 0;
  uint64_t discard_unsupported = 0;
  uint64_t admission_admitted = 0;
  uint64_t admission_rejected = 0;
  uint64_t admission_admitted_bytes = 0;
  uint64_t admission_rejected_bytes = 0;
  uint64_t admission_rejected_by_budget = 0;

  // Index.
  uint64_t index_entries = 0;
  uint64_t index_memory_bytes = 0;  // records + hash tables, excluding key bytes? see below
  uint64_t index_key_bytes = 0;

  // Flat (name, value) list with stable names, for metrics and `kvstash stat --json`.
  std::vector<std::pair<std::string, uint64_t>> ToKeyValues() const;
};

}  // namespace kvstash

#endif  // KVSTASH_ENGINE_STORE_STATS_H_
