// `kvstash bench kv`: put/get bandwidth and latency over a matrix of block sizes, batch sizes,
// concurrency (client threads, one connection each) and tiers (DRAM hit, flash hit), each
// point next to the physical limit measured in the same run (bench_limits.h).
//
//   kvstash [--server HOST:PORT] bench kv [--in-process] [--ops get,put] [--tiers dram,flash]
//       [--block-sizes 4KiB,...,8MiB] [--batches 1,16] [--concurrency 1,2]
//       [--bytes-per-point 256MiB] [--flash-path FILE] [--json]
//
// Transport: UCX picks it from $UCX_TLS when a client is created, so one process measures one
// transport; run it once per transport (scripts/bench runs UCX_TLS=sm,self and UCX_TLS=tcp
// sub-processes). --in-process serves from a DRAM-only store in this process
// (bench_inprocess.h: needed for shared memory with UCX 1.13); otherwise --server is used.
//
// Limits per point: DRAM gets and puts are compared with single-thread memcpy (and, over tcp,
// with loopback TCP); flash gets with raw O_DIRECT random reads at the same block size and
// queue depth = batch x concurrency (measured on --flash-path's filesystem when flash is in
// --tiers; the server's flash file should live on that filesystem).
//
// --json prints ONE object {"kind": "kv", transport, server, in_process, machine, limits,
// points: [MeasureKv object + limit_name, limit_gbps, ratio_to_limit, ratio_to_tcp_loopback]}.
//
// Thread safety: single-threaded entry.
#ifndef KVSTASH_TOOLS_BENCH_KV_H_
#define KVSTASH_TOOLS_BENCH_KV_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "tools/cli/cli_common.h"

namespace kvstash {

struct KvSweepOptions {
  std::string ops = "get,put";
  std::string tiers = "dram";
  std::string block_sizes = "4KiB,64KiB,128KiB,1MiB,8MiB";
  std::string batches = "1";
  std::string concurrency = "1";
  std::string bytes_per_point = "256MiB";  // data moved per point (32..8192 blocks)
  bool in_process = false;
  std::string in_process_dram = "1GiB";
  std::string flash_path = "./var/bench-probe.dat";  // raw-read limit for flash points
  double limit_seconds = 0.3;
  bool json = false;
};

// Runs the sweep. Errors: bad options, the limits probes, or a point that failed as a whole.
Result<nlohmann::ordered_json> RunKvSweep(const GlobalOptions& global, const KvSweepOptions& o);

// Adds `kv` under `bench`.
void AddKvCommand(CLI::App* bench, CommandRunner* runner);

}  // namespace kvstash

#endif  // KVSTASH_TOOLS_BENCH_KV_H_
