// Strong types shared by the tiers. No raw uint64_t offset crosses a module boundary.
#ifndef KVSTASH_COMMON_TYPES_H_
#define KVSTASH_COMMON_TYPES_H_

#include <cstdint>

#include "common/strong_type.h"

namespace kvstash {

struct RegionIdTag {};
struct ArenaOffsetTag {};
struct DeviceOffsetTag {};
struct ChecksumTag {};

// Index of a region within a tier (DRAM or flash).
using RegionId = StrongType<RegionIdTag, uint32_t>;
// Byte offset within the DRAM arena (what a client adds to the arena's remote base address).
using ArenaOffset = StrongType<ArenaOffsetTag, uint64_t>;
// Byte offset on a flash device.
using DeviceOffset = StrongType<DeviceOffsetTag, uint64_t>;
// XXH3-64 of a block's payload.
using Checksum = StrongType<ChecksumTag, uint64_t>;

// Tenant namespace id (0 is the default namespace).
using NamespaceId = uint16_t;

inline constexpr uint32_t kMaxKeyBytes = 256;

}  // namespace kvstash

#endif  // KVSTASH_COMMON_TYPES_H_
