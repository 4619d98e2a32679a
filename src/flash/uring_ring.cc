#include "flash/uring_ring.h"

#include <unistd.h>

#include <cerrno>
#include <string>

#include "common/errno.h"

namespace kvstash {

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);  // close errors on an O_DIRECT fd carry no data loss to report
  fd_ = fd;
}

Result<std::unique_ptr<UringRing>> UringRing::Create(uint32_t entries) {
  if (entries == 0 || entries > 32768) {
    return Status::InvalidArgument("io_uring entries must be in [1, 32768], got " +
                                   std::to_string(entries));
  }
  std::unique_ptr<UringRing> ring(new UringRing(entries));
  int ret = io_uring_queue_init(entries, &ring->ring_, 0);
  if (ret < 0) {
    // Not initialized: the destructor must not call io_uring_queue_exit.
    ring->ring_.ring_fd = -1;
    return ErrnoToStatus(-ret, "io_uring_queue_init(" + std::to_string(entries) + ")");
  }
  return ring;
}

UringRing::~UringRing() {
  if (ring_.ring_fd >= 0) io_uring_queue_exit(&ring_);
}

int UringRing::SubmitAndWait(unsigned wait_nr) {
  for (;;) {
    int ret = io_uring_submit_and_wait(&ring_, wait_nr);
    if (ret != -EINTR) return ret;
  }
}

int UringRing::WaitCqe(io_uring_cqe** cqe) {
  for (;;) {
    int ret = io_uring_wait_cqe(&ring_, cqe);
    if (ret != -EINTR) return ret;
  }
}

}  // namespace kvstash
