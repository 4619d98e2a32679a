// ServerStats: a snapshot of the server's counters, and the one table that defines them
// (KVSTASH_SERVER_COUNTERS). Its own header so that the per-worker counters
// (server_counters.h) share the table without including server.h.
#ifndef KVSTASH_NET_SERVER_SERVER_STATS_H_
#define KVSTASH_NET_SERVER_SERVER_STATS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace kvstash {

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

}  // namespace kvstash

#endif  // KVSTASH_NET_SERVER_SERVER_STATS_H_
