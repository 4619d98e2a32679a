// Flash sizing: what `flash.size = 0` (auto) means.
//
// For a file: the free space of the filesystem that will hold it (plus what an existing file
// at the path already occupies), minus headroom (5% of the filesystem, at least 256 MiB) so the
// host does not run out of disk, capped at 8 GiB, rounded down to whole regions.
// For a block device: the device's size, rounded down to whole regions.
// An explicit size is only rounded down to whole regions.
//
// Thread safety: pure functions (ResolveFlashBytes reads the filesystem).
#ifndef KVSTASH_CONFIG_FLASH_SIZING_H_
#define KVSTASH_CONFIG_FLASH_SIZING_H_

#include <cstdint>
#include <string>

#include "config/kvstashd_config.h"
#include "kvstash/status.h"

namespace kvstash {

inline constexpr uint64_t kAutoFlashMaxBytes = 8ull << 30;
inline constexpr uint64_t kAutoFlashMinHeadroomBytes = 256ull << 20;

struct FsSpace {
  uint64_t available_bytes = 0;  // free to an unprivileged user (statvfs f_bavail)
  uint64_t total_bytes = 0;
  uint64_t existing_file_bytes = 0;  // blocks already used by the file at the path
};

// The auto size for a file on a filesystem with `space`. May be 0 (not enough room).
uint64_t AutoFlashBytes(const FsSpace& space, uint64_t region_bytes);

// The flash bytes kvstashd should use for `config` (flash_path non-empty). The parent
// directory of the path must exist. Errors: IOError/NotFound from statvfs/stat;
// ResourceExhausted when auto sizing leaves fewer than two regions (the message says how much
// is free and which flags to use instead).
Result<uint64_t> ResolveFlashBytes(const KvstashdConfig& config);

// Whether the flash file at `path` can be opened with O_DIRECT (tmpfs, for one, refuses it).
// Creates the file (empty) if it does not exist. A block device is assumed to support it.
// Errors: those of open() other than the EINVAL that means "no O_DIRECT here".
Result<bool> SupportsDirectIo(const std::string& path);

}  // namespace kvstash

#endif  // KVSTASH_CONFIG_FLASH_SIZING_H_
