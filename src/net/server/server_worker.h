// ServerWorker: one shared-nothing server thread. It owns a ucp_worker, the connections
// assigned to it and their in-flight Gets; worker 0 also owns the listener and runs lease
// maintenance.
//
// Event loop: progress UCX (active-message callbacks only enqueue raw messages; error
// callbacks only mark connections), then handle queued messages, take back finished flash
// reads and write them to the clients, finish Gets whose flush completed, close failed connections,
// then sleep on the worker's event fd (woken by UCX, by Signal() from another thread, or by a
// reader). Nothing that progresses UCX runs inside a UCX callback.
//
// Get (server_get.cc): DRAM hits are written to the client from the arena at once (an RMA
// write, ucp_put_nbx, or a memcpy into a buffer mapped here). Flash hits wait in
// `flash_waiting_` (FIFO) for a slice of the worker's registered bounce memory, are read into
// it by the FlashReader threads (which release their flash pins once read), come back through
// the reader's done list and are written from the slice. A Get's flash hits are cut into
// chunks, each with its own slice and its own endpoint flush, still with one reply. The reply
// goes out only after every flush and payload send completed, then the slices and pins are
// released; a GetCompletion holds all of it (see there). A connection that dies while its
// reads run gets no writes and no reply; its slices and pins are released all the same. An
// item asked for with kPayloadBufferId is sent as a payload active message instead of
// written; its memory (pin or slice) is held until that send completes, and the reply waits
// for every send as for the flushes.
//
// Thread safety: EnqueueConnRequest(), RequestStop() and counters() may be called from any
// thread; everything else runs on the worker's own thread (Start() hands it over).
#ifndef KVSTASH_NET_SERVER_WORKER_H_
#define KVSTASH_NET_SERVER_WORKER_H_

#include <array>
#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/mutex.h"
#include "engine/block_store.h"
#include "net/proto/protocol.h"
#include "net/server/server_bounce_arena.h"
#include "net/server/server_connection.h"
#include "net/server/server_counters.h"
#include "net/server/server_flash_reader.h"
#include "net/server/server_options.h"
#include "net/server/server_tenants.h"
#include "net/ucx/ucx_context.h"
#include "net/ucx/ucx_listener.h"
#include "net/ucx/ucx_memory.h"
#include "net/ucx/ucx_worker.h"

namespace kvstash::net {

// What every worker reads; owned by the Server, immutable while workers run (except the
// atomics).
struct ServerShared {
  ServerOptions options;
  Limits limits;
  BlockStore* store = nullptr;  // the default store (namespace 0)
  UcxContext* context = nullptr;
  TenantTable* tenants = nullptr;  // namespace -> store + registered arena
  // Shared segments (inodes) of the server's own arenas: a client buffer that maps onto one of
  // them (a forged rkey) is never written with memcpy.
  std::vector<uint64_t> own_segments;
  std::atomic<uint64_t> connections_active{0};
  std::atomic<bool> accepting{true};  // cleared first by Server::Stop()
  std::atomic<uint64_t> next_connection_id{1};
  std::function<std::vector<std::pair<std::string, uint64_t>>(const BlockStore*)> stats_pairs;
};

class ServerWorker {
 public:
  static Result<std::unique_ptr<ServerWorker>> Create(int index, ServerShared* shared);
  ~ServerWorker();

  // Worker 0 only, before Start(): binds the listener; `dispatch` picks the worker for each
  // accepted connection request.
  Status Listen(const sockaddr_storage& addr, std::function<void(ucp_conn_request_h)> dispatch);
  uint16_t port() const { return listener_ ? listener_->port() : 0; }

  void Start();
  void RequestStop();
  void Join();

  // Hands a connection request to this worker (any thread). The caller has already counted
  // it in ServerShared::connections_active.
  void EnqueueConnRequest(ucp_conn_request_h req);
  // Worker 0, inside its listener callback: refuses a request (over max_connections).
  void RejectConnRequest(ucp_conn_request_h req);
  const ServerCounters& counters() const { return counters_; }

 private:
  class GetCompletion;

