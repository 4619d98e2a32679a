// Server: serves a BlockStore over UCX (DESIGN.md §4, docs/PROTOCOL.md).
//
// Shape: N shared-nothing worker threads, each owning one ucp_worker and the connections
// assigned to it (round robin). Worker 0 also owns the ucp_listener and, every
// `lease_sweep_interval`, calls BlockStore::ExpireLeases(). The DRAM arena is registered once
// at Create() (ucp_mem_map of store->arena_base(), or at allocation when it came from
// SharedArenas); clients put payload bytes straight into it (a same-host client into its
// mapping of a shared arena, with memcpy) and the server copies no payload byte of a put.
// Gets are RMA writes (ucp_put_nbx) from the arena (or, for flash blocks, from registered
// bounce memory filled by the worker's reader threads) into the client's registered buffer,
// then an endpoint flush, then the reply; what a write reads from (DRAM pins, bounce memory)
// is released only after the flush completes. A client buffer the server can map (same host,
// Client::AllocateBuffer) is filled with memcpy instead (`get_bytes_mapped`; on the DRAM path
// also `dram_payload_memcpy_bytes`, which otherwise stays 0).
//
// Tenants (ServerOptions::tenants, net/server_tenants.h): Hello's token is checked (constant
// time) for the namespace asked for; the connection is then bound to that namespace and to
// the tenant's own BlockStore, whose arena is registered separately, and receives only that
// arena's remote key. Refusals are PermissionDenied and count `auth_failures`.
//
// A malformed message closes that connection only (counted in `malformed_messages`). An
// endpoint error (client died) closes that connection; its unfinished allocations are reclaimed
// by the engine's lease.
//
// Thread safety: Create/Start/Stop must be called from one thread (the owner). Stats() and
// port() are safe from any thread.
#ifndef KVSTASH_NET_SERVER_H_
#define KVSTASH_NET_SERVER_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "dram/dram_arena.h"
#include "kvstash/status.h"

namespace kvstash {

class BlockStore;
namespace net {
class SharedArenas;  // net/shared_arenas.h
}  // namespace net

// Arenas in shared memory allocated through UCX, for the stores a Server will serve: a client
// on the same host maps the arena and puts a block with one memcpy (net/shared_arenas.h).
// Pass the handle as ServerOptions::shared_arenas and SharedArenaAllocator(handle) as
// StoreOptions::arena_allocator of every such store. Errors: those of UCX initialization.
Result<std::shared_ptr<net::SharedArenas>> CreateSharedArenas();
ArenaAllocator SharedArenaAllocator(const std::shared_ptr<net::SharedArenas>& arenas);

// A tenant: the namespace it owns, the token that grants it, and the store that serves it.
// A tenant with its own store gets its own registered arena: its clients receive only that
// arena's remote key at Hello (docs/RELIABILITY.md).
struct ServerTenant {
  std::string name;             // logs; non-empty
  uint16_t namespace_id = 0;    // 1..65535, unique
  std::string token;            // 1..256 bytes; compared in constant time
  BlockStore* store = nullptr;  // not owned, must outlive the Server; null: the default store
};

struct ServerOptions {
  std::string listen_host = "127.0.0.1";         // IPv4/IPv6 literal or resolvable host name
  uint16_t listen_port = 7400;                   // 0: the kernel picks one (see Server::port())
  uint32_t workers = 1;                          // worker threads, 1..256
  uint32_t max_key_bytes = 256;                  // 1..256
  uint64_t max_value_bytes = 64ull << 20;        // per block
  uint32_t max_batch_keys = 4096;                // keys per request, 1..4096
  uint32_t max_outstanding_per_connection = 64;  // requests queued or in flight per connection
  uint32_t max_connections = 1024;               // beyond this, new connections are refused
  // Tokens accepted for the default namespace 0 (and, with no tenants, for any namespace).
  // Empty: namespace 0 is open.
  std::vector<std::string> auth_tokens;
  // Tenants (server_tenants.h). Non-empty: namespace N != 0 needs tenant N's token.
  std::vector<ServerTenant> tenants;
  // How often worker 0 calls BlockStore::ExpireLeases(). Zero: never (the embedder does it).
  std::chrono::milliseconds lease_sweep_interval{1000};
  // UCP_ERR_HANDLING_MODE_PEER on every endpoint: a dead client is detected by the transport.
  // false: UCX 1.13 may then use shared-memory lanes between processes of one host (sysv/posix
  // have no peer-failure support), at the price of relying on the connection manager alone to
  // notice dead peers. Keep true across hosts.
  bool detect_peer_failure = true;
  // Flash hits (set up at a worker's first one): each worker registers this much bounce
  // memory once (raised to max_value_bytes, so any block fits) and reads into it with
  // `flash_readers` threads, so its event loop never waits for the device. Gets whose flash
  // hits do not fit the free bounce memory wait for it (in arrival order), they never fail.
  uint64_t flash_bounce_bytes = 64ull << 20;
  uint32_t flash_readers = 4;  // 1..64 per worker
  // The store's clock (lease deadlines are reported to clients relative to it). Not owned.
  Clock* clock = Clock::Real();
  // Set when the stores' arenas came from CreateSharedArenas(): the server uses its UCX
  // context and the registrations made at allocation. Null: the server creates a context and
  // registers each arena (ucp_mem_map).
  std::shared_ptr<net::SharedArenas> shared_arenas;

