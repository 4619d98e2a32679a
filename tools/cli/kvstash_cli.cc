// kvstash: the command-line client.
//
//   kvstash [--server HOST:PORT] [--namespace NS] [--token TOKEN] [--timeout-ms N]
//           [--peer-failure on|off] COMMAND
//
//   put KEY [FILE|-]    get KEY [FILE|-]    exists KEY...    delete KEY...
//   model [--model NAME ...] [--json]  (break-even model, no server needed)
//   cluster status [--json]  (--server etcd://HOST:PORT/NAME or nodes://NAME=HOST:PORT,...)
//   stat [--json]       bench --op get|put --block-size SIZE --count N --batch N
//                             --tier dram|flash --queue-depth N [--json]
//
// --server defaults to $KVSTASH_SERVER, else 127.0.0.1:7400; put/get/exists/delete/stat also
// take a cluster address (the keys go to their owners).
// Exit codes: 0 success, 1 error, 2 bad command line, 3 miss (get/exists/delete).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>

#include "tools/bench/cli_bench.h"
#include "tools/cli/cli_cluster.h"
#include "tools/cli/cli_commands.h"
#include "tools/cli/cli_common.h"
#include "tools/cli/cli_model.h"

namespace kvstash {
namespace {

void AddGlobalOptions(CLI::App* app, GlobalOptions* g) {
  if (const char* env = std::getenv("KVSTASH_SERVER"); env != nullptr && *env != '\0') {
    g->server = env;
  }
  app->add_option("--server", g->server,
                  "server HOST:PORT (default $KVSTASH_SERVER or " + g->server + ")");
  app->add_option("--namespace", g->namespace_id, "tenant namespace id (0 = default)");
  app->add_option("--token", g->token, "tenant auth token");
  app->add_option("--timeout-ms", g->timeout_ms, "deadline of each call in ms (default 5000)");
  app->add_option("--peer-failure", g->peer_failure,
                  "auto|on|off: transport-level dead-server detection; auto (default) is off "
                  "for a server on this host (UCX shared memory) and on otherwise; a forced "
                  "mode must match kvstashd's --peer-failure")
      ->transform(CLI::CheckedTransformer(
          std::map<std::string, PeerFailureDetection>{{"auto", PeerFailureDetection::kAuto},
                                                      {"on", PeerFailureDetection::kOn},
                                                      {"off", PeerFailureDetection::kOff}}));
  using Transfer = ClientOptions::Transfer;
  app->add_option("--transfer", g->transfer,
                  "auto|rma|message: how block bytes travel (ClientOptions::transfer; default "
                  "auto: one-sided RMA over RDMA, payload messages over TCP and shared memory)")
      ->transform(CLI::CheckedTransformer(std::map<std::string, Transfer>{
          {"auto", Transfer::kAuto}, {"rma", Transfer::kRma}, {"message", Transfer::kMessage}}));
}

int Run(int argc, char** argv) {
  CLI::App app("kvstash: command-line client of a kvstash server");
  app.require_subcommand(1);
  GlobalOptions global;
  CommandRunner runner;
  AddGlobalOptions(&app, &global);
  AddDataCommands(&app, &runner);
  AddBenchCommand(&app, &runner);
  AddModelCommand(&app, &runner);
  AddClusterCommand(&app, &runner);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }
  if (!runner) {
    std::fprintf(stderr, "kvstash: no command (see kvstash --help)\n");
    return kExitUsage;
  }
  return runner(global);
}

}  // namespace
}  // namespace kvstash

int main(int argc, char** argv) { return kvstash::Run(argc, argv); }
