// ClusterFixture: a real cluster on loopback for the cluster tests and kvstash-cluster-bench:
// one etcd (EtcdProcess) and kvstashd nodes (KvstashdProcess) registered in it, each with its
// own port, log and a small DRAM tier.
//
// Thread safety: one thread drives a fixture.
#ifndef KVSTASH_TOOLS_CLUSTER_FIXTURE_H_
#define KVSTASH_TOOLS_CLUSTER_FIXTURE_H_

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cluster/tests/etcd_process.h"
#include "kvstash/cluster_client.h"
#include "kvstash/status.h"
#include "tools/soak/rel_daemon.h"

namespace kvstash {

struct ClusterNodeProcess {
  std::string name;
  uint16_t port = 0;
  std::unique_ptr<KvstashdProcess> proc;
  std::string address() const { return "127.0.0.1:" + std::to_string(port); }
};

struct ClusterFixtureOptions {
  std::string kvstashd;          // the binary
  std::string dir;               // logs and etcd data (created)
  std::string cluster = "test";  // the cluster's name in etcd
  int ttl_s = 2;                 // --cluster-ttl
  std::string dram = "64MiB";
  std::string region = "4MiB";
  int workers = 1;
  std::vector<std::string> extra;  // more kvstashd flags
};

class ClusterFixture {
 public:
  // Starts etcd. Errors: those of EtcdProcess::Start.
  static Result<std::unique_ptr<ClusterFixture>> Start(ClusterFixtureOptions options);

  // Starts node `name` on a free port (waits for its startup line: it is registered by then).
  Status AddNode(const std::string& name, std::vector<std::string> extra = {});
  // The node's process (null if unknown).
  ClusterNodeProcess* node(const std::string& name);
  // Removes the node from the fixture (its process must be gone).
  void Forget(const std::string& name);

  cluster::EtcdProcess& etcd() { return *etcd_; }
  // "etcd://127.0.0.1:<port>/<cluster>".
  std::string address() const;
  // A ClusterClient over this cluster with `node` as the per-node options.
  Result<std::unique_ptr<ClusterClient>> Connect(ClientOptions node = {}) const;

 private:
  explicit ClusterFixture(ClusterFixtureOptions o) : options_(std::move(o)) {}
  ClusterFixtureOptions options_;
  std::unique_ptr<cluster::EtcdProcess> etcd_;
  std::map<std::string, ClusterNodeProcess> nodes_;
};

}  // namespace kvstash

#endif  // KVSTASH_TOOLS_CLUSTER_FIXTURE_H_
