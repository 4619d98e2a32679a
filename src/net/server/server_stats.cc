// ServerStats flattening and the per-worker counter sum.
#include <string>

#include "net/server/server.h"
#include "net/server/server_counters.h"

namespace kvstash {

#define KVSTASH_COUNT_FIELD(name) +1
static_assert(sizeof(ServerStats) ==
                  sizeof(uint64_t) * (0 KVSTASH_SERVER_COUNTERS(KVSTASH_COUNT_FIELD)),
              "ServerStats and KVSTASH_SERVER_COUNTERS must list the same fields");
#undef KVSTASH_COUNT_FIELD

std::vector<std::pair<std::string, uint64_t>> ServerStats::ToPairs() const {
  std::vector<std::pair<std::string, uint64_t>> out;
#define KVSTASH_PAIR(name) out.emplace_back("server." #name, name);
  KVSTASH_SERVER_COUNTERS(KVSTASH_PAIR)
#undef KVSTASH_PAIR
  return out;
}

namespace net {

void ServerCounters::AddTo(ServerStats* out) const {
#define KVSTASH_ADD(name) out->name += name.load(std::memory_order_relaxed);
  KVSTASH_SERVER_COUNTERS(KVSTASH_ADD)
#undef KVSTASH_ADD
}

}  // namespace net
}  // namespace kvstash
