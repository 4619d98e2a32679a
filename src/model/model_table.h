// Break-even table: load vs recompute for a range of context lengths, as rows a CLI prints
// (`kvstash model`, elsewhere). Each row treats the whole context as one stored unit (written
// once, loaded once per reuse). See model/break_even.h for the formulas.
//
// Thread safety: pure functions on values.
#ifndef KVSTASH_MODEL_MODEL_TABLE_H_
#define KVSTASH_MODEL_MODEL_TABLE_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "kvstash/status.h"
#include "model/break_even.h"

namespace kvstash {

struct BreakEvenRow {
  uint64_t context_tokens = 0;
  uint64_t kv_bytes = 0;             // context_tokens * KvBytesPerToken
  double load_seconds = 0;           // L
  double recompute_seconds = 0;      // R
  double speedup = 0;                // R / L
  double saved_seconds = 0;          // max(0, R - L) per reuse
  double write_cost_dollars = 0;     // C
  double reuse_benefit_dollars = 0;  // G
  double break_even_p = 0;           // p* = C / G in [0, 1]
};

// 1K, 2K, 4K, ..., 128K tokens (K = 1024).
std::span<const uint64_t> DefaultContextLengths();

// One row per entry of `context_tokens`. InvalidArgument: bad inputs or a zero length.
Result<std::vector<BreakEvenRow>> BreakEvenTable(const ModelInputs& inputs,
                                                 std::span<const uint64_t> context_tokens);

// Column names, then one formatted line per row, fixed-width, for a CLI or a log.
std::vector<std::string> FormatBreakEvenTable(std::span<const BreakEvenRow> rows);

}  // namespace kvstash

#endif  // KVSTASH_MODEL_MODEL_TABLE_H_
