#include "flash/io_probe.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <vector>

#include "common/errno.h"
#include "flash/uring_device.h"
#include "flash/uring_ring.h"

namespace kvstash {
namespace {

using SteadyClock = std::chrono::steady_clock;

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using AlignedBuffer = std::unique_ptr<std::byte, FreeDeleter>;

AlignedBuffer AllocateAligned(uint64_t bytes) {
  return AlignedBuffer(static_cast<std::byte*>(std::aligned_alloc(4096, bytes)));
}

double NanosToMicros(int64_t ns) { return static_cast<double>(ns) / 1000.0; }

LatencySummary Summarize(std::vector<int64_t>& nanos) {
  LatencySummary s;
  if (nanos.empty()) return s;
  std::sort(nanos.begin(), nanos.end());
  auto at = [&](double q) {
    return NanosToMicros(nanos[std::min(nanos.size() - 1, static_cast<size_t>(q * nanos.size()))]);
  };
  double sum = 0;
  for (int64_t n : nanos) sum += static_cast<double>(n);
  s.mean_us = sum / nanos.size() / 1000.0;
  s.p50_us = at(0.50);
  s.p90_us = at(0.90);
  s.p99_us = at(0.99);
  s.p999_us = at(0.999);
  s.max_us = NanosToMicros(nanos.back());
  return s;
}

// The closed loop of one probe: a slot per in-flight request, refilled until the deadline.
class ProbeLoop {
 public:
  ProbeLoop(const IoProbeOptions& o, int fd, uint64_t span, UringRing* ring)
      : o_(o),
        fd_(fd),
        blocks_(span / o.block_bytes),
        ring_(ring),
        rng_(o.seed),
        slots_(o.queue_depth) {}

  Status Run(IoProbeResult* result);

 private:
  struct Slot {
    AlignedBuffer buffer;
    SteadyClock::time_point issued;
  };
  void Issue(uint32_t slot);
  void Reap(IoProbeResult* result, bool more);

  const IoProbeOptions& o_;
  const int fd_;
  const uint64_t blocks_;
  UringRing* const ring_;
  std::mt19937_64 rng_;
  std::vector<Slot> slots_;
  uint64_t next_block_ = 0;
  uint32_t in_flight_ = 0;
  std::vector<int64_t> latencies_;  // nanoseconds, one per completed request
  std::vector<uint32_t> done_;      // slots freed by the current Reap
  Status first_error_;
};

void ProbeLoop::Issue(uint32_t slot) {
  io_uring_sqe* sqe = io_uring_get_sqe(ring_->get());  // never null: in flight <= SQ size
  const uint64_t block =
      o_.pattern == IoPattern::kRandomRead ? rng_() % blocks_ : next_block_++ % blocks_;
  void* buf = slots_[slot].buffer.get();
  if (o_.pattern == IoPattern::kRandomRead) {
    io_uring_prep_read(sqe, fd_, buf, o_.block_bytes, block * o_.block_bytes);
  } else {
    io_uring_prep_write(sqe, fd_, buf, o_.block_bytes, block * o_.block_bytes);
  }
  io_uring_sqe_set_data64(sqe, slot);
  slots_[slot].issued = SteadyClock::now();
  ++in_flight_;
}

Status ProbeLoop::Run(IoProbeResult* result) {
  for (Slot& s : slots_) {
    s.buffer = AllocateAligned(o_.block_bytes);
    if (!s.buffer) return Status::ResourceExhausted("probe buffer allocation");
    std::memset(s.buffer.get(), 0x5a, o_.block_bytes);
  }
  const auto start = SteadyClock::now();
  const auto deadline = start + std::chrono::duration<double>(o_.seconds);
  for (uint32_t i = 0; i < o_.queue_depth; ++i) Issue(i);
  while (in_flight_ > 0) {
    int ret = ring_->SubmitAndWait(1);
    if (ret < 0 && ret != -EAGAIN && ret != -EBUSY) {
      // The ring is unusable and requests may still be in flight: leak their buffers rather
      // than free memory the kernel may yet write into.
      for (Slot& s : slots_) s.buffer.release();
      return ErrnoToStatus(-ret, "probe submit");
    }
    Reap(result, first_error_.ok() && SteadyClock::now() < deadline);
  }
  if (o_.pattern == IoPattern::kSequentialWrite && fdatasync(fd_) != 0 && first_error_.ok()) {
    first_error_ = ErrnoToStatus(errno, "fdatasync " + o_.path);
  }
  result->seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  result->latency = Summarize(latencies_);
  return first_error_;
}

// Consumes every available completion (recording its latency), advances the CQ past them,
// then refills each freed slot if `more`.
void ProbeLoop::Reap(IoProbeResult* result, bool more) {
  unsigned head, seen = 0;
  io_uring_cqe* cqe;
  done_.clear();
  io_uring_for_each_cqe(ring_->get(), head, cqe) {
    const uint32_t slot = static_cast<uint32_t>(io_uring_cqe_get_data64(cqe));
    latencies_.push_back((SteadyClock::now() - slots_[slot].issued).count());
    if (cqe->res < 0 && first_error_.ok()) first_error_ = ErrnoToStatus(-cqe->res, o_.path);
    if (cqe->res > 0) result->bytes += static_cast<uint64_t>(cqe->res);
    ++result->ops;
    done_.push_back(slot);
    ++seen;
  }
  io_uring_cq_advance(ring_->get(), seen);
  in_flight_ -= seen;
  for (uint32_t slot : done_) {
    if (more) Issue(slot);
  }
}

std::string FindMount(unsigned dev_major, unsigned dev_minor, std::string* source) {
  std::ifstream in("/proc/self/mountinfo");
  const std::string want = std::to_string(dev_major) + ":" + std::to_string(dev_minor);
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string id, parent, devno;
    fields >> id >> parent >> devno;
    size_t dash = line.find(" - ");
    if (devno != want || dash == std::string::npos) continue;
    std::istringstream tail(line.substr(dash + 3));
    std::string fstype;
    tail >> fstype >> *source;
    return fstype;
  }
  return "unknown";
}

}  // namespace

