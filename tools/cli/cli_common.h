// Shared pieces of the `kvstash` CLI: global options, exit codes, error printing, and the
// command registry shape (each command file adds CLI11 subcommands and sets the runner of the
// one that was chosen).
//
// Thread safety: single-threaded CLI code unless a function says otherwise.
#ifndef KVSTASH_TOOLS_CLI_COMMON_H_
#define KVSTASH_TOOLS_CLI_COMMON_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "kvstash/client.h"
#include "kvstash/cluster_client.h"
#include "kvstash/status.h"

namespace CLI {
class App;
}  // namespace CLI

namespace kvstash {

// Exit codes of every kvstash command.
enum ExitCode : int {
  kExitOk = 0,
  kExitError = 1,  // the operation failed (message on stderr)
  kExitUsage = 2,  // bad command line
  kExitMiss = 3,   // get: key absent; exists: some key absent; delete: some key absent
};

struct GlobalOptions {
  // --server HOST:PORT (or $KVSTASH_SERVER), or a cluster: etcd://HOST:PORT/NAME, nodes://...
  std::string server = "127.0.0.1:7400";
  uint32_t namespace_id = 0;                                          // --namespace NS
  std::string token;                                                  // --token TOKEN
  uint64_t timeout_ms = 5000;                                         // --timeout-ms N
  PeerFailureDetection peer_failure = PeerFailureDetection::kAuto;    // --peer-failure
  ClientOptions::Transfer transfer = ClientOptions::Transfer::kAuto;  // --transfer

  // ClientOptions for Client::Connect (for a cluster address: each node's options).
  // InvalidArgument for a bad address or namespace.
  Result<ClientOptions> ToClientOptions() const;
};

// The chosen command: runs after parsing, returns the exit code.
using CommandRunner = std::function<int(const GlobalOptions&)>;

// Connects with `global`; on failure prints "kvstash: cannot connect to HOST:PORT: ..." and
// returns null.
std::unique_ptr<Client> ConnectOrReport(const GlobalOptions& global);

// Connects to the cluster `global.server` names; on failure prints "kvstash: cannot reach
// cluster ADDRESS: ..." and returns null.
std::unique_ptr<ClusterClient> ConnectClusterOrReport(const GlobalOptions& global);

// Prints "kvstash: <context>: <status>" on stderr; returns kExitError.
int ReportError(const std::string& context, const Status& status);

// Reads a whole file, or stdin for "-". Errors: those of open/read, naming the path.
Result<std::vector<std::byte>> ReadInput(const std::string& path);
// Writes `data` to a file (created/truncated), or stdout for "-".
Status WriteOutput(const std::string& path, std::span<const std::byte> data);

}  // namespace kvstash

#endif  // KVSTASH_TOOLS_CLI_COMMON_H_
