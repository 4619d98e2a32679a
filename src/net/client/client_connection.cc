#include "net/client/client_connection.h"

#include <fmt/format.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "common/logging.h"
#include "net/ucx/ucx_status.h"

namespace kvstash::net {

ucs_status_t ReplyInbox::OnReply(void* arg, const void*, size_t, void* data, size_t length,
                                 const ucp_am_recv_param_t* param) {
  auto* inbox = static_cast<ReplyInbox*>(arg);
  if (param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV) {
    inbox->protocol_error = true;  // the protocol sends eager messages only
    return UCS_OK;
  }
  std::span<const std::byte> msg(static_cast<const std::byte*>(data), length);
  Header h;
  if (!DecodeHeader(msg, &h).ok() || !h.reply) {
    inbox->protocol_error = true;
    return UCS_OK;
  }
  if (h.request_id == inbox->awaiting && inbox->awaiting != 0) {
    inbox->reply.emplace(msg.begin(), msg.end());
  }  // else: the reply of an abandoned request; dropped
  return UCS_OK;
}

void PayloadSink::Arm(uint64_t id, ucp_worker_h w, std::vector<std::span<std::byte>> d) {
  armed = true;
  request_id = id;
  worker = w;
  dests = std::move(d);
  received.assign(dests.size(), kNotReceived);
  error = false;
}

void PayloadSink::Disarm() {
  armed = false;  // `outstanding` may not be 0 only if the endpoint could not be closed
  dests.clear();
  received.clear();
}

ucs_status_t ReplyInbox::OnPayload(void* arg, const void* header, size_t header_length, void* data,
                                   size_t length, const ucp_am_recv_param_t* param) {
  auto* inbox = static_cast<ReplyInbox*>(arg);
  PayloadSink& sink = inbox->sink;
  const bool rndv = (param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV) != 0;
  PayloadHeader ph;
  if (!DecodePayloadHeader({static_cast<const std::byte*>(header), header_length}, &ph).ok()) {
    inbox->protocol_error = true;
    return rndv ? UCS_ERR_INVALID_PARAM : UCS_OK;
  }
  if (!sink.armed || ph.request_id != sink.request_id) {
    return UCS_OK;  // for a request given up on: dropped (a rendezvous is released unread)
  }
  if (ph.item >= sink.dests.size() || sink.dests[ph.item].empty() ||
      sink.received[ph.item] != PayloadSink::kNotReceived || length > sink.dests[ph.item].size()) {
    sink.error = true;  // never written: not asked for, twice, or larger than its destination
    return rndv ? UCS_ERR_INVALID_PARAM : UCS_OK;  // the server's send fails with it
  }
  std::byte* dest = sink.dests[ph.item].data();
  sink.received[ph.item] = length;
  if (!rndv) {
    std::memcpy(dest, data, length);
    return UCS_OK;
  }
  ucp_request_param_t p{};
  p.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
  p.cb.recv_am = &ReplyInbox::OnPayloadReceived;
  p.user_data = &sink;
  ucs_status_ptr_t req = ucp_am_recv_data_nbx(sink.worker, data, dest, length, &p);
  if (UCS_PTR_IS_ERR(req)) {
    sink.error = true;
  } else if (req != nullptr) {
    ++sink.outstanding;  // OnPayloadReceived frees it
  }
  return UCS_OK;
}

void ReplyInbox::OnPayloadReceived(void* request, ucs_status_t status, size_t, void* user_data) {
  auto* sink = static_cast<PayloadSink*>(user_data);
  --sink->outstanding;
  if (status != UCS_OK) sink->error = true;
  ucp_request_free(request);
}

uint64_t ClientConnection::NextRequestId() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

Result<std::unique_ptr<ClientConnection>> ClientConnection::Open(UcxWorker& worker,
                                                                 ReplyInbox& inbox,
                                                                 const ClientOptions& options,
                                                                 SteadyTime deadline, bool retry) {
  KVSTASH_ASSIGN_OR_RETURN(auto hp, SplitHostPort(options.server_address));
  KVSTASH_ASSIGN_OR_RETURN(auto addr, ResolveAddress(hp.first, hp.second));
  // The server decides kAuto from the source address it sees, which is local exactly when the
  // address connected to is (kvstash/client.h, PeerFailureDetection), so the first attempt
  // matches a server on kAuto. A server forced to the other mode refuses the endpoint (UCX
  // cannot pair the two), so kAuto alternates the mode between attempts: a forced server is
  // found on the second one.
  const bool adapt = options.peer_failure == PeerFailureDetection::kAuto;
  bool peer_failure =
      adapt ? !IsLocalAddress(addr) : options.peer_failure == PeerFailureDetection::kOn;
  deadline = std::min(deadline, std::chrono::steady_clock::now() + options.connect_timeout);
  auto backoff = std::chrono::milliseconds(5);
  Status refused = Status::Ok();  // the last attempt the server refused, if one was
  for (int attempt = 1;; ++attempt) {
    std::unique_ptr<ClientConnection> c(new ClientConnection(worker, inbox));
    KVSTASH_ASSIGN_OR_RETURN(c->ep_, UcxEndpoint::Connect(worker, addr, nullptr, peer_failure));
    Status s = c->Hello(options, deadline);
    if (s.ok()) return c;
    // An attempt begun just before the deadline times out before its refusal arrives: the
    // server answered every earlier attempt, so report those, not a silent server.
    if (s.code() == StatusCode::kTimeout && !refused.ok()) {
      s = refused;
    }
    if (s.code() == StatusCode::kUnavailable) refused = s;
    if (adapt) peer_failure = !peer_failure;
    const bool again = retry || (adapt && attempt == 1);
    if (!again || s.code() != StatusCode::kUnavailable ||
        std::chrono::steady_clock::now() + backoff >= deadline) {
      if (s.code() == StatusCode::kTimeout) {
        return Status::Timeout(
            fmt::format("{} accepted the connection but sent no handshake reply within {} ms: is a "
                        "kvstashd listening there, and is it running (not stopped or overloaded)?",
                        options.server_address, options.connect_timeout.count()));
      }
      if (s.code() != StatusCode::kUnavailable) return s;
      return Status::Unavailable(fmt::format(
          "no connection to {} after {} attempt{}; last: {}. Is kvstashd listening there? "
          "{}",
          options.server_address, attempt, attempt == 1 ? "" : "s", s.message(),
          adapt ? "(peer-failure detection was tried both ways)"
                : "If it is, it may detect peer failure differently from this client "
                  "(ClientOptions::peer_failure / kvstash --peer-failure vs kvstashd "
                  "--peer-failure): leave the client on auto, or set both ends alike."));
    }
    spdlog::debug("connect to {} failed ({}); retrying", options.server_address, s.ToString());
    c.reset();  // closes the failed endpoint before the next attempt
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(100));
  }
}

