#include "flash/memory_device.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "common/errno.h"

namespace kvstash {

Status MemoryDeviceOptions::Validate() const {
  if (io_alignment < 512 || io_alignment > 65536 || (io_alignment & (io_alignment - 1)) != 0) {
    return Status::InvalidArgument(
        "memory device io_alignment must be a power of two in "
        "[512, 65536], got " +
        std::to_string(io_alignment));
  }
  if (size == 0 || !IsAligned(size, io_alignment)) {
    return Status::InvalidArgument("memory device size must be a non-zero multiple of " +
                                   std::to_string(io_alignment) + ", got " + std::to_string(size));
  }
  return Status::Ok();
}

Result<std::unique_ptr<MemoryDevice>> MemoryDevice::Create(const MemoryDeviceOptions& options) {
  KVSTASH_RETURN_IF_ERROR(options.Validate());
  // MAP_NORESERVE: a large test device costs only the pages actually written.
  void* p = mmap(nullptr, options.size, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return ErrnoToStatus(errno, "mmap memory device");
  // mmap is page aligned; an alignment above the page size needs an explicitly aligned base.
  if (!IsAligned(reinterpret_cast<uintptr_t>(p), options.io_alignment)) {
    munmap(p, options.size);
    return Status::InvalidArgument("io_alignment above the page size is not supported");
  }
  return std::unique_ptr<MemoryDevice>(new MemoryDevice(static_cast<std::byte*>(p), options));
}

Result<std::unique_ptr<MemoryDevice>> MemoryDevice::Create(uint64_t size) {
  MemoryDeviceOptions options;
  options.size = size;
  return Create(options);
}

MemoryDevice::MemoryDevice(std::byte* base, const MemoryDeviceOptions& options)
    : Device(options.size, options.io_alignment),
      base_(base),
      can_discard_(options.discard_supported) {}

MemoryDevice::~MemoryDevice() { munmap(base_, size()); }

Status MemoryDevice::ReadVImpl(std::span<IoRequest> requests) {
  for (IoRequest& r : requests) {
    std::memcpy(r.buffer.data(), base_ + r.offset.value(), r.buffer.size());
    r.result = Status::Ok();
  }
  return Status::Ok();
}

Status MemoryDevice::WriteVImpl(std::span<IoRequest> requests) {
  for (IoRequest& r : requests) {
    std::memcpy(base_ + r.offset.value(), r.buffer.data(), r.buffer.size());
    r.result = Status::Ok();
  }
  return Status::Ok();
}

// Zeroes the range. Whole pages go back to the kernel (MADV_DONTNEED on a private anonymous
// mapping reads back as zeros), so discarding a large device is cheap and frees its memory.
Status MemoryDevice::DiscardImpl(DeviceOffset offset, uint64_t len, bool* unsupported) {
  if (!can_discard_) {
    *unsupported = true;
    return Status::Ok();
  }
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  uint64_t begin = offset.value();
  uint64_t end = begin + len;
  uint64_t page_begin = (begin + page - 1) / page * page;
  uint64_t page_end = end / page * page;
  if (page_begin < page_end &&
      madvise(base_ + page_begin, page_end - page_begin, MADV_DONTNEED) == 0) {
    std::memset(base_ + begin, 0, page_begin - begin);
    std::memset(base_ + page_end, 0, end - page_end);
  } else {
    std::memset(base_ + begin, 0, len);
  }
  MutexLock lock(&mu_);
  history_.push_back(DiscardedExtent{offset, len});
  return Status::Ok();
}

std::vector<DiscardedExtent> MemoryDevice::discard_history() const {
  MutexLock lock(&mu_);
  return history_;
}

}  // namespace kvstash
