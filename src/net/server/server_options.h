// ServerOptions: how a Server listens, what it accepts and which tenants it serves
// (net/server/server.h). Its own header so that the server's internals (tenants, workers) take
// their options without including server.h.
#ifndef KVSTASH_NET_SERVER_SERVER_OPTIONS_H_
#define KVSTASH_NET_SERVER_SERVER_OPTIONS_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "kvstash/client.h"
#include "kvstash/status.h"

namespace kvstash {

class BlockStore;
namespace net {
class SharedArenas;  // net/server/shared_arenas.h
}  // namespace net

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
  // Peer-failure detection on each client's endpoint (kvstash/client.h PeerFailureDetection):
  // by default off for clients on this host (shared-memory lanes) and on for the others.
  PeerFailureDetection peer_failure = PeerFailureDetection::kAuto;
  // Flash hits (set up at a worker's first one): each worker registers this much bounce
  // memory once (raised to max_value_bytes, so any block fits) and reads into it with
  // `flash_readers` threads, so its event loop never waits for the device. Gets whose flash
  // hits do not fit the free bounce memory wait for it (in arrival order), they never fail.
  uint64_t flash_bounce_bytes = 64ull << 20;
  uint32_t flash_readers = 4;  // 1..64 per worker
  // How long an idle worker polls UCX before it sleeps on the event fd. Polling saves a
  // wakeup per request when a completion follows within microseconds; on a host with more
  // busy threads than cores (several nodes on a small VM) the polling steals the CPU the
  // clients need: 0 there.
  std::chrono::microseconds idle_poll{200};
  // The store's clock (lease deadlines are reported to clients relative to it). Not owned.
  Clock* clock = Clock::Real();
  // Set when the stores' arenas came from CreateSharedArenas(): the server uses its UCX
  // context and the registrations made at allocation. Null: the server creates a context and
  // registers each arena (ucp_mem_map).
  std::shared_ptr<net::SharedArenas> shared_arenas;

  // InvalidArgument naming the first bad field.
  Status Validate() const;
};

}  // namespace kvstash

#endif  // KVSTASH_NET_SERVER_SERVER_OPTIONS_H_
