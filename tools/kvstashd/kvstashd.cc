// kvstashd: the kvstash storage node.
//
//   kvstashd [--config FILE] [--listen HOST:PORT] [--dram SIZE] [--flash PATH]
//            [--flash-size SIZE] [--region-size SIZE] [--workers N] [--admission reuse|prefix|all]
//            [--lease-ms N] [--metrics-listen HOST:PORT] ...   (kvstashd --help; docs/CONFIG.md)
//
// With no flags it runs on embedded defaults: a 1 GiB DRAM arena, a flash file under ./var,
// UCX on 127.0.0.1:7400, metrics on 127.0.0.1:9400.
//
// Shutdown: SIGINT and SIGTERM are blocked in every thread before any thread starts; the main
// thread waits for them with sigwait() (no work in a signal handler), then stops the node and
// exits 0. Exit codes: 0 clean shutdown, 1 startup failure, 2 bad flags or config.
#include <signal.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstring>

#include "config/kvstashd_flags.h"
#include "tools/kvstashd/kvstashd_node.h"

namespace kvstash {
namespace {

sigset_t ShutdownSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

// Blocks until SIGINT or SIGTERM arrives; returns its number.
int WaitForShutdownSignal(const sigset_t& set) {
  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  return sig;
}

int Run(int argc, char** argv) {
  // Before any thread exists, so that every thread inherits the mask.
  sigset_t signals = ShutdownSignals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);  // a scraper that hangs up must not kill the node

  Result<KvstashdArgs> args = ParseKvstashdArgs(argc, argv);
  if (!args.ok()) {
    std::fprintf(stderr, "kvstashd: %s\n", args.status().message().c_str());
    return 2;
  }
  if (args->help) {
    std::fputs(args->help->c_str(), stdout);
    return 0;
  }
  const KvstashdConfig& config = args->config;
  spdlog::set_level(spdlog::level::from_str(config.log_level));
  if (!args->config_file.empty()) spdlog::info("config file {}", args->config_file);

  Result<std::unique_ptr<KvstashdNode>> node = KvstashdNode::Start(config);
  if (!node.ok()) {
    spdlog::error("kvstashd failed to start: {}", node.status().ToString());
    return 1;
  }
  spdlog::info("{}", (*node)->StartupLine());

  int sig = WaitForShutdownSignal(signals);
  spdlog::info("received {}, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
  (*node)->Stop();
  spdlog::info("kvstashd stopped");
  return 0;
}

}  // namespace
}  // namespace kvstash

int main(int argc, char** argv) { return kvstash::Run(argc, argv); }
