// Device: the I/O seam of the flash tier. Every byte the flash tier reads, writes or discards
// goes through this interface, so that the io_uring device, the in-memory device and the
// fault-injection device are interchangeable (leveldb's Env, Navy's Device).
//
// Non-virtual public methods check alignment and bounds and count stats; implementations
// override the private *Impl methods and may assume valid, aligned arguments.
//
// Alignment: offsets, lengths and buffer addresses must be multiples of io_alignment()
// (4096 for O_DIRECT devices). A violation is InvalidArgument, never UB.
//
// Thread safety: Read/Write/Discard may be called concurrently from several threads on
// disjoint ranges. The io_uring device keeps one ring per calling thread.
#ifndef KVSTASH_FLASH_DEVICE_H_
#define KVSTASH_FLASH_DEVICE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "common/types.h"
#include "kvstash/status.h"

namespace kvstash {

struct DeviceStats {
  uint64_t read_ops = 0, read_bytes = 0, read_errors = 0;
  uint64_t write_ops = 0, write_bytes = 0, write_errors = 0;
  uint64_t discard_calls = 0, discard_bytes = 0, discard_errors = 0;
  uint64_t discard_unsupported = 0;  // discards skipped because the device cannot discard
};

// One element of a batched read or write: submitted together, up to the queue depth in flight.
struct IoRequest {
  DeviceOffset offset;
  std::span<std::byte> buffer;  // for writes, the data; for reads, the destination
  Status result;                // filled by ReadV/WriteV
};

class Device {
 public:
  virtual ~Device() = default;
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  // Reads exactly buffer.size() bytes at `offset`. Short reads are resubmitted internally.
  Status Read(DeviceOffset offset, std::span<std::byte> buffer);
  // Writes exactly data.size() bytes at `offset`.
  Status Write(DeviceOffset offset, std::span<const std::byte> data);
  // Batched forms: all requests are in flight together (up to queue_depth()); each request's
  // `result` is set; the returned Status is the first failure (or OK).
  Status ReadV(std::span<IoRequest> requests);
  Status WriteV(std::span<IoRequest> requests);
  // Tells the device that [offset, offset+len) holds no data (TRIM / punch hole). A device
  // that cannot discard returns OK and counts discard_unsupported.
  Status Discard(DeviceOffset offset, uint64_t len);

  uint64_t size() const { return size_; }
  uint32_t io_alignment() const { return io_alignment_; }
  DeviceStats stats() const;

 protected:
  Device(uint64_t size, uint32_t io_alignment) : size_(size), io_alignment_(io_alignment) {}

 private:
  virtual Status ReadVImpl(std::span<IoRequest> requests) = 0;
  virtual Status WriteVImpl(std::span<IoRequest> requests) = 0;
  // Returns NotSupported-like: set *unsupported and return OK when discard is not available.
  virtual Status DiscardImpl(DeviceOffset offset, uint64_t len, bool* unsupported) = 0;

  Status CheckRange(DeviceOffset offset, uint64_t len, const void* buf) const;

  const uint64_t size_;
  const uint32_t io_alignment_;
  struct AtomicStats {
    std::atomic<uint64_t> read_ops{0}, read_bytes{0}, read_errors{0};
    std::atomic<uint64_t> write_ops{0}, write_bytes{0}, write_errors{0};
    std::atomic<uint64_t> discard_calls{0}, discard_bytes{0}, discard_errors{0};
    std::atomic<uint64_t> discard_unsupported{0};
  } stats_;
};

}  // namespace kvstash

#endif  // KVSTASH_FLASH_DEVICE_H_
