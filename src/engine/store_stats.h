// StoreStats: a snapshot of the engine's counters. Every lifecycle transition is counted, so a
// test (or an operator, via `kvstash stat`) can see the lifecycle from outside.
//
// Each counter is defined once, in KVSTASH_STORE_COUNTERS: the struct's fields and
// ToKeyValues() are generated from it. BlockStore::Stats() (engine/block_store_stats.cc)
// fills the fields from wherever each one lives.
#ifndef KVSTASH_ENGINE_STORE_STATS_H_
#define KVSTASH_ENGINE_STORE_STATS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace kvstash {

// X(field, "exported_name", "help"), in export order. The exported name is user-visible: it
// is the key in `kvstash stat --json` and, as "store.<name>", the source of the Prometheus
// name (metrics/stats_samples.cc), so it never changes even where it differs from the field.
// clang-format off
#define KVSTASH_STORE_COUNTERS(X)                                                              \
  /* Lifecycle: current number of blocks in each live state (gauges)... */                     \
  X(blocks_allocated, "blocks_allocated", "blocks ALLOCATED (being written)")                  \
  X(blocks_committed, "blocks_committed", "blocks COMMITTED (DRAM only)")                      \
  X(blocks_persisted, "blocks_persisted", "blocks PERSISTED (on flash, maybe also in DRAM)")   \
  X(blocks_evicted, "blocks_evicted", "out of the index, space not yet reclaimed")             \
  /* ...and transitions since start (counters). */                                             \
  X(allocations, "lifecycle_allocations", "-> ALLOCATED")                                      \
  X(commits, "lifecycle_commits", "ALLOCATED -> COMMITTED")                                    \
  X(aborts, "lifecycle_aborts", "ALLOCATED -> DELETED by Abort()")                             \
  X(lease_aborts, "lease_aborts", "ALLOCATED -> DELETED by lease expiry")                      \
  X(persists, "lifecycle_persists", "COMMITTED -> PERSISTED")                                  \
  X(evictions, "lifecycle_evictions", "-> EVICTED by capacity pressure")                       \
  X(deletes, "lifecycle_deletes", "-> EVICTED by Delete()")                                    \
  X(reclaimed, "lifecycle_reclaimed", "EVICTED/aborted -> DELETED (space reclaimed)")          \
  X(already_exists, "put_already_exists", "Allocate() refused: committed")                     \
  X(busy, "put_busy", "Allocate() refused: another writer")                                    \
  /* Reads. */                                                                                 \
  X(lookups, "lookups", "Lookup() calls with a valid key")                                     \
  X(hits_dram, "hits_dram", "lookups served from DRAM")                                        \
  X(hits_flash, "hits_flash", "lookups served from flash")                                     \
  X(misses, "misses", "lookups that found nothing readable")                                   \
  /* DRAM tier. */                                                                             \
  X(dram_capacity_bytes, "dram_capacity_bytes", "bytes in all DRAM regions")                   \
  X(dram_used_bytes, "dram_used_bytes", "bytes handed out in open or sealed regions")          \
  X(dram_live_bytes, "dram_live_bytes", "bytes of blocks still reachable through the index")   \
  X(dram_regions, "dram_regions", "DRAM regions")                                              \
  X(dram_regions_free, "dram_regions_free", "DRAM regions free")                               \
  X(dram_region_recycles, "dram_region_recycles", "DRAM regions recycled")                     \
  X(dram_copies_dropped, "dram_copies_dropped", "persisted blocks whose DRAM copy was dropped") \
  X(dram_hugepages, "dram_hugepages", "1 if the arena is backed by huge pages")                \
  X(dram_payload_memcpy_bytes, "dram_payload_memcpy_bytes",                                    \
    "payload bytes the engine copied out of DRAM")                                             \
  /* Flash tier (0 when there is none). */                                                     \
  X(flash_capacity_bytes, "flash_capacity_bytes", "bytes in all flash regions")                \
  X(flash_live_bytes, "flash_live_bytes", "bytes of live blocks on flash")                     \
  X(flash_bytes_written, "flash_bytes_written", "bytes appended to flash regions")             \
  X(flash_device_bytes_written, "flash_device_bytes_written", "bytes written to the device")   \
  X(flash_regions, "flash_regions", "flash regions")                                           \
  X(flash_regions_sealed, "flash_regions_sealed", "flash regions sealed")                      \
  X(flash_write_errors, "flash_write_errors", "device write I/O errors")                       \
  X(flash_persist_failures, "flash_persist_failures",                                          \
    "admitted blocks that did not reach flash")                                                \
  X(flash_checksum_mismatch_on_flush, "checksum_mismatch_on_flush",                            \
    "writer's checksum did not match its bytes")                                               \
  X(flash_read_errors, "flash_read_errors", "flash reads that failed (block dropped)")         \
  X(flash_checksum_failures, "checksum_failures", "flash reads that failed their checksum")    \
  X(flash_regions_reclaimed, "flash_regions_reclaimed", "flash regions reclaimed")             \
  X(flash_reinserted, "flash_reinserted", "hot blocks rewritten from a reclaimed region")      \
  X(flash_degraded, "flash_degraded", "1 after a device I/O error, until a write succeeds")    \
  X(discard_calls, "discard_calls", "TRIM (discard) calls")                                    \
  X(discard_bytes, "discard_bytes", "bytes discarded")                                         \
  X(discard_extents, "discard_extents", "extents discarded")                                   \
  X(discard_unsupported, "discard_unsupported", "discards the device refused as unsupported")  \
  X(admission_admitted, "admission_admitted", "blocks admitted to flash")                      \
  X(admission_rejected, "admission_rejected", "blocks refused by flash admission")             \
  X(admission_admitted_bytes, "admission_admitted_bytes", "bytes admitted to flash")           \
  X(admission_rejected_bytes, "admission_rejected_bytes", "bytes refused by flash admission")  \
  X(admission_rejected_by_budget, "admission_rejected_by_budget",                              \
    "blocks refused by the write budget")                                                      \
  /* Index. */                                                                                 \
  X(index_entries, "index_entries", "entries in the index")                                    \
  X(index_memory_bytes, "index_memory_bytes", "bytes the index occupies, keys included")       \
  X(index_key_bytes, "index_key_bytes", "key bytes in the index")
// clang-format on

struct StoreStats {
#define KVSTASH_STORE_COUNTER_FIELD(field, name, help) uint64_t field = 0;
  KVSTASH_STORE_COUNTERS(KVSTASH_STORE_COUNTER_FIELD)
#undef KVSTASH_STORE_COUNTER_FIELD

  // Flat (name, value) list with stable names, for metrics and `kvstash stat --json`.
  std::vector<std::pair<std::string, uint64_t>> ToKeyValues() const;
};

}  // namespace kvstash

#endif  // KVSTASH_ENGINE_STORE_STATS_H_
