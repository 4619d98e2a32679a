// ServerStats flattening and the per-worker counter sum, both from KVSTASH_SERVER_COUNTERS.
#include <string>

#include "net/server/server.h"
#include "net/server/server_counters.h"

namespace kvstash {

std::vector<std::pair<std::string, uint64_t>> ServerStats::ToPairs() const {
  std::vector<std::pair<std::string, uint64_t>> out;
#define KVSTASH_PAIR(field, name) out.emplace_back(name, field);
  KVSTASH_SERVER_COUNTERS(KVSTASH_PAIR)
#undef KVSTASH_PAIR
  return out;
}

namespace net {

void ServerCounters::AddTo(ServerStats* out) const {
#define KVSTASH_ADD(field, name) out->field += field.load(std::memory_order_relaxed);
  KVSTASH_SERVER_COUNTERS(KVSTASH_ADD)
#undef KVSTASH_ADD
}

}  // namespace net
}  // namespace kvstash
