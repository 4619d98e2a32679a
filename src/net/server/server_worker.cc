// ServerWorker: thread lifecycle, event loop, connection accept/close, message dispatch.
#include "net/server/server_worker.h"

#include <fmt/format.h>

#include <cstring>

#include "common/logging.h"
#include "net/ucx/ucx_status.h"

namespace kvstash::net {

Result<std::unique_ptr<ServerWorker>> ServerWorker::Create(int index, ServerShared* shared) {
  std::unique_ptr<ServerWorker> w(new ServerWorker(index, shared));
  KVSTASH_ASSIGN_OR_RETURN(w->worker_, UcxWorker::Create(*shared->context));
  KVSTASH_RETURN_IF_ERROR(w->worker_->SetAmHandler(kRequestAmId, &ServerWorker::OnAm, w.get()));
  KVSTASH_RETURN_IF_ERROR(
      w->worker_->SetAmHandler(kPutPayloadAmId, &ServerWorker::OnPutPayload, w.get()));
  return w;
}

ServerWorker::~ServerWorker() {
  RequestStop();
  Join();
}

Status ServerWorker::Listen(const sockaddr_storage& addr,
                            std::function<void(ucp_conn_request_h)> dispatch) {
  KVSTASH_ASSIGN_OR_RETURN(listener_, UcxListener::Create(*worker_, addr, std::move(dispatch)));
  return Status::Ok();
}

void ServerWorker::Start() {
  thread_ = std::thread([this] { Run(); });
}

void ServerWorker::RequestStop() {
  stop_.store(true, std::memory_order_release);
  worker_->Signal();
}

void ServerWorker::Join() {
  if (thread_.joinable()) thread_.join();
}

void ServerWorker::EnqueueConnRequest(ucp_conn_request_h req) {
  {
    MutexLock lock(&mu_);
    conn_requests_.push_back(req);
  }
  worker_->Signal();
}

void ServerWorker::RejectConnRequest(ucp_conn_request_h req) {
  Bump(counters_.connections_refused);
  if (listener_ != nullptr) listener_->Reject(req);
}

void ServerWorker::Run() {
  while (!stop_.load(std::memory_order_acquire)) {
    worker_->ProgressAll();
    AcceptQueued(/*stopping=*/false);
    ProcessReady();
    CollectFlashReads();
    FinishGets();
    ReapClosing();
    Maintenance();
    if (ready_.empty() && completed_.empty() && closing_.empty() &&
        (reader_ == nullptr || !reader_->has_done())) {
      // While flash reads run, sleep on the event fd at once: a reader's Signal() only shows
      // there, not in UCX progress, so spinning would delay every read by the spin time.
      bool reading = reader_ != nullptr && reader_->outstanding() > 0;
      worker_->Wait(std::chrono::milliseconds(100),
                    reading ? std::chrono::microseconds(0) : shared_->options.idle_poll);
    }
  }
  Shutdown();
}

void ServerWorker::Shutdown() {
  AcceptQueued(/*stopping=*/true);  // requests already dispatched: accepted, then closed
  listener_.reset();
  // Let Gets whose reads or writes are in flight finish (their pins are released on completion).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (gets_in_flight_ > 0 && std::chrono::steady_clock::now() < deadline) {
    worker_->ProgressAll();
    CollectFlashReads();
    FinishGets();
    worker_->Wait(std::chrono::milliseconds(10), std::chrono::microseconds(0));
  }
  // Reads still queued come back cancelled; running ones complete; the readers are joined.
  if (reader_ != nullptr) reader_->Stop();
  for (auto& [ep, conn] : conns_) {
    conn->set_closing();
    closing_.push_back(conn);
  }
  conns_.clear();
  ReapClosing();  // force-closes: every client's error handler fires at once
  worker_->ProgressAll();
  // Every connection is closing now: what is left is released without writes or replies.
  CollectFlashReads();
  FinishGets();
  PumpFlashReads();
  FinishGets();
  ready_.clear();
}

