// `kvstash bench`: measures put or get throughput and latency against a running server.
//
//   kvstash --server HOST:PORT bench --op get|put --block-size SIZE --count N --batch N
//                                    --tier dram|flash --queue-depth N [--json] [--keep]
//
// queue depth = concurrent in-flight batches: one thread and one Client (one connection) per
// unit of depth. Latency is per batch call (per block when --batch 1). A get run first puts
// its working set (untimed); with --tier flash it then reads it once (so reuse-aware admission
// admits it) and writes filler equal to the server's DRAM capacity to push it out of DRAM, and
// reports the hits the server actually counted per tier during the timed phase. Bench keys
// ("bench/<host>-<pid>-<time>/<i>") are deleted afterwards unless --keep.
//
// --json prints ONE object: op, tier, block_size, batch, count, queue_depth, transport
// ($UCX_TLS), machine {nproc, cpu_model}, elapsed_s, bytes, gbps (payload, 1e9 B/s),
// ops_per_s, p50_us, p99_us, p999_us, max_us, errors, hits_dram, hits_flash, memcpy_gbps and
// ratio_to_memcpy (the same-run local copy limit).
//
// Subcommands (tools/bench/bench_*.h): `bench limits`, `bench kv`, `bench trace`, `bench reuse`;
// AddBenchCommand registers them under `bench`, each sets the runner when chosen.
//
// Thread safety: single-threaded entry; the run itself uses queue_depth threads.
#ifndef KVSTASH_TOOLS_CLI_BENCH_H_
#define KVSTASH_TOOLS_CLI_BENCH_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "tools/cli/cli_common.h"

namespace kvstash {

struct BenchOptions {
  std::string op = "get";  // get | put
  std::string block_size = "1MiB";
  uint64_t count = 1024;      // blocks moved in the timed phase
  uint32_t batch = 1;         // keys per call, 1..4096
  std::string tier = "dram";  // dram | flash: where gets should be served from
  uint32_t queue_depth = 1;   // concurrent batches (threads, connections), 1..256
  bool json = false;
  bool keep = false;  // leave the bench keys on the server

  // InvalidArgument naming the bad option; sets *block_bytes.
  Status Validate(uint64_t* block_bytes) const;
};

// Adds `bench` to `app`; returns it so that later benchmarks can add subcommands to it.
CLI::App* AddBenchCommand(CLI::App* app, CommandRunner* runner);

// One measurement (populate, prepare the tier, timed phase, cleanup unless options.keep)
// against the server `client` names; returns the report object described above. Used by
// RunBench and by the `bench kv` sweep. Errors: InvalidArgument (options), connection and
// whole-call failures. Per-key failures are counted in the report, not returned.
Result<nlohmann::ordered_json> MeasureKv(const ClientOptions& client, const BenchOptions& options);

// Runs a benchmark; prints the report on stdout. Returns the exit code.
int RunBench(const GlobalOptions& global, const BenchOptions& options);

}  // namespace kvstash

#endif  // KVSTASH_TOOLS_CLI_BENCH_H_
