#include "admission/reuse_aware_policy.h"

#include <algorithm>

namespace kvstash {

ReuseAwarePolicy::ReuseAwarePolicy(const ReuseAwareConfig& config)
    : threshold_(std::clamp<uint32_t>(config.threshold, 1, FrequencySketch::kMaxCount)),
      min_dram_hits_(config.min_dram_hits),
      full_block_threshold_(std::min<uint32_t>(config.full_block_threshold, threshold_)),
      full_block_bytes_(config.full_block_bytes),
      sketch_(std::max<uint64_t>(config.expected_items, 1)) {}

bool ReuseAwarePolicy::IsFullBlock(uint64_t size_bytes) {
  if (full_block_bytes_ != 0) return size_bytes >= full_block_bytes_;
  uint64_t largest = largest_bytes_.load(std::memory_order_relaxed);
  while (size_bytes > largest &&
         !largest_bytes_.compare_exchange_weak(largest, size_bytes, std::memory_order_relaxed)) {
  }
  return size_bytes >= largest;
}

bool ReuseAwarePolicy::Admit(const AdmissionCandidate& candidate) {
  bool hit_in_dram = min_dram_hits_ > 0 && candidate.dram_hits >= min_dram_hits_;
  bool full = full_block_threshold_ > 0 && IsFullBlock(candidate.size_bytes);
  uint32_t needed = full ? full_block_threshold_ : threshold_;
  bool admit = hit_in_dram || sketch_.Estimate(candidate.key_hash) >= needed;
  if (admit) {
    counters_.RecordAdmit(candidate.size_bytes);
  } else {
    counters_.RecordReject(candidate.size_bytes);
  }
  return admit;
}

}  // namespace kvstash
