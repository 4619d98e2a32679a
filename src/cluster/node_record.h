// What etcd holds for a kvstash cluster, and its encoding. Everything lives under
// /kvstash/<cluster>/:
//   config          {"placement": "hrw-xxh3-v1", "version": 1}, written once by the first node
//                   or client; a node or client whose placement differs refuses to join.
//   nodes/<name>    a NodeRecord as JSON, attached to the node's lease: it disappears when the
//                   node stops renewing (crash) or revokes it (graceful stop).
// Tokens and tenant secrets are never written to etcd.
//
// Thread safety: plain values and pure functions.
#ifndef KVSTASH_CLUSTER_NODE_RECORD_H_
#define KVSTASH_CLUSTER_NODE_RECORD_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "cluster/etcd_client.h"
#include "kvstash/status.h"

namespace kvstash::cluster {

// kUp serves reads and writes; kDraining was asked to stop: clients stop placing keys on it.
enum class NodeState { kUp, kDraining };
std::string_view NodeStateName(NodeState s);

struct NodeRecord {
  std::string name;     // stable across restarts: what placement hashes
  std::string address;  // "host:port" clients connect to
  std::string boot_id;  // new at every start: tells a restart from a long-lived node
  double weight = 1.0;  // relative capacity (> 0)
  NodeState state = NodeState::kUp;
  uint64_t dram_bytes = 0;
  uint64_t flash_bytes = 0;
  std::string metrics_address;  // "host:port" of /metrics, empty if none
};

std::string EncodeNodeRecord(const NodeRecord& r);
// InvalidArgument naming what is wrong (not JSON, a field missing or of the wrong type, a bad
// name or weight).
Result<NodeRecord> DecodeNodeRecord(std::string_view json);

// One node of a static list: "name=host:port" or "name=host:port*weight". InvalidArgument
// naming the bad part.
Result<NodeRecord> ParseStaticNode(std::string_view spec);

// A node name: 1..64 of [A-Za-z0-9._-]. InvalidArgument otherwise.
Status ValidateNodeName(std::string_view name);
// A cluster name: the same alphabet. InvalidArgument otherwise.
Status ValidateClusterName(std::string_view name);

// The etcd keys of `cluster`.
class ClusterKeys {
 public:
  explicit ClusterKeys(std::string_view cluster)
      : root_("/kvstash/" + std::string(cluster) + "/") {}
  std::string config() const { return root_ + "config"; }
  std::string nodes_prefix() const { return root_ + "nodes/"; }
  std::string node(std::string_view name) const { return nodes_prefix() + std::string(name); }

 private:
  std::string root_;
};

// Writes the cluster's config if absent, else checks that it names this build's placement.
// Errors: InvalidArgument ("cluster <c> uses placement X, this build Y"), those of etcd.
Status EnsureClusterConfig(EtcdClient& etcd, std::string_view cluster);

}  // namespace kvstash::cluster

#endif  // KVSTASH_CLUSTER_NODE_RECORD_H_
