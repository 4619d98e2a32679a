// `kvstash bench limits`: the physical limits kvstash figures are compared with, measured in
// the same run (STYLE.md: "a figure without its conditions is not a result"):
//   * memcpy bandwidth, one thread and N threads at once (64 MiB buffers, beyond the LLC);
//   * raw io_uring O_DIRECT random read and sequential write on the flash file's filesystem,
//     per block size x queue depth (flash/io_probe.h: closed loop, per-request latency);
//   * loopback TCP bandwidth (tools/bench/bench_tcp_probe.h).
//
//   kvstash bench limits [--flash-path FILE] [--probe-size SIZE] [--block-sizes 128KiB,1MiB]
//                        [--queue-depths 1,8,32] [--seconds S] [--threads N] [--no-io] [--json]
//
// --json prints ONE object: {"kind": "limits", machine, memcpy {threads, gbps_1_thread,
// gbps_n_threads}, tcp_loopback {gbps, write_bytes}, io {target {...}, results [{pattern,
// block_bytes, queue_depth, gbps, iops, p50_us, p99_us, p999_us}]}}. The probe file is
// written in full first (so reads hit allocated blocks) and removed afterwards unless --keep.
// A block device path is refused unless --allow-device-write: the write probe destroys data.
//
// Thread safety: single-threaded entry; the N-thread memcpy spawns N threads.
#ifndef KVSTASH_TOOLS_BENCH_LIMITS_H_
#define KVSTASH_TOOLS_BENCH_LIMITS_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "tools/cli/cli_common.h"

namespace kvstash {

struct LimitsOptions {
  std::string flash_path = "./var/bench-probe.dat";  // on the flash file's filesystem
  std::string probe_size = "512MiB";                 // span of the probe file
  std::string block_sizes = "128KiB,1MiB";
  std::string queue_depths = "1,8,32";
  double seconds = 0.3;             // per probe
  uint32_t threads = 0;             // memcpy threads for the N-thread figure; 0 = online CPUs
  bool io = true;                   // false: skip the storage probes (no file written)
  bool tcp = true;                  // false: skip the loopback TCP probe
  bool keep = false;                // keep the probe file
  bool allow_device_write = false;  // a block device --flash-path is refused without it
  bool json = false;

  // InvalidArgument naming the bad flag.
  Status Validate() const;
};

// Runs the probes. Errors: InvalidArgument (options), or the first failed probe.
Result<nlohmann::ordered_json> MeasureLimits(const LimitsOptions& options);

// The raw io result for (pattern "randread"|"seqwrite", block, depth) in a MeasureLimits
// object, or null when that combination was not measured.
const nlohmann::ordered_json* FindIoLimit(const nlohmann::ordered_json& limits,
                                          const std::string& pattern, uint64_t block_bytes,
                                          uint32_t queue_depth);

// Prints the readable table of a MeasureLimits object.
void PrintLimits(const nlohmann::ordered_json& limits);

// Adds `limits` under `bench`.
void AddLimitsCommand(CLI::App* bench, CommandRunner* runner);

}  // namespace kvstash

#endif  // KVSTASH_TOOLS_BENCH_LIMITS_H_
