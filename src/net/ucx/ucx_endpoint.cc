#include "net/ucx/ucx_endpoint.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "net/ucx/ucx_status.h"

namespace kvstash::net {

Result<std::unique_ptr<UcxEndpoint>> UcxEndpoint::Create(UcxWorker& worker, ucp_ep_params_t& params,
                                                         ErrorCallback on_error,
                                                         bool peer_failure) {
  std::unique_ptr<UcxEndpoint> ep(new UcxEndpoint(worker, std::move(on_error), peer_failure));
  params.field_mask |= UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE | UCP_EP_PARAM_FIELD_ERR_HANDLER;
  params.err_mode = peer_failure ? UCP_ERR_HANDLING_MODE_PEER : UCP_ERR_HANDLING_MODE_NONE;
  params.err_handler.cb = &UcxEndpoint::OnError;
  params.err_handler.arg = ep->sink_.get();
  ucs_status_t s = ucp_ep_create(worker.get(), &params, &ep->ep_);
  if (s == UCS_ERR_UNSUPPORTED && (params.field_mask & UCP_EP_PARAM_FIELD_CONN_REQUEST) != 0) {
    // UCX 1.13 pairs only endpoints of the same error-handling level.
    return Status::InvalidArgument(fmt::format(
        "ucp_ep_create: the client's peer-failure detection differs from this server's ({}); "
        "a client on auto adapts, a forced one must match",
        peer_failure ? "on" : "off"));
  }
  KVSTASH_RETURN_IF_ERROR(UcsToStatus(s, "ucp_ep_create"));
  return ep;
}

Result<std::unique_ptr<UcxEndpoint>> UcxEndpoint::Connect(UcxWorker& worker,
                                                          const sockaddr_storage& addr,
                                                          ErrorCallback on_error,
                                                          bool peer_failure) {
  ucp_ep_params_t params{};
  params.field_mask = UCP_EP_PARAM_FIELD_FLAGS | UCP_EP_PARAM_FIELD_SOCK_ADDR;
  params.flags = UCP_EP_PARAMS_FLAGS_CLIENT_SERVER;
  params.sockaddr.addr = reinterpret_cast<const sockaddr*>(&addr);
  params.sockaddr.addrlen = addr.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  return Create(worker, params, std::move(on_error), peer_failure);
}

Result<std::unique_ptr<UcxEndpoint>> UcxEndpoint::Accept(UcxWorker& worker, ucp_conn_request_h req,
                                                         ErrorCallback on_error,
                                                         bool peer_failure) {
  ucp_ep_params_t params{};
  params.field_mask = UCP_EP_PARAM_FIELD_CONN_REQUEST;
  params.conn_request = req;
  return Create(worker, params, std::move(on_error), peer_failure);
}

void UcxEndpoint::OnError(void* arg, ucp_ep_h, ucs_status_t status) {
  auto* self = static_cast<ErrorSink*>(arg)->owner;
  if (self == nullptr || !self->error_.ok()) return;  // parked, or already failed
  self->error_ = UcsToStatus(status, "endpoint");
  if (self->error_.ok()) self->error_ = Status::Unavailable("endpoint error");
  if (self->on_error_) self->on_error_(self->error_);
}

void UcxEndpoint::Abandon(ucs_status_ptr_t req, std::shared_ptr<const void> keep) {
  if (req == nullptr || UCS_PTR_IS_ERR(req)) return;
  if (ucp_request_check_status(req) != UCS_INPROGRESS) {
    ucp_request_free(req);
    return;
  }
  abandoned_.push_back({req, std::move(keep)});
}

void UcxEndpoint::Close(bool force, std::chrono::milliseconds timeout) {
  if (ep_ == nullptr) return;
  std::erase_if(abandoned_, [](const AbandonedRequest& a) {
    if (ucp_request_check_status(a.request) == UCS_INPROGRESS) return false;
    ucp_request_free(a.request);
    return true;
  });
  if (!abandoned_.empty() && !peer_failure_) {
    sink_->owner = nullptr;
    worker_.Park(ep_, std::move(abandoned_), sink_);
    ep_ = nullptr;
    return;
  }
  // With peer-failure handling a forced close completes queued requests with an error. Their
  // buffers (`completing`) are released when this returns, after the close has run.
  std::vector<AbandonedRequest> completing = std::move(abandoned_);
  abandoned_.clear();
  for (const AbandonedRequest& a : completing) ucp_request_free(a.request);
  ucp_request_param_t p{};
  p.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
  p.flags = (force || failed()) ? UCP_EP_CLOSE_FLAG_FORCE : 0;
  ucs_status_ptr_t req = ucp_ep_close_nbx(ep_, &p);
  ep_ = nullptr;  // closing twice is an error: whatever happens below, the handle is spent
  if (req == nullptr || UCS_PTR_IS_ERR(req)) return;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (ucp_request_check_status(req) == UCS_INPROGRESS &&
         std::chrono::steady_clock::now() < deadline) {
    worker_.ProgressAll();
    worker_.Wait(TimeLeft(deadline, std::chrono::milliseconds(10)));
  }
  // Not cancelled if still running: UCX finishes the close in later progress calls.
  ucp_request_free(req);
}

UcxEndpoint::~UcxEndpoint() { Close(false); }

Result<std::pair<std::string, uint16_t>> SplitHostPort(const std::string& address) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon + 1 == address.size()) {
    return Status::InvalidArgument(fmt::format("address '{}' is not host:port", address));
  }
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  unsigned port = 0;
  const char* b = address.data() + colon + 1;
  const char* e = address.data() + address.size();
  auto [p, ec] = std::from_chars(b, e, port);
  if (ec != std::errc() || p != e || port > 65535 || host.empty()) {
    return Status::InvalidArgument(fmt::format("address '{}' is not host:port", address));
  }
  return std::make_pair(host, static_cast<uint16_t>(port));
}

