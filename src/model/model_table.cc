#include "model/model_table.h"

#include <algorithm>
#include <cstdio>

namespace kvstash {

std::span<const uint64_t> DefaultContextLengths() {
  static constexpr uint64_t kLengths[] = {1 << 10,  2 << 10,  4 << 10,  8 << 10,
                                          16 << 10, 32 << 10, 64 << 10, 128 << 10};
  return kLengths;
}

Result<std::vector<BreakEvenRow>> BreakEvenTable(const ModelInputs& inputs,
                                                 std::span<const uint64_t> context_tokens) {
  KVSTASH_RETURN_IF_ERROR(inputs.Validate());
  std::vector<BreakEvenRow> rows;
  rows.reserve(context_tokens.size());
  for (uint64_t tokens : context_tokens) {
    if (tokens == 0) return Status::InvalidArgument("context length 0 in the table");
    BreakEvenRow r;
    r.context_tokens = tokens;
    r.kv_bytes = tokens * inputs.model.KvBytesPerToken();
    r.load_seconds = LoadSeconds(inputs, tokens);
    r.recompute_seconds = RecomputeSeconds(inputs, tokens);
    r.speedup = r.recompute_seconds / r.load_seconds;
    r.saved_seconds = std::max(0.0, r.recompute_seconds - r.load_seconds);
    r.write_cost_dollars = WriteCostDollars(inputs, tokens);
    r.reuse_benefit_dollars = ReuseBenefitDollars(inputs, tokens);
    r.break_even_p = BreakEvenReuseProbability(inputs, tokens);
    rows.push_back(r);
  }
  return rows;
}

std::vector<std::string> FormatBreakEvenTable(std::span<const BreakEvenRow> rows) {
  std::vector<std::string> lines;
  lines.emplace_back(
      "  tokens     KV GiB   load s  recomp s  speedup   saved s   write $   reuse $   p*");
  char buf[160];
  for (const BreakEvenRow& r : rows) {
    std::snprintf(buf, sizeof(buf), "%8llu %10.3f %8.3f %9.3f %8.1f %9.3f %9.2e %9.2e %6.4f",
                  static_cast<unsigned long long>(r.context_tokens),
                  static_cast<double>(r.kv_bytes) / (1 << 30), r.load_seconds, r.recompute_seconds,
                  r.speedup, r.saved_seconds, r.write_cost_dollars, r.reuse_benefit_dollars,
                  r.break_even_p);
    lines.emplace_back(buf);
  }
  return lines;
}

}  // namespace kvstash
