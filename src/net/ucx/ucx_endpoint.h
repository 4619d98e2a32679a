// UcxEndpoint: RAII owner of a ucp_ep_h with peer-failure error handling.
//
// Endpoints are created in UCP_ERR_HANDLING_MODE_PEER (`peer_failure` true), so a dead or
// disconnected peer fires the error handler (instead of hanging requests): the endpoint is
// marked failed, `on_error` runs (inside ucp_worker_progress, on the worker's thread) and
// outstanding requests complete with an error. Without it (NONE, what UCX 1.13 needs for
// shared-memory lanes) only the connection manager's disconnect reports a dead peer. Close()
// flushes a healthy endpoint (FLUSH mode) and force-closes a failed one, bounded in time; the
// destructor closes if Close() was not called.
//
// Requests given up on: UCX 1.13 cannot cancel a send, and destroying an endpoint without
// peer-failure handling (NONE) while a send or flush is still queued on it is a fatal UCX
// error ("pending request ... should have been flushed", an abort of the whole process). That
// happens whenever a peer stops answering: a server that accepts the connection and then
// hangs (SIGSTOP, overload), or a port held by another program. So a caller whose deadline
// passes hands the unfinished request to Abandon() instead of freeing it, and Close() of such
// an endpoint parks it on the worker (UcxWorker::Park) until its requests complete, rather
// than destroying it.
//
// Thread safety: the worker's thread only. The UcxWorker must outlive the endpoint.
#ifndef KVSTASH_NET_UCX_ENDPOINT_H_
#define KVSTASH_NET_UCX_ENDPOINT_H_

#include <sys/socket.h>
#include <ucp/api/ucp.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kvstash/status.h"
#include "net/ucx/ucx_worker.h"

namespace kvstash::net {

class UcxEndpoint {
 public:
  using ErrorCallback = std::function<void(Status)>;

  // Client side: starts connecting to `addr` (the handshake completes asynchronously; a failed
  // connect surfaces through the error handler).
  // `peer_failure`: UCP_ERR_HANDLING_MODE_PEER (see the class comment) when true; NONE when
  // false, which UCX 1.13 requires for shared-memory lanes (sysv/posix lack peer-failure
  // support): a dead peer then surfaces only through the connection manager's disconnect.
  static Result<std::unique_ptr<UcxEndpoint>> Connect(UcxWorker& worker,
                                                      const sockaddr_storage& addr,
                                                      ErrorCallback on_error,
                                                      bool peer_failure = true);
  // Server side: accepts a connection request delivered to a listener.
  static Result<std::unique_ptr<UcxEndpoint>> Accept(UcxWorker& worker, ucp_conn_request_h req,
                                                     ErrorCallback on_error,
                                                     bool peer_failure = true);

  ~UcxEndpoint();
  UcxEndpoint(const UcxEndpoint&) = delete;
  UcxEndpoint& operator=(const UcxEndpoint&) = delete;

  ucp_ep_h get() const { return ep_; }
  bool peer_failure() const { return peer_failure_; }
  bool failed() const { return !error_.ok(); }
  const Status& error() const { return error_; }
  // True if UCX gave this endpoint a lane with native RMA (an RDMA transport): ucp_put_nbx then
  // moves bytes with the NIC. False where UCX emulates puts over active messages (TCP; shared
  // memory in UCX 1.13, whose cma is a rendezvous lane only). UCX 1.13 reports its lanes only
  // through ucp_ep_print_info: a lane flagged "rma#N" there is a native RMA lane.
  bool HasNativeRma() const;

  // Closes the endpoint: FLUSH (in-flight operations finish; the peer acknowledges) if
  // `force` is false and the endpoint is healthy, FORCE otherwise (the transport connection is
  // torn down; the peer's error handler fires). Progresses the worker for at most `timeout`;
  // an unfinished close completes in later progress. Idempotent.
  void Close(bool force, std::chrono::milliseconds timeout = std::chrono::milliseconds(1000));

  // Keeps `req` (returned by a ucp_*_nbx call on this endpoint, possibly still in progress)
  // until it completes; the caller must not touch it again. `keep` owns memory the request
  // reads (a message it sends): it is released only after the request completes. See the
  // class comment.
  void Abandon(ucs_status_ptr_t req, std::shared_ptr<const void> keep = nullptr);

 private:
  // What UCX's error handler reaches (its `arg`): outlives this object when the endpoint is
  // parked, and then no longer calls back.
  struct ErrorSink {
    UcxEndpoint* owner = nullptr;  // null once parked
  };
  UcxEndpoint(UcxWorker& worker, ErrorCallback on_error, bool peer_failure)
      : worker_(worker),
        on_error_(std::move(on_error)),
        peer_failure_(peer_failure),
        sink_(std::make_shared<ErrorSink>(ErrorSink{this})) {}
  static Result<std::unique_ptr<UcxEndpoint>> Create(UcxWorker& worker, ucp_ep_params_t& params,
                                                     ErrorCallback on_error, bool peer_failure);
  static void OnError(void* arg, ucp_ep_h ep, ucs_status_t status);

  UcxWorker& worker_;
  ErrorCallback on_error_;
  ucp_ep_h ep_ = nullptr;
  const bool peer_failure_;
  Status error_;
  std::shared_ptr<ErrorSink> sink_;
  std::vector<AbandonedRequest> abandoned_;  // requests kept until they complete
};

// True if `addr` belongs to this host: a loopback address, or an address of one of its
// interfaces (getifaddrs). What PeerFailureDetection::kAuto decides by, on both ends.
bool IsLocalAddress(const sockaddr_storage& addr);
// The client's address of a connection request. Errors: those of ucp_conn_request_query.
Result<sockaddr_storage> ConnRequestClientAddress(ucp_conn_request_h req);

// Parses "host:port" / "[v6]:port" and resolves the host (getaddrinfo). Errors:
// InvalidArgument (syntax), Unavailable (resolution failed).
Result<sockaddr_storage> ResolveAddress(const std::string& host, uint16_t port);
Result<std::pair<std::string, uint16_t>> SplitHostPort(const std::string& address);

}  // namespace kvstash::net

#endif  // KVSTASH_NET_UCX_ENDPOINT_H_
