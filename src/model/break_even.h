// Break-even cost model: when does storing a KV block on flash pay for itself?
// (issue 6 item 3; the full derivation with a worked example is docs/MODEL.md). No I/O.
//
// For a stored unit of T tokens (a block, or a whole context) of B = T * KvBytesPerToken bytes:
//   recompute  R = T / prefill_tokens_per_sec                    [s of the serving instance]
//   load       L = load_latency_sec + B / load_bytes_per_sec     [s]
//   benefit of one reuse  G = max(0, R - L) * gpu_dollars_per_sec [$]
//   cost of one write     C = B * endurance_dollars_per_byte + (B / flash_write_bytes_per_sec)
//                             * flash_dollars_per_sec             [$]
//     endurance_dollars_per_byte = flash_price / (capacity * DWPD * 365 * warranty_years)
//     flash_dollars_per_sec      = flash_price / (warranty_years * 365 * 86400)  (the drive's
//                                  amortized cost while its write bandwidth is busy)
//   Storing is worth it when p * G > C, p = probability the block is reused from flash, so
//   p* = C / G, clamped to [0, 1] (1 also when G = 0: loading is no faster than recompute).
//
// The endurance budget is a separate, hard limit: the drive sustains
//   W = capacity * DWPD / 86400  bytes/s
// of writes. When the incoming flush rate I exceeds W, only a fraction W / I may be admitted;
// EnduranceAdmissionThreshold() turns that into the smallest frequency-count threshold for
// ReuseAwarePolicy, MinReuseProbabilityToAdmit() into a minimum reuse probability.
//
// Linear prefill: R is linear in T at the given throughput. Attention makes long-context
// prefill superlinear, so pass the throughput measured at the context length of interest.
//
// Thread safety: pure functions on values.
#ifndef KVSTASH_MODEL_BREAK_EVEN_H_
#define KVSTASH_MODEL_BREAK_EVEN_H_

#include <cstdint>
#include <span>
#include <vector>

#include "kvstash/status.h"
#include "model/model_shape.h"

namespace kvstash {

// Defaults are stated assumptions, not measurements: replace them with measured values.
struct ModelInputs {
  ModelShape model;  // default: the Llama-3.1-70B preset
  // Llama-3.1-70B on 8x H100, FP8: ~10k tokens/s of prefill at long context, i.e. a 128K-token
  // prompt in ~13 s (128 * 1024 / 10'000 = 13.1 s). Derivation: 2 * 70e9 FLOP/token of
  // weights plus ~4 * 80 layers * 8192 * 64K avg ctx ~= 1.7e11 FLOP/token of causal attention
  // at 128K, ~3.1e11 FLOP/token in all, against 8 * ~1.98 PFLOP/s FP8 dense peak at ~20% MFU
  // (attention runs in bf16) -> ~1e4 tokens/s.
  double prefill_tokens_per_sec = 10'000;
  double load_bytes_per_sec = 25e9;  // store -> GPU server (e.g. one 200 Gb/s NIC, ~full)
  double load_latency_sec = 500e-6;  // fixed per-request cost of a load
  uint64_t block_tokens = 256;       // tokens per stored block (engine page size)
  double gpu_dollars_per_hour = 20;  // the serving instance, 8 GPUs at ~$2.5/GPU-hour
  double flash_capacity_bytes = 15.36e12;
  double flash_dwpd = 1.0;  // rated drive writes per day (QLC: 0.3..1, TLC: 1..3)
  double flash_warranty_years = 5;
  double flash_price_dollars = 1500;
  double flash_write_bytes_per_sec = 3e9;  // sequential write bandwidth of the device

  ModelInputs();
  // InvalidArgument naming the first field that is not finite and > 0, or a bad model.
  Status Validate() const;
};

// All of these require inputs.Validate().ok().
double RecomputeSeconds(const ModelInputs& inputs, uint64_t tokens);
double LoadSeconds(const ModelInputs& inputs, uint64_t tokens);
double ReuseBenefitDollars(const ModelInputs& inputs, uint64_t tokens);  // G
double WriteCostDollars(const ModelInputs& inputs, uint64_t tokens);     // C
double EnduranceDollarsPerByte(const ModelInputs& inputs);
double EnduranceWriteBudgetBytesPerSec(const ModelInputs& inputs);  // W

// p* for a unit of `tokens` tokens / for one block of inputs.block_tokens. In [0, 1].
double BreakEvenReuseProbability(const ModelInputs& inputs, uint64_t tokens);
double BreakEvenReuseProbability(const ModelInputs& inputs);

struct EnduranceThreshold {
  uint32_t threshold = 1;             // admit blocks whose frequency count is >= this
  double budget_bytes_per_sec = 0;    // W
  double admitted_bytes_per_sec = 0;  // I * fraction_at_least[threshold - 1]
  bool fits = false;                  // admitted <= W; false: even the highest count is too
                                      // much, a WriteBudgetPolicy must cap the rest
};

// fraction_at_least[k-1]: fraction of incoming flush bytes whose frequency count at flush time
// is >= k (k = 1..n, n <= 15; entry 0 is normally 1.0). Returns the smallest k whose admitted
// rate fits W. InvalidArgument: bad inputs, incoming rate <= 0, empty or over 15 entries,
// entries outside [0, 1] or increasing.
Result<EnduranceThreshold> EnduranceAdmissionThreshold(const ModelInputs& inputs,
                                                       double incoming_bytes_per_sec,
                                                       std::span<const double> fraction_at_least);

// Minimum estimated reuse probability a block needs to be admitted: the larger of p* and the
// cut that keeps the best-ranked blocks within W. `block_reuse_probabilities` is a sample of
// the incoming blocks' estimated reuse probabilities (equal-sized blocks). InvalidArgument:
// bad inputs, incoming rate <= 0, empty sample or a value outside [0, 1].
Result<double> MinReuseProbabilityToAdmit(const ModelInputs& inputs, double incoming_bytes_per_sec,
                                          std::span<const double> block_reuse_probabilities);

}  // namespace kvstash

#endif  // KVSTASH_MODEL_BREAK_EVEN_H_
