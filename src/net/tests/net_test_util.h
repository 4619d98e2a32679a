// Test helpers for src/net: an in-process server over a real BlockStore on 127.0.0.1 (kernel
// chosen port), deterministic payloads, and a raw UCX peer that speaks (or abuses) the wire
// protocol directly. Test-only: linked into test targets alone.
#ifndef KVSTASH_NET_NET_TEST_UTIL_H_
#define KVSTASH_NET_NET_TEST_UTIL_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/block_store.h"
#include "kvstash/client.h"
#include "net/server/server.h"
#include "net/ucx/ucx_context.h"
#include "net/ucx/ucx_endpoint.h"
#include "net/ucx/ucx_memory.h"
#include "net/ucx/ucx_worker.h"

namespace kvstash::testing {

struct TestServer {
  std::shared_ptr<net::SharedArenas> arenas;  // StartSharedArenaServer only; outlives store
  std::unique_ptr<BlockStore> store;
  std::unique_ptr<Server> server;
  std::string address() const { return "127.0.0.1:" + std::to_string(server->port()); }
};

// A 256 MiB arena (4 regions of 64 MiB) and a server with `workers` threads on `port`
// (0: any). Aborts the test on failure.
StoreOptions TestStoreOptions();
// DRAM: 4 regions of 256 KiB (blocks up to 256 KiB); flash on `flash` in 1 MiB regions, admit
// everything; no background threads (tests call FlushFlash / RunMaintenance).
StoreOptions SmallFlashStoreOptions(Device* flash);
std::unique_ptr<TestServer> StartServer(uint16_t port = 0, uint32_t workers = 1,
                                        StoreOptions store_options = TestStoreOptions(),
                                        ServerOptions server_options = {});
// As StartServer(), with the arena in shared memory from UCX (net/server/shared_arenas.h), as
// kvstashd has it by default.
std::unique_ptr<TestServer> StartSharedArenaServer(StoreOptions store_options = TestStoreOptions(),
                                                   ServerOptions server_options = {});
// Restarts a server on the same port with the same store.
std::unique_ptr<Server> StartServerOn(BlockStore* store, uint16_t port);

ClientOptions TestClientOptions(const TestServer& s);

// KVSTASH_NET_TEST_SHM=1 (the CTest shared-memory variant): endpoints without peer-failure
// mode, so that UCX 1.13 selects shared-memory lanes (see kvstash/client.h, PeerFailureDetection).
bool ShmMode();

// `n` bytes that depend on `seed` at every position (catches misplaced or stale bytes).
std::vector<std::byte> Pattern(uint64_t seed, size_t n);
uint64_t SeedOf(const std::string& key);

// A raw UCX peer for malformed-input tests.
class RawPeer {
 public:
  // `peer_failure`: the endpoint's mode; unset: as the test servers of this file (ShmMode()).
  // A server on PeerFailureDetection::kAuto (kvstashd's default) wants it off on this host.
  static std::unique_ptr<RawPeer> Connect(const std::string& host, uint16_t port,
                                          std::optional<bool> peer_failure = std::nullopt);
  ~RawPeer();
  // Sends `bytes` as one request active message (with the reply flag, as the protocol
  // requires). Returns false if the send itself failed.
  // keep_replies: do not forget replies collected so far (pipelined requests).
  bool Send(const std::vector<std::byte>& bytes, bool keep_replies = false);
  // Sends one active message on `am_id` with `header` and `data` (reply flag set; eager or
  // rendezvous as UCX chooses). Returns false if the send failed or did not complete.
  bool SendAm(unsigned am_id, std::span<const std::byte> header, std::span<const std::byte> data);
  // Progresses up to `ms`; true once the endpoint has failed (the server closed it).
  bool WaitClosed(int ms);
  // Progresses up to `ms`; true if a reply arrived since the last Send().
  bool WaitReply(int ms);
  // Issues every message before progressing the worker at all (pipelined requests, as a
  // client that does not wait for replies), then completes the sends. Forgets earlier replies.
  bool SendBurst(const std::vector<std::vector<std::byte>>& msgs);
  // Progresses up to `ms` collecting replies until `n` arrived; returns them (maybe fewer).
  std::vector<std::vector<std::byte>> CollectReplies(size_t n, int ms);
  // The request status of `reply` (Internal if it does not decode); `rest` gets the body.
  static Status ReplyStatus(const std::vector<std::byte>& reply,
                            std::span<const std::byte>* rest = nullptr);
  // Registers [p, p+n) with this peer's UCX context; returns the packed remote key.
  std::vector<std::byte> MapMemory(void* p, size_t n);
  // Hello (namespace 0, no token) as request 1, then maps `mem` and registers it as request 2.
  // Returns the server's buffer id; 0 if any step failed.
  uint32_t HelloAndRegister(std::span<std::byte> mem);
  std::vector<std::byte> last_reply;

 private:
  static ucs_status_t OnReply(void* arg, const void*, size_t, void* data, size_t length,
                              const ucp_am_recv_param_t*);
  std::unique_ptr<net::UcxContext> ctx_;
  std::unique_ptr<net::UcxWorker> worker_;
  std::unique_ptr<net::UcxEndpoint> ep_;
  std::vector<std::unique_ptr<net::UcxMemory>> memory_;
  std::vector<std::vector<std::byte>> replies_;
  bool got_reply_ = false;
};

}  // namespace kvstash::testing

#endif  // KVSTASH_NET_NET_TEST_UTIL_H_
