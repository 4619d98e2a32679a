// FlashTier: the engine's view of the flash tier. Owns the device (or borrows an injected
// one), the RegionStore and the admission policy, and translates between the index's packed
// 8-byte flash location and the RegionStore's FlashLocation.
//
// Packed location (BlockRecord::flash_location() while PERSISTED), 64 bits:
//   [63..44] region id (20 bits: up to 1M regions)
//   [43..25] entry offset within the region in 4 KiB blocks (19 bits: regions up to 2 GiB)
//   [24..0]  low 25 bits of the region's write sequence
// The extent length follows from the value size (ValueExtentBytes), and the full sequence
// from the region's current one, whose low bits must match: a location that outlived its
// region is detected as stale, never read as someone else's bytes (the region's entry records
// and the value checksum check that again on every read).
//
// Thread safety: as RegionStore: Persist (Append) from one thread at a time (serialised
// inside), everything else from any thread.
#ifndef KVSTASH_ENGINE_FLASH_TIER_H_
#define KVSTASH_ENGINE_FLASH_TIER_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "admission/admission_options.h"
#include "common/clock.h"
#include "common/types.h"
#include "flash/device.h"
#include "flash/region_store.h"
#include "kvstash/status.h"

namespace kvstash {

struct FlashOptions {
  // A regular file (created and sized to size_bytes) or a block device. Empty: no flash tier,
  // unless StoreOptions::flash_device injects one.
  std::string path;
  uint64_t size_bytes = 0;  // 0: a block device's size, or the existing file's size
  uint32_t queue_depth = 32;
  bool direct_io = true;
  RegionStoreOptions regions;  // region size, write buffers, TRIM rate, discard on create
  AdmissionOptions admission;  // default: reuse-aware
  bool reinsert_hits = true;   // a block hit since it was written survives its region's reclaim
};

class FlashTier {
 public:
  // `injected` (not owned) takes precedence over options.path. `on_drop` is the owner's
  // handler for entries leaving the store (RegionStore's DropCallback contract).
  static Result<std::unique_ptr<FlashTier>> Create(const FlashOptions& options, Device* injected,
                                                   Clock* clock, DropCallback on_drop);

  AdmissionPolicy& admission() { return *admission_; }
  RegionStore& store() { return *store_; }
  Device& device() { return *device_; }

  uint64_t Pack(const FlashLocation& loc) const;
  // Rebuilds the full location. NotFound if the region was rewritten since (stale).
  Result<FlashLocation> Unpack(uint64_t packed, uint64_t value_bytes) const;

  Result<uint64_t> Persist(NamespaceId ns, std::string_view key, std::span<const std::byte> value,
                           Checksum checksum);
  Result<RegionPin> Pin(uint64_t packed, uint64_t value_bytes);
  // One element of ReadV: a block by its packed location and identity, and where its value
  // goes (>= value_bytes bytes).
  struct BlockRead {
    uint64_t packed = 0;
    NamespaceId ns = 0;
    std::string_view key;
    uint64_t value_bytes = 0;
    std::span<std::byte> dest;
    Status result;  // set by ReadV: as Read's return value
  };
  // Many Reads in one RegionStore::ReadV (all device reads in flight together). Sets every
  // element's `result`.
  void ReadV(std::span<BlockRead> reads);
  void MarkDead(uint64_t packed, uint64_t value_bytes);

 private:
  FlashTier() = default;
  std::unique_ptr<Device> owned_device_;
  Device* device_ = nullptr;
  std::unique_ptr<AdmissionPolicy> admission_;
  std::unique_ptr<RegionStore> store_;
};

}  // namespace kvstash

#endif  // KVSTASH_ENGINE_FLASH_TIER_H_
