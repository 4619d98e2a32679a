#include "config/flash_sizing.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>

#include "common/errno.h"
#include "common/size.h"

namespace kvstash {
namespace {

uint64_t RoundDown(uint64_t bytes, uint64_t region_bytes) {
  return region_bytes == 0 ? bytes : bytes / region_bytes * region_bytes;
}

Result<uint64_t> BlockDeviceBytes(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus(errno, "open " + path);
  uint64_t bytes = 0;
  int rc = ::ioctl(fd, BLKGETSIZE64, &bytes);
  int err = errno;
  ::close(fd);
  if (rc != 0) return ErrnoToStatus(err, "BLKGETSIZE64 " + path);
  return bytes;
}

Result<FsSpace> QueryFsSpace(const std::string& path, const struct stat* existing) {
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (parent.empty()) parent = ".";
  struct statvfs vfs {};
  if (::statvfs(parent.c_str(), &vfs) != 0) {
    return ErrnoToStatus(errno, "statvfs " + parent.string());
  }
  FsSpace space;
  space.available_bytes = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  space.total_bytes = static_cast<uint64_t>(vfs.f_blocks) * vfs.f_frsize;
  if (existing != nullptr)
    space.existing_file_bytes = static_cast<uint64_t>(existing->st_blocks) * 512;
  return space;
}

}  // namespace

uint64_t AutoFlashBytes(const FsSpace& space, uint64_t region_bytes) {
  uint64_t headroom = std::max(space.total_bytes / 20, kAutoFlashMinHeadroomBytes);
  uint64_t usable = space.available_bytes + space.existing_file_bytes;
  usable = usable > headroom ? usable - headroom : 0;
  return RoundDown(std::min(usable, kAutoFlashMaxBytes), region_bytes);
}

Result<uint64_t> ResolveFlashBytes(const KvstashdConfig& config) {
  const std::string& path = config.flash_path;
  if (path.empty()) return Status::InvalidArgument("flash tier disabled (flash.path is empty)");
  struct stat st {};
  bool exists = ::stat(path.c_str(), &st) == 0;
  if (!exists && errno != ENOENT) return ErrnoToStatus(errno, "stat " + path);
  uint64_t bytes = config.flash_bytes;
  if (exists && S_ISBLK(st.st_mode)) {
    KVSTASH_ASSIGN_OR_RETURN(uint64_t device_bytes, BlockDeviceBytes(path));
    bytes = bytes == 0 ? device_bytes : std::min(bytes, device_bytes);
  } else if (bytes == 0) {
    KVSTASH_ASSIGN_OR_RETURN(FsSpace space, QueryFsSpace(path, exists ? &st : nullptr));
    bytes = AutoFlashBytes(space, config.region_bytes);
    if (bytes < 2 * config.region_bytes) {
      return Status::ResourceExhausted(
          "flash.size auto: only " + FormatSize(space.available_bytes) + " free for " + path +
          " (keeping headroom), fewer than two " + FormatSize(config.region_bytes) +
          " regions; set --flash-size SIZE, a smaller --region-size, or --flash '' to run "
          "without flash");
    }
  }
  return RoundDown(bytes, config.region_bytes);
}

Result<bool> SupportsDirectIo(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISBLK(st.st_mode)) return true;
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_DIRECT, 0644);
  if (fd >= 0) {
    ::close(fd);
    return true;
  }
  if (errno != EINVAL) return ErrnoToStatus(errno, "open " + path);
  fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoToStatus(errno, "open " + path);
  ::close(fd);
  return false;
}

}  // namespace kvstash