std::string_view IoPatternName(IoPattern pattern) {
  return pattern == IoPattern::kRandomRead ? "randread" : "seqwrite";
}

Status IoProbeOptions::Validate() const {
  if (path.empty()) return Status::InvalidArgument("probe path is empty");
  if (block_bytes == 0 || block_bytes % 4096 != 0) {
    return Status::InvalidArgument("probe block size must be a positive multiple of 4096");
  }
  if (queue_depth == 0 || queue_depth > 4096) {
    return Status::InvalidArgument("probe queue depth must be in [1, 4096]");
  }
  if (bytes < block_bytes) return Status::InvalidArgument("probe span below one block");
  if (!(seconds > 0)) return Status::InvalidArgument("probe seconds must be > 0");
  return Status::Ok();
}

Status PrepareProbeFile(const std::string& path, uint64_t bytes) {
  struct stat st {};
  if (stat(path.c_str(), &st) == 0 && S_ISBLK(st.st_mode)) return Status::Ok();
  UringDeviceOptions o;
  o.path = path;
  o.size = bytes / 4096 * 4096;
  o.create = true;
  o.queue_depth = 8;
  KVSTASH_ASSIGN_OR_RETURN(std::unique_ptr<Device> dev, UringDevice::Open(o));
  constexpr uint64_t kChunk = 1 << 20;
  AlignedBuffer buf = AllocateAligned(kChunk * 8);
  if (!buf) return Status::ResourceExhausted("probe buffer allocation");
  std::memset(buf.get(), 0xa5, kChunk * 8);
  for (uint64_t off = 0; off < dev->size();) {
    std::vector<IoRequest> batch;
    for (int i = 0; i < 8 && off < dev->size(); ++i, off += kChunk) {
      const uint64_t len = std::min(kChunk, dev->size() - off);
      batch.push_back(IoRequest{DeviceOffset(off), {buf.get() + i * kChunk, len}, {}});
    }
    KVSTASH_RETURN_IF_ERROR(dev->WriteV(batch));
  }
  return Status::Ok();
}

Result<IoProbeResult> ProbeIo(const IoProbeOptions& options) {
  KVSTASH_RETURN_IF_ERROR(options.Validate());
  UniqueFd fd(::open(options.path.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC));
  if (!fd.valid()) return ErrnoToStatus(errno, "open " + options.path);
  KVSTASH_ASSIGN_OR_RETURN(ProbeTarget target, DescribeProbeTarget(options.path));
  const uint64_t span = std::min(options.bytes, target.size_bytes);
  if (span < options.block_bytes) {
    return Status::InvalidArgument(options.path + " is smaller than one probe block");
  }
  KVSTASH_ASSIGN_OR_RETURN(std::unique_ptr<UringRing> ring, UringRing::Create(options.queue_depth));
  IoProbeResult result;
  result.options = options;
  ProbeLoop loop(options, fd.get(), span, ring.get());
  KVSTASH_RETURN_IF_ERROR(loop.Run(&result));
  return result;
}

MemcpyResult ProbeMemcpy(uint64_t buffer_bytes, double seconds) {
  MemcpyResult r;
  r.buffer_bytes = buffer_bytes;
  AlignedBuffer src = AllocateAligned(buffer_bytes), dst = AllocateAligned(buffer_bytes);
  if (!src || !dst) return r;
  std::memset(src.get(), 1, buffer_bytes);  // fault the pages in before timing
  std::memset(dst.get(), 2, buffer_bytes);
  std::memcpy(dst.get(), src.get(), buffer_bytes);  // warm-up: TLB, first-touch effects
  const auto start = SteadyClock::now();
  const auto deadline = start + std::chrono::duration<double>(seconds);
  do {
    std::memcpy(dst.get(), src.get(), buffer_bytes);
    r.bytes += buffer_bytes;
  } while (SteadyClock::now() < deadline);
  r.seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  return r;
}

Result<ProbeTarget> DescribeProbeTarget(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return ErrnoToStatus(errno, "stat " + path);
  ProbeTarget t;
  t.path = path;
  t.is_block_device = S_ISBLK(st.st_mode);
  if (t.is_block_device) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return ErrnoToStatus(errno, "open " + path);
    if (ioctl(fd.get(), BLKGETSIZE64, &t.size_bytes) != 0) {
      return ErrnoToStatus(errno, "ioctl(BLKGETSIZE64) " + path);
    }
    t.mount_source = path;
    return t;
  }
  t.size_bytes = static_cast<uint64_t>(st.st_size);
  t.filesystem = FindMount(major(st.st_dev), minor(st.st_dev), &t.mount_source);
  return t;
}

}  // namespace kvstash
