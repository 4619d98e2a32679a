// The orchestration of `kvstash-peers`: starts every peer's server on loopback, runs the same
// workload (peer_workload.h) against each, one block size at a time so that all peers of a
// size run back to back under the same conditions, stops the servers, and collects the figures
// with the physical references of the same run (memcpy; raw O_DIRECT random reads of the
// filesystem under test at the same block size and queue depth).
//
// Peers (names for --peers):
//   kvstash-sm     kvstash node, UCX shared memory, DRAM-resident gets
//   kvstash-tcp    kvstash node, UCX TCP loopback, DRAM-resident gets
//   redis-unix     redis-server + hiredis over the Unix socket (pipelined SET/GET)
//   redis-tcp      the same over loopback TCP
//   kvstash-flash  kvstash node (UCX sm) with a small DRAM tier: gets served from the flash file
//   filestore      one file per block, O_DIRECT, QD = depth threads
//   mooncake       bench/mooncake/bench_mooncake.py (Mooncake Store, TCP protocol), if installed
//
// A peer that cannot run here (not installed, failed to start) is listed under "skipped" with
// the exact reason; the others still run. A failed call or a content mismatch is an error of
// the run (ok=false in the report).
//
// Thread safety: RunPeers is called from one thread.
#ifndef KVSTASH_TOOLS_PEER_RUNNER_H_
#define KVSTASH_TOOLS_PEER_RUNNER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "kvstash/client.h"
#include "kvstash/status.h"
#include "tools/peers/peer_report.h"

namespace kvstash {

struct PeersOptions {
  std::vector<uint64_t> block_sizes = {128u << 10, 1u << 20, 8u << 20};
  std::vector<std::string> peers = {"kvstash-sm",    "kvstash-tcp", "redis-unix", "redis-tcp",
                                    "kvstash-flash", "filestore",   "mooncake"};
  uint64_t dram_bytes_per_size = 256ull << 20;   // DRAM working set (fits every server's DRAM)
  uint64_t flash_bytes_per_size = 512ull << 20;  // flash working set (8x the flash node's DRAM)
  uint32_t max_count = 16384;                    // caps the block count of small sizes
  uint32_t depth = 8;                            // blocks per batched call = QD
  uint32_t get_rounds = 2;
  uint32_t qd1_samples = 200;
  uint64_t qd1_bytes = 256ull << 20;  // caps qd1_samples x block size
  bool warmup = true;                 // untimed put + clear of each DRAM working set first
  bool prefault = true;               // kvstash node touches its whole arena before serving
  bool shared_arena = true;           // kvstash node's arena in UCX shared memory
  bool send_checksums = true;         // kvstash client: XXH3 of each value, verified by the server
  ClientOptions::Transfer transfer = ClientOptions::Transfer::kAuto;  // kvstash client
  bool filestore_fdatasync = false;
  std::string workdir;  // temporary files (flash file, file store, redis); "" = mkdtemp in /tmp
  bool keep_workdir = false;
  std::string self_exe;  // this binary (re-executed in --serve mode)
  std::string redis_server = "redis-server";
  std::string python = "python3";
  std::string mooncake_script;  // bench_mooncake.py
  uint32_t mooncake_timeout_s = 150;
  bool verbose = true;       // progress on stderr
  double trace_slow_ms = 0;  // > 0: log every call slower than this (RunOptions)

  Status Validate() const;
};

// Runs everything. Errors: setup failures that stop the whole run (work dir, bad options).
Result<PeerReport> RunPeers(const PeersOptions& options);

}  // namespace kvstash

#endif  // KVSTASH_TOOLS_PEER_RUNNER_H_
