// kvstash-peers: kvstash side by side with its peers, in one run, with the same blocks, on the
// same machine (issue 6 item 2; results in docs/BENCHMARKS_PEERS.md).
//
//   kvstash-peers [--quick] [--json] [--out FILE] [--sizes 128KiB,1MiB,8MiB] [--peers LIST]
//                 [--bytes SIZE] [--flash-bytes SIZE] [--depth N] [--rounds N] [--qd1 N]
//                 [--workdir DIR] [--keep-workdir] [--no-checksums] [--fsync]
//                 [--mooncake-script PATH] [--python PYTHON] [--redis-server PATH]
//
// Every server (kvstash nodes, redis-server, Mooncake's master and store) is started by this
// program on 127.0.0.1 in a temporary directory and stopped before it exits. The table goes to
// stdout (or the JSON object with --json); --out FILE also writes the JSON there. Progress goes
// to stderr. Exit codes: 0 every run verified, 1 a run failed or returned wrong bytes, 2 bad
// flags. `kvstash-peers --serve ...` is the internal kvstash node mode (peer_kvstash.h);
// `kvstash-peers --built-peers` prints the peers this build can run (no redis-* without hiredis).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "common/size.h"
#include "tools/peers/peer_kvstash.h"
#include "tools/peers/peer_runner.h"

#ifndef KVSTASH_SOURCE_DIR
#define KVSTASH_SOURCE_DIR "."
#endif