ClientConnection::~ClientConnection() {
  if (alive() && arena_rkey_ != nullptr) {  // the Hello went through
    // Tells the server this close is clean (else it counts connections_closed_error); the
    // reply is waited for briefly so that the message is out before the endpoint closes.
    (void)Call(Opcode::kGoodbye, GoodbyeRequest{},
               std::chrono::steady_clock::now() + std::chrono::milliseconds(200));
  }
  arena_rkey_.reset();  // rkeys before their endpoint
  if (ep_ != nullptr) ep_->Close(/*force=*/!alive(), std::chrono::milliseconds(200));
}

Status ClientConnection::Hello(const ClientOptions& options, SteadyTime deadline) {
  HelloRequest req;
  req.namespace_id = options.namespace_id;
  req.token = options.token;
  KVSTASH_ASSIGN_OR_RETURN(auto body, Call(Opcode::kHello, req, deadline));
  HelloReply rep;
  Status s = DecodeBody(std::span<const std::byte>(body), Limits{}, &rep);
  if (!s.ok()) {
    Kill();
    return Status::Unavailable("bad HelloReply: " + s.message());
  }
  arena_address_ = rep.arena_address;
  arena_bytes_ = rep.arena_bytes;
  limits_ = rep.limits;
  auto rkey = RemoteKey::Unpack(ep_->get(), rep.arena_rkey);
  if (!rkey.ok()) {
    Kill();
    return Status::Unavailable("server arena key: " + rkey.status().message());
  }
  arena_rkey_ = std::move(rkey).value();
  // A server on this host with its arena in shared memory: puts become one memcpy.
  arena_mapped_ = arena_rkey_->Map(arena_address_, arena_bytes_, options.populate_arena_mapping);
  native_rma_ = ep_->HasNativeRma();
  return Status::Ok();
}

