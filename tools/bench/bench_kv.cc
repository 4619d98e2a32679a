#include "tools/bench/bench_kv.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <memory>

#include "common/size.h"
#include "tools/bench/bench_inprocess.h"
#include "tools/bench/bench_limits.h"
#include "tools/bench/bench_util.h"
#include "tools/bench/cli_bench.h"

namespace kvstash {
namespace {

struct Matrix {
  std::vector<std::string> ops, tiers;
  std::vector<uint64_t> sizes;
  std::vector<uint32_t> batches, concurrency;
};

Result<Matrix> ParseMatrix(const KvSweepOptions& o) {
  Matrix m;
  KVSTASH_ASSIGN_OR_RETURN(m.ops, ParseWordList("--ops", o.ops, {"get", "put"}));
  KVSTASH_ASSIGN_OR_RETURN(m.tiers, ParseWordList("--tiers", o.tiers, {"dram", "flash"}));
  KVSTASH_ASSIGN_OR_RETURN(m.sizes, ParseSizeList("--block-sizes", o.block_sizes));
  KVSTASH_ASSIGN_OR_RETURN(m.batches, ParseCountList("--batches", o.batches, 4096));
  KVSTASH_ASSIGN_OR_RETURN(m.concurrency, ParseCountList("--concurrency", o.concurrency, 256));
  return m;
}

// The limits this sweep needs: memcpy and loopback TCP always, raw random reads for flash.
Result<nlohmann::ordered_json> MeasureSweepLimits(const KvSweepOptions& o, const Matrix& m) {
  LimitsOptions l;
  l.seconds = o.limit_seconds;
  l.flash_path = o.flash_path;
  l.io = std::find(m.tiers.begin(), m.tiers.end(), "flash") != m.tiers.end();
  if (l.io) {
    std::string sizes, depths;
    for (uint64_t s : m.sizes) sizes += (sizes.empty() ? "" : ",") + std::to_string(s);
    for (uint32_t b : m.batches) {
      for (uint32_t c : m.concurrency)
        depths += (depths.empty() ? "" : ",") + std::to_string(b * c);
    }
    l.block_sizes = sizes;
    l.queue_depths = depths;
    l.probe_size = "256MiB";
  }
  return MeasureLimits(l);
}

// Attaches the limit this point is judged against and the ratio to it.
void AddRatios(const nlohmann::ordered_json& limits, nlohmann::ordered_json* p) {
  double gbps = (*p)["gbps"].get<double>();
  double tcp = limits.contains("tcp_loopback") ? limits["tcp_loopback"]["gbps"].get<double>() : 0;
  std::string name = "memcpy_1_thread";
  double limit = limits["memcpy"]["gbps_1_thread"].get<double>();
  if ((*p)["tier"] == "flash" && (*p)["op"] == "get") {
    uint32_t qd = (*p)["batch"].get<uint32_t>() * (*p)["queue_depth"].get<uint32_t>();
    const auto* io = FindIoLimit(limits, "randread", (*p)["block_size"].get<uint64_t>(), qd);
    name = "raw_randread_qd" + std::to_string(qd);
    limit = io != nullptr ? (*io)["gbps"].get<double>() : 0;
  } else if (!TransportWantsSharedMemory() && tcp > 0) {
    name = "tcp_loopback";
    limit = tcp;
  }
  (*p)["limit_name"] = name;
  (*p)["limit_gbps"] = limit;
  (*p)["ratio_to_limit"] = limit > 0 ? gbps / limit : 0;
  (*p)["tcp_loopback_gbps"] = tcp;
  (*p)["ratio_to_tcp_loopback"] = tcp > 0 ? gbps / tcp : 0;
}

uint64_t PointCount(uint64_t bytes, uint64_t block, uint64_t dram_capacity) {
  uint64_t count = std::clamp<uint64_t>(bytes / block, 32, 8192);
  // A DRAM point's working set must stay resident (two regions are out of reach).
  if (dram_capacity > 0) count = std::min<uint64_t>(count, dram_capacity / 2 / block);
  return std::max<uint64_t>(count, 1);
}

void PrintPoint(const nlohmann::ordered_json& p) {
  std::printf("%-4s %-5s %8s %5u %4u %9.3f %8.1f %8.1f %8.1f  %-20s %6.2f\n",
              p["op"].get<std::string>().c_str(), p["tier"].get<std::string>().c_str(),
              FormatSize(p["block_size"]).c_str(), p["batch"].get<unsigned>(),
              p["queue_depth"].get<unsigned>(), p["gbps"].get<double>(), p["p50_us"].get<double>(),
              p["p99_us"].get<double>(), p["p999_us"].get<double>(),
              p["limit_name"].get<std::string>().c_str(), p["ratio_to_limit"].get<double>());
  std::fflush(stdout);
}

// Runs every (op, tier, size, batch, concurrency) point of `m`, appending to out["points"].
Status RunPoints(const KvSweepOptions& o, const Matrix& m, const ClientOptions& client,
                 uint64_t per_point, uint64_t dram, nlohmann::ordered_json* out) {
  for (const std::string& op : m.ops) {
    for (const std::string& tier : m.tiers) {
      if (op == "put" && tier == "flash") continue;  // puts always land in DRAM
      for (uint64_t bs : m.sizes) {
        for (uint32_t batch : m.batches) {
          for (uint32_t conc : m.concurrency) {
            BenchOptions b;
            b.op = op;
            b.tier = tier;
            b.block_size = std::to_string(bs);
            b.batch = batch;
            b.queue_depth = conc;
            b.count = PointCount(per_point, bs, tier == "dram" ? dram : 0);
            KVSTASH_ASSIGN_OR_RETURN(nlohmann::ordered_json p, MeasureKv(client, b));
            AddRatios((*out)["limits"], &p);
            if (!o.json) PrintPoint(p);
            (*out)["points"].push_back(std::move(p));
          }
        }
      }
    }
  }
  return Status::Ok();
}

void PrintHeader(const nlohmann::ordered_json& out) {
  PrintLimits(out["limits"]);
  std::printf("kv over UCX_TLS=%s, server %s%s\n", out["transport"].get<std::string>().c_str(),
              out["server"].get<std::string>().c_str(),
              out["in_process"].get<bool>() ? " (in process)" : "");
  std::printf("%-4s %-5s %8s %5s %4s %9s %8s %8s %8s  %-20s %6s\n", "op", "tier", "block", "batch",
              "conc", "GB/s", "p50 us", "p99 us", "p999 us", "limit", "ratio");
}

}  // namespace

Result<nlohmann::ordered_json> RunKvSweep(const GlobalOptions& global, const KvSweepOptions& o) {
  KVSTASH_ASSIGN_OR_RETURN(Matrix m, ParseMatrix(o));
  KVSTASH_ASSIGN_OR_RETURN(uint64_t per_point, ParseSize(o.bytes_per_point));
  KVSTASH_ASSIGN_OR_RETURN(nlohmann::ordered_json limits, MeasureSweepLimits(o, m));
  std::unique_ptr<InProcessServer> local;
  ClientOptions client;
  if (o.in_process) {
    KVSTASH_ASSIGN_OR_RETURN(uint64_t dram, ParseSize(o.in_process_dram));
    KVSTASH_ASSIGN_OR_RETURN(local, InProcessServer::Start(dram, 1));
    client = local->client_options();
  } else {
    KVSTASH_ASSIGN_OR_RETURN(client, global.ToClientOptions());
  }
  StatsMap stats;
  {
    KVSTASH_ASSIGN_OR_RETURN(auto c, Client::Connect(client));
    KVSTASH_ASSIGN_OR_RETURN(stats, c->Stats());
  }
  uint64_t dram = StatValue(stats, "store.dram_capacity_bytes");
  nlohmann::ordered_json out;
  out["kind"] = "kv";
  out["transport"] = TransportName();
  out["server"] = client.server_address;
  out["in_process"] = o.in_process;
  out["machine"] = MachineJson();
  out["server_dram_bytes"] = dram;
  out["server_flash_bytes"] = StatValue(stats, "store.flash_capacity_bytes");
  out["limits"] = std::move(limits);
  out["points"] = nlohmann::ordered_json::array();
  if (!o.json) PrintHeader(out);
  KVSTASH_RETURN_IF_ERROR(RunPoints(o, m, client, per_point, dram, &out));
  return out;
}

void AddKvCommand(CLI::App* bench, CommandRunner* runner) {
  auto o = std::make_shared<KvSweepOptions>();
  CLI::App* cmd = bench->add_subcommand("kv", "Put/get sweep vs the physical limits");
  cmd->add_option("--ops", o->ops, "get,put");
  cmd->add_option("--tiers", o->tiers, "dram,flash (default dram)");
  cmd->add_option("--block-sizes", o->block_sizes, "block sizes, e.g. 4KiB,1MiB,8MiB");
  cmd->add_option("--batches", o->batches, "keys per call, e.g. 1,16");
  cmd->add_option("--concurrency", o->concurrency, "client threads (connections), e.g. 1,2");
  cmd->add_option("--bytes-per-point", o->bytes_per_point, "data moved per point (256MiB)");
  cmd->add_flag("--in-process", o->in_process, "serve from a DRAM store in this process");
  cmd->add_option("--in-process-dram", o->in_process_dram, "its DRAM SIZE (default 1GiB)");
  cmd->add_option("--flash-path", o->flash_path, "file for the raw random-read limit");
  cmd->add_option("--limit-seconds", o->limit_seconds, "seconds per limit probe (0.3)");
  cmd->add_flag("--json", o->json, "print one JSON object");
  cmd->callback([runner, o] {
    *runner = [o](const GlobalOptions& g) {
      Result<nlohmann::ordered_json> j = RunKvSweep(g, *o);
      if (!j.ok()) return ReportError("bench kv", j.status());
      if (o->json) PrintJsonLine(*j);
      return static_cast<int>(kExitOk);
    };
  });
}

}  // namespace kvstash