  // A counted reference to a GetCompletion; the last one finishes it. Worker thread only (the
  // count is not atomic). A UCX request in flight holds one through its user_data: Leak() when
  // it is issued, Adopt() in its completion callback.
  class GetRef {
   public:
    GetRef() = default;
    explicit GetRef(GetCompletion* c);  // a new reference to `c`
    GetRef(const GetRef& other) : GetRef(other.c_) {}
    GetRef(GetRef&& other) noexcept : c_(std::exchange(other.c_, nullptr)) {}
    GetRef& operator=(GetRef other) noexcept {
      std::swap(c_, other.c_);
      return *this;
    }
    ~GetRef();

    GetCompletion& operator*() const { return *c_; }
    GetCompletion* operator->() const { return c_; }
    explicit operator bool() const { return c_ != nullptr; }
    // Hands this reference to a UCX request (its user_data); empties this one.
    GetCompletion* Leak() { return std::exchange(c_, nullptr); }
    // Takes back a reference that Leak() handed out.
    static GetRef Adopt(GetCompletion* c) {
      GetRef r;
      r.c_ = c;
      return r;
    }

   private:
    GetCompletion* c_ = nullptr;
  };

  // What a Get, or one chunk of its flash hits, holds until UCX has proven its bytes
  // delivered, and what happens then: the one completion mechanism of the Get path
  // (server_get.cc).
  //
  // A Get holds its connection, its reply, the payload message headers, its DRAM pins and its
  // flash hits (with the mappings of the client buffers they are read straight into). A chunk
  // holds its Get and the bounce slice its hits are read into.
  //
  // Held (GetRef) by: the Get's own handler while it serves the items and, while hits wait
  // for bounce memory, flash_waiting_; each chunk of the Get; a chunk's reader Job until it
  // comes back; every UCX flush and payload send in flight that covers or reads its memory.
  // A reference that may be the last is parked in completed_ and dropped by FinishGets, so
  // that a completion finishes in the event loop, never inside a UCX callback.
  //
  // Finishing (the destructor, on the last reference): a chunk frees its bounce slice and
  // hands a failure of its flush or sends to its Get; a Get releases its pins and mappings,
  // then sends its reply, unless a transfer failed (nothing is proven delivered) or the
  // client is gone.
  class GetCompletion {
   public:
    // A flash hit: where its bytes go once read.
    struct FlashItem {
      size_t reply_index = 0;
      uint32_t buffer_id = 0;
      uint64_t offset = 0;
      uint64_t size = 0;
      BlockPin pin;  // moved to the reader with the item's chunk
      // A client buffer mapped here (same host, shared memory): the reader reads the block
      // straight into it (no bounce slot, no copy); `mapping` keeps it mapped until the Get
      // is done, whatever the client unregisters meanwhile.
      std::byte* direct = nullptr;
      std::shared_ptr<RemoteKey> mapping;
    };

    // A Get of `items` items, counted in flight (worker and connection) until it finishes.
    static GetRef NewGet(ServerWorker* worker, std::shared_ptr<Connection> conn, const Header& h,
                         size_t items);
    // A chunk of `get`'s flash hits, read into `slice` (bytes 0: none).
    static GetRef NewChunk(GetRef get, BounceArena::Slice slice);
    ~GetCompletion();
    GetCompletion(const GetCompletion&) = delete;
    GetCompletion& operator=(const GetCompletion&) = delete;

    // The Get: this one, or the one this chunk belongs to.
    GetCompletion& Root() { return parent ? *parent : *this; }
    // Records a failed transfer (the first one is kept): the Get sends no reply.
    void Fail(Status s) {
      if (failure.ok()) failure = std::move(s);
    }

    ServerWorker* const worker;
    std::shared_ptr<Connection> conn;
    // A chunk: its Get and its bounce memory (none for hits read straight into a mapped
    // client buffer).
    const GetRef parent;
    BounceArena::Slice slice;
    Status failure;  // the first failed flush or send (a chunk's, or a Get's own)

    // A Get only (a chunk uses its Get's).
    Header header;
    GetReply reply;
    // AM headers of payload items (kPayloadBufferId), by request index: UCX reads a header
    // until its send completes. Sized once at decode, never reallocated.
    std::vector<std::array<std::byte, kPayloadHeaderBytes>> payload_headers;
    std::vector<BlockPin> pins;    // DRAM hits written or sent from the arena
    std::vector<FlashItem> flash;  // flash hits, handed to the readers chunk by chunk, in order
    uint64_t flash_bytes = 0;      // their read footprint (4 KiB-rounded sizes)
    size_t flash_next = 0;         // flash[0, flash_next) were handed to a reader (or failed)

