// UcxListener: RAII owner of a ucp_listener_h bound to a TCP socket address.
//
// Connection requests are delivered to `on_request` inside ucp_worker_progress on the
// listener's worker thread; the callback must either Accept (UcxEndpoint::Accept, on any
// worker's own thread) or Reject every request it gets.
#ifndef KVSTASH_NET_UCX_LISTENER_H_
#define KVSTASH_NET_UCX_LISTENER_H_

#include <sys/socket.h>
#include <ucp/api/ucp.h>

#include <functional>
#include <memory>

#include "kvstash/status.h"
#include "net/ucx/ucx_worker.h"

namespace kvstash::net {

class UcxListener {
 public:
  using RequestCallback = std::function<void(ucp_conn_request_h)>;

  // Errors: Unavailable (address in use / not bindable).
  static Result<std::unique_ptr<UcxListener>> Create(UcxWorker& worker,
                                                     const sockaddr_storage& addr,
                                                     RequestCallback on_request);
  ~UcxListener();
  UcxListener(const UcxListener&) = delete;
  UcxListener& operator=(const UcxListener&) = delete;

  // The bound port (resolves port 0).
  uint16_t port() const { return port_; }
  void Reject(ucp_conn_request_h req);

 private:
  explicit UcxListener(RequestCallback cb) : on_request_(std::move(cb)) {}
  static void OnRequest(ucp_conn_request_h req, void* arg);
  RequestCallback on_request_;
  ucp_listener_h listener_ = nullptr;
  uint16_t port_ = 0;
};

}  // namespace kvstash::net

#endif  // KVSTASH_NET_UCX_LISTENER_H_
