// IoProbe: measures the physical limits a kvstash benchmark should be compared with, in the
// same run: raw io_uring O_DIRECT random-read and sequential-write bandwidth, IOPS and
// latency percentiles on a file or block device, and single-thread memcpy bandwidth.
//
// The probe drives its own ring with a closed loop of `queue_depth` requests (each completion
// immediately replaced by a new request until the time budget is spent), so latency is per
// request (submit to reap), unlike Device::ReadV whose batches complete together.
//
// Thread safety: the functions are independent and reentrant; each opens its own fd and ring.
#ifndef KVSTASH_FLASH_IO_PROBE_H_
#define KVSTASH_FLASH_IO_PROBE_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "kvstash/status.h"

namespace kvstash {

enum class IoPattern { kRandomRead, kSequentialWrite };
std::string_view IoPatternName(IoPattern pattern);  // "randread", "seqwrite"

struct IoProbeOptions {
  std::string path;                  // a prepared file (PrepareProbeFile) or a block device
  uint64_t bytes = 256ull << 20;     // span of the target used (capped at its size)
  uint32_t block_bytes = 128 << 10;  // request size; a multiple of 4096
  uint32_t queue_depth = 8;          // requests kept in flight, 1..4096
  IoPattern pattern = IoPattern::kRandomRead;
  double seconds = 0.2;  // time budget (the run ends when it is spent)
  uint64_t seed = 1;     // random offsets
  Status Validate() const;
};

struct LatencySummary {
  double mean_us = 0, p50_us = 0, p90_us = 0, p99_us = 0, p999_us = 0, max_us = 0;
};

struct IoProbeResult {
  IoProbeOptions options;
  uint64_t ops = 0;
  uint64_t bytes = 0;
  double seconds = 0;  // wall time; for writes it includes the final fdatasync
  LatencySummary latency;
  double bytes_per_sec() const { return seconds > 0 ? bytes / seconds : 0; }
  double iops() const { return seconds > 0 ? ops / seconds : 0; }
};

struct MemcpyResult {
  uint64_t buffer_bytes = 0;
  uint64_t bytes = 0;
  double seconds = 0;
  double bytes_per_sec() const { return seconds > 0 ? bytes / seconds : 0; }
};

// Where a probe runs: the conditions to print beside its figures.
struct ProbeTarget {
  std::string path;
  bool is_block_device = false;
  uint64_t size_bytes = 0;   // the file's or device's size
  std::string filesystem;    // e.g. "ext4" (empty for a raw block device)
  std::string mount_source;  // e.g. "/dev/vda"
};

// Creates (or grows) a regular file of `bytes` and writes all of it with O_DIRECT, so random
// reads hit allocated blocks rather than holes (which read as zeros without device I/O).
// A block device path is left untouched. Errors: from open/fallocate/io_uring.
Status PrepareProbeFile(const std::string& path, uint64_t bytes);
// Runs one measurement. Errors: InvalidArgument (options), or the first I/O error (after
// every request in flight has completed).
Result<IoProbeResult> ProbeIo(const IoProbeOptions& options);
// Copies between two `buffer_bytes` buffers (larger than the last-level cache, by default) for
// about `seconds` on the calling thread, after one untimed warm-up copy.
MemcpyResult ProbeMemcpy(uint64_t buffer_bytes = 64ull << 20, double seconds = 0.3);
// Describes `path` (which must exist). Errors: from stat/open.
Result<ProbeTarget> DescribeProbeTarget(const std::string& path);

}  // namespace kvstash

#endif  // KVSTASH_FLASH_IO_PROBE_H_
