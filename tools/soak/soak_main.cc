// kvstash-soak: starts its own kvstashd on a free 127.0.0.1 port (temporary flash file), runs
// a mixed put/get/exists/delete load from many connections for a bounded time, verifies every
// byte read, and checks the daemon's memory.
//
//   kvstash-soak --kvstashd PATH [--seconds 30] [--clients 64] [--max-ops N] [--dram 256MiB]
//                [--region-size 16MiB] [--flash-size 128MiB] [--rss-overhead 128MiB]
//                [--slots 4096] [--min-value 4KiB] [--max-value 256KiB] [--dir DIR]
//
// Prints ops, outcomes by status code, wrong-data count and the daemon's peak RSS against
// dram + rss-overhead (a fixed allowance for the index, UCX buffers, the flash tier's region
// buffer, bounce buffers and code). Exit codes: 0 pass; 1 wrong data, RSS over the bound, no
// ops, or the daemon died; 2 bad flags.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "common/size.h"
#include "tools/soak/rel_daemon.h"
#include "tools/soak/soak_workload.h"

namespace kvstash {
namespace {

struct SoakArgs {
  std::string kvstashd;
  std::string dir;
  uint32_t seconds = 30;
  std::string dram = "256MiB", region = "16MiB", flash = "128MiB", overhead = "128MiB";
  std::string min_value = "4KiB", max_value = "256KiB";
  SoakOptions soak;
};

const char* kCodeNames[SoakCounters::kCodes] = {"OK",
                                                "NotFound",
                                                "AlreadyExists",
                                                "Busy",
                                                "ResourceExhausted",
                                                "InvalidArgument",
                                                "DataLoss",
                                                "IOError",
                                                "Unavailable",
                                                "PermissionDenied",
                                                "LeaseExpired",
                                                "Timeout",
                                                "Internal"};

void Report(const SoakCounters& c, double secs, uint64_t peak_rss, uint64_t bound) {
  std::printf("soak: %.1f s, %llu ops (%.0f ops/s): put %llu get %llu exists %llu delete %llu\n",
              secs, (unsigned long long)c.ops.load(), c.ops.load() / secs,
              (unsigned long long)c.puts.load(), (unsigned long long)c.gets.load(),
              (unsigned long long)c.exists.load(), (unsigned long long)c.deletes.load());
  std::printf("soak: outcomes:");
  for (int i = 0; i < SoakCounters::kCodes; ++i) {
    if (c.by_code[i].load() > 0) {
      std::printf(" %s=%llu", kCodeNames[i], (unsigned long long)c.by_code[i].load());
    }
  }
  std::printf("\nsoak: verified %llu bytes, wrong_data=%llu, connect_failures=%llu\n",
              (unsigned long long)c.verified_bytes.load(), (unsigned long long)c.wrong_data.load(),
              (unsigned long long)c.connect_failures.load());
  std::printf("soak: kvstashd peak RSS %s, bound %s (dram + fixed overhead)\n",
              FormatSize(peak_rss).c_str(), FormatSize(bound).c_str());
}

int RunSoak(SoakArgs& a) {
  auto dram = ParseSize(a.dram), overhead = ParseSize(a.overhead);
  auto minv = ParseSize(a.min_value), maxv = ParseSize(a.max_value);
  if (!dram.ok() || !overhead.ok() || !minv.ok() || !maxv.ok()) {
    std::fprintf(stderr, "kvstash-soak: bad size flag\n");
    return 2;
  }
  if (a.dir.empty()) a.dir = "/tmp/kvstash-soak-" + std::to_string(::getpid());
  std::filesystem::create_directories(a.dir);
  auto port = FreeLoopbackPort();
  if (!port.ok()) return 1;
  std::string address = "127.0.0.1:" + std::to_string(*port);
  KvstashdProcess d(a.kvstashd,
                    {"--listen", address, "--dram", a.dram, "--region-size", a.region, "--flash",
                     a.dir + "/soak.flash", "--flash-size", a.flash, "--metrics-listen", "",
                     "--admission", "all", "--workers", "2", "--lease-ms", "5000"},
                    a.dir + "/kvstashd.log");
  if (Status s = d.Start(); !s.ok()) {
    std::fprintf(stderr, "kvstash-soak: %s\n", s.ToString().c_str());
    return 1;
  }
  a.soak.client.server_address = address;
  a.soak.duration = std::chrono::seconds(a.seconds);
  a.soak.min_value_bytes = *minv;
  a.soak.max_value_bytes = *maxv;
  if (Status s = a.soak.Validate(); !s.ok()) {
    std::fprintf(stderr, "kvstash-soak: %s\n", s.ToString().c_str());
    return 2;
  }
  uint64_t peak = 0;
  bool died = false;
  auto sample = [&] {
    auto rss = ProcessRssBytes(d.pid());
    if (rss.ok()) peak = std::max(peak, *rss);
    died = died || !d.Running();
  };
  SoakWorkload w(a.soak);
  auto t0 = std::chrono::steady_clock::now();
  w.Run(sample);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  sample();
  int stop = d.Stop();
  uint64_t bound = *dram + *overhead;
  Report(w.counters(), secs, peak, bound);
  bool clean_exit = WIFEXITED(stop) && WEXITSTATUS(stop) == 0;
  if (!clean_exit) std::printf("soak: kvstashd did not exit cleanly (status %d)\n", stop);
  bool pass = w.counters().wrong_data.load() == 0 && peak <= bound && !died && clean_exit &&
              w.counters().by_code[0].load() > 0;
  std::printf("soak: %s\n", pass ? "PASS" : "FAIL");
  if (pass) std::filesystem::remove_all(a.dir);
  return pass ? 0 : 1;
}

}  // namespace
}  // namespace kvstash

int main(int argc, char** argv) {
  kvstash::SoakArgs a;
  CLI::App app("kvstash-soak: bounded soak test against a kvstashd it starts on loopback");
  app.add_option("--kvstashd", a.kvstashd, "path of the kvstashd binary")->required();
  app.add_option("--seconds", a.seconds, "duration (default 30)");
  app.add_option("--clients", a.soak.clients, "client connections, one thread each (default 64)");
  app.add_option("--max-ops", a.soak.max_ops, "stop after this many ops (0: no cap)");
  app.add_option("--slots", a.soak.slots, "distinct logical keys (default 4096)");
  app.add_option("--dram", a.dram, "kvstashd DRAM (default 256MiB)");
  app.add_option("--region-size", a.region, "kvstashd region size (default 16MiB)");
  app.add_option("--flash-size", a.flash, "kvstashd flash file size (default 128MiB)");
  app.add_option("--rss-overhead", a.overhead, "allowed RSS above --dram (default 128MiB)");
  app.add_option("--min-value", a.min_value, "smallest value (default 4KiB)");
  app.add_option("--max-value", a.max_value, "largest value (default 256KiB)");
  app.add_option("--seed", a.soak.seed, "workload seed");
  app.add_option("--dir", a.dir, "work directory for the flash file and log");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  return kvstash::RunSoak(a);
}
