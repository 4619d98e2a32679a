#include "tools/peers/peer_runner.h"

#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <thread>

#include "flash/io_probe.h"
#include "tools/peers/peer_filestore.h"
#include "tools/peers/peer_kvstash.h"
#include "tools/peers/peer_process.h"
#ifdef KVSTASH_PEERS_HAVE_HIREDIS
#include <hiredis/hiredis.h>

#include "tools/peers/peer_redis.h"
#endif

namespace kvstash {
namespace {

using nlohmann::json;

double Load1() {
  std::ifstream in("/proc/loadavg");
  double l = 0;
  in >> l;
  return l;
}

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

// Single-thread memcpy of `block` bytes between two 256 MiB rings for ~0.2 s: the copy limit.
double MemcpyGbps(uint64_t block) {
  uint64_t span = std::max<uint64_t>(256ull << 20, block);
  std::unique_ptr<std::byte, void (*)(std::byte*)> a(AllocAligned(span), FreeAligned),
      b(AllocAligned(span), FreeAligned);
  uint64_t bytes = 0, off = 0;
  auto start = std::chrono::steady_clock::now();
  double s = 0;
  while ((s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()) <
         0.2) {
    if (off + block > span) off = 0;
    std::memcpy(b.get() + off, a.get() + off, block);
    off += block;
    bytes += block;
  }
  return static_cast<double>(bytes) / s / 1e9;
}

bool Wants(const PeersOptions& o, const std::string& peer) {
  return std::find(o.peers.begin(), o.peers.end(), peer) != o.peers.end();
}

uint32_t CountFor(uint64_t bytes, uint64_t block, const PeersOptions& o) {
  uint64_t n = std::max<uint64_t>(bytes / block, 2ull * o.depth);
  return static_cast<uint32_t>(std::min<uint64_t>(n, o.max_count));
}

// Single-block gets: qd1_samples, but at most qd1_bytes of them (large blocks are slow to
// sample one by one; 32 samples of 8 MiB still give a p50/p99).
uint32_t Qd1For(const PeersOptions& o, uint64_t block) {
  uint64_t cap = std::max<uint64_t>(20, o.qd1_bytes / block);
  return static_cast<uint32_t>(std::min<uint64_t>(o.qd1_samples, cap));
}

void Log(const PeersOptions& o, const std::string& s) {
  if (o.verbose) std::fprintf(stderr, "[kvstash-peers] %s\n", s.c_str());
}

class Runner {
 public:
  Runner(const PeersOptions& o, PeerReport* r) : o_(o), report_(*r) {}

  void Skip(const std::string& peer, const std::string& reason) {
    Log(o_, "skipping " + peer + ": " + reason);
    report_.skipped.push_back({{"peer", peer}, {"reason", reason}});
  }

  // Runs one peer; a failure is recorded as a run error (ok=false), not fatal for the others.
  void Measure(PeerStore* store, const BlockSet& set, const RunOptions& ro, const char* peer,
               const char* transport, const char* tier) {
    if (store == nullptr) return;
    Log(o_, std::string("run ") + peer + "/" + transport + "/" + tier + " block=" +
                std::to_string(set.block_bytes()) + " count=" + std::to_string(set.count()));
    double load = Load1();
    Result<PeerRun> run = RunPeer(*store, set, ro);
    store->Release(set);
    PeerRun r;
    if (run.ok()) {
      r = std::move(run).value();
    } else {
      r.block_bytes = set.block_bytes();
      r.count = set.count();
      r.note = "ERROR: " + run.status().ToString();
      Log(o_, r.note);
      (void)store->Clear(set);
    }
    r.peer = peer;
    r.transport = transport;
    r.tier = tier;
    r.load1 = load;
    report_.runs.push_back(std::move(r));
  }

  std::unique_ptr<KvstashPeer> StartKvstash(const std::string& name, KvstashNodeOptions ko) {
    ko.send_checksums = o_.send_checksums;
    ko.prefault = o_.prefault;
    ko.shared_arena = o_.shared_arena;
    ko.transfer = o_.transfer;
    Result<std::unique_ptr<KvstashPeer>> p =
        KvstashPeer::Start(o_.self_exe, ko, o_.workdir + "/" + name + ".log");
    if (!p.ok()) {
      Skip(name, p.status().ToString());
      return nullptr;
    }
    return std::move(p).value();
  }

