// StoreStats::ToKeyValues: the exported names are user-visible (`kvstash stat --json` keys,
// Prometheus names via metrics/stats_samples.cc), so they are pinned here, in order.
#include "engine/store_stats.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace kvstash {
namespace {

TEST(StoreStatsTest, ExportedNamesAreStable) {
  const std::vector<std::string> expected = {"blocks_allocated",
                                             "blocks_committed",
                                             "blocks_persisted",
                                             "blocks_evicted",
                                             "lifecycle_allocations",
                                             "lifecycle_commits",
                                             "lifecycle_aborts",
                                             "lease_aborts",
                                             "lifecycle_persists",
                                             "lifecycle_evictions",
                                             "lifecycle_deletes",
                                             "lifecycle_reclaimed",
                                             "put_already_exists",
                                             "put_busy",
                                             "lookups",
                                             "hits_dram",
                                             "hits_flash",
                                             "misses",
                                             "dram_capacity_bytes",
                                             "dram_used_bytes",
                                             "dram_live_bytes",
                                             "dram_regions",
                                             "dram_regions_free",
                                             "dram_region_recycles",
                                             "dram_copies_dropped",
                                             "dram_hugepages",
                                             "dram_payload_memcpy_bytes",
                                             "flash_capacity_bytes",
                                             "flash_live_bytes",
                                             "flash_bytes_written",
                                             "flash_device_bytes_written",
                                             "flash_regions",
                                             "flash_regions_sealed",
                                             "flash_write_errors",
                                             "flash_persist_failures",
                                             "checksum_mismatch_on_flush",
                                             "flash_read_errors",
                                             "checksum_failures",
                                             "flash_regions_reclaimed",
                                             "flash_reinserted",
                                             "flash_degraded",
                                             "discard_calls",
                                             "discard_bytes",
                                             "discard_extents",
                                             "discard_unsupported",
                                             "admission_admitted",
                                             "admission_rejected",
                                             "admission_admitted_bytes",
                                             "admission_rejected_bytes",
                                             "admission_rejected_by_budget",
                                             "index_entries",
                                             "index_memory_bytes",
                                             "index_key_bytes"};
  std::vector<std::string> names;
  for (const auto& [name, value] : StoreStats{}.ToKeyValues()) names.push_back(name);
  EXPECT_EQ(names, expected);
}

TEST(StoreStatsTest, FieldsExportUnderTheirTableNames) {
  StoreStats s;
  s.allocations = 1;
  s.busy = 2;
  s.flash_checksum_mismatch_on_flush = 3;
  s.flash_checksum_failures = 4;
  s.index_key_bytes = 5;
  uint64_t found = 0;
  for (const auto& [name, value] : s.ToKeyValues()) {
    if (name == "lifecycle_allocations") found += value == 1;
    if (name == "put_busy") found += value == 2;
    if (name == "checksum_mismatch_on_flush") found += value == 3;
    if (name == "checksum_failures") found += value == 4;
    if (name == "index_key_bytes") found += value == 5;
  }
  EXPECT_EQ(found, 5u);
}

}  // namespace
}  // namespace kvstash
