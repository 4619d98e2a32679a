// ServerWorker: one shared-nothing server thread. It owns a ucp_worker, the connections
// assigned to it and their in-flight Gets; worker 0 also owns the listener and runs lease
// maintenance.
//
// Event loop: progress UCX (active-message callbacks only enqueue raw messages; error
// callbacks only mark connections), then handle queued messages, finish Gets whose flush
// completed, close failed connections, then sleep on the worker's event fd. Nothing that
// progresses UCX runs inside a UCX callback.
//
// Thread safety: EnqueueConnRequest(), RequestStop() and counters() may be called from any
// thread; everything else runs on the worker's own thread (Start() hands it over).
#ifndef KVSTASH_NET_SERVER_WORKER_H_
#define KVSTASH_NET_SERVER_WORKER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/mutex.h"
#include "engine/block_store.h"
#include "net/protocol.h"
#include "net/server.h"
#include "net/server_connection.h"
#include "net/server_counters.h"
#include "net/server_tenants.h"
#include "net/ucx_context.h"
#include "net/ucx_listener.h"
#include "net/ucx_memory.h"
#include "net/ucx_worker.h"

namespace kvstash::net {

// What every worker reads; owned by the Server, immutable while workers run (except the
// atomics).
struct ServerShared {
  ServerOptions options;
  Limits limits;
  BlockStore* store = nullptr;  // the default store (namespace 0)
  UcxContext* context = nullptr;
  TenantTable* tenants = nullptr;  // namespace -> store + registered arena
  std::atomic<uint64_t> connections_active{0};
  std::atomic<bool> accepting{true};  // cleared first by Server::Stop()
  std::atomic<uint64_t> next_connection_id{1};
  std::function<std::vector<std::pair<std::string, uint64_t>>(const BlockStore*)> stats_pairs;
};

class ServerWorker {
 public:
  static Result<std::unique_ptr<ServerWorker>> Create(int index, ServerShared* shared);
  ~ServerWorker();

  // Worker 0 only, before Start(): binds the listener; `dispatch` picks the worker for each
  // accepted connection request.
  Status Listen(const sockaddr_storage& addr, std::function<void(ucp_conn_request_h)> dispatch);
  uint16_t port() const { return listener_ ? listener_->port() : 0; }

  void Start();
  void RequestStop();
  void Join();

  // Hands a connection request to this worker (any thread). The caller has already counted
  // it in ServerShared::connections_active.
  void EnqueueConnRequest(ucp_conn_request_h req);
  // Worker 0, inside its listener callback: refuses a request (over max_connections).
  void RejectConnRequest(ucp_conn_request_h req);
  const ServerCounters& counters() const { return counters_; }

 private:
  struct PendingGet;
  ServerWorker(int index, ServerShared* shared) : index_(index), shared_(shared) {}

  void Run();
  void Shutdown();
  void AcceptQueued(bool stopping);
  static ucs_status_t OnAm(void* arg, const void* header, size_t header_length, void* data,
                           size_t length, const ucp_am_recv_param_t* param);
  void ProcessReady();
  void HandleMessage(const std::shared_ptr<Connection>& conn, std::vector<std::byte> msg);
  Status Dispatch(const std::shared_ptr<Connection>& conn, const Header& h,
                  std::span<const std::byte> body);
  void CloseConnection(const std::shared_ptr<Connection>& conn, bool malformed);
  void ReapClosing();
  void Maintenance();

  // Handlers (server_handlers in server_worker.cc / server_get.cc). A non-OK return means the
  // body was malformed: the caller closes the connection.
  Status OnHello(Connection& c, const Header& h, std::span<const std::byte> body);
  Status OnAllocate(Connection& c, const Header& h, std::span<const std::byte> body);
  Status OnCommit(Connection& c, const Header& h, std::span<const std::byte> body);
  Status OnAbort(Connection& c, const Header& h, std::span<const std::byte> body);
  Status OnRegisterBuffer(Connection& c, const Header& h, std::span<const std::byte> body);
  Status OnUnregisterBuffer(Connection& c, const Header& h, std::span<const std::byte> body);
  Status OnKeys(Connection& c, const Header& h, std::span<const std::byte> body);
  Status OnStats(Connection& c, const Header& h, std::span<const std::byte> body);
  Status OnGet(const std::shared_ptr<Connection>& c, const Header& h,
               std::span<const std::byte> body);

  // Get helpers (server_get.cc). ServeGetItem pins and puts one block; DRAM pins whose put
  // is in flight go to `pins` (released after the flush).
  GetReply::Item ServeGetItem(Connection& c, const GetRequest::Item& it,
                              std::vector<BlockPin>* pins);
  StatusCode PutDram(Connection& c, const BlockPin& pin, const RemoteBuffer& buf, uint64_t offset);
  StatusCode PutFlash(Connection& c, const BlockPin& pin, const RemoteBuffer& buf, uint64_t offset);
  void StartFlush(std::unique_ptr<PendingGet> pending);
  static void OnFlushDone(void* request, ucs_status_t status, void* user_data);
  void FinishGets();
  void CountKeyStatus(StatusCode code);

  const int index_;
  ServerShared* const shared_;
  ServerCounters counters_;
  std::unique_ptr<UcxWorker> worker_;
  std::unique_ptr<UcxListener> listener_;
  std::thread thread_;
  std::atomic<bool> stop_{false};

  Mutex mu_;
  std::vector<ucp_conn_request_h> conn_requests_ ABSL_GUARDED_BY(mu_);

  // Worker thread only.
  std::unordered_map<ucp_ep_h, std::shared_ptr<Connection>> conns_;
  std::vector<std::shared_ptr<Connection>> ready_;
  std::vector<std::shared_ptr<Connection>> closing_;
  std::vector<PendingGet*> completed_gets_;
  size_t gets_in_flight_ = 0;
  std::vector<std::byte> bounce_storage_;  // flash bounce buffer (lazily allocated)
  std::unique_ptr<UcxMemory> bounce_;
  int64_t next_sweep_ns_ = 0;
};

}  // namespace kvstash::net

#endif  // KVSTASH_NET_SERVER_WORKER_H_
