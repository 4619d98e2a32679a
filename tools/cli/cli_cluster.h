// `kvstash cluster status [--json]`: the nodes of a cluster as a client sees them (name,
// address, state, weight, capacity, connection, GET hit rate), from --server
// etcd://HOST:PORT/NAME or nodes://NAME=HOST:PORT,...
//
// Thread safety: single-threaded.
#ifndef KVSTASH_TOOLS_CLI_CLUSTER_H_
#define KVSTASH_TOOLS_CLI_CLUSTER_H_

#include "tools/cli/cli_common.h"

namespace kvstash {

void AddClusterCommand(CLI::App* app, CommandRunner* runner);

}  // namespace kvstash

#endif  // KVSTASH_TOOLS_CLI_CLUSTER_H_
