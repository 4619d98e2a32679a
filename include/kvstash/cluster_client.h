// kvstash ClusterClient: many kvstashd nodes used as one store, with no master on the data
// path (docs/ARCHITECTURE.md §6).
//
//   auto cluster = kvstash::ClusterClient::Connect(
//       *kvstash::ClusterOptions::Parse("etcd://10.0.0.2:2379/prod"));
//   (*cluster)->Put("llama/abc", block);   // goes to the key's owner, chosen here
//
// Membership: the nodes register themselves in etcd (kvstashd --etcd); the client reads the
// list once and then watches it, so joins and leaves reach it within milliseconds, a crashed
// node within its lease TTL (3 s by default). If etcd goes away the client keeps its last
// list and the data path is unaffected. A static list ("nodes://a=h:p,b=h:p") needs no etcd.
//
// Placement: each key goes to its highest-ranked node by weighted rendezvous hashing over the
// node names (cluster/placement.h), computed here. A key with a hash tag ("{run7}/blk3") is
// placed by the tag alone, so chained blocks can be kept together. Nothing moves on a join or
// a leave: it is a cache, and a key always means the same bytes. For a while after its owner
// joined (previous_owner_window), a Get that misses asks the key's previous owner.
//
// Failure: a node whose call fails with Unavailable or Timeout is quarantined in this client
// for `quarantine` (doubling on each further failure up to `max_quarantine`): meanwhile its
// keys are misses (Get NotFound, Exists false) and puts to it fail at once with Unavailable,
// so nothing waits on a dead node. Other nodes' keys are unaffected.
//
// Batches are split by owner and the parts run in parallel (one lane per node), each with the
// node's deadline; LongestPrefix is one parallel round trip. Results come back in input order.
//
// Thread safety: safe to share between threads. Calls to different nodes run in parallel;
// calls to one node are serialized on its connection (as with Client).
#ifndef KVSTASH_CLUSTER_CLIENT_H_
#define KVSTASH_CLUSTER_CLIENT_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kvstash/client.h"
#include "kvstash/status.h"

namespace kvstash {

struct ClusterOptions {
  // etcd endpoints "host:port[,host:port]", or empty with `nodes`.
  std::string etcd;
  std::string cluster = "default";  // the cluster's name in etcd
  // A static node list instead of etcd: "name=host:port" or "name=host:port*weight".
  std::vector<std::string> nodes;
  // Options of each node's connection (server_address is set per node).
  ClientOptions node;
  std::chrono::milliseconds etcd_timeout{1000};
  std::chrono::milliseconds quarantine{250};
  std::chrono::milliseconds max_quarantine{5000};
  std::chrono::milliseconds previous_owner_window{30000};

  // "etcd://host:port[,host:port]/cluster" (cluster optional: "default") or
  // "nodes://name=host:port[*weight],...". InvalidArgument naming the bad part.
  static Result<ClusterOptions> Parse(std::string_view address);
  Status Validate() const;
};

// True if `address` names a cluster ("etcd://..." or "nodes://...") rather than one node.
bool IsClusterAddress(std::string_view address);

// One node as this client sees it.
struct ClusterNodeStatus {
  std::string name;
  std::string address;
  std::string state;  // "up", "draining", or "quarantined" (up, but failing from here)
  std::string boot_id;
  double weight = 1.0;
  uint64_t dram_bytes = 0;
  uint64_t flash_bytes = 0;
  std::string metrics_address;
  bool connected = false;
  uint64_t failures = 0;  // calls that failed with Unavailable/Timeout from this client
};

class ClusterClient {
 public:
  // Reads the node list (etcd or static) and checks the cluster's placement function. Node
  // connections open lazily, on first use. Errors: InvalidArgument (options, placement
  // mismatch), Unavailable (etcd not reachable).
  static Result<std::unique_ptr<ClusterClient>> Connect(ClusterOptions options);
  ~ClusterClient();
  ClusterClient(const ClusterClient&) = delete;
  ClusterClient& operator=(const ClusterClient&) = delete;

  // As Client's, at the key's owner. With no node up: Unavailable.
  Status Put(std::string_view key, std::span<const std::byte> value);
  Result<size_t> Get(std::string_view key, std::span<std::byte> dest);
  Result<bool> Exists(std::string_view key);
  Result<size_t> LongestPrefix(std::span<const std::string_view> keys);
  Status Delete(std::string_view key);

  // The outer Result fails only when no node is up; per-item results otherwise, in order
  // (a quarantined or failed node's items carry its error: NotFound for gets, Unavailable for
  // puts and deletes).
  Result<std::vector<Status>> PutBatch(std::span<const PutItem> items);
  Result<std::vector<Result<size_t>>> GetBatch(std::span<const GetItem> items);
  Result<std::vector<bool>> ExistsBatch(std::span<const std::string_view> keys);
  Result<std::vector<Status>> DeleteBatch(std::span<const std::string_view> keys);

  // The nodes as this client sees them, by name.
  std::vector<ClusterNodeStatus> Nodes();
  // The name of the node that owns `key` now ("" when none is up).
  std::string OwnerOf(std::string_view key);
  // This client's counters ("cluster.*": node_failures (calls that failed with Unavailable
  // or Timeout), quarantine_skips (calls not made: the node was quarantined),
  // quarantine_misses (items answered as misses because of either), previous_owner_tries and
  // _hits, view_changes, ...) and each node's Stats() prefixed "<node>/".
  // Nodes that fail to answer are left out.
  std::map<std::string, uint64_t> Stats();

 private:
  struct Impl;
  explicit ClusterClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kvstash

#endif  // KVSTASH_CLUSTER_CLIENT_H_
