// RAII owners for the two C handles of the io_uring data path: a file descriptor (UniqueFd)
// and an io_uring instance (UringRing). Shared by UringDevice and the raw-device probe
// (io_probe.h), so both follow the same submission discipline.
//
// Thread safety: neither class is thread-safe; a UringRing is used by one thread at a time
// (UringDevice hands each concurrent caller its own ring).
#ifndef KVSTASH_FLASH_URING_RING_H_
#define KVSTASH_FLASH_URING_RING_H_

#include <liburing.h>

#include <cstdint>
#include <memory>

#include "kvstash/status.h"

namespace kvstash {

// Owns one file descriptor; closes it on destruction. Movable, not copyable.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// Owns one io_uring (io_uring_queue_init .. io_uring_queue_exit). Heap-only: the struct is
// shared with the kernel through mmaps and is never moved.
class UringRing {
 public:
  // `entries`: submission queue size (rounded up to a power of two by the kernel); the
  // completion queue is twice that, so up to `entries` requests in flight never overflow it.
  // Errors: ResourceExhausted (memlock / ENOMEM), PermissionDenied (io_uring disabled), ...
  static Result<std::unique_ptr<UringRing>> Create(uint32_t entries);
  ~UringRing();
  UringRing(const UringRing&) = delete;
  UringRing& operator=(const UringRing&) = delete;

  io_uring* get() { return &ring_; }
  uint32_t entries() const { return entries_; }

  // io_uring_submit_and_wait with -EINTR retried. Returns the number submitted, or -errno
  // (-EAGAIN / -EBUSY mean: reap completions, then submit again).
  int SubmitAndWait(unsigned wait_nr);
  // Blocks until a completion is available; -EINTR retried. Returns 0 or -errno. The caller
  // must mark the completion seen.
  int WaitCqe(io_uring_cqe** cqe);

 private:
  explicit UringRing(uint32_t entries) : entries_(entries) {}

  io_uring ring_{};
  const uint32_t entries_;
};

}  // namespace kvstash

#endif  // KVSTASH_FLASH_URING_RING_H_
