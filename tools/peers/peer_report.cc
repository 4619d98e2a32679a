#include "tools/peers/peer_report.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <sstream>

namespace kvstash {
namespace {

using nlohmann::json;

struct Pairing {
  const char* ours;
  const char* theirs;
  const char* op;
  double goal;  // 0 = informational
  const char* target;
  // The goal applies from this block size up: the Redis and Mooncake targets name 128 KiB..8 MiB;
  // the flash target names no size.
  uint64_t min_block = 128u << 10;
};

// The comparisons of issue 6 item 2, in print order.
constexpr Pairing kPairings[] = {
    {"kvstash/ucx-sm/dram", "redis/unix/dram", "put", 3, ">=3x Redis, fastest local transports"},
    {"kvstash/ucx-sm/dram", "redis/unix/dram", "get", 3, ">=3x Redis, fastest local transports"},
    {"kvstash/ucx-sm/dram", "redis/unix/dram", "get_qd1", 0, ""},
    {"kvstash/ucx-tcp/dram", "redis/tcp/dram", "put", 1, ">=1x Redis over loopback TCP"},
    {"kvstash/ucx-tcp/dram", "redis/tcp/dram", "get", 1, ">=1x Redis over loopback TCP"},
    {"kvstash/ucx-tcp/dram", "redis/tcp/dram", "get_qd1", 0, ""},
    {"kvstash/ucx-tcp/dram", "mooncake/tcp/dram", "put", 1, "ahead of Mooncake Store over TCP"},
    {"kvstash/ucx-tcp/dram", "mooncake/tcp/dram", "get", 1, "ahead of Mooncake Store over TCP"},
    {"kvstash/ucx-sm/flash", "filestore/odirect/flash", "put", 0, ""},
    {"kvstash/ucx-sm/flash", "filestore/odirect/flash", "get", 2,
     ">=2x file-per-block store, flash-resident gets at QD>=8", 0},
};

json LatencyToJson(const PeerLatency& l) {
  return {{"p50_us", l.p50_us}, {"p99_us", l.p99_us},   {"p999_us", l.p999_us},
          {"max_us", l.max_us}, {"mean_us", l.mean_us}, {"samples", l.samples}};
}

std::string Size(uint64_t b) {
  if (b % (1 << 20) == 0) return std::to_string(b >> 20) + " MiB";
  if (b % (1 << 10) == 0) return std::to_string(b >> 10) + " KiB";
  return std::to_string(b) + " B";
}

}  // namespace

std::string RunLabel(const PeerRun& run) { return run.peer + "/" + run.transport + "/" + run.tier; }

std::vector<PeerRatio> ComputeRatios(const std::vector<PeerRun>& runs) {
  std::map<std::pair<std::string, uint64_t>, const PeerRun*> by;
  std::vector<uint64_t> sizes;
  for (const PeerRun& r : runs) {
    by[{RunLabel(r), r.block_bytes}] = &r;
    if (std::find(sizes.begin(), sizes.end(), r.block_bytes) == sizes.end()) {
      sizes.push_back(r.block_bytes);
    }
  }
  std::vector<PeerRatio> out;
  for (uint64_t size : sizes) {
    for (const Pairing& p : kPairings) {
      auto a = by.find({p.ours, size}), b = by.find({p.theirs, size});
      if (a == by.end() || b == by.end()) continue;
      const OpResult* oa = a->second->Find(p.op);
      const OpResult* ob = b->second->Find(p.op);
      if (oa == nullptr || ob == nullptr || ob->gbps() <= 0) continue;
      PeerRatio r;
      r.block_bytes = size;
      r.op = p.op;
      r.ours = p.ours;
      r.theirs = p.theirs;
      r.ours_gbps = oa->gbps();
      r.theirs_gbps = ob->gbps();
      r.gbps_ratio = oa->gbps() / ob->gbps();
      r.p50_speedup = oa->latency.p50_us > 0 ? ob->latency.p50_us / oa->latency.p50_us : 0;
      if (size >= p.min_block) {
        r.goal = p.goal;
        r.target = p.target;
      }
      out.push_back(r);
    }
  }
  return out;
}

json RunToJson(const PeerRun& run) {
  json ops = json::array();
  for (const OpResult& o : run.ops) {
    ops.push_back({{"op", o.op},
                   {"depth", o.depth},
                   {"blocks", o.blocks},
                   {"bytes", o.bytes},
                   {"seconds", o.seconds},
                   {"gbps", o.gbps()},
                   {"latency", LatencyToJson(o.latency)}});
  }
  return {{"peer", run.peer},
          {"transport", run.transport},
          {"tier", run.tier},
          {"block_bytes", run.block_bytes},
          {"count", run.count},
          {"ops", ops},
          {"verified_blocks", run.verified_blocks},
          {"mismatched_blocks", run.mismatched_blocks},
          {"note", run.note},
          {"load1", run.load1}};
}

Result<PeerRun> RunFromJson(const json& j) {
  for (const char* f : {"peer", "transport", "tier", "block_bytes", "count", "ops",
                        "verified_blocks", "mismatched_blocks"}) {
    if (!j.contains(f)) return Status::InvalidArgument(std::string("run lacks '") + f + "'");
  }
  PeerRun r;
  r.peer = j["peer"];
  r.transport = j["transport"];
  r.tier = j["tier"];
  r.block_bytes = j["block_bytes"];
  r.count = j["count"];
  r.verified_blocks = j["verified_blocks"];
  r.mismatched_blocks = j["mismatched_blocks"];
  r.note = j.value("note", "");
  r.load1 = j.value("load1", 0.0);
  for (const json& o : j["ops"]) {
    OpResult op;
    op.op = o.at("op");
    op.depth = o.value("depth", 1u);
    op.blocks = o.at("blocks");
    op.bytes = o.at("bytes");
    op.seconds = o.at("seconds");
    const json& l = o.at("latency");
    op.latency = {l.value("p50_us", 0.0), l.value("p99_us", 0.0),  l.value("p999_us", 0.0),
                  l.value("max_us", 0.0), l.value("mean_us", 0.0), l.value("samples", 0ull)};
    r.ops.push_back(op);
  }
  return r;
}

json ReportToJson(const PeerReport& report) {
  json runs = json::array(), ratios = json::array(), targets = json::array();
  bool ok = !report.runs.empty();
  for (const PeerRun& r : report.runs) {
    runs.push_back(RunToJson(r));
    if (r.mismatched_blocks != 0 || r.verified_blocks == 0) ok = false;
  }
  for (const PeerRatio& r : report.ratios) {
    json j = {{"block_bytes", r.block_bytes},
              {"op", r.op},
              {"kvstash", r.ours},
              {"peer", r.theirs},
              {"kvstash_gbps", r.ours_gbps},
              {"peer_gbps", r.theirs_gbps},
              {"gbps_ratio", r.gbps_ratio},
              {"p50_speedup", r.p50_speedup}};
    ratios.push_back(j);
    if (r.goal > 0) {
      j["target"] = r.target;
      j["goal"] = r.goal;
      j["met"] = r.gbps_ratio >= r.goal;
      targets.push_back(j);
    }
  }
  return {{"tool", "kvstash-peers"},
          {"format", 1},
          {"conditions", report.conditions},
          {"runs", runs},
          {"ratios", ratios},
          {"targets", targets},
          {"skipped", report.skipped},
          {"ok", ok}};
}

std::string ReportToTable(const PeerReport& report) {
  std::ostringstream os;
  char line[512];
  std::vector<uint64_t> sizes;
  for (const PeerRun& r : report.runs) {
    if (std::find(sizes.begin(), sizes.end(), r.block_bytes) == sizes.end()) {
      sizes.push_back(r.block_bytes);
    }
  }
  for (uint64_t size : sizes) {
    os << "\n== block " << Size(size) << " ==\n";
    std::snprintf(line, sizeof(line), "%-26s %5s %7s %8s %9s %9s %9s %8s %6s %5s\n", "peer", "op",
                  "depth", "GB/s", "p50_us", "p99_us", "p999_us", "samples", "verif", "load");
    os << line;
    for (const PeerRun& r : report.runs) {
      if (r.block_bytes != size) continue;
      for (const OpResult& o : r.ops) {
        std::snprintf(line, sizeof(line), "%-26s %5s %7u %8.2f %9.1f %9.1f %9.1f %8llu %6s %5.1f\n",
                      RunLabel(r).c_str(), o.op == "get_qd1" ? "get1" : o.op.c_str(), o.depth,
                      o.gbps(), o.latency.p50_us, o.latency.p99_us, o.latency.p999_us,
                      static_cast<unsigned long long>(o.latency.samples),
                      r.mismatched_blocks == 0 && r.verified_blocks > 0 ? "ok" : "FAIL", r.load1);
        os << line;
      }
      if (!r.note.empty()) os << "    " << RunLabel(r) << ": " << r.note << "\n";
    }
    for (const PeerRatio& r : report.ratios) {
      if (r.block_bytes != size) continue;
      std::snprintf(
          line, sizeof(line), "  ratio %-21s vs %-24s %5s  GB/s x%6.2f  p50 x%6.2f%s\n",
          r.ours.c_str(), r.theirs.c_str(), r.op == "get_qd1" ? "get1" : r.op.c_str(), r.gbps_ratio,
          r.p50_speedup,
          r.goal > 0 ? (r.gbps_ratio >= r.goal ? "  [target met]" : "  [target NOT met]") : "");
      os << line;
    }
  }
  if (!report.skipped.empty()) {
    os << "\nskipped:\n";
    for (const json& s : report.skipped) {
      os << "  " << s.value("peer", "?") << ": " << s.value("reason", "?") << "\n";
    }
  }
  return os.str();
}

}  // namespace kvstash
