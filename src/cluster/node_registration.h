// NodeRegistration: a kvstashd's membership in a cluster, kept in etcd.
//
//   Start ──> registered (nodes/<name> under a lease, renewed every ttl/3) ──Withdraw──> gone
//                 │  lease lost (etcd was away longer than the TTL, or restarted empty)
//                 └──> registers again with a new lease, same record
//
// * Start refuses a second live node of the same name: the record is written in one
//   transaction only if absent. A record left by a crashed predecessor of this name goes when
//   its lease runs out, so Start waits up to ttl + 1 s for it before refusing.
// * etcd being unreachable changes nothing on the data path: the node keeps serving and keeps
//   trying. When etcd returns within the TTL (etcd extends every lease on its restart) the
//   record was never lost and clients see no flap.
// * Withdraw (SIGTERM) marks the record draining, then revokes the lease: watching clients see
//   the node leave within milliseconds, while it finishes what is in flight.
//
// Thread safety: Start/Withdraw/destructor from one thread; registered() and counters from
// any. The renewal runs on the registration's own thread.
#ifndef KVSTASH_CLUSTER_NODE_REGISTRATION_H_
#define KVSTASH_CLUSTER_NODE_REGISTRATION_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "cluster/etcd_client.h"
#include "cluster/node_record.h"
#include "kvstash/status.h"

namespace kvstash::cluster {

struct RegistrationOptions {
  EtcdOptions etcd;
  std::string cluster = "default";
  std::chrono::seconds ttl{3};  // lease TTL: how long a crashed node stays listed, at most

  Status Validate() const;
};

class NodeRegistration {
 public:
  // Checks the cluster's config (EnsureClusterConfig) and registers `record`. Errors:
  // AlreadyExists (a live node holds the name; the message names its address and boot id),
  // InvalidArgument (options, record, placement mismatch), Unavailable (etcd unreachable).
  static Result<std::unique_ptr<NodeRegistration>> Start(RegistrationOptions options,
                                                         NodeRecord record);
  ~NodeRegistration();  // Withdraw()
  NodeRegistration(const NodeRegistration&) = delete;
  NodeRegistration& operator=(const NodeRegistration&) = delete;

  // Marks the node draining and revokes its lease (its record disappears), then stops
  // renewing. Bounded by the etcd timeout per call. Idempotent.
  void Withdraw();

  bool registered() const { return registered_.load(); }
  uint64_t renewals() const { return renewals_.load(); }
  uint64_t reregistrations() const { return reregistrations_.load(); }
  uint64_t etcd_errors() const { return etcd_errors_.load(); }
  const NodeRecord& record() const { return record_; }

 private:
  NodeRegistration(RegistrationOptions options, NodeRecord record, std::unique_ptr<EtcdClient> etcd)
      : options_(std::move(options)), record_(std::move(record)), etcd_(std::move(etcd)) {}
  // Grants a lease and writes the record if absent; with `wait_for_predecessor`, a record
  // of this name is given the lease's TTL (as etcd granted it) + 1 s to expire first.
  Status Register(bool wait_for_predecessor);
  void RenewLoop();
  void RenewOnce();

  RegistrationOptions options_;
  NodeRecord record_;
  std::unique_ptr<EtcdClient> etcd_;
  int64_t lease_ = 0;  // renewal thread only, after Start
  std::atomic<bool> registered_{false};
  std::atomic<uint64_t> renewals_{0}, reregistrations_{0}, etcd_errors_{0};
  std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread renewer_;
};

}  // namespace kvstash::cluster

#endif  // KVSTASH_CLUSTER_NODE_REGISTRATION_H_
