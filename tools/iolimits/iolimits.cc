// kvstash-iolimits: measures the physical limits of this machine's storage path, so kvstash
// benchmark figures can be read against them: raw io_uring O_DIRECT random-read and
// sequential-write bandwidth, IOPS and latency percentiles per block size and queue depth,
// plus single-thread memcpy bandwidth. Prints its conditions, then a table (or, with --json,
// one JSON object).
//
//   kvstash-iolimits                       # ./var/iolimits.dat, 256MiB, a few seconds
//   kvstash-iolimits --path /dev/nvme1n1 --bs 4KiB,1MiB --qd 1,32 --json
//
// Writing to a block device destroys its contents; the tool refuses unless --allow-device-write.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/size.h"
#include "flash/io_probe.h"

namespace kvstash {
namespace {

struct Flags {
  std::string path = "./var/iolimits.dat";
  std::string size = "256MiB";
  std::vector<std::string> block_sizes = {"4KiB", "128KiB", "1MiB"};
  std::vector<uint32_t> queue_depths = {1, 8, 32};
  double seconds = 0.2;
  bool json = false;
  bool keep = false;
  bool allow_device_write = false;
};

nlohmann::json ToJson(const IoProbeResult& r) {
  return {{"pattern", IoPatternName(r.options.pattern)},
          {"block_bytes", r.options.block_bytes},
          {"queue_depth", r.options.queue_depth},
          {"ops", r.ops},
          {"bytes", r.bytes},
          {"seconds", r.seconds},
          {"mib_per_s", r.bytes_per_sec() / (1 << 20)},
          {"iops", r.iops()},
          {"lat_us",
           {{"mean", r.latency.mean_us},
            {"p50", r.latency.p50_us},
            {"p90", r.latency.p90_us},
            {"p99", r.latency.p99_us},
            {"p999", r.latency.p999_us},
            {"max", r.latency.max_us}}}};
}

void PrintConditions(const ProbeTarget& t, uint64_t span, const Flags& f) {
  std::printf("kvstash-iolimits: io_uring, O_DIRECT, one thread, closed loop per queue depth\n");
  std::printf("  path        %s (%s)\n", t.path.c_str(),
              t.is_block_device ? "block device" : "regular file");
  std::printf("  filesystem  %s on %s\n", t.filesystem.empty() ? "-" : t.filesystem.c_str(),
              t.mount_source.c_str());
  std::printf("  size        %s (span probed %s)\n", FormatSize(t.size_bytes).c_str(),
              FormatSize(span).c_str());
  std::printf(
      "  per point   %.2f s; randread offsets uniform over the span; seqwrite wraps,\n"
      "              its time includes a final fdatasync\n\n",
      f.seconds);
  std::printf("%-9s %8s %4s %11s %10s %9s %9s %9s %9s %9s\n", "pattern", "bs", "qd", "MiB/s",
              "IOPS", "mean_us", "p50_us", "p99_us", "p99.9_us", "max_us");
}

void PrintRow(const IoProbeResult& r) {
  std::printf("%-9s %8s %4u %11.1f %10.0f %9.1f %9.1f %9.1f %9.1f %9.1f\n",
              std::string(IoPatternName(r.options.pattern)).c_str(),
              FormatSize(r.options.block_bytes).c_str(), r.options.queue_depth,
              r.bytes_per_sec() / (1 << 20), r.iops(), r.latency.mean_us, r.latency.p50_us,
              r.latency.p99_us, r.latency.p999_us, r.latency.max_us);
}

// Runs every (pattern, block size, queue depth) point, printing rows as they complete.
Status MeasureAll(const Flags& f, uint64_t span, const std::vector<uint32_t>& block_sizes,
                  bool writes, nlohmann::json* results) {
  for (IoPattern pattern : {IoPattern::kSequentialWrite, IoPattern::kRandomRead}) {
    if (pattern == IoPattern::kSequentialWrite && !writes) continue;
    for (uint32_t bs : block_sizes) {
      for (uint32_t qd : f.queue_depths) {
        IoProbeOptions o{f.path, span, bs, qd, pattern, f.seconds, /*seed=*/1};
        KVSTASH_ASSIGN_OR_RETURN(IoProbeResult r, ProbeIo(o));
        if (!f.json) PrintRow(r);
        results->push_back(ToJson(r));
      }
    }
  }
  return Status::Ok();
}

Result<std::vector<uint32_t>> ParseBlockSizes(const std::vector<std::string>& texts) {
  std::vector<uint32_t> out;
  for (const std::string& t : texts) {
    KVSTASH_ASSIGN_OR_RETURN(uint64_t bs, ParseSize(t));
    if (bs == 0 || bs % 4096 != 0 || bs > (1u << 30)) {
      return Status::InvalidArgument("block size " + t + " not a multiple of 4KiB up to 1GiB");
    }
    out.push_back(static_cast<uint32_t>(bs));
  }
  return out;
}

int Fail(const char* what, const Status& s) {
  std::fprintf(stderr, "kvstash-iolimits: %s: %s\n", what, s.ToString().c_str());
  return s.Is(StatusCode::kInvalidArgument) ? 2 : 1;
}

int Run(const Flags& f) {
  Result<uint64_t> span = ParseSize(f.size);
  if (!span.ok()) return Fail("--size", span.status());
  Result<std::vector<uint32_t>> block_sizes = ParseBlockSizes(f.block_sizes);
  if (!block_sizes.ok()) return Fail("--bs", block_sizes.status());
  std::error_code ec;
  const std::filesystem::path parent = std::filesystem::path(f.path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  const bool existed = std::filesystem::exists(f.path);
  if (Status s = PrepareProbeFile(f.path, *span); !s.ok()) return Fail("prepare", s);
  Result<ProbeTarget> target = DescribeProbeTarget(f.path);
  if (!target.ok()) return Fail("describe", target.status());
  const uint64_t probed = std::min(*span, target->size_bytes);
  nlohmann::json out = {{"path", target->path},
                        {"block_device", target->is_block_device},
                        {"filesystem", target->filesystem},
                        {"mount_source", target->mount_source},
                        {"size_bytes", target->size_bytes},
                        {"span_bytes", probed},
                        {"seconds_per_point", f.seconds},
                        {"results", nlohmann::json::array()}};
  if (!f.json) PrintConditions(*target, probed, f);
  const bool writes = !target->is_block_device || f.allow_device_write;
  Status s = MeasureAll(f, *span, *block_sizes, writes, &out["results"]);
  if (!existed && !f.keep && !target->is_block_device) std::filesystem::remove(f.path, ec);
  if (!s.ok()) return Fail("probe", s);
  MemcpyResult m = ProbeMemcpy();
  out["memcpy"] = {{"buffer_bytes", m.buffer_bytes},
                   {"mib_per_s", m.bytes_per_sec() / (1 << 20)},
                   {"seconds", m.seconds}};
  if (f.json) {
    std::printf("%s\n", out.dump(2).c_str());
  } else {
    std::printf("\nmemcpy (one thread, %s buffers): %.1f MiB/s\n",
                FormatSize(m.buffer_bytes).c_str(), m.bytes_per_sec() / (1 << 20));
  }
  return 0;
}

}  // namespace
}  // namespace kvstash

int main(int argc, char** argv) {
  kvstash::Flags f;
  CLI::App app{"kvstash-iolimits: raw io_uring O_DIRECT and memcpy limits of this machine"};
  app.add_option("--path", f.path, "file or block device to probe")->capture_default_str();
  app.add_option("--size", f.size, "bytes of the file (span probed)")->capture_default_str();
  app.add_option("--bs", f.block_sizes, "block sizes")->delimiter(',')->capture_default_str();
  app.add_option("--qd", f.queue_depths, "queue depths")->delimiter(',')->capture_default_str();
  app.add_option("--seconds", f.seconds, "time per measurement point")->capture_default_str();
  app.add_flag("--json", f.json, "print one JSON object instead of a table");
  app.add_flag("--keep", f.keep, "keep a probe file this run created");
  app.add_flag("--allow-device-write", f.allow_device_write,
               "run the write test on a block device (destroys its data)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return kvstash::Run(f);
}
