// Client::Impl: the state behind kvstash::Client (client.cc: connection, registration and
// small calls; client_data.cc: the Put/Get data path).
//
// Locking: `mu` serializes every call and every use of the UCX worker; the executor thread
// runs async calls through the same public methods, so it takes `mu` like any caller.
#ifndef KVSTASH_NET_CLIENT_IMPL_H_
#define KVSTASH_NET_CLIENT_IMPL_H_

#include <array>
#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <thread>

#include "common/mutex.h"
#include "kvstash/client.h"
#include "net/client/client_connection.h"
#include "net/client/client_registry.h"
#include "net/client/device_memory.h"
#include "net/ucx/ucx_context.h"
#include "net/ucx/ucx_worker.h"

namespace kvstash {

// Runs submitted tasks in order on one lazily started thread; drains the queue on destruction.
class TaskQueue {
 public:
  TaskQueue() = default;
  ~TaskQueue() { Shutdown(); }
  void Submit(std::function<void()> task);
  // Runs what is queued, then stops the thread. Idempotent.
  void Shutdown();

 private:
  void Run();
  Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // started by the first Submit (under mu_)
};

struct Client::Impl {
  ClientOptions options;
  std::unique_ptr<net::UcxContext> context;
  std::unique_ptr<net::UcxWorker> worker;
  net::ReplyInbox inbox;  // touched only while progressing the worker, under mu

  Mutex mu;
  std::unique_ptr<net::ClientConnection> conn ABSL_GUARDED_BY(mu);
  uint64_t epoch ABSL_GUARDED_BY(mu) = 0;       // bumps at every (re)connect
  net::HostBuffer staging ABSL_GUARDED_BY(mu);  // before `registry`: unmapped, then freed
  net::ClientRegistry registry ABSL_GUARDED_BY(mu);
  size_t staging_bytes ABSL_GUARDED_BY(mu) = 0;
  // Put bytes copied straight into the server's mapped arena ("client.put_bytes_mapped").
  uint64_t put_bytes_mapped ABSL_GUARDED_BY(mu) = 0;
  // Put bytes sent as put payload messages ("client.put_bytes_messages").
  uint64_t put_bytes_messages ABSL_GUARDED_BY(mu) = 0;
  // AM headers of the put payloads in flight (UCX reads a header until its send completes);
  // reserved per chunk so that it never reallocates while sends are in flight.
  // One batch's put-payload headers (capacity reserved: UCX holds pointers into it). Shared
  // with the sends given up on (ClientConnection::Abandon), which may read them later.
  using PutHeaders = std::vector<std::array<std::byte, net::kPutPayloadHeaderBytes>>;
  std::shared_ptr<PutHeaders> put_headers ABSL_GUARDED_BY(mu);
  // Get bytes received as payload messages ("client.get_bytes_messages").
  uint64_t get_bytes_messages ABSL_GUARDED_BY(mu) = 0;
  uint64_t staging_reg ABSL_GUARDED_BY(mu) = 0;  // registry id of `staging`
  std::atomic<bool> connected{false};
  TaskQueue executor;  // ~Client drains it before anything else goes

  net::SteadyTime Deadline() const { return std::chrono::steady_clock::now() + options.timeout; }

  // Opens a connection if there is no live one. `retry`: see ClientConnection::Open (true
  // only for Client::Connect; a call on a lost connection fails fast).
  Status EnsureConnected(net::SteadyTime deadline, bool retry = false)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // One request/reply on the live connection (connecting first); a failure that killed the
  // connection clears `connected`.
  template <typename Body>
  Result<std::vector<std::byte>> Call(net::Opcode op, const Body& body, net::SteadyTime deadline,
                                      uint64_t request_id = 0) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    KVSTASH_RETURN_IF_ERROR(EnsureConnected(deadline));
    auto r = conn->Call(op, body, deadline, request_id);
    if (!r.ok() && !conn->alive()) connected.store(false);
    return r;
  }
  // The server-side id of `reg` on the current connection, announcing it if needed.
  Result<uint32_t> ServerBufferId(net::Registration& reg, net::SteadyTime deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Makes the staging buffer at least `bytes` (<= max_staging_bytes) large and registered.
  Status EnsureStaging(size_t bytes, net::SteadyTime deadline) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  Status CheckKey(std::string_view key) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  // Data path (client_data.cc). Each handles at most one server batch.
  Result<std::vector<Status>> PutChunk(std::span<const PutItem> items, net::SteadyTime deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  Result<std::vector<Result<size_t>>> GetChunk(std::span<const GetItem> items,
                                               net::SteadyTime deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // ClientOptions::transfer on the live connection: payload messages rather than one-sided RMA
  // (where nothing is mapped and the memory is host memory).
  bool UseMessages() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Whether a Put of `value` goes as a put payload message (ClientOptions::transfer).
  bool PutAsMessage(std::span<const std::byte> value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Sends `value` as the put payload for arena offset `offset` (its header in put_headers);
  // a send in flight is appended to `sends`.
  Status SendPutPayload(std::span<const std::byte> value, uint64_t offset,
                        std::vector<ucs_status_ptr_t>* sends) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Completes `sends`. If they cannot complete (connection failed, `deadline`), closes the
  // connection, which makes UCX complete them, before the values and headers may go.
  Status WaitPutPayloads(std::vector<ucs_status_ptr_t> sends, net::SteadyTime deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Whether a Get into `dest` asks for a payload message (ClientOptions::transfer) on the
  // live connection.
  bool GetAsMessage(std::span<std::byte> dest) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Waits until no payload receive of the armed sink is in flight. If they cannot finish (the
  // connection failed, or `deadline`), closes the connection, which makes UCX complete them,
  // so that nothing writes into the caller's memory after the Get returns.
  Status DrainPayloads(net::SteadyTime deadline) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // One Get reply item -> the caller's result; copies staged bytes out.
  Result<size_t> FinishGetItem(const GetItem& item, uint64_t capacity, const net::GetReply::Item& r,
                               const std::byte* staged) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  Status PutBytes(std::span<const std::byte> value, uint64_t remote, net::SteadyTime deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  Status PutDeviceStaged(std::span<const std::byte> value, uint64_t remote,
                         net::SteadyTime deadline) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
};

}  // namespace kvstash

#endif  // KVSTASH_NET_CLIENT_IMPL_H_
