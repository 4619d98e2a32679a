#include "admission/reuse_aware_policy.h"

#include <algorithm>

namespace kvstash {

ReuseAwarePolicy::ReuseAwarePolicy(const ReuseAwareConfig& config)
    : threshold_(std::clamp<uint32_t>(config.threshold, 1, FrequencySketch::kMaxCount)),
      min_dram_hits_(config.min_dram_hits),
      sketch_(std::max<uint64_t>(config.expected_items, 1)) {}

bool ReuseAwarePolicy::Admit(const AdmissionCandidate& candidate) {
  bool hit_in_dram = min_dram_hits_ > 0 && candidate.dram_hits >= min_dram_hits_;
  bool admit = hit_in_dram || sketch_.Estimate(candidate.key_hash) >= threshold_;
  if (admit) {
    counters_.RecordAdmit(candidate.size_bytes);
  } else {
    counters_.RecordReject(candidate.size_bytes);
  }
  return admit;
}

}  // namespace kvstash