bool ServerWorker::PeerFailureFor(ucp_conn_request_h req) const {
  switch (shared_->options.peer_failure) {
    case PeerFailureDetection::kOn:
      return true;
    case PeerFailureDetection::kOff:
      return false;
    case PeerFailureDetection::kAuto:
      break;
  }
  // The client decides from the server's address it connected to, which is local exactly
  // when the source address seen here is (kvstash/client.h, PeerFailureDetection).
  Result<sockaddr_storage> client = ConnRequestClientAddress(req);
  if (!client.ok()) {
    KVSTASH_LOG_EVERY_N_SEC(warn, 5, "client address of a connection: {}; peer-failure on",
                            client.status().ToString());
    return true;
  }
  return !IsLocalAddress(*client);
}

void ServerWorker::AcceptQueued(bool stopping) {
  std::vector<ucp_conn_request_h> reqs;
  {
    MutexLock lock(&mu_);
    reqs.swap(conn_requests_);
  }
  for (ucp_conn_request_h req : reqs) {
    auto conn = std::make_shared<Connection>(shared_->next_connection_id.fetch_add(1));
    std::weak_ptr<Connection> weak = conn;
    const bool peer_failure = PeerFailureFor(req);
    auto ep = UcxEndpoint::Accept(
        *worker_, req,
        [this, weak](Status s) {
          auto c = weak.lock();
          if (c == nullptr || c->closing()) return;
          if (c->said_goodbye()) {  // UCX reports a peer's close as an error too
            Bump(counters_.connections_closed_clean);
          } else {
            Bump(counters_.connections_closed_error);
            KVSTASH_LOG_EVERY_N_SEC(info, 5, "connection {} lost: {}", c->id(), s.ToString());
          }
          CloseConnection(c, /*malformed=*/false);
        },
        peer_failure);
    if (!ep.ok()) {
      shared_->connections_active.fetch_sub(1, std::memory_order_relaxed);
      Bump(counters_.connections_refused);
      KVSTASH_LOG_EVERY_N_SEC(warn, 5, "accept failed: {}", ep.status().ToString());
      continue;
    }
    conn->set_ep(std::move(ep).value());
    Bump(counters_.connections_accepted);
    Bump(counters_.connections_active);
    if (stopping) {
      CloseConnection(conn, false);
      continue;
    }
    conns_[conn->ep()->get()] = conn;
  }
}

std::shared_ptr<Connection> ServerWorker::SenderOf(const ucp_am_recv_param_t* param) {
  std::shared_ptr<Connection> conn;
  if (param->recv_attr & UCP_AM_RECV_ATTR_FIELD_REPLY_EP) {
    auto it = conns_.find(param->reply_ep);
    if (it != conns_.end()) conn = it->second;
  }
  if (conn == nullptr || conn->closing()) {
    // No reply endpoint (the protocol requires one) or an unknown/closing connection.
    Bump(counters_.malformed_messages);
    return nullptr;
  }
  return conn;
}

ucs_status_t ServerWorker::OnAm(void* arg, const void*, size_t, void* data, size_t length,
                                const ucp_am_recv_param_t* param) {
  auto* self = static_cast<ServerWorker*>(arg);
  std::shared_ptr<Connection> conn = self->SenderOf(param);
  if (conn == nullptr) return UCS_OK;
  bool too_big = length > self->shared_->limits.MaxMessageBytes();
  bool rndv = (param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV) != 0;
  size_t max_queue = 4ull * self->shared_->options.max_outstanding_per_connection;
  if (too_big || rndv || conn->inbox().size() >= max_queue) {
    self->CloseConnection(conn, /*malformed=*/true);
    return UCS_OK;  // a rendezvous descriptor not received is released by UCX
  }
  const auto* p = static_cast<const std::byte*>(data);
  conn->inbox().emplace_back(p, p + length);
  if (!conn->queued()) {
    conn->set_queued(true);
    self->ready_.push_back(conn);
  }
  return UCS_OK;
}

namespace {
// A put payload's receive in flight: keeps its connection alive until UCX completes it.
struct PutPayloadReceive {
  ServerWorker* worker;
  std::shared_ptr<Connection> conn;
};
}  // namespace

