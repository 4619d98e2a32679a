// Prometheus text exposition format (version 0.0.4) from a flat list of samples.
//
//   # HELP kvstash_blocks Blocks in each lifecycle state.
//   # TYPE kvstash_blocks gauge
//   kvstash_blocks{state="committed"} 12
//
// Samples that share a name form one family: one HELP/TYPE block, families in order of first
// appearance, samples within a family in input order. The first non-empty help of a family
// is used.
//
// Thread safety: pure functions.
#ifndef KVSTASH_METRICS_PROMETHEUS_TEXT_H_
#define KVSTASH_METRICS_PROMETHEUS_TEXT_H_

#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kvstash/status.h"

namespace kvstash {

enum class MetricType : uint8_t { kCounter = 0, kGauge = 1 };

struct MetricSample {
  std::string name;  // [a-zA-Z_:][a-zA-Z0-9_:]*, e.g. "kvstash_hits_total"
  std::vector<std::pair<std::string, std::string>> labels;  // name [a-zA-Z_][a-zA-Z0-9_]*
  double value = 0;
  MetricType type = MetricType::kCounter;
  std::string help;  // free text; escaped on output
};

// The Content-Type of the rendered text.
inline constexpr std::string_view kPrometheusContentType =
    "text/plain; version=0.0.4; charset=utf-8";

// Renders `samples`. Errors: InvalidArgument for a bad metric or label name, a family whose
// samples disagree on the type, or a repeated (name, labels) pair; the message names it.
Result<std::string> RenderPrometheusText(std::span<const MetricSample> samples);

// True if `name` is a valid metric name.
bool IsValidMetricName(std::string_view name);
// Replaces every character not allowed in a metric name with '_'.
std::string SanitizeMetricName(std::string_view name);

}  // namespace kvstash

#endif  // KVSTASH_METRICS_PROMETHEUS_TEXT_H_
