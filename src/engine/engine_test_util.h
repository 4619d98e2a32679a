// Test helpers shared by the engine and server tests (header only).
#ifndef KVSTASH_ENGINE_ENGINE_TEST_UTIL_H_
#define KVSTASH_ENGINE_ENGINE_TEST_UTIL_H_

#include "engine/block_store.h"
#include "flash/device.h"

namespace kvstash::testing {

// A small, deterministic store over `flash`: 4 DRAM regions of 256 KiB (blocks up to 256 KiB),
// 1 MiB flash regions, no background threads (the test decides when blocks move to flash and
// when TRIM runs), no huge pages. Admission stays at its default; tests set what they measure.
inline StoreOptions SmallFlashOptions(Device* flash) {
  StoreOptions o;
  o.dram_bytes = 4 * (256 << 10);
  o.dram_region_bytes = 256 << 10;
  o.max_value_bytes = 256 << 10;
  o.try_hugepages = false;
  o.background = false;
  o.flash_device = flash;
  o.flash.regions.region_bytes = 1 << 20;
  o.flash.regions.background_flush = false;
  o.flash.regions.trim.background_thread = false;
  return o;
}

}  // namespace kvstash::testing

#endif  // KVSTASH_ENGINE_ENGINE_TEST_UTIL_H_