Result<sockaddr_storage> ResolveAddress(const std::string& host, uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string service = std::to_string(port);
  int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &res);
  if (rc != 0 || res == nullptr) {
    return Status::Unavailable(fmt::format("resolve '{}': {}", host, gai_strerror(rc)));
  }
  sockaddr_storage out{};
  std::memcpy(&out, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  return out;
}

bool IsLocalAddress(const sockaddr_storage& addr) {
  if (addr.ss_family == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in&>(addr);
    if ((ntohl(a.sin_addr.s_addr) >> 24) == 127) return true;
  } else if (addr.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6&>(addr);
    if (IN6_IS_ADDR_LOOPBACK(&a.sin6_addr)) return true;
    if (IN6_IS_ADDR_V4MAPPED(&a.sin6_addr) && a.sin6_addr.s6_addr[12] == 127) return true;
  } else {
    return false;
  }
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return false;
  bool local = false;
  for (ifaddrs* i = list; i != nullptr && !local; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != addr.ss_family) continue;
    if (addr.ss_family == AF_INET) {
      local = reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr.s_addr ==
              reinterpret_cast<const sockaddr_in&>(addr).sin_addr.s_addr;
    } else {
      local = std::memcmp(&reinterpret_cast<const sockaddr_in6*>(i->ifa_addr)->sin6_addr,
                          &reinterpret_cast<const sockaddr_in6&>(addr).sin6_addr,
                          sizeof(in6_addr)) == 0;
    }
  }
  freeifaddrs(list);
  return local;
}

Result<sockaddr_storage> ConnRequestClientAddress(ucp_conn_request_h req) {
  ucp_conn_request_attr_t attr{};
  attr.field_mask = UCP_CONN_REQUEST_ATTR_FIELD_CLIENT_ADDR;
  KVSTASH_RETURN_IF_ERROR(
      UcsToStatus(ucp_conn_request_query(req, &attr), "ucp_conn_request_query"));
  return attr.client_address;
}

bool UcxEndpoint::HasNativeRma() const {
  char* text = nullptr;
  size_t size = 0;
  FILE* f = open_memstream(&text, &size);
  if (f == nullptr) return false;
  ucp_ep_print_info(ep_, f);
  std::fclose(f);
  std::string_view info(text, size);
  bool rma = false;
  for (size_t at = 0; at < info.size();) {
    size_t end = info.find('\n', at);
    if (end == std::string_view::npos) end = info.size();
    std::string_view line = info.substr(at, end - at);
    if (line.find("lane[") != std::string_view::npos &&
        line.find(" rma#") != std::string_view::npos) {
      rma = true;
    }
    at = end + 1;
  }
  std::free(text);
  return rma;
}

}  // namespace kvstash::net
