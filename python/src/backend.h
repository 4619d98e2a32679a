// The store behind a Python Store or AsyncStore: one kvstashd (kvstash::Client) or a cluster
// of them (kvstash::ClusterClient), chosen by the address. Internal to python/src: the
// bindings call only what they need, and the two clients keep their own contracts
// (include/kvstash/client.h, include/kvstash/cluster_client.h).
//
// Memory: over a single server RegisterBuffer() registers the range with the client (gets
// into it are zero-copy) and AllocateBuffer() returns the client's registered, possibly
// shared, memory. A cluster has no registration across nodes: RegisterBuffer() only
// records the range (each node's client moves it as unregistered memory, staged), and
// AllocateBuffer() returns ordinary page-aligned host memory.
//
// Thread safety: a Backend is as safe to share as the client it wraps (both are).
// Lifetime: a single server's BackendBuffer goes before its Backend to be unregistered
// (one that outlives it is inert, and allocated memory goes with the client: BufferHandle's
// rule); a cluster's BackendBuffers do not depend on the Backend.
#ifndef KVSTASH_PYTHON_BACKEND_H_
#define KVSTASH_PYTHON_BACKEND_H_

#include <cstddef>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kvstash/client.h"
#include "kvstash/cluster_client.h"

namespace kvstash::python {

// A range registered or allocated through a Backend (RAII, move-only): destroying it
// unregisters it from the client, or frees the memory it owns.
class BackendBuffer {
 public:
  BackendBuffer() = default;
  // A client's registration or allocation.
  explicit BackendBuffer(BufferHandle handle);
  // A range only recorded (owned by the caller), or, with `owned`, memory mapped here.
  BackendBuffer(std::byte* data, size_t size, bool owned);
  BackendBuffer(BackendBuffer&& o) noexcept;
  BackendBuffer& operator=(BackendBuffer&& o) noexcept;
  ~BackendBuffer();

  std::byte* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  void Release();
  BufferHandle handle_;  // a single server's registration; empty otherwise
  std::byte* data_ = nullptr;
  size_t size_ = 0;
  bool owned_ = false;  // data_ is an anonymous mapping of size_ bytes to unmap
};

class Backend {
 public:
  // Connects to options.server_address: a cluster address (kvstash::IsClusterAddress) opens
  // a ClusterClient whose node connections take the other fields of `options`; anything
  // else a Client. Errors: those of ClusterOptions::Parse, ClusterClient::Connect
  // (Unavailable: etcd not reachable) or Client::Connect.
  static Result<std::unique_ptr<Backend>> Connect(const ClientOptions& options);
  virtual ~Backend() = default;

  // The data path: as kvstash::Client's calls of the same names (the cluster's routes each
  // key to its owner; a down node's keys are misses there).
  virtual Status Put(std::string_view key, std::span<const std::byte> value) = 0;
  virtual Result<size_t> Get(std::string_view key, std::span<std::byte> dest) = 0;
  virtual Result<bool> Exists(std::string_view key) = 0;
  virtual Status Delete(std::string_view key) = 0;
  virtual Result<size_t> LongestPrefix(std::span<const std::string_view> keys) = 0;
  virtual Result<std::vector<Status>> PutBatch(std::span<const PutItem> items) = 0;
  virtual Result<std::vector<Result<size_t>>> GetBatch(std::span<const GetItem> items) = 0;
  virtual Result<std::vector<bool>> ExistsBatch(std::span<const std::string_view> keys) = 0;
  virtual Result<std::vector<Status>> DeleteBatch(std::span<const std::string_view> keys) = 0;

  // See the file comment. Errors: InvalidArgument (null or empty range), and a single
  // server's Unavailable, Timeout or ResourceExhausted.
  virtual Result<BackendBuffer> RegisterBuffer(void* data, size_t size) = 0;
  virtual Result<BackendBuffer> AllocateBuffer(size_t size) = 0;

  // Counters: a single server's Client::Stats(); a cluster's ClusterClient::Stats() (never
  // fails: nodes that do not answer are left out).
  virtual Result<std::map<std::string, uint64_t>> Stats() = 0;
  // The nodes as this client sees them. A single server is one node named by its address,
  // "up" when it answered a Stats() call just now ("unreachable" otherwise), with its
  // capacities from that answer and `failures` = calls that failed with Unavailable or
  // Timeout.
  virtual std::vector<ClusterNodeStatus> Nodes() = 0;
};

// The cluster options of `options`, whose server_address is a cluster address; each node's
// connection takes the other fields. Errors: InvalidArgument naming the bad part.
Result<ClusterOptions> ClusterOptionsOf(const ClientOptions& options);

// Checks `options` as Backend::Connect would use them, without connecting.
Status ValidateBackendOptions(const ClientOptions& options);

}  // namespace kvstash::python

#endif  // KVSTASH_PYTHON_BACKEND_H_
