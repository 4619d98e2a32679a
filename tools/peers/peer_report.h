// Output of `kvstash-peers`: the JSON document (one object) and the readable table, with the
// ratios kvstash/peer per block size and transport, and the targets marked met or not.
//
// Ratios compare matching conditions only: kvstash over UCX shared memory vs Redis over its
// Unix socket (each side's fastest local transport), kvstash over UCX TCP vs Redis TCP and vs
// Mooncake Store TCP (loopback), and kvstash flash-resident gets vs the file-per-block store
// (both O_DIRECT at the same queue depth).
//
// Thread safety: pure functions.
#ifndef KVSTASH_TOOLS_PEER_REPORT_H_
#define KVSTASH_TOOLS_PEER_REPORT_H_

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tools/peers/peer_workload.h"

namespace kvstash {

// One comparison: kvstash (`ours`) against `theirs` for `op` at one block size.
struct PeerRatio {
  uint64_t block_bytes = 0;
  std::string op;      // "put" | "get" | "get_qd1"
  std::string ours;    // e.g. "kvstash/ucx-sm/dram"
  std::string theirs;  // e.g. "redis/unix/dram"
  double ours_gbps = 0, theirs_gbps = 0;
  double gbps_ratio = 0;   // ours / theirs (bandwidth: higher is better for kvstash)
  double p50_speedup = 0;  // theirs p50 / ours p50 (latency: higher is better for kvstash)
  double goal = 0;         // 0: informational; else the target on gbps_ratio
  std::string target;      // the wording of the target, when goal > 0
};

struct PeerReport {
  std::vector<PeerRun> runs;
  std::vector<PeerRatio> ratios;
  nlohmann::json conditions;                         // machine, config, versions, load averages
  nlohmann::json skipped = nlohmann::json::array();  // {"peer":..., "reason":...}
};

// "peer/transport/tier".
std::string RunLabel(const PeerRun& run);
// Every comparison available among `runs` (pairs with a missing side are left out).
std::vector<PeerRatio> ComputeRatios(const std::vector<PeerRun>& runs);

nlohmann::json RunToJson(const PeerRun& run);
// Accepts what RunToJson writes (used for the Mooncake helper's output). Errors:
// InvalidArgument naming the missing field.
Result<PeerRun> RunFromJson(const nlohmann::json& j);

// The whole document: conditions, runs, ratios, targets, skipped peers, and "ok" (every get
// verified, no mismatched block).
nlohmann::json ReportToJson(const PeerReport& report);
// The human-readable table (per block size: each peer's figures, then the ratios).
std::string ReportToTable(const PeerReport& report);

}  // namespace kvstash

#endif  // KVSTASH_TOOLS_PEER_REPORT_H_