   private:
    friend class ServerWorker::GetRef;
    GetCompletion(ServerWorker* w, std::shared_ptr<Connection> c, GetRef p)
        : worker(w), conn(std::move(c)), parent(std::move(p)) {}
    uint32_t refs_ = 0;
  };

  // The FlashReader Job of one chunk: holds the chunk until the Job comes back.
  struct ChunkRead final : FlashReader::Job {
    GetRef chunk;
    size_t first = 0;  // the chunk's hits are its Get's flash[first, first + size())
  };

  ServerWorker(int index, ServerShared* shared) : index_(index), shared_(shared) {}

  void Run();
  void Shutdown();
  void AcceptQueued(bool stopping);
  // Whether the endpoint for this connection request uses peer-failure mode
  // (ServerOptions::peer_failure; kAuto: off for a client on this host).
  bool PeerFailureFor(ucp_conn_request_h req) const;
  static ucs_status_t OnAm(void* arg, const void* header, size_t header_length, void* data,
                           size_t length, const ucp_am_recv_param_t* param);
  // The live connection an active message came from (by its reply endpoint), or nullptr
  // (counted as malformed).
  std::shared_ptr<Connection> SenderOf(const ucp_am_recv_param_t* param);
  // Put payload messages (kPutPayloadAmId): checked against the connection's arena and
  // written there (eager: memcpy; rendezvous: received straight into it).
  static ucs_status_t OnPutPayload(void* arg, const void* header, size_t header_length, void* data,
                                   size_t length, const ucp_am_recv_param_t* param);
  static void OnPutPayloadReceived(void* request, ucs_status_t status, size_t length,
                                   void* user_data);
  void PutPayloadReceived(const std::shared_ptr<Connection>& conn, ucs_status_t status);
  void ProcessReady();
  void HandleMessage(const std::shared_ptr<Connection>& conn, std::vector<std::byte> msg);
  Status Dispatch(const std::shared_ptr<Connection>& conn, const Header& h,
                  std::span<const std::byte> body);
  void CloseConnection(const std::shared_ptr<Connection>& conn, bool malformed);
  void ReapClosing();
  void Maintenance();

  // Handlers (server_handlers.cc; OnGet in server_get.cc). A non-OK return means the body was
  // malformed: the caller closes the connection.
  Status OnHello(Connection& c, const Header& h, std::span<const std::byte> body);
  Status OnAllocate(Connection& c, const Header& h, std::span<const std::byte> body);
  Status OnCommit(Connection& c, const Header& h, std::span<const std::byte> body);
  Status OnAbort(Connection& c, const Header& h, std::span<const std::byte> body);
  Status OnRegisterBuffer(Connection& c, const Header& h, std::span<const std::byte> body);
  Status OnUnregisterBuffer(Connection& c, const Header& h, std::span<const std::byte> body);
  Status OnKeys(Connection& c, const Header& h, std::span<const std::byte> body);
  Status OnStats(Connection& c, const Header& h, std::span<const std::byte> body);
  Status OnGoodbye(Connection& c, const Header& h, std::span<const std::byte> body);
  Status OnGet(const std::shared_ptr<Connection>& c, const Header& h,
               std::span<const std::byte> body);