namespace kvstash {
namespace {

Result<std::vector<uint64_t>> ParseSizes(const std::string& list) {
  std::vector<uint64_t> out;
  size_t b = 0;
  while (b <= list.size()) {
    size_t e = list.find(',', b);
    if (e == std::string::npos) e = list.size();
    if (e > b) {
      KVSTASH_ASSIGN_OR_RETURN(uint64_t s, ParseSize(list.substr(b, e - b)));
      out.push_back(s);
    }
    b = e + 1;
  }
  return out;
}

std::vector<std::string> SplitList(const std::string& list) {
  std::vector<std::string> out;
  size_t b = 0;
  while (b <= list.size()) {
    size_t e = list.find(',', b);
    if (e == std::string::npos) e = list.size();
    if (e > b) out.push_back(list.substr(b, e - b));
    b = e + 1;
  }
  return out;
}

int Run(int argc, char** argv) {
  if (argc >= 2 && std::string(argv[1]) == "--serve") {
    return RunKvstashServeMode(argc - 2, argv + 2);
  }
  if (argc >= 2 && std::string(argv[1]) == "--built-peers") {
    // What this binary can run, whatever is installed: scripts and tests decide by it.
    std::printf("kvstash-sm,kvstash-tcp,kvstash-flash,filestore,mooncake%s\n",
#ifdef KVSTASH_PEERS_HAVE_HIREDIS
                ",redis-unix,redis-tcp"
#else
                ""
#endif
    );
    return 0;
  }
  PeersOptions o;
  bool quick = false, json_out = false, no_checksums = false;
  std::string out_file, sizes, peers, bytes, flash_bytes;
  o.mooncake_script = std::string(KVSTASH_SOURCE_DIR) + "/bench/mooncake/bench_mooncake.py";
  CLI::App app{"kvstash-peers: kvstash vs Redis, a file-per-block store and Mooncake Store"};
  app.add_flag("--quick", quick, "small working sets, 1 get round (under a minute)");
  app.add_flag("--json", json_out, "print the JSON object instead of the table");
  app.add_option("--out", out_file, "also write the JSON object to FILE");
  app.add_option("--sizes", sizes, "block sizes (default 128KiB,1MiB,8MiB)");
  app.add_option("--peers", peers,
                 "kvstash-sm,kvstash-tcp,redis-unix,redis-tcp,kvstash-flash,filestore,mooncake");
  app.add_option("--bytes", bytes, "DRAM working set per block size (default 256MiB)");
  app.add_option("--flash-bytes", flash_bytes, "flash working set per block size (default 512MiB)");
  app.add_option("--depth", o.depth, "blocks per batched call / pipeline = QD (default 8)");
  app.add_option("--rounds", o.get_rounds, "timed get passes over the working set (default 2)");
  app.add_option("--qd1", o.qd1_samples, "single-block gets timed one by one (default 200)");
  app.add_option("--trace-slow-ms", o.trace_slow_ms, "log each call slower than this (stderr)");
  app.add_option("--max-count", o.max_count, "cap on blocks per size (default 16384)");
  app.add_option("--workdir", o.workdir, "temporary files (default: a new dir in /tmp)");
  app.add_flag("--keep-workdir", o.keep_workdir, "keep it (logs of every server)");
  app.add_flag("--no-checksums", no_checksums, "kvstash client sends no XXH3 checksums");
  app.add_flag("--fsync", o.filestore_fdatasync, "file store: fdatasync each file");
  bool no_warmup = false, no_prefault = false, private_arena = false;
  app.add_flag("--no-warmup", no_warmup, "no untimed put+clear before the timed DRAM runs");
  app.add_flag("--no-prefault", no_prefault, "kvstash node does not pre-touch its arena");
  app.add_flag("--private-arena", private_arena,
               "kvstash node's arena is private memory (every put a UCX put), not shared");
  using Transfer = ClientOptions::Transfer;
  app.add_option("--transfer", o.transfer,
                 "auto|rma|message: how the kvstash client's block bytes travel (default auto)")
      ->transform(CLI::CheckedTransformer(std::map<std::string, Transfer>{
          {"auto", Transfer::kAuto}, {"rma", Transfer::kRma}, {"message", Transfer::kMessage}}));
  app.add_option("--mooncake-script", o.mooncake_script, "bench_mooncake.py");
  app.add_option("--mooncake-timeout", o.mooncake_timeout_s, "seconds (default 150)");
  app.add_option("--python", o.python, "python for the Mooncake helper (default python3)");
  app.add_option("--redis-server", o.redis_server, "redis-server binary (default from PATH)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  o.send_checksums = !no_checksums;
  o.warmup = !no_warmup;
  o.prefault = !no_prefault;
  o.shared_arena = !private_arena;
  if (quick) {
    o.dram_bytes_per_size = 32ull << 20;
    o.flash_bytes_per_size = 256ull << 20;
    o.get_rounds = 1;
    o.qd1_samples = 50;
    o.qd1_bytes = 64ull << 20;
    o.mooncake_timeout_s = 60;
  }
  auto size_or = [](const std::string& s, uint64_t* dst) {
    if (s.empty()) return true;
    Result<uint64_t> v = ParseSize(s);
    if (v.ok()) *dst = *v;
    return v.ok();
  };
  if (!size_or(bytes, &o.dram_bytes_per_size) || !size_or(flash_bytes, &o.flash_bytes_per_size)) {
    std::fprintf(stderr, "kvstash-peers: bad --bytes/--flash-bytes\n");
    return 2;
  }
  if (!sizes.empty()) {
    Result<std::vector<uint64_t>> s = ParseSizes(sizes);
    if (!s.ok())
      return std::fprintf(stderr, "kvstash-peers: --sizes: %s\n", s.status().ToString().c_str()), 2;
    o.block_sizes = *s;
  }
  if (!peers.empty()) o.peers = SplitList(peers);
  o.self_exe = "/proc/self/exe";
  char exe[4096] = {};
  ssize_t n = ::readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n > 0) o.self_exe.assign(exe, static_cast<size_t>(n));

  Result<PeerReport> report = RunPeers(o);
  if (!report.ok()) {
    std::fprintf(stderr, "kvstash-peers: %s\n", report.status().ToString().c_str());
    return report.status().code() == StatusCode::kInvalidArgument ? 2 : 1;
  }
  nlohmann::json j = ReportToJson(*report);
  if (!out_file.empty()) {
    std::ofstream f(out_file);
    f << j.dump(2) << "\n";
  }
  if (json_out) {
    std::cout << j.dump(2) << std::endl;
  } else {
    std::cout << "kvstash-peers: " << j["conditions"].dump() << "\n" << ReportToTable(*report);
  }
  return j["ok"].get<bool>() ? 0 : 1;
}

}  // namespace
}  // namespace kvstash

int main(int argc, char** argv) { return kvstash::Run(argc, argv); }
