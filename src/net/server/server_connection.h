// Connection: the server's state for one client endpoint (owned by one ServerWorker).
//
// Holds the endpoint, the handshake result (namespace), the client's registered buffers
// (remote address, length, unpacked rkey), the inbox of raw messages not yet processed and
// the count of requests in flight. Replies are sent with SendReply(), which owns the bytes
// until UCX is done with them.
//
// Thread safety: the owning worker's thread only.
#ifndef KVSTASH_NET_SERVER_CONNECTION_H_
#define KVSTASH_NET_SERVER_CONNECTION_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <unordered_map>
#include <vector>

#include "common/types.h"
#include "kvstash/status.h"
#include "net/server/server_tenants.h"
#include "net/ucx/ucx_endpoint.h"
#include "net/ucx/ucx_memory.h"

namespace kvstash::net {

// A client buffer announced with RegisterBuffer.
struct RemoteBuffer {
  uint64_t address = 0;
  uint64_t length = 0;
  // Shared: a flash read straight into `mapped` holds a reference, so that an UnregisterBuffer
  // arriving meanwhile cannot unmap the memory under the reader.
  std::shared_ptr<RemoteKey> rkey;
  // The buffer mapped into this process when the client is on this host and allocated it as
  // shared memory (RemoteKey::Map): gets copy into it with memcpy instead of an RMA write, and
  // flash hits are read into it directly. Valid while `rkey` lives.
  std::byte* mapped = nullptr;

  // True if [offset, offset+n) lies inside the buffer.
  bool Contains(uint64_t offset, uint64_t n) const {
    return offset <= length && n <= length - offset;
  }
};

class Connection {
 public:
  static constexpr size_t kMaxBuffers = 1024;

  explicit Connection(uint64_t id) : id_(id) {}
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  uint64_t id() const { return id_; }
  UcxEndpoint* ep() const { return ep_.get(); }
  void set_ep(std::unique_ptr<UcxEndpoint> ep) { ep_ = std::move(ep); }
  // Healthy: handshake state aside, the endpoint works and nothing asked to close it.
  bool alive() const { return ep_ != nullptr && !ep_->failed() && !closing_; }
  bool closing() const { return closing_; }
  void set_closing() { closing_ = true; }

  bool hello_done() const { return hello_done_; }
  // The client sent Goodbye: its endpoint's coming error is a clean close.
  bool said_goodbye() const { return said_goodbye_; }
  void set_said_goodbye() { said_goodbye_ = true; }
  // The namespace, store and arena bound at Hello (after the token was checked). Every later
  // request of this connection uses them; no message can name another namespace.
  NamespaceId ns() const { return route_.ns; }
  BlockStore* store() const { return route_.store; }
  UcxMemory* arena() const { return route_.arena; }
  void CompleteHello(TenantRoute route) {
    hello_done_ = true;
    route_ = std::move(route);
  }

  // Registers a client buffer; ResourceExhausted beyond kMaxBuffers.
  Result<uint32_t> AddBuffer(RemoteBuffer buf);
  Status RemoveBuffer(uint32_t id);
  const RemoteBuffer* FindBuffer(uint32_t id) const;

  // Sends `msg` (a whole encoded reply) as an active message; drops it if the endpoint is
  // dead (the client will see the failure through its own error handler).
  void SendReply(std::vector<std::byte> msg);

  std::deque<std::vector<std::byte>>& inbox() { return inbox_; }
  bool queued() const { return queued_; }
  void set_queued(bool q) { queued_ = q; }
  uint32_t in_flight() const { return in_flight_; }
  void AddInFlight(int delta) { in_flight_ += delta; }
  // Put payloads being received into the arena: the connection's next messages (its Commit)
  // wait until they have landed.
  uint32_t receives_in_flight() const { return receives_in_flight_; }
  void AddReceivesInFlight(int delta) { receives_in_flight_ += delta; }

 private:
  const uint64_t id_;
  std::unique_ptr<UcxEndpoint> ep_;
  bool closing_ = false;
  bool hello_done_ = false;
  bool said_goodbye_ = false;
  TenantRoute route_;
  uint32_t next_buffer_id_ = 1;
  std::unordered_map<uint32_t, RemoteBuffer> buffers_;
  std::deque<std::vector<std::byte>> inbox_;
  bool queued_ = false;  // on the worker's ready list
  uint32_t in_flight_ = 0;
  uint32_t receives_in_flight_ = 0;
};

}  // namespace kvstash::net

#endif  // KVSTASH_NET_SERVER_CONNECTION_H_
