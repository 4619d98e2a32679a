// ClusterView: a client's picture of the cluster's nodes, and the placement over them.
//
// From etcd: reads /kvstash/<cluster>/nodes/, then watches that prefix from the revision it
// read, so a join, a graceful leave (draining mark, then the lease revoked) or a crash (the
// lease expires after its TTL) reaches the view within milliseconds of etcd seeing it. If the
// watch breaks (etcd stopped, a network cut, a compaction), the view keeps its last picture,
// so the data path goes on, and re-reads with backoff (100 ms doubling to 2 s) until etcd
// answers, then watches again.
// From a static list: the nodes never change and nothing talks to etcd.
//
// A snapshot is immutable: a caller takes one per operation and uses it without locks. Nodes
// in the draining state are listed but own no keys.
//
// Thread safety: every method is safe from any thread. The etcd watch and the re-read run on
// the view's own threads.
#ifndef KVSTASH_CLUSTER_CLUSTER_VIEW_H_
#define KVSTASH_CLUSTER_CLUSTER_VIEW_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cluster/etcd_client.h"
#include "cluster/node_record.h"
#include "cluster/placement.h"
#include "kvstash/status.h"

namespace kvstash::cluster {

struct ViewNode {
  NodeRecord record;
  // When this view first saw the node (steady clock; the epoch for nodes present at start):
  // a key's previous owner is worth asking for a while after its owner joined.
  std::chrono::steady_clock::time_point joined{};
};

struct ViewSnapshot {
  std::vector<ViewNode> nodes;     // every listed node, by name
  Placement placement;             // over the up nodes only
  std::vector<size_t> owner_node;  // placement index -> index in `nodes`
  uint64_t version = 0;            // increases with every change the view applies
};

class ClusterView {
 public:
  static std::unique_ptr<ClusterView> Static(std::vector<NodeRecord> nodes);
  // Checks the cluster's config (EnsureClusterConfig), reads the nodes and starts watching.
  // Errors: InvalidArgument (placement mismatch, bad cluster name), Unavailable (etcd).
  static Result<std::unique_ptr<ClusterView>> FromEtcd(EtcdOptions etcd, std::string cluster);
  ~ClusterView();
  ClusterView(const ClusterView&) = delete;
  ClusterView& operator=(const ClusterView&) = delete;

  std::shared_ptr<const ViewSnapshot> snapshot() const;
  // Blocks until the snapshot's version exceeds `version` or `timeout` passes; returns the
  // latest snapshot either way (tests, `kvstash cluster status --watch`).
  std::shared_ptr<const ViewSnapshot> WaitForChange(uint64_t version,
                                                    std::chrono::milliseconds timeout) const;

  bool watching() const { return watching_.load(); }  // false: a static view, or etcd away
  uint64_t rereads() const { return rereads_.load(); }
  uint64_t bad_records() const { return bad_records_.load(); }

 private:
  ClusterView() = default;
  Status ReadAndWatch();  // one GetPrefix, then a watch from the next revision
  void OnEvents(const std::vector<EtcdEvent>& events);
  void Publish();  // rebuilds the snapshot from nodes_ (mu_ held)
  void MaintainLoop();

  EtcdOptions etcd_options_;
  std::string cluster_;
  std::unique_ptr<EtcdClient> etcd_;
  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  std::map<std::string, ViewNode> nodes_;         // guarded by mu_
  std::shared_ptr<const ViewSnapshot> snapshot_;  // guarded by mu_
  uint64_t version_ = 0;                          // guarded by mu_
  bool broken_ = false;                           // guarded by mu_: the watch needs replacing
  bool stop_ = false;                             // guarded by mu_
  std::unique_ptr<EtcdWatch> watch_;              // maintain thread only (and destructor)
  std::atomic<bool> watching_{false};
  std::atomic<uint64_t> rereads_{0}, bad_records_{0};
  std::thread maintainer_;
};

}  // namespace kvstash::cluster

#endif  // KVSTASH_CLUSTER_CLUSTER_VIEW_H_