ucs_status_t ServerWorker::OnPutPayload(void* arg, const void* header, size_t header_length,
                                        void* data, size_t length,
                                        const ucp_am_recv_param_t* param) {
  auto* self = static_cast<ServerWorker*>(arg);
  const bool rndv = (param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV) != 0;
  std::shared_ptr<Connection> conn = self->SenderOf(param);
  if (conn == nullptr) return rndv ? UCS_ERR_CANCELED : UCS_OK;
  uint64_t offset = 0;
  Status s =
      DecodePutPayloadHeader({static_cast<const std::byte*>(header), header_length}, &offset);
  UcxMemory* arena = conn->hello_done() ? conn->arena() : nullptr;
  if (s.ok() && arena == nullptr) s = Status::PermissionDenied("put payload before Hello");
  if (s.ok() && (length == 0 || length > self->shared_->limits.max_value_bytes ||
                 offset > arena->length() || length > arena->length() - offset)) {
    s = Status::InvalidArgument(
        fmt::format("put payload [{}, +{}) outside the arena", offset, length));
  }
  if (!s.ok()) {
    KVSTASH_LOG_EVERY_N_SEC(warn, 5, "connection {}: {}", conn->id(), s.ToString());
    self->CloseConnection(conn, /*malformed=*/true);
    return rndv ? UCS_ERR_INVALID_PARAM : UCS_OK;  // the client's send fails with it
  }
  std::byte* dest = arena->address() + offset;
  Bump(self->counters_.put_bytes_messages, length);
  if (!rndv) {
    std::memcpy(dest, data, length);
    return UCS_OK;
  }
  auto* ctx = new PutPayloadReceive{self, conn};
  ucp_request_param_t p{};
  p.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
  p.cb.recv_am = &ServerWorker::OnPutPayloadReceived;
  p.user_data = ctx;
  ucs_status_ptr_t req = ucp_am_recv_data_nbx(self->worker_->get(), data, dest, length, &p);
  if (req == nullptr || UCS_PTR_IS_ERR(req)) {
    delete ctx;
    if (UCS_PTR_IS_ERR(req)) self->CloseConnection(conn, /*malformed=*/false);
    return UCS_OK;
  }
  conn->AddReceivesInFlight(1);  // OnPutPayloadReceived frees `req` and `ctx`
  return UCS_OK;
}

void ServerWorker::OnPutPayloadReceived(void* request, ucs_status_t status, size_t,
                                        void* user_data) {
  std::unique_ptr<PutPayloadReceive> ctx(static_cast<PutPayloadReceive*>(user_data));
  ucp_request_free(request);
  ctx->worker->PutPayloadReceived(ctx->conn, status);
}

void ServerWorker::PutPayloadReceived(const std::shared_ptr<Connection>& conn,
                                      ucs_status_t status) {
  conn->AddReceivesInFlight(-1);
  if (status != UCS_OK) {
    CloseConnection(conn, /*malformed=*/false);  // a value half received must not be committed
    return;
  }
  if (conn->receives_in_flight() == 0 && !conn->inbox().empty() && !conn->queued()) {
    conn->set_queued(true);  // messages held back while the payload landed
    ready_.push_back(conn);
  }
}

void ServerWorker::ProcessReady() {
  std::vector<std::shared_ptr<Connection>> ready;
  ready.swap(ready_);
  for (auto& conn : ready) {
    conn->set_queued(false);
    // A message after a put payload (its Commit) waits until the payload has landed.
    while (!conn->inbox().empty() && conn->alive() && conn->receives_in_flight() == 0) {
      std::vector<std::byte> msg = std::move(conn->inbox().front());
      conn->inbox().pop_front();
      HandleMessage(conn, std::move(msg));
    }
    if (!conn->alive()) conn->inbox().clear();
  }
}

