// `kvstash bench trace`: replays a Mooncake-format prefix-reuse trace (bench_trace_file.h)
// through a live server and compares its hit ratio with an LRU of the same total capacity.
//
//   kvstash --server HOST:PORT bench trace --trace FILE [--block-bytes SIZE]
//       [--model llama-3.1-8b] [--speed realtime|max] [--time-scale X] [--max-requests N]
//       [--label TEXT] [--tail-blocks sized|full] [--keep] [--json]
//
// Replay, per request in file (timestamp) order: LongestPrefix over its chained keys
// ("trace/<run>/<hash id>"), GetBatch of that leading run into a registered buffer (each block
// carries its id and the run's nonce, checked), PutBatch of the rest. A put answered
// AlreadyExists is a block that was present after a gap (counted in block_hit_ratio, useless
// to an engine, so not in prefix_hit_ratio). --speed realtime sleeps to each request's
// timestamp (divided by --time-scale); max issues them back to back.
//
// Scaling: one trace block is 512 tokens; at the model's KV bytes per token that is e.g.
// 64 MiB for Llama-3.1-8B, so the replay stores --block-bytes (default 256 KiB) per block and
// says so (model_block_bytes, scale_factor). Hit ratios are unaffected by the scale; byte
// counters are of the scaled run. A request whose input_length is not a multiple of 512
// tokens ends in a partial block: with --tail-blocks sized (default) it is stored at its
// share of --block-bytes, as an engine storing the partial chunk's tokens would (the KV
// server sees it is smaller: "prefix" admission); `full` stores every block whole. The LRU
// reference counts blocks either way.
//
// --json prints ONE object: block_hit_ratio, prefix_hit_ratio, lru_block_hit_ratio,
// lru_prefix_hit_ratio (LRU of capacity_blocks = (DRAM + flash capacity from Stats) /
// block_bytes, replayed here), lru_curve [{fraction_of_unique, capacity_blocks, ...}],
// flash_bytes_written, flash_device_bytes_written, discard_bytes, hits_dram, hits_flash
// (Stats deltas), latency objects (lookup, get, put, request), gbps of gets, scaling fields.
//
// Thread safety: single-threaded.
#ifndef KVSTASH_TOOLS_BENCH_TRACE_H_
#define KVSTASH_TOOLS_BENCH_TRACE_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "tools/cli/cli_common.h"

namespace kvstash {

struct TraceOptions {
  std::string trace;  // required; the repository ships bench/traces/mooncake_synthetic_trace.jsonl
  std::string block_bytes = "256KiB";
  std::string model = "llama-3.1-8b";
  std::string speed = "max";          // realtime | max
  double time_scale = 1.0;            // realtime: trace time runs this much faster
  uint64_t max_requests = 0;          // 0 = the whole trace
  std::string label;                  // free text copied into the report (e.g. "admission=reuse")
  std::string tail_blocks = "sized";  // sized | full (partial last block of a request)
  std::string lru_fractions = "0.05,0.1,0.25,0.5,0.75,1";
  bool keep = false;
  bool json = false;

  // InvalidArgument naming the bad flag; sets *block.
  Status Validate(uint64_t* block) const;
};

// Replays the trace. Errors: bad options, unreadable trace, connection or whole-call failures.
Result<nlohmann::ordered_json> RunTraceReplay(const GlobalOptions& global, const TraceOptions& o);

// Adds `trace` under `bench`.
void AddTraceCommand(CLI::App* bench, CommandRunner* runner);

}  // namespace kvstash

#endif  // KVSTASH_TOOLS_BENCH_TRACE_H_
