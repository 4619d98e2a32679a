// NodeConn: a ClusterClient's connection to one node: the Client (opened lazily), the
// node's quarantine, and its lane (a thread that runs this node's part of a fan-out, so the
// parts for different nodes proceed in parallel).
//
// Calls to one node are serialized here, as a Client serializes them anyway; doing it here
// lets a call that waited behind a failing one see the quarantine and return at once, rather
// than reconnect to a dead node.
//
// Thread safety: every method is safe from any thread.
#ifndef KVSTASH_CLUSTER_NODE_CONN_H_
#define KVSTASH_CLUSTER_NODE_CONN_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "kvstash/client.h"
#include "kvstash/status.h"

namespace kvstash::cluster {

struct QuarantinePolicy {
  std::chrono::milliseconds first{250};
  std::chrono::milliseconds max{5000};
};

class NodeConn {
 public:
  NodeConn(std::string name, ClientOptions options, QuarantinePolicy policy)
      : name_(std::move(name)), options_(std::move(options)), policy_(policy) {}
  ~NodeConn();  // stops the lane after its queued tasks
  NodeConn(const NodeConn&) = delete;
  NodeConn& operator=(const NodeConn&) = delete;

  const std::string& name() const { return name_; }
  const std::string& address() const { return options_.server_address; }

  // Runs `call` on this node's Client (connecting first if needed) unless the node is
  // quarantined, and quarantines it if the outcome is Unavailable or Timeout. Returns
  // Unavailable naming the node and the cause while quarantined or when the connect fails.
  Status Call(const std::function<Status(Client&)>& call);

  // Queues `task` on the lane.
  void Submit(std::function<void()> task);

  bool quarantined() const;
  bool connected() const;
  uint64_t failures() const { return failures_.load(); }
  uint64_t skips() const { return skips_.load(); }

 private:
  void Report(const Status& s);  // mu_ held
  void LaneLoop();

  const std::string name_;
  const ClientOptions options_;
  const QuarantinePolicy policy_;

  mutable std::mutex mu_;  // serializes calls; guards what follows
  std::unique_ptr<Client> client_;
  std::chrono::steady_clock::time_point quarantined_until_{};
  std::chrono::milliseconds backoff_{0};
  std::string last_error_;

  std::atomic<uint64_t> failures_{0}, skips_{0};

  std::mutex lane_mu_;
  std::condition_variable lane_cv_;
  std::deque<std::function<void()>> lane_tasks_;  // guarded by lane_mu_
  bool lane_stop_ = false;                        // guarded by lane_mu_
  std::thread lane_;                              // started on the first Submit
};

}  // namespace kvstash::cluster

#endif  // KVSTASH_CLUSTER_NODE_CONN_H_
