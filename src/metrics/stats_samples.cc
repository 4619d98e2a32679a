#include "metrics/stats_samples.h"

#include <array>
#include <set>
#include <string_view>

namespace kvstash {
namespace {

// A family whose samples differ by one label: `<prefix><label value><suffix>` -> name{label}.
struct LabeledFamily {
  std::string_view prefix;
  std::string_view suffix;
  std::string_view metric;
  std::string_view label;
  MetricType type;
  std::string_view help;
  std::set<std::string_view> values;
};

const std::vector<LabeledFamily>& Families() {
  using enum MetricType;
  // clang-format off
  static const std::vector<LabeledFamily> kFamilies = {
      // prefix, suffix, metric, label, type, help, label values ({} = any)
      {"store.blocks_", "", "kvstash_blocks", "state", kGauge,
       "Blocks currently in each lifecycle state.",
       {"allocated", "committed", "persisted", "evicted"}},
      {"store.hits_", "", "kvstash_hits_total", "tier", kCounter,
       "Lookups that hit, by tier.", {"dram", "flash"}},
      {"store.", "_capacity_bytes", "kvstash_capacity_bytes", "tier", kGauge,
       "Capacity of each tier in bytes.", {"dram", "flash"}},
      {"store.", "_live_bytes", "kvstash_live_bytes", "tier", kGauge,
       "Bytes of reachable blocks in each tier.", {"dram", "flash"}},
      {"store.", "_used_bytes", "kvstash_used_bytes", "tier", kGauge,
       "Bytes handed out in each tier's regions.", {"dram", "flash"}},
      {"store.admission_", "", "kvstash_admission_decisions_total", "decision", kCounter,
       "Flash admission decisions.", {"admitted", "rejected"}},
      {"store.admission_", "_bytes", "kvstash_admission_bytes_total", "decision", kCounter,
       "Bytes of blocks by flash admission decision.", {"admitted", "rejected"}},
      {"server.get_bytes_", "", "kvstash_server_get_bytes_total", "tier", kCounter,
       "Payload bytes sent to clients, by source tier.", {"dram", "flash"}},
      {"store.lifecycle_", "", "kvstash_lifecycle_transitions_total", "transition", kCounter,
       "Block lifecycle transitions since start.", {}},
      {"server.requests_", "", "kvstash_server_requests_total", "op", kCounter,
       "Requests received, by operation.", {}},
  };
  // clang-format on
  return kFamilies;
}

// Levels rather than running totals (besides the labeled gauges above).
bool IsGauge(std::string_view name) {
  static const std::set<std::string_view> kGauges = {
      "store.dram_regions",    "store.dram_regions_free",  "store.dram_hugepages",
      "store.flash_degraded",  "store.index_entries",      "store.index_memory_bytes",
      "store.index_key_bytes", "server.connections_active"};
  return kGauges.count(name) > 0 || name.ends_with("_active");
}

bool MatchFamily(const StatPair& stat, MetricSample* out) {
  std::string_view name = stat.first;
  for (const LabeledFamily& f : Families()) {
    if (!name.starts_with(f.prefix) || !name.ends_with(f.suffix)) continue;
    if (name.size() <= f.prefix.size() + f.suffix.size()) continue;
    std::string_view value =
        name.substr(f.prefix.size(), name.size() - f.prefix.size() - f.suffix.size());
    if (!f.values.empty() && f.values.count(value) == 0) continue;
    if (value.find_first_of(".") != std::string_view::npos) continue;
    out->name = std::string(f.metric);
    out->labels = {{std::string(f.label), std::string(value)}};
    out->type = f.type;
    out->help = std::string(f.help);
    return true;
  }
  return false;
}

MetricSample GenericSample(const StatPair& stat) {
  std::string_view name = stat.first;
  MetricSample s;
  s.type = IsGauge(name) ? MetricType::kGauge : MetricType::kCounter;
  std::string base(name.starts_with("store.") ? name.substr(6) : name);
  s.name = SanitizeMetricName("kvstash_" + base);
  if (s.type == MetricType::kCounter && !s.name.ends_with("_total")) s.name += "_total";
  s.help = "kvstash counter " + stat.first + ".";
  return s;
}

}  // namespace

std::vector<MetricSample> SamplesFromStats(std::span<const StatPair> stats) {
  std::vector<MetricSample> samples;
  samples.reserve(stats.size());
  for (const StatPair& stat : stats) {
    MetricSample s;
    if (!MatchFamily(stat, &s)) s = GenericSample(stat);
    s.value = static_cast<double>(stat.second);
    samples.push_back(std::move(s));
  }
  return samples;
}

}  // namespace kvstash
