// KvstashdNode: one running storage node, assembled from a KvstashdConfig: the BlockStore
// (DRAM tier, later the flash tier and admission), the UCX Server and the Prometheus exporter.
// kvstashd.cc owns the process (flags, logging, signals); this class owns the parts and their
// start/stop order.
//
// Thread safety: Start/Stop/destructor from one thread. Samples() and healthy() are called by
// the exporter's HTTP thread and are safe while the node runs.
#ifndef KVSTASH_TOOLS_KVSTASHD_NODE_H_
#define KVSTASH_TOOLS_KVSTASHD_NODE_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cluster/node_registration.h"
#include "config/kvstashd_config.h"
#include "engine/block_store.h"
#include "kvstash/status.h"
#include "metrics/http_exporter.h"
#include "net/server/server.h"

namespace kvstash {

// How the flash file will be opened, decided at startup (PrepareFlash).
struct FlashPlan {
  uint64_t bytes = 0;     // resolved flash.size (auto sizing applied); 0: no flash tier
  bool direct_io = true;  // false when the filesystem refuses O_DIRECT (tmpfs)
};

// The configuration translated for each part (pure; exposed for the startup line and tests).
StoreOptions MakeStoreOptions(const KvstashdConfig& config, const FlashPlan& flash);
// A tenant's store: its own DRAM arena (TenantDramBytes), no flash tier.
StoreOptions MakeTenantStoreOptions(const KvstashdConfig& config, const TenantConfig& tenant);
// Tenants are listed with a null store; StartParts() fills in each tenant's own store.
Result<ServerOptions> MakeServerOptions(const KvstashdConfig& config);

class KvstashdNode {
 public:
  // Creates ./var (the flash file's directory), the store, the server and the exporter, and
  // starts serving. Errors: those of the parts, with the part named.
  static Result<std::unique_ptr<KvstashdNode>> Start(const KvstashdConfig& config);

  // Stops in reverse order: the cluster registration first (the node is marked draining and
  // its lease revoked, so clients stop sending to it), exporter, server (connections closed),
  // then the store.
  ~KvstashdNode();
  void Stop();

  // One line: listen address, DRAM, flash, workers, admission, metrics address.
  std::string StartupLine() const;

  // Samples for /metrics: the server's and store's counters plus kvstash_up / uptime.
  std::vector<MetricSample> Samples() const;
  bool healthy() const { return serving_.load(std::memory_order_acquire); }

 private:
  explicit KvstashdNode(const KvstashdConfig& config) : config_(config) {}
  Status PrepareFlash();
  Status StartParts();
  // Registers in the cluster when config_.cluster_etcd is set.
  Status JoinCluster();
  cluster::NodeRecord MakeNodeRecord() const;
  std::string AdvertisedAddress() const;  // cluster.advertise, else listen with the bound port
  std::string ClusterNodeName() const;    // cluster.node_name, else <hostname>-<port>
  // BlockStore::Create with the shared-arena allocator when there is one, falling back to a
  // private arena if shared memory is refused (ResourceExhausted).
  Result<std::unique_ptr<BlockStore>> CreateStore(StoreOptions options);

  KvstashdConfig config_;
  FlashPlan flash_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::shared_ptr<net::SharedArenas> shared_arenas_;  // config_.shared_arena; outlives stores
  std::unique_ptr<BlockStore> store_;
  std::vector<std::unique_ptr<BlockStore>> tenant_stores_;  // parallel to config_.tenants
  std::unique_ptr<Server> server_;
  std::unique_ptr<MetricsExporter> exporter_;
  std::unique_ptr<cluster::NodeRegistration> registration_;  // null: a standalone node
  std::string node_name_;  // the cluster node name; set before the exporter starts, then const
  std::atomic<bool> serving_{false};
};

}  // namespace kvstash

#endif  // KVSTASH_TOOLS_KVSTASHD_NODE_H_
