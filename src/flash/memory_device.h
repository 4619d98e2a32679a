// MemoryDevice: a Device backed by anonymous memory, for tests and for running the flash tier
// without flash. Same contract as every Device (alignment, bounds, stats); Discard really
// zeroes the range (and gives whole pages back to the kernel), so tests can observe TRIM, and
// every discarded extent is recorded in order.
//
// Thread safety: as Device. Reads and writes of disjoint ranges need no lock; the discard
// history has its own mutex.
#ifndef KVSTASH_FLASH_MEMORY_DEVICE_H_
#define KVSTASH_FLASH_MEMORY_DEVICE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "common/mutex.h"
#include "common/types.h"
#include "flash/device.h"
#include "kvstash/status.h"

namespace kvstash {

struct MemoryDeviceOptions {
  uint64_t size = 64ull << 20;   // bytes; a non-zero multiple of io_alignment
  uint32_t io_alignment = 4096;  // a power of two, 512..65536
  // False makes the device behave like one without TRIM support: Discard returns OK, counts
  // discard_unsupported and leaves the data in place.
  bool discard_supported = true;
  Status Validate() const;
};

// One Discard call as the device received it.
struct DiscardedExtent {
  DeviceOffset offset;
  uint64_t len = 0;
  friend bool operator==(const DiscardedExtent&, const DiscardedExtent&) = default;
};

class MemoryDevice final : public Device {
 public:
  // Errors: InvalidArgument (bad options), ResourceExhausted (memory could not be mapped).
  static Result<std::unique_ptr<MemoryDevice>> Create(const MemoryDeviceOptions& options);
  // Shorthand for Create({.size = size}).
  static Result<std::unique_ptr<MemoryDevice>> Create(uint64_t size);
  ~MemoryDevice() override;

  // The device's bytes, for tests that inspect or corrupt the medium directly (bypasses stats
  // and alignment checks). Valid for the device's lifetime.
  std::span<std::byte> raw() { return {base_, size()}; }
  // Every successful, supported Discard in the order it was received.
  std::vector<DiscardedExtent> discard_history() const;

 private:
  MemoryDevice(std::byte* base, const MemoryDeviceOptions& options);

  Status ReadVImpl(std::span<IoRequest> requests) override;
  Status WriteVImpl(std::span<IoRequest> requests) override;
  Status DiscardImpl(DeviceOffset offset, uint64_t len, bool* unsupported) override;

  std::byte* const base_;  // mmap'ed, size() bytes, page aligned; owned
  const bool can_discard_;
  mutable Mutex mu_;
  std::vector<DiscardedExtent> history_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kvstash

#endif  // KVSTASH_FLASH_MEMORY_DEVICE_H_
