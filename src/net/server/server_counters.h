// ServerCounters: the atomic counters behind ServerStats, one instance per worker thread
// (shared-nothing: a worker increments only its own; Server::Stats() sums them). The fields
// come from the one counter table, KVSTASH_SERVER_COUNTERS in net/server/server_stats.h.
#ifndef KVSTASH_NET_SERVER_COUNTERS_H_
#define KVSTASH_NET_SERVER_COUNTERS_H_

#include <atomic>
#include <cstdint>

#include "net/server/server_stats.h"

namespace kvstash::net {

struct alignas(64) ServerCounters {
#define KVSTASH_DECLARE_COUNTER(field, name) std::atomic<uint64_t> field{0};
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
