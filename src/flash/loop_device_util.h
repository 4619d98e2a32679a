// Test-only helpers for end-to-end TRIM tests through the kernel: a loop device attached to
// a sparse file (detached on destruction) and the allocated bytes of the backing file.
#ifndef KVSTASH_FLASH_LOOP_DEVICE_UTIL_H_
#define KVSTASH_FLASH_LOOP_DEVICE_UTIL_H_

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <string>

namespace kvstash {
namespace testing {

// Runs `cmd`, returns its exit status and (trimmed) output.
inline int Run(const std::string& cmd, std::string* output) {
  output->clear();
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return -1;
  char buf[256];
  while (fgets(buf, sizeof(buf), p) != nullptr) *output += buf;
  while (!output->empty() && (output->back() == '\n' || output->back() == ' ')) output->pop_back();
  return pclose(p);
}

// A loop device attached to a file; detached on destruction.
class LoopDevice {
 public:
  ~LoopDevice() {
    if (path_.empty()) return;
    std::string out;
    if (Run("losetup -d " + path_, &out) != 0)
      ADD_FAILURE() << "losetup -d " << path_ << ": " << out;
  }
  // Empty on success, else why the loop device is unavailable.
  std::string Attach(const std::string& file) {
    if (geteuid() != 0) return "not running as root";
    std::string out;
    if (Run("command -v losetup", &out) != 0) return "losetup not found";
    if (Run("losetup --find --show " + file, &out) != 0 || out.rfind("/dev/", 0) != 0) {
      return "losetup --find --show failed: " + out;
    }
    path_ = out;
    return "";
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Allocated bytes of `path`, after flushing its dirty pages (the loop driver writes through
// the backing file's page cache).
inline int64_t AllocatedBytes(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(fsync(fd), 0);
  struct stat st {};
  EXPECT_EQ(fstat(fd, &st), 0);
  close(fd);
  return static_cast<int64_t>(st.st_blocks) * 512;
}

}  // namespace testing
}  // namespace kvstash

#endif  // KVSTASH_FLASH_LOOP_DEVICE_UTIL_H_
