// FrequencySketch: a TinyLFU-style approximate access counter for 64-bit key hashes.
//
// A count-min sketch of depth 4 whose counters are 4 bits wide (saturating at 15), packed 16
// to a 64-bit word. Each Increment() adds one to the key's counter in each of the 4 rows; an
// Estimate() is the minimum of the 4, so it never undercounts (until aging) and overcounts
// only through collisions. Every `aging_period` increments, all counters are halved
// (TinyLFU "reset"), so history fades: a key touched once is forgotten at the next halving,
// a key touched often keeps a high count.
//
// Sizing: `expected_items` is the number of accesses (puts + lookups) within one aging
// period, i.e. how far back "seen before" reaches. Each row has next_pow2(4 * expected_items)
// counters, so even just before a halving the mean counter load is <= ~0.5 and a one-shot
// key reaches an estimate of 2 by collisions with probability ~(1 - e^-0.5)^4 ~= 2.4%
// (typically well under 1%). Memory: 4 rows * width / 2 bytes = 8..16 bytes per expected item
// (1M items -> 8 MiB + rounding). Error bound (count-min): with probability >= 1 - e^-4 per
// query, Estimate(k) <= true(k) + e * N / width, N = increments since the last halving.
//
// Thread safety: all methods are safe for concurrent use and lock-free on the hot path
// (counter words are updated with compare-and-swap). Halving takes a mutex only among
// threads that try to age at the same time; a concurrent increment lands before or after
// the halving of its word, never lost mid-update. Estimates are therefore approximate under
// concurrency, as they are anyway.
#ifndef KVSTASH_ADMISSION_FREQUENCY_SKETCH_H_
#define KVSTASH_ADMISSION_FREQUENCY_SKETCH_H_

#include <atomic>
#include <cstdint>
#include <memory>

#include "common/mutex.h"

namespace kvstash {

class FrequencySketch {
 public:
  static constexpr int kDepth = 4;
  static constexpr uint32_t kMaxCount = 15;

  // expected_items >= 1. aging_period 0 means "expected_items".
  explicit FrequencySketch(uint64_t expected_items, uint64_t aging_period = 0);
  FrequencySketch(const FrequencySketch&) = delete;
  FrequencySketch& operator=(const FrequencySketch&) = delete;

  // Counts one access to `key_hash` (saturating at kMaxCount). May trigger a halving.
  void Increment(uint64_t key_hash);
  // Approximate number of accesses to `key_hash` since it was last aged out; 0..kMaxCount.
  uint32_t Estimate(uint64_t key_hash) const;
  // Halves every counter now (also done automatically every aging_period increments).
  void Age();

  uint64_t width() const { return width_; }  // counters per row
  uint64_t aging_period() const { return aging_period_; }
  uint64_t memory_bytes() const { return words_ * sizeof(uint64_t); }
  // Number of halvings done so far.
  uint64_t agings() const { return agings_.load(std::memory_order_relaxed); }

 private:
  // Index of the counter for `key_hash` in `row` (0..kDepth-1), in [0, kDepth * width).
  uint64_t CounterIndex(uint64_t key_hash, int row) const;
  uint32_t CounterAt(uint64_t index) const;
  // Adds one to the counter unless it is saturated.
  void IncrementAt(uint64_t index);
  void MaybeAge();

  const uint64_t width_;  // power of two
  const uint64_t aging_period_;
  const uint64_t words_;
  std::unique_ptr<std::atomic<uint64_t>[]> table_;
  std::atomic<uint64_t> increments_{0};  // since the last halving
  std::atomic<uint64_t> agings_{0};
  Mutex aging_mu_;  // serializes halvings; never held on the increment path
};

}  // namespace kvstash

#endif  // KVSTASH_ADMISSION_FREQUENCY_SKETCH_H_
