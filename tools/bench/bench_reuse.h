// `kvstash bench reuse`: a synthetic multi-turn workload with a controlled reuse probability,
// to measure what flash admission buys: hit ratio, flash bytes written per hit, and the GPU
// time the hits save according to the break-even model (src/model, docs/MODEL.md).
//
//   kvstash --server HOST:PORT bench reuse [--rates 0,0.1,...,1] [--requests N]
//       [--first-blocks 8] [--turn-blocks 2] [--block-bytes 256KiB] [--model llama-3.1-8b]
//       [--prefill-tokens-per-sec 10000] [--seed S] [--label TEXT] [--json]
//
// Workload per rate r (fresh keys per rate, deleted afterwards): each request is, with
// probability r, a follow-up turn of an earlier conversation chosen uniformly among all so far
// (it re-reads that conversation's blocks, then appends --turn-blocks new ones), otherwise a
// new one-shot conversation of --first-blocks new blocks. Per request: LongestPrefix, GetBatch
// of the hits, PutBatch of the rest. Since the history grows past the DRAM tier, reuse reaches
// into flash; compare servers started with --admission all and --admission reuse.
//
// Model: each block stands for 512 tokens of --model (the trace's block); recompute at
// --prefill-tokens-per-sec (default 10,000 tokens/s: docs/MODEL.md, 70B on 8x H100 FP8).
// Every model figure comes twice: with the load bandwidth/latency measured here (get GB/s,
// lookup p50) and, suffixed "_at_model_load", with MODEL.md's NIC-class 25 GB/s + 500 us (the
// readable table prints the latter, marked *: a loopback run on a loaded 2-core machine is
// not a deployment's load path).
//
// --json prints ONE object {"kind": "reuse", label, model {...}, points: [{rate, requests,
// block_refs, hits, hit_ratio, hits_dram, hits_flash, flash_bytes_written,
// flash_bytes_written_per_hit, flash_blocks_admitted, gpu_seconds_saved,
// flash_gpu_seconds_saved, flash_write_cost_dollars, flash_benefit_dollars,
// net_flash_benefit_dollars, break_even_p, get_gbps, latency_get}]}.
//
// Thread safety: single-threaded.
#ifndef KVSTASH_TOOLS_BENCH_REUSE_H_
#define KVSTASH_TOOLS_BENCH_REUSE_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "tools/cli/cli_common.h"

namespace kvstash {

struct ReuseOptions {
  std::string rates = "0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1";
  uint32_t requests = 400;    // per rate
  uint32_t first_blocks = 8;  // blocks of a new conversation
  uint32_t turn_blocks = 2;   // blocks a follow-up turn appends
  std::string block_bytes = "256KiB";
  std::string model = "llama-3.1-8b";
  double prefill_tokens_per_sec = 10'000;
  uint64_t seed = 1;
  std::string label;
  bool json = false;
};

// Runs the sweep. Errors: bad options, connection or whole-call failures.
Result<nlohmann::ordered_json> RunReuseSweep(const GlobalOptions& global, const ReuseOptions& o);

// Adds `reuse` under `bench`.
void AddReuseCommand(CLI::App* bench, CommandRunner* runner);

}  // namespace kvstash

#endif  // KVSTASH_TOOLS_BENCH_REUSE_H_
