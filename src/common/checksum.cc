#include "common/checksum.h"

#include <xxhash.h>

namespace kvstash {

Checksum ComputeChecksum(const void* data, size_t len) { return Checksum(XXH3_64bits(data, len)); }

Checksum ComputeChecksum(std::span<const std::byte> data) {
  return ComputeChecksum(data.data(), data.size());
}

uint64_t HashKey(NamespaceId ns, std::string_view key) {
  return XXH3_64bits_withSeed(key.data(), key.size(), 0x9E3779B97F4A7C15ull ^ ns);
}

}  // namespace kvstash
