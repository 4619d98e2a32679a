#include "tools/bench/bench_limits.h"

#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <thread>
#include <vector>

#include "common/size.h"
#include "flash/io_probe.h"
#include "tools/bench/bench_tcp_probe.h"
#include "tools/bench/bench_util.h"

namespace kvstash {
namespace {

constexpr uint64_t kMemcpyBuffer = 64ull << 20;

nlohmann::ordered_json MeasureMemcpy(uint32_t threads, double seconds) {
  MemcpyResult one = ProbeMemcpy(kMemcpyBuffer, seconds);
  std::vector<MemcpyResult> results(threads);
  std::vector<std::thread> pool;
  for (uint32_t i = 0; i < threads; ++i) {
    pool.emplace_back([&, i] { results[i] = ProbeMemcpy(kMemcpyBuffer, seconds); });
  }
  for (std::thread& t : pool) t.join();
  double total = 0;
  for (const MemcpyResult& r : results) total += r.bytes_per_sec();
  return {{"buffer_bytes", kMemcpyBuffer},
          {"threads", threads},
          {"gbps_1_thread", one.bytes_per_sec() / 1e9},
          {"gbps_n_threads", total / 1e9}};
}

nlohmann::ordered_json IoJson(const IoProbeResult& r) {
  return {{"pattern", IoPatternName(r.options.pattern)},
          {"block_bytes", r.options.block_bytes},
          {"queue_depth", r.options.queue_depth},
          {"gbps", r.bytes_per_sec() / 1e9},
          {"iops", r.iops()},
          {"seconds", r.seconds},
          {"p50_us", r.latency.p50_us},
          {"p99_us", r.latency.p99_us},
          {"p999_us", r.latency.p999_us}};
}

// Random reads and sequential writes at every (block size, depth) on a fully written file.
Result<nlohmann::ordered_json> MeasureIo(const LimitsOptions& o) {
  KVSTASH_ASSIGN_OR_RETURN(uint64_t span, ParseSize(o.probe_size));
  KVSTASH_ASSIGN_OR_RETURN(std::vector<uint64_t> sizes,
                           ParseSizeList("--block-sizes", o.block_sizes));
  KVSTASH_ASSIGN_OR_RETURN(std::vector<uint32_t> depths,
                           ParseCountList("--queue-depths", o.queue_depths, 4096));
  std::filesystem::path path(o.flash_path);
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  struct stat st {};
  if (::stat(o.flash_path.c_str(), &st) == 0 && S_ISBLK(st.st_mode) && !o.allow_device_write) {
    return Status::InvalidArgument("--flash-path " + o.flash_path +
                                   " is a block device: the write probe destroys its contents; "
                                   "pass --allow-device-write if that is intended");
  }
  KVSTASH_RETURN_IF_ERROR(PrepareProbeFile(o.flash_path, span));
  KVSTASH_ASSIGN_OR_RETURN(ProbeTarget target, DescribeProbeTarget(o.flash_path));
  nlohmann::ordered_json results = nlohmann::ordered_json::array();
  for (IoPattern pattern : {IoPattern::kRandomRead, IoPattern::kSequentialWrite}) {
    for (uint64_t bs : sizes) {
      for (uint32_t qd : depths) {
        IoProbeOptions p;
        p.path = o.flash_path;
        p.bytes = span;
        p.block_bytes = static_cast<uint32_t>(bs);
        p.queue_depth = qd;
        p.pattern = pattern;
        p.seconds = o.seconds;
        KVSTASH_ASSIGN_OR_RETURN(IoProbeResult r, ProbeIo(p));
        results.push_back(IoJson(r));
      }
    }
  }
  if (!o.keep && !target.is_block_device) std::filesystem::remove(path, ec);
  nlohmann::ordered_json t = {{"path", target.path},
                              {"block_device", target.is_block_device},
                              {"size_bytes", target.size_bytes},
                              {"filesystem", target.filesystem},
                              {"mount_source", target.mount_source}};
  return nlohmann::ordered_json{{"target", t}, {"results", results}};
}

}  // namespace

Status LimitsOptions::Validate() const {
  if (!(seconds > 0 && seconds <= 60)) return Status::InvalidArgument("--seconds: 0 < s <= 60");
  if (threads > 1024) return Status::InvalidArgument("--threads must be in 0..1024");
  Result<uint64_t> span = ParseSize(probe_size);
  if (!span.ok() || *span < (1 << 20)) {
    return Status::InvalidArgument("--probe-size must be a size >= 1MiB");
  }
  Result<std::vector<uint64_t>> sizes = ParseSizeList("--block-sizes", block_sizes);
  if (!sizes.ok()) return sizes.status();
  for (uint64_t bs : *sizes) {
    if (bs % 4096 != 0 || bs > *span || bs > (64u << 20)) {
      return Status::InvalidArgument(
          "--block-sizes: each a multiple of 4KiB, <= 64MiB and <= "
          "--probe-size");
    }
  }
  return ParseCountList("--queue-depths", queue_depths, 4096).status();
}

Result<nlohmann::ordered_json> MeasureLimits(const LimitsOptions& o) {
  KVSTASH_RETURN_IF_ERROR(o.Validate());
  nlohmann::ordered_json j;
  j["kind"] = "limits";
  j["machine"] = MachineJson();
  uint32_t threads = o.threads;
  if (threads == 0) threads = std::max<uint32_t>(1, j["machine"]["nproc"].get<uint32_t>());
  j["memcpy"] = MeasureMemcpy(threads, o.seconds);
  if (o.tcp) {
    KVSTASH_ASSIGN_OR_RETURN(TcpProbeResult tcp,
                             ProbeLoopbackTcp(4ull << 20, std::max(0.3, o.seconds)));
    j["tcp_loopback"] = {
        {"gbps", tcp.gbps()}, {"write_bytes", tcp.write_bytes}, {"seconds", tcp.seconds}};
  }
  if (o.io) {
    KVSTASH_ASSIGN_OR_RETURN(j["io"], MeasureIo(o));
  }
  return j;
}

const nlohmann::ordered_json* FindIoLimit(const nlohmann::ordered_json& limits,
                                          const std::string& pattern, uint64_t block_bytes,
                                          uint32_t queue_depth) {
  if (!limits.contains("io")) return nullptr;
  for (const auto& r : limits["io"]["results"]) {
    if (r["pattern"] == pattern && r["block_bytes"] == block_bytes &&
        r["queue_depth"] == queue_depth) {
      return &r;
    }
  }
  return nullptr;
}

void PrintLimits(const nlohmann::ordered_json& j) {
  const auto& m = j["machine"];
  std::printf("physical limits: %u CPUs (%s), kernel %s, load %.2f\n", m["nproc"].get<unsigned>(),
              m["cpu_model"].get<std::string>().c_str(), m["kernel"].get<std::string>().c_str(),
              m["loadavg_1m"].get<double>());
  std::printf("  memcpy 64MiB buffers: 1 thread %.2f GB/s, %u threads %.2f GB/s\n",
              j["memcpy"]["gbps_1_thread"].get<double>(), j["memcpy"]["threads"].get<unsigned>(),
              j["memcpy"]["gbps_n_threads"].get<double>());
  if (j.contains("tcp_loopback")) {
    std::printf("  loopback TCP (one stream, 4MiB writes): %.2f GB/s\n",
                j["tcp_loopback"]["gbps"].get<double>());
  }
  if (!j.contains("io")) return;
  const auto& t = j["io"]["target"];
  std::printf("  io_uring O_DIRECT on %s (%s on %s)\n", t["path"].get<std::string>().c_str(),
              t["filesystem"].get<std::string>().c_str(),
              t["mount_source"].get<std::string>().c_str());
  std::printf("  %-9s %9s %4s %9s %10s %9s %9s %9s\n", "pattern", "block", "qd", "GB/s", "IOPS",
              "p50 us", "p99 us", "p999 us");
  for (const auto& r : j["io"]["results"]) {
    std::printf("  %-9s %9s %4u %9.3f %10.0f %9.1f %9.1f %9.1f\n",
                r["pattern"].get<std::string>().c_str(), FormatSize(r["block_bytes"]).c_str(),
                r["queue_depth"].get<unsigned>(), r["gbps"].get<double>(), r["iops"].get<double>(),
                r["p50_us"].get<double>(), r["p99_us"].get<double>(), r["p999_us"].get<double>());
  }
}

void AddLimitsCommand(CLI::App* bench, CommandRunner* runner) {
  auto o = std::make_shared<LimitsOptions>();
  CLI::App* cmd = bench->add_subcommand("limits", "Measure memcpy, raw flash I/O, loopback TCP");
  cmd->add_option("--flash-path", o->flash_path, "probe file on the flash filesystem");
  cmd->add_option("--probe-size", o->probe_size, "probe file SIZE (default 512MiB)");
  cmd->add_option("--block-sizes", o->block_sizes, "I/O sizes, e.g. 128KiB,1MiB");
  cmd->add_option("--queue-depths", o->queue_depths, "queue depths, e.g. 1,8,32");
  cmd->add_option("--seconds", o->seconds, "seconds per probe (default 0.3)");
  cmd->add_option("--threads", o->threads, "memcpy threads for the N-thread figure (0 = CPUs)");
  cmd->add_flag("!--no-io", o->io, "skip the storage probes");
  cmd->add_flag("!--no-tcp", o->tcp, "skip the loopback TCP probe");
  cmd->add_flag("--keep", o->keep, "keep the probe file");
  cmd->add_flag("--allow-device-write", o->allow_device_write,
                "allow the write probe on a block device (destroys its contents)");
  cmd->add_flag("--json", o->json, "print one JSON object");
  cmd->callback([runner, o] {
    *runner = [o](const GlobalOptions&) {
      Result<nlohmann::ordered_json> j = MeasureLimits(*o);
      if (!j.ok()) return ReportError("bench limits", j.status());
      if (o->json) {
        PrintJsonLine(*j);
      } else {
        PrintLimits(*j);
      }
      return static_cast<int>(kExitOk);
    };
  });
}

}  // namespace kvstash
