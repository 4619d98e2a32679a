#include "admission/frequency_sketch.h"

#include <algorithm>
#include <bit>

namespace kvstash {
namespace {

constexpr int kCountersPerWord = 16;  // 4-bit counters in a uint64_t
// Keeps the low 3 bits of every nibble after a right shift by one: halves all 16 counters.
constexpr uint64_t kHalveMask = 0x7777'7777'7777'7777ull;

// Independent seeds per row (fractional digits of pi); any odd constants would do.
constexpr uint64_t kRowSeeds[FrequencySketch::kDepth] = {
    0x243F'6A88'85A3'08D3ull, 0x1319'8A2E'0370'7344ull, 0xA409'3822'299F'31D0ull,
    0x082E'FA98'EC4E'6C89ull};

// splitmix64 finalizer: a bijective 64-bit mix, so rows with different seeds are independent
// enough for count-min even when key hashes share structure.
uint64_t Mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xBF58'476D'1CE4'E5B9ull;
  x ^= x >> 27;
  x *= 0x94D0'49BB'1331'11EBull;
  x ^= x >> 31;
  return x;
}

uint64_t WidthFor(uint64_t expected_items) {
  uint64_t want = std::max<uint64_t>(expected_items, 1) * 4;
  return std::max<uint64_t>(std::bit_ceil(want), kCountersPerWord);
}

}  // namespace

FrequencySketch::FrequencySketch(uint64_t expected_items, uint64_t aging_period)
    : width_(WidthFor(expected_items)),
      aging_period_(aging_period != 0 ? aging_period : std::max<uint64_t>(expected_items, 1)),
      words_(width_ * kDepth / kCountersPerWord),
      table_(new std::atomic<uint64_t>[words_]) {
  for (uint64_t i = 0; i < words_; ++i) table_[i].store(0, std::memory_order_relaxed);
}

uint64_t FrequencySketch::CounterIndex(uint64_t key_hash, int row) const {
  return static_cast<uint64_t>(row) * width_ + (Mix(key_hash ^ kRowSeeds[row]) & (width_ - 1));
}

uint32_t FrequencySketch::CounterAt(uint64_t index) const {
  uint64_t word = table_[index / kCountersPerWord].load(std::memory_order_relaxed);
  int shift = static_cast<int>(index % kCountersPerWord) * 4;
  return static_cast<uint32_t>((word >> shift) & 0xF);
}

void FrequencySketch::IncrementAt(uint64_t index) {
  std::atomic<uint64_t>& slot = table_[index / kCountersPerWord];
  int shift = static_cast<int>(index % kCountersPerWord) * 4;
  uint64_t word = slot.load(std::memory_order_relaxed);
  while (((word >> shift) & 0xF) != kMaxCount) {
    if (slot.compare_exchange_weak(word, word + (uint64_t{1} << shift),
                                   std::memory_order_relaxed)) {
      return;
    }
  }
}

void FrequencySketch::Increment(uint64_t key_hash) {
  for (int row = 0; row < kDepth; ++row) IncrementAt(CounterIndex(key_hash, row));
  MaybeAge();
}

uint32_t FrequencySketch::Estimate(uint64_t key_hash) const {
  uint32_t estimate = kMaxCount;
  for (int row = 0; row < kDepth; ++row) {
    estimate = std::min(estimate, CounterAt(CounterIndex(key_hash, row)));
  }
  return estimate;
}

void FrequencySketch::Age() {
  MutexLock lock(&aging_mu_);
  for (uint64_t i = 0; i < words_; ++i) {
    uint64_t word = table_[i].load(std::memory_order_relaxed);
    while (!table_[i].compare_exchange_weak(word, (word >> 1) & kHalveMask,
                                            std::memory_order_relaxed)) {
    }
  }
  agings_.fetch_add(1, std::memory_order_relaxed);
}

void FrequencySketch::MaybeAge() {
  uint64_t n = increments_.fetch_add(1, std::memory_order_relaxed) + 1;
  // Exactly one thread observes each multiple of the period; it halves and pays the period
  // back, so the count stays aligned to multiples even if increments race with the halving.
  if (n % aging_period_ != 0) return;
  Age();
  increments_.fetch_sub(aging_period_, std::memory_order_relaxed);
}

}  // namespace kvstash