 private:
  const PeersOptions& o_;
  PeerReport& report_;
};

// The Mooncake helper: one process for every size; its JSON runs join the report.
void RunMooncake(const PeersOptions& o, Runner& runner, PeerReport& report) {
  if (o.mooncake_script.empty() || !std::filesystem::exists(o.mooncake_script)) {
    runner.Skip("mooncake", "helper script not found: '" + o.mooncake_script + "'");
    return;
  }
  std::string sizes, counts;
  for (uint64_t s : o.block_sizes) {
    sizes += (sizes.empty() ? "" : ",") + std::to_string(s);
    counts += (counts.empty() ? "" : ",") + std::to_string(CountFor(o.dram_bytes_per_size, s, o));
  }
  std::string out = o.workdir + "/mooncake.json";
  std::vector<std::string> argv = {o.python,       o.mooncake_script,
                                   "--sizes",      sizes,
                                   "--counts",     counts,
                                   "--depth",      std::to_string(o.depth),
                                   "--get-rounds", std::to_string(o.get_rounds),
                                   "--qd1",        std::to_string(o.qd1_samples),
                                   "--qd1-bytes",  std::to_string(o.qd1_bytes),
                                   "--workdir",    o.workdir + "/mooncake",
                                   "--out",        out};
  Log(o, "run mooncake helper (" + o.mooncake_script + ")");
  Result<ChildProcess> child = ChildProcess::Spawn(argv, {}, o.workdir + "/mooncake.log");
  if (!child.ok()) return runner.Skip("mooncake", child.status().ToString());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(o.mooncake_timeout_s);
  while (child->Running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  bool timed_out = child->Running();
  child->Stop();
  std::ifstream in(out);
  json j = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    runner.Skip("mooncake", std::string(timed_out ? "timed out; " : "") +
                                "no JSON from the helper; log tail:\n" + child->LogTail(1500));
    return;
  }
  if (j.contains("error")) runner.Skip("mooncake", j["error"].get<std::string>());
  report.conditions["mooncake"] = j.value("conditions", json::object());
  for (const json& r : j.value("runs", json::array())) {
    Result<PeerRun> run = RunFromJson(r);
    if (run.ok()) report.runs.push_back(std::move(run).value());
  }
}

}  // namespace

Status PeersOptions::Validate() const {
  if (block_sizes.empty()) return Status::InvalidArgument("no block sizes");
  for (uint64_t s : block_sizes) {
    if (s == 0 || s > (32ull << 20)) return Status::InvalidArgument("block size out of 1..32MiB");
  }
  if (depth == 0 || depth > 256) return Status::InvalidArgument("depth must be 1..256");
  if (self_exe.empty()) return Status::InvalidArgument("self_exe unset");
  return Status::Ok();
}

Result<PeerReport> RunPeers(const PeersOptions& options) {
  KVSTASH_RETURN_IF_ERROR(options.Validate());
  PeersOptions o = options;
  bool own_workdir = o.workdir.empty();
  if (own_workdir) {
    char tmpl[] = "/tmp/kvstash-peers.XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) return Status::IOError("mkdtemp /tmp");
    o.workdir = tmpl;
  }
  std::filesystem::create_directories(o.workdir);
  PeerReport report;
  Runner runner(o, &report);
  json& c = report.conditions;
  c["machine"] = {{"nproc", std::thread::hardware_concurrency()},
                  {"cpu_model", CpuModel()},
                  {"load1_start", Load1()}};
  c["workload"] = {{"block_sizes", o.block_sizes},
                   {"dram_bytes_per_size", o.dram_bytes_per_size},
                   {"flash_bytes_per_size", o.flash_bytes_per_size},
                   {"depth", o.depth},
                   {"get_rounds", o.get_rounds},
                   {"qd1_samples", o.qd1_samples},
                   {"kvstash_checksums", o.send_checksums},
                   {"warmup", o.warmup},
                   {"kvstash_arena_prefault", o.prefault},
                   {"kvstash_shared_arena", o.shared_arena},
                   {"kvstash_transfer", std::string(TransferName(o.transfer))},
                   {"workdir", o.workdir}};
  c["transports"] = {{"kvstash-sm", "UCX_TLS=" + UcxTlsFor("sm") + ", no peer-failure mode"},
                     {"kvstash-tcp", "UCX_TLS=" + UcxTlsFor("tcp")}};
  Result<ProbeTarget> fs = DescribeProbeTarget(o.workdir);
  if (fs.ok()) c["filesystem"] = {{"fs", fs->filesystem}, {"source", fs->mount_source}};

  std::unique_ptr<KvstashPeer> sm, tcp, flash;
  if (Wants(o, "kvstash-sm")) {
    KvstashNodeOptions ko;
    ko.transport = "sm";
    ko.dram_bytes = std::max<uint64_t>(1ull << 30, 4 * o.dram_bytes_per_size);
    sm = runner.StartKvstash("kvstash-sm", ko);
  }
  // The flash node: 128 MiB of DRAM in 16 MiB regions, so all but the newest blocks of a
  // working set live only in the flash file.
  if (Wants(o, "kvstash-flash")) {
    KvstashNodeOptions ko;
    ko.transport = "sm";
    ko.dram_bytes = 128ull << 20;
    ko.region_bytes = 16ull << 20;
    ko.flash_path = o.workdir + "/kvstash.flash";
    ko.flash_bytes = std::max<uint64_t>(1ull << 30, 2 * o.flash_bytes_per_size);
    flash = runner.StartKvstash("kvstash-flash", ko);
  }
  // The tcp node's client last: a UCX context created after one with UCX_TLS=tcp in this
  // process did not map shared memory (seen with UCX 1.13.1), which the sm clients need.
  if (Wants(o, "kvstash-tcp")) {
    KvstashNodeOptions ko;
    ko.transport = "tcp";
    ko.dram_bytes = std::max<uint64_t>(1ull << 30, 4 * o.dram_bytes_per_size);
    tcp = runner.StartKvstash("kvstash-tcp", ko);
  }
  std::unique_ptr<FileStorePeer> files;
  if (Wants(o, "filestore")) {
    Result<std::unique_ptr<FileStorePeer>> f = FileStorePeer::Create(
        {.dir = o.workdir + "/files", .queue_depth = o.depth, .fdatasync = o.filestore_fdatasync});
    if (f.ok())
      files = std::move(f).value();
    else
      runner.Skip("filestore", f.status().ToString());
  }
#ifdef KVSTASH_PEERS_HAVE_HIREDIS
  std::unique_ptr<RedisServer> redis;
  std::unique_ptr<RedisPeer> redis_unix, redis_tcp;
  if (Wants(o, "redis-unix") || Wants(o, "redis-tcp")) {
    std::string exe =
        o.redis_server.find('/') == std::string::npos ? FindInPath(o.redis_server) : o.redis_server;
    if (exe.empty()) {
      runner.Skip("redis", "redis-server not installed (apt-get install redis-server)");
    } else {
      std::filesystem::create_directories(o.workdir + "/redis");
      Result<std::unique_ptr<RedisServer>> r =
          RedisServer::Start(exe, o.workdir + "/redis", 4 * o.dram_bytes_per_size + (1ull << 30));
      if (!r.ok()) {
        runner.Skip("redis", r.status().ToString());
      } else {
        redis = std::move(r).value();
        c["redis"] = {
            {"version", redis->version()},
            {"hiredis", std::to_string(HIREDIS_MAJOR) + "." + std::to_string(HIREDIS_MINOR) + "." +
                            std::to_string(HIREDIS_PATCH)}};
        for (const char* t : {"unix", "tcp"}) {
          if (!Wants(o, std::string("redis-") + t)) continue;
          Result<std::unique_ptr<RedisPeer>> p = RedisPeer::Connect(*redis, t);
          if (!p.ok())
            runner.Skip(std::string("redis-") + t, p.status().ToString());
          else
            (std::string(t) == "unix" ? redis_unix : redis_tcp) = std::move(p).value();
        }
      }
    }
  }
#else
  if (Wants(o, "redis-unix") || Wants(o, "redis-tcp")) {
    runner.Skip("redis", "built without hiredis (apt-get install libhiredis-dev, reconfigure)");
  }
#endif

  json references = json::array();
  for (uint64_t size : o.block_sizes) {
    json ref = {{"block_bytes", size}, {"memcpy_gbps", MemcpyGbps(size)}};
    uint32_t n = CountFor(o.dram_bytes_per_size, size, o);
    Result<std::unique_ptr<BlockSet>> set = BlockSet::Create(size, n, 42);
    if (!set.ok()) return set.status();
    RunOptions ro;
    ro.depth = o.depth;
    ro.get_rounds = o.get_rounds;
    ro.qd1_samples = Qd1For(o, size);
    ro.warmup = o.warmup;
    ro.trace_slow_ms = o.trace_slow_ms;
    runner.Measure(sm.get(), **set, ro, "kvstash", "ucx-sm", "dram");
    runner.Measure(tcp.get(), **set, ro, "kvstash", "ucx-tcp", "dram");
#ifdef KVSTASH_PEERS_HAVE_HIREDIS
    runner.Measure(redis_unix.get(), **set, ro, "redis", "unix", "dram");
    runner.Measure(redis_tcp.get(), **set, ro, "redis", "tcp", "dram");
#endif
    set->reset();
    if (flash || files) {
      // Flash-resident gets: the oldest blocks, well past what DRAM and the flash tier's write
      // buffers can hold, each read once per round in a shuffled order.
      uint32_t nf = CountFor(o.flash_bytes_per_size, size, o);
      Result<std::unique_ptr<BlockSet>> fset = BlockSet::Create(size, nf, 43);
      if (!fset.ok()) return fset.status();
      uint64_t recent = std::min<uint64_t>(nf - o.depth, (192ull << 20) / size + o.depth);
      RunOptions fro;
      fro.depth = o.depth;
      fro.get_rounds = 1;
      fro.qd1_samples = Qd1For(o, size) / 2;
      fro.trace_slow_ms = o.trace_slow_ms;
      for (uint32_t i = 0; i + recent < nf; ++i) fro.get_ids.push_back(i);
      std::shuffle(fro.get_ids.begin(), fro.get_ids.end(), std::mt19937_64(size));
      runner.Measure(flash.get(), **fset, fro, "kvstash", "ucx-sm", "flash");
      runner.Measure(files.get(), **fset, fro, "filestore", "odirect", "flash");
      // The device limit at the same block size and QD, on the same filesystem.
      std::string probe = o.workdir + "/probe.dat";
      if (size % 4096 == 0 && PrepareProbeFile(probe, 256ull << 20).ok()) {
        Result<IoProbeResult> io = ProbeIo({.path = probe,
                                            .bytes = 256ull << 20,
                                            .block_bytes = static_cast<uint32_t>(size),
                                            .queue_depth = o.depth,
                                            .seconds = 0.5});
        if (io.ok()) {
          ref["raw_odirect_randread_gbps"] = io->bytes_per_sec() / 1e9;
          ref["raw_odirect_randread_p50_us"] = io->latency.p50_us;
          ref["raw_odirect_randread_p99_us"] = io->latency.p99_us;
        }
        std::filesystem::remove(probe);
      }
    }
    references.push_back(ref);
  }
  c["references"] = references;
  sm.reset();
  tcp.reset();
  flash.reset();
  files.reset();
#ifdef KVSTASH_PEERS_HAVE_HIREDIS
  redis_unix.reset();
  redis_tcp.reset();
  redis.reset();
#endif
  if (Wants(o, "mooncake")) RunMooncake(o, runner, report);
  c["machine"]["load1_end"] = Load1();
  report.ratios = ComputeRatios(report.runs);
  if (own_workdir && !o.keep_workdir) std::filesystem::remove_all(o.workdir);
  return report;
}

}  // namespace kvstash
