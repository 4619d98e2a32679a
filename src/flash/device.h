// Device: the I/O seam of the flash tier. Every byte the flash tier reads, writes or discards
// goes through this interface, so that the io_uring device, the in-memory device and the
// fault-injection device are interchangeable (leveldb's Env, Navy's Device).
//
// Non-virtual public methods check alignment and bounds and count stats; implementations
// override the private *Impl methods and may assume valid, aligned, non-empty arguments.
//
// Alignment: offsets, lengths and buffer addresses must be multiples of io_alignment()
// (4096 for O_DIRECT devices). A violation is InvalidArgument, never UB, and reaches no
// implementation. A zero-length request is a no-op that returns OK.
//
// Completeness: a successful Read/Write transferred every byte. Short transfers are an
// implementation detail (the io_uring device resubmits the remainder); they never surface
// through this interface. A failed Write may have written any prefix of the data (a torn
// write); a failed Read leaves the destination contents unspecified.
//
// Thread safety: every method may be called concurrently from several threads on disjoint
// ranges. Concurrent operations on overlapping ranges have unspecified data results (as on a
// real disk) but never corrupt the device object. The io_uring device gives each concurrent
// caller its own ring.
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

// A snapshot of a device's counters. Ops count submitted requests (one IoRequest = one op);
// bytes count successfully transferred bytes only; errors count failed submitted requests.
// Requests rejected by the alignment/bounds check count only as invalid_requests.
struct DeviceStats {
  uint64_t read_ops = 0, read_bytes = 0, read_errors = 0;
  uint64_t write_ops = 0, write_bytes = 0, write_errors = 0;
  uint64_t discard_calls = 0, discard_bytes = 0, discard_errors = 0;
  uint64_t discard_unsupported = 0;  // discards skipped because the device cannot discard
  uint64_t invalid_requests = 0;     // rejected by the alignment/bounds check
};

// One element of a batched read or write: submitted together, up to the queue depth in flight.
// For writes the device only reads `buffer` (it is not const so one type serves both).
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

  // Reads exactly buffer.size() bytes at `offset`. Errors: InvalidArgument (alignment or
  // bounds), IOError/DataLoss/... from the device (mapped by ErrnoToStatus).
  Status Read(DeviceOffset offset, std::span<std::byte> buffer);
  // Writes exactly data.size() bytes at `offset`. Errors as Read, plus ResourceExhausted when
  // the device is full (ENOSPC).
  Status Write(DeviceOffset offset, std::span<const std::byte> data);
  // Batched forms: all valid requests are in flight together (up to the device's queue
  // depth); every request's `result` is set; the returned Status is the first failure in
  // request order (or OK). A request that fails the alignment/bounds check gets
  // InvalidArgument and is not submitted; the other requests still are. Buffers must stay
  // valid until the call returns; the call returns only when nothing is in flight.
  Status ReadV(std::span<IoRequest> requests);
  Status WriteV(std::span<IoRequest> requests);
  // Tells the device that [offset, offset+len) holds no data (TRIM / punch hole); later reads
  // of the range return zeros or stale data, never an error. A device that cannot discard
  // returns OK, counts discard_unsupported and from then on reports !discard_supported().
  Status Discard(DeviceOffset offset, uint64_t len);

  uint64_t size() const { return size_; }
  uint32_t io_alignment() const { return io_alignment_; }
  // False once the device has reported that it cannot discard (sticky).
  bool discard_supported() const { return discard_supported_.load(std::memory_order_acquire); }
  DeviceStats stats() const;

 protected:
  // `io_alignment` must be a power of two; `size` a multiple of it (checked by factories).
  Device(uint64_t size, uint32_t io_alignment) : size_(size), io_alignment_(io_alignment) {}

 private:
  // Every request is valid and non-empty. Must set each request's `result` and return only
  // when no request is in flight.
  virtual Status ReadVImpl(std::span<IoRequest> requests) = 0;
  virtual Status WriteVImpl(std::span<IoRequest> requests) = 0;
  // The range is valid and non-empty. When the device cannot discard, set *unsupported and
  // return OK.
  virtual Status DiscardImpl(DeviceOffset offset, uint64_t len, bool* unsupported) = 0;

  Status CheckRange(DeviceOffset offset, uint64_t len, const void* buf) const;
  Status SubmitV(std::span<IoRequest> requests, bool write);
  void CountResults(std::span<const IoRequest> requests, std::span<const size_t> submitted,
                    bool write);

  const uint64_t size_;
  const uint32_t io_alignment_;
  std::atomic<bool> discard_supported_{true};
  struct AtomicStats {
    std::atomic<uint64_t> read_ops{0}, read_bytes{0}, read_errors{0};
    std::atomic<uint64_t> write_ops{0}, write_bytes{0}, write_errors{0};
    std::atomic<uint64_t> discard_calls{0}, discard_bytes{0}, discard_errors{0};
    std::atomic<uint64_t> discard_unsupported{0};
    std::atomic<uint64_t> invalid_requests{0};
  } stats_;
};

// True if `v` is a multiple of `alignment` (a power of two).
inline bool IsAligned(uint64_t v, uint32_t alignment) { return (v & (alignment - 1)) == 0; }

}  // namespace kvstash

#endif  // KVSTASH_FLASH_DEVICE_H_
