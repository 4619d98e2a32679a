// kvstash C++ client (libkvstash): put/get KV-cache blocks on a kvstash server over UCX.
//
//   KVSTASH_ASSIGN_OR_RETURN(auto client, kvstash::Client::Connect({.server_address =
//   "10.0.0.7:7400"})); KVSTASH_ASSIGN_OR_RETURN(auto buf, client->RegisterBuffer(pool,
//   pool_bytes));  // once KVSTASH_RETURN_IF_ERROR(client->Put("llama@0@0@abc", block));
//   KVSTASH_ASSIGN_OR_RETURN(size_t n, client->Get("llama@0@0@abc", dest));  // dest inside `pool`
//
// Data path (docs/PROTOCOL.md): Put = Allocate -> one-sided ucp_put from your buffer into the
// server's DRAM arena -> flush -> Commit. Get = the server puts the bytes straight into your
// buffer, then replies. Register long-lived buffers once with RegisterBuffer(): Gets into a
// registered buffer are zero-copy; a Get into an unregistered buffer lands in an internal
// registered staging buffer and is then memcpy'd (one extra copy). Puts from unregistered
// buffers register them on the fly (registrations are cached by address range).
//
// GPU memory (built with CUDA): device pointers are detected (cudaPointerGetAttributes). If
// UCX is CUDA-aware the VRAM is registered and moved directly; otherwise the client stages
// through pinned host memory with cudaMemcpyAsync. Same API.
//
// Failure: every call has a deadline (ClientOptions::timeout) and returns Timeout when it
// passes. When the server dies the connection's error handler fires and calls in progress
// fail with Unavailable (within ~1 s, not the full timeout). The next call reconnects lazily;
// registered buffers are re-announced to the new server. A call that fails with Timeout or
// Unavailable drops the connection; after a failed Get the destination's contents are
// unspecified (the server may have written part of it). A failed PutBatch may have committed
// some of its items: Exists() tells. Keys are write-once: putting an
// existing key returns AlreadyExists.
//
// Thread safety: a Client is safe to share between threads; calls are serialized on its one
// connection (use several Clients for parallel streams). Async calls run on the client's own
// executor thread in submission order.
#ifndef KVSTASH_CLIENT_H_
#define KVSTASH_CLIENT_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <future>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kvstash/status.h"

namespace kvstash {

// How a connection notices that its peer died: UCX's peer-failure error handling on the
// endpoint. Both ends of a connection must use the same mode (a mismatch fails UCX's wire-up),
// and UCX 1.13 gives endpoints in peer-failure mode no shared-memory lanes, so the fastest
// same-host path needs it off.
//   kAuto: off when the peer is on this host (a loopback address or one of this host's
//          interface addresses), on otherwise. Both ends decide from the same socket pair, so
//          they agree with no setting on either side. The default of client and server.
//   kOn / kOff: forced. A client and a server forced to different modes cannot connect.
// With it off, a dead peer is noticed through the connection manager's disconnect (and, for
// a writer, the lease) rather than by the transport.
enum class PeerFailureDetection { kAuto, kOn, kOff };

struct ClientOptions {
  std::string server_address = "127.0.0.1:7400";  // "host:port"; IPv6 as "[::1]:7400"
  std::chrono::milliseconds timeout{5000};        // deadline of each call
  // Connect() keeps trying an unreachable server (refused, reset) for this long; a call whose
  // connection was lost reconnects once and fails fast. Also the handshake deadline.
  std::chrono::milliseconds connect_timeout{1000};
  uint16_t namespace_id = 0;  // tenant namespace (0 = default); sent in the handshake
  std::string token;          // auth token; empty when the server runs without auth
  // Largest Get into an unregistered buffer staged in one piece (grown on demand up to this).
  uint64_t max_staging_bytes = 64ull << 20;
  // Send the XXH3-64 of each host-memory value with Commit (the server stores and verifies
  // it end to end). Costs one pass over the bytes on the client (~30 GB/s per core).
  bool send_checksums = true;
  // Transport-level detection of a dead server; see PeerFailureDetection.
  PeerFailureDetection peer_failure = PeerFailureDetection::kAuto;
  // A server on this host with its arena in shared memory (kvstashd's default) is mapped into
  // this process and puts are one memcpy into it. true: fault the whole mapping in at connect
  // (about 0.25 s per GiB of arena on a 2-vCPU VM) so that no put takes a page fault; false:
  // each 4 KiB page faults in on its first put (about 1 us each).
  bool populate_arena_mapping = true;
  // How block bytes travel between host memory and the server (device memory always goes
  // one-sided; a same-host server's shared arena and AllocateBuffer memory are copied with
  // memcpy whatever this says):
  //   kAuto: one-sided RMA where the endpoint has a native RMA lane (RDMA); payload messages
  //          otherwise (TCP, and shared memory in UCX 1.13, whose puts are emulated with two
  //          copies through bounce segments on each side).
  //   kRma: one-sided puts: the client into the granted arena range, the server into the
  //          client's registered memory (unregistered destinations are staged).
  //   kMessage: each block is an active message whose rendezvous lands it straight in the
  //          granted arena range (Put) or the caller's destination (Get, registered or not).
  enum class Transfer { kAuto, kRma, kMessage };
  Transfer transfer = Transfer::kAuto;

