// ClientConnection: one live connection of a Client to a server: the endpoint, what the
// handshake returned (arena address, unpacked arena rkey, limits) and the request/reply
// exchange. Replies arrive through the worker's reply active-message handler (ReplyInbox).
//
// A connection is either alive or dead for good: an endpoint error, a timeout or a protocol
// violation kills it, and the Client opens a new one on its next call.
//
// Thread safety: none; the Client serializes all use (and the worker's) under its lock.
#ifndef KVSTASH_NET_CLIENT_CONNECTION_H_
#define KVSTASH_NET_CLIENT_CONNECTION_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "kvstash/client.h"
#include "kvstash/status.h"
#include "net/proto/protocol.h"
#include "net/ucx/ucx_endpoint.h"
#include "net/ucx/ucx_memory.h"
#include "net/ucx/ucx_worker.h"

namespace kvstash::net {

// Where the payload messages of the one Get being awaited land (its items asked for with
// kPayloadBufferId). Armed by the Get before it is sent; the Get waits for `outstanding` to
// drain before it looks at `received` or returns.
struct PayloadSink {
  static constexpr uint64_t kNotReceived = ~0ull;
  bool armed = false;
  uint64_t request_id = 0;
  ucp_worker_h worker = nullptr;
  std::vector<std::span<std::byte>> dests;  // by request item; empty: not a payload item
  std::vector<uint64_t> received;           // bytes delivered (or being received), by item
  size_t outstanding = 0;                   // rendezvous receives in flight
  bool error = false;                       // a payload that did not fit, or a failed receive

  void Arm(uint64_t id, ucp_worker_h w, std::vector<std::span<std::byte>> d);
  void Disarm();
};

// Where the reply AM handler leaves the reply of the one request being awaited.
struct ReplyInbox {
  uint64_t awaiting = 0;  // request id; 0 = none
  std::optional<std::vector<std::byte>> reply;
  bool protocol_error = false;  // a reply that did not decode arrived

  PayloadSink sink;

  // The worker's AM callbacks (arg = ReplyInbox*): replies and payload messages.
  static ucs_status_t OnReply(void* arg, const void* header, size_t header_length, void* data,
                              size_t length, const ucp_am_recv_param_t* param);
  static ucs_status_t OnPayload(void* arg, const void* header, size_t header_length, void* data,
                                size_t length, const ucp_am_recv_param_t* param);

 private:
  static void OnPayloadReceived(void* request, ucs_status_t status, size_t length, void* user_data);
};

class ClientConnection {
 public:
  // Connects to options.server_address and handshakes (Hello), within options.connect_timeout
  // and `deadline`. With `retry`, a handshake that failed with Unavailable (refused, reset,
  // transport timeout: the server is starting, restarting or overloaded) is tried again on a
  // fresh endpoint, with backoff, until that deadline; without, it fails at once. Errors:
  // Unavailable, PermissionDenied, Timeout, InvalidArgument (bad address).
  static Result<std::unique_ptr<ClientConnection>> Open(UcxWorker& worker, ReplyInbox& inbox,
                                                        const ClientOptions& options,
                                                        SteadyTime deadline, bool retry);
  ~ClientConnection();

  bool alive() const { return ep_ != nullptr && !ep_->failed() && !dead_; }
  // Marks the connection unusable (after a timeout or protocol violation).
  void Kill() { dead_ = true; }

  // Sends a request and waits for its reply. Returns the reply body after the request
  // status; a non-OK request status is returned as the error. Kills the connection on
  // Unavailable, Timeout or a malformed reply.
  template <typename Body>
  Result<std::vector<std::byte>> Call(Opcode op, const Body& body, SteadyTime deadline,
                                      uint64_t request_id = 0) {
    return Exchange(EncodeRequest(op, request_id != 0 ? request_id : NextRequestId(), body),
                    deadline);
  }
  // Process-wide unique: a late reply of a dead connection can never match a new request.
  static uint64_t NextRequestId();

  // Completes every put issued on this endpoint (remote completion).
  Status Flush(SteadyTime deadline);

  ucp_ep_h ep() const { return ep_->get(); }
  // Hands a request on this connection's endpoint that is given up on to the endpoint, which
  // keeps it, and `keep` (memory it reads), until it completes (UcxEndpoint::Abandon).
  void Abandon(ucs_status_ptr_t req, std::shared_ptr<const void> keep = nullptr) {
    ep_->Abandon(req, std::move(keep));
  }
  UcxWorker& worker() const { return worker_; }
  uint64_t arena_address() const { return arena_address_; }
  uint64_t arena_bytes() const { return arena_bytes_; }
  ucp_rkey_h arena_rkey() const { return arena_rkey_->get(); }
  // The server's arena mapped into this process (same host, shared-memory arena), or nullptr.
  std::byte* arena_mapped() const { return arena_mapped_; }
  const Limits& limits() const { return limits_; }
  // The endpoint has a native RMA lane (UcxEndpoint::HasNativeRma, read after the handshake).
  bool native_rma() const { return native_rma_; }

 private:
  ClientConnection(UcxWorker& worker, ReplyInbox& inbox) : worker_(worker), inbox_(inbox) {}
  Status Hello(const ClientOptions& options, SteadyTime deadline);
  Result<std::vector<std::byte>> Exchange(std::vector<std::byte> msg, SteadyTime deadline);
  // `message`: the memory `send` reads, kept past a give-up (UcxEndpoint::Abandon).
  Status WaitForReply(ucs_status_ptr_t send, uint64_t id, SteadyTime deadline,
                      std::shared_ptr<const void> message);

  UcxWorker& worker_;
  ReplyInbox& inbox_;
  std::unique_ptr<UcxEndpoint> ep_;
  bool dead_ = false;
  uint64_t arena_address_ = 0;
  uint64_t arena_bytes_ = 0;
  std::unique_ptr<RemoteKey> arena_rkey_;
  std::byte* arena_mapped_ = nullptr;  // valid while arena_rkey_ lives
  bool native_rma_ = false;
  Limits limits_;
};

}  // namespace kvstash::net

#endif  // KVSTASH_NET_CLIENT_CONNECTION_H_
