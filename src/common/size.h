// Human-readable byte sizes: "1048576", "64KiB", "64MiB", "8GiB", "1.5GiB", "4k", "1G".
// Binary units only (KiB = 1024); "KB"/"MB"/"GB" and single letters are also binary, as
// storage tools conventionally read them.
#ifndef KVSTASH_COMMON_SIZE_H_
#define KVSTASH_COMMON_SIZE_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "kvstash/status.h"

namespace kvstash {

Result<uint64_t> ParseSize(std::string_view text);
// 1048576 -> "1MiB", 1536 -> "1.5KiB".
std::string FormatSize(uint64_t bytes);

}  // namespace kvstash

#endif  // KVSTASH_COMMON_SIZE_H_
