// ServerWorker: one shared-nothing server thread. It owns a ucp_worker, the connections
// assigned to it and their in-flight Gets; worker 0 also owns the listener and runs lease
// maintenance.
//
// Event loop: progress UCX (active-message callbacks only enqueue raw messages; error
// callbacks only mark connections), then handle queued messages, take back finished flash
// reads and put them, finish Gets whose flush completed, close failed connections, then sleep
// on the worker's event fd (woken by UCX, by Signal() from another thread, or by a reader).
// Nothing that progresses UCX runs inside a UCX callback.
//
// Get (server_get.cc): DRAM hits are put from the arena at once. Flash hits wait in
// `flash_waiting_` (FIFO) for a slice of the worker's registered bounce memory, are read into
// it by the FlashReader threads (which release their flash pins once read), come back
// through the reader's done list and are put from the slice. Then one endpoint flush; when it
// completes the slice and the DRAM pins are released and the reply is sent. A Get whose flash
// hits exceed what one slice may hold is served in chunks (read, put, flush; next chunk),
// still with one reply. A connection that dies while its reads run gets no puts and no
// reply; its slice and pins are released all the same. An item asked for with
// kPayloadBufferId is sent as a payload active message instead of put; its memory (pin or
// slice) is held until that send completes, and the reply waits for every send as for the
// flushes.
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
#include "net/protocol.h"
#include "net/server.h"
#include "net/server_bounce_arena.h"
#include "net/server_connection.h"
#include "net/server_counters.h"
#include "net/server_flash_reader.h"
#include "net/server_tenants.h"
#include "net/ucx_context.h"
#include "net/ucx_listener.h"
#include "net/ucx_memory.h"
#include "net/ucx_worker.h"

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
  struct PendingGet;
  // One chunk of a Get's flash hits: its own bounce memory, read by one reader job, then put
  // and flushed on its own, so the chunks of one Get are read, checksummed and put in
  // parallel and a chunk's transfer overlaps the reads of the others.
  struct FlashChunk {
    PendingGet* get = nullptr;
    size_t first = 0;  // flash[first, first + count) of the Get
    size_t count = 0;
    // Bounce memory of the items not read directly (none: bytes 0); freed once the chunk's
    // flush and payload sends completed.
    BounceArena::Slice slice;
    ucs_status_t flush_status = UCS_OK;  // the first failure of its flush or sends
    size_t parts_out = 0;                // its flush and payload sends not yet completed
  };
  // A Get being served: decoded, waiting for bounce memory, reading, or flushing.
  struct PendingGet {
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

    ServerWorker* worker = nullptr;
    std::shared_ptr<Connection> conn;
    Header header;
    GetReply reply;
    std::vector<BlockPin> pins;    // DRAM: released (destroyed) only after the flush completed
    std::vector<FlashItem> flash;  // flash hits, handed to the readers chunk by chunk, in order
    uint64_t flash_bytes = 0;      // their read footprint (4 KiB-rounded sizes)
    size_t flash_next = 0;         // flash[0, flash_next) were handed to a reader (or failed)
    std::vector<std::unique_ptr<FlashChunk>> chunks;
    size_t chunks_out = 0;      // chunks being read or flushed
    bool chunk_failed = false;  // a chunk's flush failed: nothing is proven delivered
    bool puts = false;          // a DRAM put was issued and not yet flushed
    // AM headers of payload items (kPayloadBufferId), by request index: UCX reads a header
    // until its send completes. Sized once at decode, never reallocated.
    std::vector<std::array<std::byte, kPayloadHeaderBytes>> payload_headers;
    size_t parts_out = 0;                // DRAM payload sends and the final flush not yet completed
    bool finishing = false;              // StartFlush ran: the last completed part finishes the Get
    ucs_status_t flush_status = UCS_OK;  // the first failure of the flush or a DRAM send
  };

  ServerWorker(int index, ServerShared* shared) : index_(index), shared_(shared) {}

  void Run();
  void Shutdown();
  void AcceptQueued(bool stopping);
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
  // DRAM hit is put at once (its pin kept until the flush), a flash hit is queued in
  // pending->flash (its status is set when its read comes back).
  void ServeGetItem(Connection& c, const GetRequest::Item& it, PendingGet* pending);
  StatusCode PutDram(Connection& c, const BlockPin& pin, const RemoteBuffer& buf, uint64_t offset);
  // Sends `src` as the payload message of request item `item` of `pending`. kOk: sent, or in
  // flight (then `*in_flight`, and `done(user_data)` runs from UCX progress when it completes).
  StatusCode SendPayload(PendingGet& pending, size_t item, std::span<const std::byte> src,
                         ucp_mem_h memh, ucp_send_nbx_callback_t done, void* user_data,
                         bool* in_flight);
  // Puts (or sends, for a payload item) flash item `item` of `chunk`'s Get from `src` (its
  // bounce bytes) after its read returned `read`. `*put`: an RMA put was issued (the chunk's
  // flush covers it); a send in flight counts in chunk.parts_out.
  StatusCode PutFlash(FlashChunk& chunk, size_t item, std::span<std::byte> src, const Status& read,
                      bool* put);
  // Starts reads for waiting Gets, in order, while bounce memory is free.
  void PumpFlashReads();
  // Creates the bounce memory and the reader threads at the first flash hit.
  Status EnsureFlashResources();
  void CollectFlashReads();
  void OnFlashRead(std::unique_ptr<FlashReader::Job> job);
  // Completion of a chunk's flush or payload send (user_data = the FlashChunk).
  static void OnChunkPartDone(void* request, ucs_status_t status, void* user_data);
  void ChunkPartDone(FlashChunk* chunk, ucs_status_t status);
  // Settles chunks whose flush completed; a Get whose chunks are all settled goes on to its
  // final flush and reply.
  void SettleChunks();
  void MaybeFinishFlashGet(PendingGet* p);
  void StartFlush(std::unique_ptr<PendingGet> pending);
  // Completion of a Get's final flush or of a DRAM payload send (user_data = the PendingGet).
  static void OnGetPartDone(void* request, ucs_status_t status, void* user_data);
  void GetPartDone(PendingGet* pending, ucs_status_t status);
  void FinishGets();
  // Releases everything `pending` holds and, if `reply`, sends its reply.
  void CompleteGet(std::unique_ptr<PendingGet> pending, bool reply);
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
  std::vector<PendingGet*> completed_gets_;
  size_t gets_in_flight_ = 0;  // decoded and not yet answered (or dropped)
  // Gets with flash hits, from decode until their final flush; flash_waiting_ lists those
  // with hits not yet handed to a reader (waiting for bounce memory), in order.
  std::unordered_map<PendingGet*, std::unique_ptr<PendingGet>> flash_gets_;
  std::deque<PendingGet*> flash_waiting_;
  std::vector<FlashChunk*> completed_chunks_;
  std::unique_ptr<BounceArena> bounce_;  // flash bounce memory (at the first flash hit)
  int64_t next_sweep_ns_ = 0;
  // Declared last: destroyed (stopped and joined) first, while everything a read uses lives.
  std::unique_ptr<FlashReader> reader_;
};

}  // namespace kvstash::net

#endif  // KVSTASH_NET_SERVER_WORKER_H_
