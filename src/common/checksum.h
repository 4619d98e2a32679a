// Payload and metadata checksums: XXH3-64 (libxxhash), ~30 GB/s per core.
#ifndef KVSTASH_COMMON_CHECKSUM_H_
#define KVSTASH_COMMON_CHECKSUM_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "common/types.h"

namespace kvstash {

Checksum ComputeChecksum(std::span<const std::byte> data);
Checksum ComputeChecksum(const void* data, size_t len);
// 64-bit hash of (namespace, key) used by the index and for sharding.
uint64_t HashKey(NamespaceId ns, std::string_view key);

}  // namespace kvstash

#endif  // KVSTASH_COMMON_CHECKSUM_H_
