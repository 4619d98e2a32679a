// ServerCounters: the atomic counters behind ServerStats, one instance per worker thread
// (shared-nothing: a worker increments only its own; Server::Stats() sums them).
#ifndef KVSTASH_NET_SERVER_COUNTERS_H_
#define KVSTASH_NET_SERVER_COUNTERS_H_

#include <atomic>
#include <cstdint>

namespace kvstash {
struct ServerStats;  // net/server/server.h
}  // namespace kvstash

namespace kvstash::net {

// clang-format off
// Every ServerStats field, in declaration order.
#define KVSTASH_SERVER_COUNTERS(X)                                                    \
  X(connections_accepted) X(connections_active) X(connections_refused) X(auth_failures) \
  X(connections_closed_error) X(connections_closed_clean) X(malformed_messages)       \
  X(requests_hello) X(requests_allocate) X(requests_commit) X(requests_abort)         \
  X(requests_register_buffer) X(requests_unregister_buffer) X(requests_get)           \
  X(requests_exists) X(requests_longest_prefix) X(requests_delete) X(requests_stats)  \
  X(request_errors) X(key_errors) X(outstanding_rejected) X(keys_allocated)           \
  X(keys_committed) X(get_hits) X(get_misses) X(get_bytes_dram) X(get_bytes_flash)    \
  X(flash_reads_unavailable) X(put_errors) X(dram_payload_memcpy_bytes) X(get_bytes_mapped)  \
  X(get_bytes_messages) X(put_bytes_messages) X(get_bytes_flash_direct)
// clang-format on

struct alignas(64) ServerCounters {
#define KVSTASH_DECLARE_COUNTER(name) std::atomic<uint64_t> name{0};
  KVSTASH_SERVER_COUNTERS(KVSTASH_DECLARE_COUNTER)
#undef KVSTASH_DECLARE_COUNTER

  // Adds this worker's counters into `out`.
  void AddTo(ServerStats* out) const;
};

inline void Bump(std::atomic<uint64_t>& c, uint64_t n = 1) {
  c.fetch_add(n, std::memory_order_relaxed);
}

}  // namespace kvstash::net

#endif  // KVSTASH_NET_SERVER_COUNTERS_H_
