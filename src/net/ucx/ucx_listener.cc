#include "net/ucx/ucx_listener.h"

#include <netinet/in.h>

#include "net/ucx/ucx_status.h"

namespace kvstash::net {
namespace {

uint16_t PortOf(const sockaddr_storage& a) {
  if (a.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(a).sin6_port);
  return ntohs(reinterpret_cast<const sockaddr_in&>(a).sin_port);
}

}  // namespace

Result<std::unique_ptr<UcxListener>> UcxListener::Create(UcxWorker& worker,
                                                         const sockaddr_storage& addr,
                                                         RequestCallback on_request) {
  std::unique_ptr<UcxListener> l(new UcxListener(std::move(on_request)));
  ucp_listener_params_t params{};
  params.field_mask = UCP_LISTENER_PARAM_FIELD_SOCK_ADDR | UCP_LISTENER_PARAM_FIELD_CONN_HANDLER;
  params.sockaddr.addr = reinterpret_cast<const sockaddr*>(&addr);
  params.sockaddr.addrlen = addr.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  params.conn_handler.cb = &UcxListener::OnRequest;
  params.conn_handler.arg = l.get();
  ucs_status_t s = ucp_listener_create(worker.get(), &params, &l->listener_);
  if (s != UCS_OK) {
    l->listener_ = nullptr;
    Status st = UcsToStatus(s, "ucp_listener_create");
    return Status::Unavailable(st.message());
  }
  ucp_listener_attr_t attr{};
  attr.field_mask = UCP_LISTENER_ATTR_FIELD_SOCKADDR;
  KVSTASH_RETURN_IF_ERROR(
      UcsToStatus(ucp_listener_query(l->listener_, &attr), "ucp_listener_query"));
  l->port_ = PortOf(attr.sockaddr);
  return l;
}

UcxListener::~UcxListener() {
  if (listener_ != nullptr) ucp_listener_destroy(listener_);
}

void UcxListener::Reject(ucp_conn_request_h req) { (void)ucp_listener_reject(listener_, req); }

void UcxListener::OnRequest(ucp_conn_request_h req, void* arg) {
  static_cast<UcxListener*>(arg)->on_request_(req);
}

}  // namespace kvstash::net