Result<std::vector<std::byte>> ClientConnection::Exchange(std::vector<std::byte> msg,
                                                          SteadyTime deadline) {
  if (!alive()) return Status::Unavailable("not connected");
  Header h;
  KVSTASH_RETURN_IF_ERROR(DecodeHeader(msg, &h));
  ucp_request_param_t p{};
  p.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
  p.flags = UCP_AM_SEND_FLAG_REPLY | UCP_AM_SEND_FLAG_EAGER;
  inbox_.awaiting = h.request_id;
  inbox_.reply.reset();
  // Shared: a send given up on keeps its message until UCX is done reading it (Abandon).
  auto message = std::make_shared<const std::vector<std::byte>>(std::move(msg));
  ucs_status_ptr_t send =
      ucp_am_send_nbx(ep_->get(), kRequestAmId, nullptr, 0, message->data(), message->size(), &p);
  Status s = WaitForReply(send, h.request_id, deadline, message);
  inbox_.awaiting = 0;
  if (!s.ok()) {
    Kill();
    return s;
  }
  std::vector<std::byte> reply = std::move(*inbox_.reply);
  inbox_.reply.reset();
  Header rh;
  Status request_status;
  std::span<const std::byte> rest;
  s = DecodeHeader(reply, &rh);
  if (s.ok() && rh.opcode != h.opcode) s = Status::InvalidArgument("reply opcode mismatch");
  if (s.ok()) s = DecodeReplyStatus(std::span(reply).subspan(kHeaderBytes), &request_status, &rest);
  if (!s.ok()) {
    Kill();
    return Status::Unavailable("malformed reply: " + s.message());
  }
  KVSTASH_RETURN_IF_ERROR(request_status);
  return std::vector<std::byte>(rest.begin(), rest.end());
}

Status ClientConnection::WaitForReply(ucs_status_ptr_t send, uint64_t id, SteadyTime deadline,
                                      std::shared_ptr<const void> message) {
  if (UCS_PTR_IS_ERR(send)) return UcsToStatus(UCS_PTR_STATUS(send), "ucp_am_send_nbx");
  Status result;
  while (true) {
    worker_.ProgressAll();
    if (send != nullptr && ucp_request_check_status(send) != UCS_INPROGRESS) {
      result = UcsToStatus(ucp_request_check_status(send), "ucp_am_send_nbx");
      ucp_request_free(send);
      send = nullptr;
      if (!result.ok()) break;
    }
    if (inbox_.reply.has_value() && send == nullptr) break;
    if (ep_->failed()) {
      result = Status::Unavailable("connection lost: " + ep_->error().message());
      break;
    }
    if (inbox_.protocol_error) {
      inbox_.protocol_error = false;
      result = Status::Unavailable("malformed reply from server");
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      result = Status::Timeout(fmt::format("request {} timed out", id));
      break;
    }
    worker_.Wait(TimeLeft(deadline, std::chrono::milliseconds(50)));
  }
  // A send cannot be cancelled: the endpoint keeps it, and its message, until it completes.
  if (send != nullptr) ep_->Abandon(send, std::move(message));
  return result;
}

Status ClientConnection::Flush(SteadyTime deadline) {
  ucp_request_param_t p{};
  Status s = worker_.WaitRequest(
      ucp_ep_flush_nbx(ep_->get(), &p), deadline, "ucp_ep_flush_nbx",
      [this] { return ep_->failed(); }, [this](ucs_status_ptr_t r) { ep_->Abandon(r); });
  if (!s.ok()) Kill();
  return s;
}

}  // namespace kvstash::net