  // InvalidArgument naming the first bad field.
  Status Validate() const;
};

// Every server counter, defined once: X(field, exported name). ServerStats' fields,
// ServerCounters' atomics, the sum over workers and ToPairs() (the names Stats replies,
// /metrics and `kvstash stat --json` show) are all generated from this table. An exported name
// is part of the monitoring interface: never change one (a field may be renamed, its name
// stays). Monotonic unless named *_active.
// clang-format off
#define KVSTASH_SERVER_COUNTERS(X)                                                                \
  X(connections_accepted,       "server.connections_accepted")                                   \
  X(connections_active,         "server.connections_active")                                     \
  /* over max_connections or bad handshake */                                                     \
  X(connections_refused,        "server.connections_refused")                                    \
  /* Hellos refused: the token does not grant the namespace */                                    \
  X(auth_failures,              "server.auth_failures")                                          \
  /* endpoint errors (peer died, reset) without Goodbye */                                        \
  X(connections_closed_error,   "server.connections_closed_error")                               \
  /* clients that said Goodbye, then closed */                                                    \
  X(connections_closed_clean,   "server.connections_closed_clean")                               \
  /* each also closed its connection */                                                           \
  X(malformed_messages,         "server.malformed_messages")                                     \
  X(requests_hello,             "server.requests_hello")                                         \
  X(requests_allocate,          "server.requests_allocate")                                      \
  X(requests_commit,            "server.requests_commit")                                        \
  X(requests_abort,             "server.requests_abort")                                         \
  X(requests_register_buffer,   "server.requests_register_buffer")                               \
  X(requests_unregister_buffer, "server.requests_unregister_buffer")                             \
  X(requests_get,               "server.requests_get")                                           \
  X(requests_exists,            "server.requests_exists")                                        \
  X(requests_longest_prefix,    "server.requests_longest_prefix")                                \
  X(requests_delete,            "server.requests_delete")                                        \
  X(requests_stats,             "server.requests_stats")                                         \
  /* whole requests answered with a non-OK status */                                              \
  X(request_errors,             "server.request_errors")                                         \
  /* per-key statuses other than OK/NotFound */                                                   \
  X(key_errors,                 "server.key_errors")                                             \
  /* requests refused: over max_outstanding_per_connection */                                     \
  X(outstanding_rejected,       "server.outstanding_rejected")                                   \
  X(keys_allocated,             "server.keys_allocated")                                         \
  X(keys_committed,             "server.keys_committed")                                         \
  X(get_hits,                   "server.get_hits")                                               \
  X(get_misses,                 "server.get_misses")                                             \
  /* bytes written to clients from the arena */                                                   \
  X(get_bytes_dram,             "server.get_bytes_dram")                                         \
  /* bytes written to clients from flash (bounce memory, or read straight into their buffer) */  \
  X(get_bytes_flash,            "server.get_bytes_flash")                                        \
  /* flash hits the engine could not read here */                                                 \
  X(flash_reads_unavailable,    "server.flash_reads_unavailable")                                \
  /* failed writes to clients on the Get path (RMA write, payload send, flush: client gone); */  \
  /* exported under its old name */                                                               \
  X(get_write_errors,           "server.put_errors")                                             \
  /* payload bytes the CPU copied on the DRAM path */                                             \
  X(dram_payload_memcpy_bytes,  "server.dram_payload_memcpy_bytes")                              \
  /* of get_bytes_*: memcpy into a client's mapped shared segment */                              \
  X(get_bytes_mapped,           "server.get_bytes_mapped")                                       \
  /* of get_bytes_*: sent as payload messages, not written with RMA */                            \
  X(get_bytes_messages,         "server.get_bytes_messages")                                     \
  /* value bytes of key-value Puts received as put payload messages */                            \
  X(put_bytes_messages,         "server.put_bytes_messages")                                     \
  /* of get_bytes_flash: read straight into a mapped buffer */                                    \
  X(get_bytes_flash_direct,     "server.get_bytes_flash_direct")
// clang-format on

// A snapshot of the server's counters (KVSTASH_SERVER_COUNTERS).
struct ServerStats {
#define KVSTASH_SERVER_STATS_FIELD(field, name) uint64_t field = 0;
  KVSTASH_SERVER_COUNTERS(KVSTASH_SERVER_STATS_FIELD)
#undef KVSTASH_SERVER_STATS_FIELD

  // (exported name, value) for every counter, in table order.
  std::vector<std::pair<std::string, uint64_t>> ToPairs() const;
};

class Server {
 public:
  // Validates `options`, creates the UCX context (or takes options.shared_arenas') and
  // registers store->arena_base() once (or finds its registration there).
  // `store` is not owned and must outlive the Server. Errors: InvalidArgument (options),
  // Unavailable/Internal (UCX failed).
  static Result<std::unique_ptr<Server>> Create(ServerOptions options, BlockStore* store);

  // Stops if running.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the listener and starts the workers. Errors: Unavailable (address in use or not
  // bindable), Internal (already started). Once OK, port() is the bound port.
  Status Start();

  // Closes the listener and every connection (clients see Unavailable), waits for in-flight
  // writes to clients to finish or fail, joins the workers. Idempotent; the Server can be
  // destroyed after.
  void Stop();

  // The bound TCP port (meaningful after Start(); resolves listen_port 0).
  uint16_t port() const;

  const ServerOptions& options() const;

  // A consistent-enough snapshot: each counter is read atomically, not all together.
  ServerStats Stats() const;

  // Server counters (ToPairs) followed by `store`'s counters ("store.<name>"; null: the
  // default store): what the Stats request returns to a client of that store.
  std::vector<std::pair<std::string, uint64_t>> StatsPairs(const BlockStore* store = nullptr) const;

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kvstash

#endif  // KVSTASH_NET_SERVER_H_