  // Get helpers (server_get.cc). ServeGetItem pins one block and appends its reply item: a
  // DRAM hit is written to the client at once (its pin kept in the Get; a write into a
  // registered buffer sets `*dram_writes`: the Get flushes the endpoint), a flash hit is
  // queued in get.flash (its status is set when its read comes back).
  void ServeGetItem(GetCompletion& get, const GetRequest::Item& it, bool* dram_writes);
  // Writes DRAM hit `pin` to [offset, +size) of the client's `buf` (memcpy into a mapped
  // buffer, else an RMA write the Get's flush must cover).
  Status WriteDramToClient(Connection& c, const BlockPin& pin, const RemoteBuffer& buf,
                           uint64_t offset);
  // Writes flash item `item` of `chunk`'s Get from `src` (its bytes in the chunk's bounce
  // slice) after its read returned `read`: sends a payload item (held by `chunk` until the
  // send completes), writes a registered buffer (memcpy if mapped, else an RMA write: sets
  // `*rma_writes`, the chunk's flush must cover it). Returns the item's status.
  Status WriteFlashToClient(GetCompletion& chunk, size_t item, std::span<std::byte> src,
                            const Status& read, bool* rma_writes);
  // One ucp_put_nbx of `src` (registered under `memh`) to [offset, +size) of `buf`. Its
  // completion is not tracked: local completion proves nothing; a flush covers it.
  Status RmaWrite(Connection& c, std::span<const std::byte> src, ucp_mem_h memh,
                  const RemoteBuffer& buf, uint64_t offset);
  // Sends `src` (registered under `memh`) as the payload message of reply item `item` of
  // `get`; `holder` (the completion that holds `src`: the Get, or a chunk) is held until the
  // send completes.
  Status SendPayload(GetCompletion& get, size_t item, std::span<const std::byte> src,
                     ucp_mem_h memh, GetCompletion& holder);
  // Flushes the endpoint for `c`: `c` finishes only after every write issued before has
  // reached the client. A flush that fails fails `c`.
  void Flush(GetCompletion& c);
  // Parameters for a UCX request issued for `c` (OnTransferDone reports its completion);
  // `memh` (if not null) registers the memory it reads.
  static ucp_request_param_t TransferParams(GetCompletion& c, ucp_mem_h memh);
  // Takes a reference to `c` for a request just issued with TransferParams(c, ...) if `req`
  // is in flight (OnTransferDone gives it back); a failed call is returned as a Status.
  Status Track(GetCompletion& c, ucs_status_ptr_t req, std::string_view call);
  // Completion callback of a tracked request (user_data: the reference Track leaked).
  static void OnTransferDone(void* request, ucs_status_t status, void* user_data);
  // Sets reply item `index` of `get` to `s`'s code (the wire carries no message) and counts
  // it; a failure while the client is still there is logged (rate-limited).
  void SetItemStatus(GetCompletion& get, size_t index, const Status& s);
  // Starts reads for waiting Gets, in order, while bounce memory is free.
  void PumpFlashReads();
  // Creates the bounce memory and the reader threads at the first flash hit.
  Status EnsureFlashResources();
  void CollectFlashReads();
  void OnFlashRead(std::unique_ptr<FlashReader::Job> job);
  // Drops the parked references (completions finish: bounce memory is freed, replies go out),
  // then pumps reads that waited for bounce memory; until nothing is parked.
  void FinishGets();
  void CountKeyStatus(StatusCode code);

  const int index_;
  ServerShared* const shared_;
  ServerCounters counters_;
  std::unique_ptr<UcxWorker> worker_;
  std::unique_ptr<UcxListener> listener_;
  std::thread thread_;
  std::atomic<bool> stop_{false};

  Mutex mu_;
  std::vector<ucp_conn_request_h> conn_requests_ ABSL_GUARDED_BY(mu_);

  // Worker thread only.
  std::unordered_map<ucp_ep_h, std::shared_ptr<Connection>> conns_;
  std::vector<std::shared_ptr<Connection>> ready_;
  std::vector<std::shared_ptr<Connection>> closing_;
  // Flash bounce memory (at the first flash hit). Declared before the Get lists below, so
  // that a chunk that would still finish when they are destroyed frees its slice into it.
  std::unique_ptr<BounceArena> bounce_;
  size_t gets_in_flight_ = 0;  // decoded and not yet answered (or dropped)
  // Gets with flash hits not yet handed to a reader (waiting for bounce memory), in order.
  std::deque<GetRef> flash_waiting_;
  // References to drop in FinishGets (see GetCompletion), possibly the last ones.
  std::vector<GetRef> completed_;
  int64_t next_sweep_ns_ = 0;
  // Declared last: destroyed (stopped and joined) first, while everything a read uses lives.
  std::unique_ptr<FlashReader> reader_;
};

inline ServerWorker::GetRef::GetRef(GetCompletion* c) : c_(c) {
  if (c_ != nullptr) ++c_->refs_;
}

// The last reference finishes the completion (its destructor; see GetCompletion).
inline ServerWorker::GetRef::~GetRef() {
  if (c_ != nullptr && --c_->refs_ == 0) delete c_;
}

}  // namespace kvstash::net

#endif  // KVSTASH_NET_SERVER_WORKER_H_
