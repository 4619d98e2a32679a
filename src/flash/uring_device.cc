// UringDevice: opening, sizing, the ring pool and discard. The batched I/O engine (the
// io_uring submission/completion loop) is in uring_batch.cc.
#include "flash/uring_device.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <utility>

#include "common/errno.h"
#include "flash/uring_device_internal.h"

namespace kvstash {
namespace {

struct Geometry {
  uint64_t size = 0;
  uint32_t alignment = 0;
  bool is_block_device = false;
};

Result<Geometry> BlockDeviceGeometry(int fd, const UringDeviceOptions& o) {
  Geometry g;
  g.is_block_device = true;
  uint64_t bytes = 0;
  if (ioctl(fd, BLKGETSIZE64, &bytes) != 0) {
    return ErrnoToStatus(errno, "ioctl(BLKGETSIZE64) " + o.path);
  }
  int logical_block = 512;
  if (ioctl(fd, BLKSSZGET, &logical_block) != 0) {
    return ErrnoToStatus(errno, "ioctl(BLKSSZGET) " + o.path);
  }
  g.alignment = std::max<uint32_t>(o.io_alignment, static_cast<uint32_t>(logical_block));
  if (o.size > bytes) {
    return Status::InvalidArgument("size " + std::to_string(o.size) + " beyond block device " +
                                   o.path + " of " + std::to_string(bytes) + " bytes");
  }
  g.size = o.size != 0 ? o.size : bytes / g.alignment * g.alignment;
  if (!IsAligned(g.size, g.alignment)) {
    return Status::InvalidArgument("size " + std::to_string(g.size) + " not a multiple of " +
                                   o.path + "'s logical block size " + std::to_string(g.alignment));
  }
  return g;
}

Result<Geometry> RegularFileGeometry(int fd, const struct stat& st, const UringDeviceOptions& o) {
  Geometry g;
  g.alignment = o.io_alignment;
  const uint64_t current = static_cast<uint64_t>(st.st_size);
  if (o.size == 0) {
    g.size = current / g.alignment * g.alignment;  // a ragged tail is not addressable
    return g;
  }
  g.size = o.size;
  if (o.preallocate) {
    int ret = fallocate(fd, 0, 0, static_cast<off_t>(o.size));
    if (ret != 0) return ErrnoToStatus(errno, "fallocate " + o.path);
  } else if (current < o.size && ftruncate(fd, static_cast<off_t>(o.size)) != 0) {
    return ErrnoToStatus(errno, "ftruncate " + o.path);
  }
  return g;
}

}  // namespace

Status UringDeviceOptions::Validate() const {
  if (path.empty()) return Status::InvalidArgument("device path is empty");
  if (queue_depth == 0 || queue_depth > 4096) {
    return Status::InvalidArgument("queue_depth must be in [1, 4096], got " +
                                   std::to_string(queue_depth));
  }
  if (io_alignment < 512 || io_alignment > 65536 || (io_alignment & (io_alignment - 1)) != 0) {
    return Status::InvalidArgument("io_alignment must be a power of two in [512, 65536], got " +
                                   std::to_string(io_alignment));
  }
  if (!IsAligned(size, io_alignment)) {
    return Status::InvalidArgument("device size " + std::to_string(size) +
                                   " not a multiple of io_alignment " +
                                   std::to_string(io_alignment));
  }
  return Status::Ok();
}

Result<std::unique_ptr<Device>> UringDevice::Open(const UringDeviceOptions& options) {
  KVSTASH_ASSIGN_OR_RETURN(std::unique_ptr<UringDevice> device, OpenUring(options));
  return std::unique_ptr<Device>(std::move(device));
}

Result<std::unique_ptr<UringDevice>> UringDevice::OpenUring(const UringDeviceOptions& options) {
  KVSTASH_RETURN_IF_ERROR(options.Validate());
  int flags = O_RDWR | O_CLOEXEC;
  if (options.direct_io) flags |= O_DIRECT;
  if (options.create) flags |= O_CREAT;
  struct stat pre {};
  if (stat(options.path.c_str(), &pre) == 0 && S_ISBLK(pre.st_mode)) flags |= O_EXCL;
  UniqueFd fd(::open(options.path.c_str(), flags, 0644));
  if (!fd.valid()) {
    Status s = ErrnoToStatus(errno, "open " + options.path);
    if (errno == EINVAL && options.direct_io) {
      return Status(s.code(), s.message() + " (filesystem without O_DIRECT? see direct_io)");
    }
    return s;
  }
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return ErrnoToStatus(errno, "fstat " + options.path);
  Result<Geometry> geometry =
      Status::InvalidArgument(options.path + " is neither a regular file nor a block device");
  if (S_ISBLK(st.st_mode)) geometry = BlockDeviceGeometry(fd.get(), options);
  if (S_ISREG(st.st_mode)) geometry = RegularFileGeometry(fd.get(), st, options);
  KVSTASH_RETURN_IF_ERROR(geometry.status());
  if (geometry->size == 0) return Status::InvalidArgument(options.path + " has size 0");
  std::unique_ptr<UringDevice> device(new UringDevice(
      std::move(fd), options, geometry->size, geometry->alignment, geometry->is_block_device));
  // Create the first ring now so that io_uring being unavailable fails Open, not the first I/O.
  KVSTASH_ASSIGN_OR_RETURN(std::unique_ptr<PooledRing> ring, device->AcquireRing());
  device->ReleaseRing(std::move(ring));
  return device;
}

UringDevice::UringDevice(UniqueFd fd, const UringDeviceOptions& options, uint64_t size,
                         uint32_t alignment, bool is_block_device)
    : Device(size, alignment),
      fd_(std::move(fd)),
      path_(options.path),
      is_block_device_(is_block_device),
      queue_depth_(options.queue_depth),
      inject_(options.inject) {}

// Rings go before the fd: members are destroyed in reverse order, and idle_rings_ is declared
// after fd_, so every ring is torn down while the fd is still open.
UringDevice::~UringDevice() = default;

Result<std::unique_ptr<UringDevice::PooledRing>> UringDevice::AcquireRing() {
  uint32_t index;
  {
    MutexLock lock(&pool_mu_);
    if (!idle_rings_.empty()) {
      std::unique_ptr<PooledRing> ring = std::move(idle_rings_.back());
      idle_rings_.pop_back();
      return ring;
    }
    index = rings_made_++;
  }
  const uint32_t entries = inject_.ring_entries != 0 ? inject_.ring_entries : queue_depth_;
  KVSTASH_ASSIGN_OR_RETURN(std::unique_ptr<UringRing> ring, UringRing::Create(entries));
  counters_.rings_created.fetch_add(1, std::memory_order_relaxed);
  auto pooled = std::make_unique<PooledRing>();
  pooled->ring = std::move(ring);
  pooled->rng.seed(inject_.seed + index);
  return pooled;
}

void UringDevice::ReleaseRing(std::unique_ptr<PooledRing> ring) {
  MutexLock lock(&pool_mu_);
  idle_rings_.push_back(std::move(ring));
}

Status UringDevice::ReadVImpl(std::span<IoRequest> requests) {
  return RunBatch(requests, /*write=*/false);
}

Status UringDevice::WriteVImpl(std::span<IoRequest> requests) {
  return RunBatch(requests, /*write=*/true);
}

// Discards run synchronously on the caller's thread: they are issued by the TRIM worker, in
// large chunks, off the foreground path.
Status UringDevice::DiscardImpl(DeviceOffset offset, uint64_t len, bool* unsupported) {
  int ret, err;
  do {
    if (is_block_device_) {
      uint64_t range[2] = {offset.value(), len};
      ret = ioctl(fd_.get(), BLKDISCARD, &range);
    } else {
      ret = fallocate(fd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                      static_cast<off_t>(offset.value()), static_cast<off_t>(len));
    }
    err = errno;
  } while (ret != 0 && err == EINTR);
  if (ret == 0) return Status::Ok();
  if (err == EOPNOTSUPP || err == ENOTTY) {
    *unsupported = true;
    return Status::Ok();
  }
  return ErrnoToStatus(err, std::string(is_block_device_ ? "BLKDISCARD " : "punch hole ") + path_ +
                                " [" + std::to_string(offset.value()) + ", +" +
                                std::to_string(len) + ")");
}

UringDeviceCounters UringDevice::counters() const {
  auto ld = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  UringDeviceCounters c;
  c.submissions = ld(counters_.submissions);
  c.short_resubmits = ld(counters_.short_resubmits);
  c.retries = ld(counters_.retries);
  c.sq_full_flushes = ld(counters_.sq_full_flushes);
  c.rings_created = ld(counters_.rings_created);
  c.injected_short = ld(counters_.injected_short);
  c.injected_eagain = ld(counters_.injected_eagain);
  c.injected_eintr = ld(counters_.injected_eintr);
  return c;
}

}  // namespace kvstash
