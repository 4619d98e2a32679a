// StoreStats::ToKeyValues, generated from KVSTASH_STORE_COUNTERS (one row per counter).
#include "engine/store_stats.h"

namespace kvstash {

#define KVSTASH_STORE_COUNTER_COUNT(field, name, help) +1
// Every field comes from the table: a field added outside it would not be exported.
static_assert(sizeof(StoreStats) ==
              (0 KVSTASH_STORE_COUNTERS(KVSTASH_STORE_COUNTER_COUNT)) * sizeof(uint64_t));
#undef KVSTASH_STORE_COUNTER_COUNT

std::vector<std::pair<std::string, uint64_t>> StoreStats::ToKeyValues() const {
#define KVSTASH_STORE_COUNTER_PAIR(field, name, help) {name, field},
  return {KVSTASH_STORE_COUNTERS(KVSTASH_STORE_COUNTER_PAIR)};
#undef KVSTASH_STORE_COUNTER_PAIR
}

}  // namespace kvstash
