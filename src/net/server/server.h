// Server: serves a BlockStore over UCX (docs/ARCHITECTURE.md §4, docs/PROTOCOL.md).
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
// Tenants (ServerOptions::tenants, net/server/server_tenants.h): Hello's token is checked (constant
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
#include "net/server/server_options.h"
#include "net/server/server_stats.h"

namespace kvstash {

class BlockStore;
namespace net {
class SharedArenas;  // net/server/shared_arenas.h
}  // namespace net

// Arenas in shared memory allocated through UCX, for the stores a Server will serve: a client
// on the same host maps the arena and puts a block with one memcpy (net/server/shared_arenas.h).
// Pass the handle as ServerOptions::shared_arenas and SharedArenaAllocator(handle) as
// StoreOptions::arena_allocator of every such store. Errors: those of UCX initialization.
Result<std::shared_ptr<net::SharedArenas>> CreateSharedArenas();
ArenaAllocator SharedArenaAllocator(const std::shared_ptr<net::SharedArenas>& arenas);

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