  // InvalidArgument naming the first bad field.
  Status Validate() const;
};

// "auto", "rma" or "message".
std::string_view TransferName(ClientOptions::Transfer t);

class Client;

// A registered memory range (RAII). Gets into it are zero-copy; puts from it need no
// registration. Move-only; the destructor unregisters it (locally and on the server). Memory
// given to RegisterBuffer stays owned by the caller and must outlive the handle; memory from
// AllocateBuffer belongs to the handle and goes with the Client: a handle that outlives its
// Client is inert (not valid(); its destructor does nothing), and its data() dangles.
class BufferHandle {
 public:
  BufferHandle() = default;
  BufferHandle(BufferHandle&& o) noexcept;
  BufferHandle& operator=(BufferHandle&& o) noexcept;
  ~BufferHandle();

  bool valid() const { return client_ != nullptr && !client_alive_.expired(); }
  void* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  friend class Client;
  BufferHandle(Client* client, std::weak_ptr<const void> alive, uint64_t id, void* data,
               size_t size)
      : client_(client), client_alive_(std::move(alive)), id_(id), data_(data), size_(size) {}
  void Reset();
  Client* client_ = nullptr;
  std::weak_ptr<const void> client_alive_;  // expires when the Client goes
  uint64_t id_ = 0;
  void* data_ = nullptr;
  size_t size_ = 0;
};

// One block to put. `key` and `value` must stay valid until the call returns (or until the
// future of an async call is ready).
struct PutItem {
  std::string_view key;
  std::span<const std::byte> value;
};

// One block to get into `dest` (capacity = dest.size()).
struct GetItem {
  std::string_view key;
  std::span<std::byte> dest;
};

class Client {
 public:
  // Connects and handshakes. Errors: InvalidArgument (options), Unavailable (server not
  // reachable), PermissionDenied (token/namespace refused), Timeout.
  static Result<std::unique_ptr<Client>> Connect(ClientOptions options);

  // Closes the connection. Every BufferHandle must be gone; pending async calls finish first.
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Registers [data, data+size) with UCX once and announces it to the server. Errors:
  // InvalidArgument (null/empty), Unavailable, Timeout, ResourceExhausted.
  Result<BufferHandle> RegisterBuffer(void* data, size_t size);

  // Allocates `size` bytes of host memory through UCX, registered and announced like
  // RegisterBuffer; freed when the handle goes. Where the transport has shared memory (a server
  // on this host, UCX_TLS with sm) the memory is a shared segment the server maps: a get into
  // it is one memcpy by the server, instead of UCX 1.13's software-emulated put over shared
  // memory (two copies through a FIFO). Elsewhere it behaves as RegisterBuffer'd memory.
  // Errors: those of RegisterBuffer.
  Result<BufferHandle> AllocateBuffer(size_t size);

  // Writes `value` under `key`. Errors: AlreadyExists (key committed), Busy (another writer
  // holds it), InvalidArgument (key not 1..256 bytes, value empty or over the server's max),
  // ResourceExhausted (server out of DRAM), LeaseExpired, Unavailable, Timeout.
  Status Put(std::string_view key, std::span<const std::byte> value);

  // Reads `key` into `dest`; returns the block size. Errors: NotFound (miss), InvalidArgument
  // (dest smaller than the block; the message names the size), DataLoss, Unavailable, Timeout.
  Result<size_t> Get(std::string_view key, std::span<std::byte> dest);

  Result<bool> Exists(std::string_view key);
  // Number of leading keys present on the server (prefix-order lookup).
  Result<size_t> LongestPrefix(std::span<const std::string_view> keys);
  // Errors: NotFound, Busy (being written), Unavailable, Timeout.
  Status Delete(std::string_view key);

  // Batched forms: one request each way per step, up to the server's max batch (4096 keys;
  // larger spans are split). The outer Result fails only when the whole call failed
  // (Unavailable, Timeout); otherwise there is one entry per item, in order.
  Result<std::vector<Status>> PutBatch(std::span<const PutItem> items);
  Result<std::vector<Result<size_t>>> GetBatch(std::span<const GetItem> items);
  Result<std::vector<bool>> ExistsBatch(std::span<const std::string_view> keys);
  Result<std::vector<Status>> DeleteBatch(std::span<const std::string_view> keys);

  // Async forms: queued to the client's executor thread; the caller keeps keys and buffers
  // alive until the future is ready.
  std::future<Result<std::vector<Status>>> PutBatchAsync(std::vector<PutItem> items);
  std::future<Result<std::vector<Result<size_t>>>> GetBatchAsync(std::vector<GetItem> items);

  // The server's counters ("server.*"), the store's ("store.*") and this client's
  // ("client.put_bytes_mapped": put bytes copied into the server's arena mapped here;
  // "client.get_bytes_messages" / "client.put_bytes_messages": Get bytes received and Put
  // bytes sent as payload messages).
  Result<std::map<std::string, uint64_t>> Stats();

  // True while the connection is up (a later call reconnects if it is not).
  bool connected() const;
  // True when this build accepts CUDA device pointers.
  static bool cuda_support();

 private:
  friend class BufferHandle;
  struct Impl;
  explicit Client(std::unique_ptr<Impl> impl);
  void UnregisterBuffer(uint64_t id);
  std::unique_ptr<Impl> impl_;
  // Declared last, so destroyed first: BufferHandles see the Client gone before its Impl is.
  std::shared_ptr<const void> alive_ = std::make_shared<int>(0);
};

}  // namespace kvstash

#endif  // KVSTASH_CLIENT_H_