void ServerWorker::HandleMessage(const std::shared_ptr<Connection>& conn,
                                 std::vector<std::byte> msg) {
  Header h;
  Status s = DecodeHeader(msg, &h);
  if (s.ok() && h.reply) s = Status::InvalidArgument("reply sent to the server");
  if (s.ok()) s = Dispatch(conn, h, std::span<const std::byte>(msg).subspan(kHeaderBytes));
  if (!s.ok()) {
    KVSTASH_LOG_EVERY_N_SEC(warn, 5, "connection {}: malformed message: {}", conn->id(),
                            s.ToString());
    CloseConnection(conn, /*malformed=*/true);
  }
}

Status ServerWorker::Dispatch(const std::shared_ptr<Connection>& conn, const Header& h,
                              std::span<const std::byte> body) {
  Connection& c = *conn;
  if (c.in_flight() >= shared_->options.max_outstanding_per_connection) {
    Bump(counters_.outstanding_rejected);
    Bump(counters_.request_errors);
    c.SendReply(EncodeReply(h.opcode, h.request_id,
                            Status::ResourceExhausted("too many outstanding requests"),
                            EmptyReply{}));
    return Status::Ok();
  }
  if (!c.hello_done() && h.opcode != Opcode::kHello) {
    Bump(counters_.request_errors);
    c.SendReply(EncodeReply(h.opcode, h.request_id,
                            Status::PermissionDenied("Hello must come first"), EmptyReply{}));
    return Status::Ok();
  }
  switch (h.opcode) {
    case Opcode::kHello:
      return OnHello(c, h, body);
    case Opcode::kAllocate:
      return OnAllocate(c, h, body);
    case Opcode::kCommit:
      return OnCommit(c, h, body);
    case Opcode::kAbort:
      return OnAbort(c, h, body);
    case Opcode::kRegisterBuffer:
      return OnRegisterBuffer(c, h, body);
    case Opcode::kUnregisterBuffer:
      return OnUnregisterBuffer(c, h, body);
    case Opcode::kGet:
      return OnGet(conn, h, body);
    case Opcode::kExists:
    case Opcode::kLongestPrefix:
    case Opcode::kDelete:
      return OnKeys(c, h, body);
    case Opcode::kStats:
      return OnStats(c, h, body);
    case Opcode::kGoodbye:
      return OnGoodbye(c, h, body);
  }
  return Status::InvalidArgument("unknown opcode");
}

void ServerWorker::CloseConnection(const std::shared_ptr<Connection>& conn, bool malformed) {
  if (conn->closing()) return;
  if (malformed) Bump(counters_.malformed_messages);
  conn->set_closing();
  if (conn->ep() != nullptr) conns_.erase(conn->ep()->get());
  closing_.push_back(conn);  // closed outside any UCX callback, in ReapClosing()
}

void ServerWorker::ReapClosing() {
  while (!closing_.empty()) {
    std::vector<std::shared_ptr<Connection>> batch;
    batch.swap(closing_);
    for (auto& conn : batch) {
      // Peer-failure endpoints: FORCE (a FLUSH close waits for an acknowledgement that a client
      // not progressing never sends; the transport reset tells the client at once). Without
      // peer-failure mode only the connection manager's disconnect reaches the client, which a
      // FLUSH close sends; it is bounded, then left to finish in later progress.
      bool force = conn->ep()->failed() || conn->ep()->peer_failure();
      conn->ep()->Close(force, std::chrono::milliseconds(200));
      counters_.connections_active.fetch_sub(1, std::memory_order_relaxed);
      shared_->connections_active.fetch_sub(1, std::memory_order_relaxed);
    }
  }
}

void ServerWorker::Maintenance() {
  auto interval = shared_->options.lease_sweep_interval;
  if (index_ != 0 || interval.count() <= 0) return;
  int64_t now = shared_->options.clock->NowNanos();
  if (now < next_sweep_ns_) return;
  next_sweep_ns_ = now + std::chrono::nanoseconds(interval).count();
  size_t n = 0;
  for (BlockStore* store : shared_->tenants->stores()) n += store->ExpireLeases();
  if (n > 0) KVSTASH_LOG_EVERY_N_SEC(info, 10, "expired {} allocation leases", n);
}

}  // namespace kvstash::net
