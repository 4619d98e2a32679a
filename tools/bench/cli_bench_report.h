// Measurement helpers of `kvstash bench`: latency percentiles, the conditions of a run (machine,
// transport) and the physical reference measured in the same run (memcpy bandwidth), so that
// no figure is printed without its conditions (STYLE.md).
//
// Thread safety: pure functions, except that ProbeMachine reads /proc.
#ifndef KVSTASH_TOOLS_CLI_BENCH_REPORT_H_
#define KVSTASH_TOOLS_CLI_BENCH_REPORT_H_

#include <cstdint>
#include <string>
#include <vector>

namespace kvstash {

struct BenchLatency {
  double p50_us = 0, p99_us = 0, p999_us = 0, max_us = 0, mean_us = 0;
  uint64_t samples = 0;
};

// Nearest-rank percentiles of `nanos` (sorted in place). All zero when empty.
BenchLatency SummarizeLatencies(std::vector<uint64_t>* nanos);

struct MachineInfo {
  unsigned nproc = 0;     // online CPUs
  std::string cpu_model;  // "model name" of /proc/cpuinfo, "unknown" if absent
};
MachineInfo ProbeMachine();

// $UCX_TLS, or "default" (UCX picks) when unset.
std::string TransportName();

// Single-thread memcpy bandwidth in GB/s (1e9 bytes/s) for blocks of `block_bytes`, measured
// for about `seconds`: the local copy limit the network figures are compared with.
double MeasureMemcpyGbps(uint64_t block_bytes, double seconds = 0.2);

}  // namespace kvstash

#endif  // KVSTASH_TOOLS_CLI_BENCH_REPORT_H_
