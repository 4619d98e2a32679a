// EtcdClient: the etcd v3 calls a kvstash cluster needs (key-value, transactions, leases,
// watches), spoken over etcd's JSON gateway (HTTP/1.1 + JSON, `/v3/...`) with cpp-httplib and
// nlohmann-json, so no gRPC stack is linked. Keys and values are bytes (base64 on the wire,
// decoded here); 64-bit integers travel as JSON strings, as the gateway writes them.
//
// Endpoints: several "host:port" of one etcd cluster may be given; a call that cannot reach
// one (connect refused, reset, timeout) tries the next, and the one that answered is tried
// first next time.
//
// Errors (every call): Unavailable when no endpoint answered within the options' timeout;
// Internal (message names the gateway's reply) for a reply that is not what etcd sends;
// NotFound only where a call says so.
//
// Thread safety: a client is safe to share; calls may run concurrently (each uses its own
// HTTP connection from a small pool).
#ifndef KVSTASH_CLUSTER_ETCD_CLIENT_H_
#define KVSTASH_CLUSTER_ETCD_CLIENT_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kvstash/status.h"

namespace kvstash::cluster {

struct EtcdOptions {
  std::vector<std::string> endpoints;       // "host:port" (IPv6 as "[::1]:2379"), at least one
  std::chrono::milliseconds timeout{1000};  // per call (connect + request + reply)

  // "host:port[,host:port...]" (an "http://" prefix on each is accepted and dropped).
  // InvalidArgument naming the bad part.
  static Result<EtcdOptions> Parse(std::string_view endpoints);
  Status Validate() const;
};

struct EtcdKeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t lease = 0;  // 0: none
};

struct EtcdRange {
  std::vector<EtcdKeyValue> kvs;
  int64_t revision = 0;  // the store's revision when read: watch from revision + 1
};

struct EtcdEvent {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  EtcdKeyValue kv;  // for kDelete only key and mod_revision are meaningful
};

class EtcdClient {
 public:
  static Result<std::unique_ptr<EtcdClient>> Create(EtcdOptions options);
  ~EtcdClient();
  EtcdClient(const EtcdClient&) = delete;
  EtcdClient& operator=(const EtcdClient&) = delete;

  const EtcdOptions& options() const { return options_; }

  // The key, if present (kvs empty otherwise).
  Result<EtcdRange> Get(std::string_view key);
  // Every key that starts with `prefix`, in key order.
  Result<EtcdRange> GetPrefix(std::string_view prefix);
  // Writes `key` (attached to `lease` when non-zero). NotFound: the lease does not exist.
  Status Put(std::string_view key, std::string_view value, int64_t lease = 0);
  // Writes `key` only if it does not exist (one transaction: create_revision == 0). Returns
  // true if written; false if it existed, with the existing entry in `*existing` when given.
  // NotFound: the lease does not exist.
  Result<bool> PutIfAbsent(std::string_view key, std::string_view value, int64_t lease = 0,
                           EtcdKeyValue* existing = nullptr);
  // Writes `key` only if its mod_revision is still `mod_revision` (one transaction). Returns
  // false if it changed or is gone.
  Result<bool> PutIfUnchanged(std::string_view key, std::string_view value, int64_t mod_revision,
                              int64_t lease = 0);
  // Deletes `key` (not an error if absent).
  Status Delete(std::string_view key);

  // A new lease of `ttl` (whole seconds, >= 1); returns its id.
  Result<int64_t> LeaseGrant(std::chrono::seconds ttl);
  // Renews `lease` once; returns the TTL etcd granted. NotFound: the lease expired or was
  // revoked (its keys are gone).
  Result<std::chrono::seconds> LeaseKeepAlive(int64_t lease);
  // Revokes `lease`, deleting its keys. Not an error if it is already gone.
  Status LeaseRevoke(int64_t lease);

 private:
  struct Impl;
  explicit EtcdClient(EtcdOptions options);
  EtcdOptions options_;
  std::unique_ptr<Impl> impl_;
};

// A watch on every key under a prefix, from a revision, read on its own thread from the
// gateway's streaming /v3/watch reply.
//
// `on_events` gets each batch in revision order, on the watch thread. When the stream ends
// for any reason (etcd stopped, the connection broke, the revision was compacted), `on_broken`
// is called once with the cause and the watch stops: the owner re-reads (GetPrefix) and
// starts a new watch from the revision it read (ClusterView does). Neither callback is called
// after the destructor returns; they must not destroy the watch.
//
// Thread safety: construct and destroy from one thread; the callbacks run on the watch's.
class EtcdWatch {
 public:
  using OnEvents = std::function<void(const std::vector<EtcdEvent>& events, int64_t revision)>;
  using OnBroken = std::function<void(const Status& cause)>;

  // Errors: Unavailable if the watch could not be created on any endpoint within the
  // options' timeout.
  static Result<std::unique_ptr<EtcdWatch>> Start(const EtcdOptions& options, std::string prefix,
                                                  int64_t start_revision, OnEvents on_events,
                                                  OnBroken on_broken);
  // Stops the stream (closes its connection) and joins the thread.
  ~EtcdWatch();
  EtcdWatch(const EtcdWatch&) = delete;
  EtcdWatch& operator=(const EtcdWatch&) = delete;

 private:
  struct Impl;
  explicit EtcdWatch(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kvstash::cluster

#endif  // KVSTASH_CLUSTER_ETCD_CLIENT_H_
