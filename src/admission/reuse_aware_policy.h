// ReuseAwarePolicy: the default flash admission policy. Admits a block iff
//   (a) it was hit in DRAM at least `min_dram_hits` times (default 1), or
//   (b) its key's access count in a TinyLFU-style FrequencySketch is >= `threshold`
//       (default 2: the put plus one more access, e.g. a lookup of a key evicted earlier).
// One-shot blocks (put once, never read) fail both and stay out of flash.
//
// Counting caveat for the engine: RecordAccess must be called once per access. An engine
// that always looks a key up (a miss) right before putting it gives every new block a count
// of 2; such an engine should either not record the put that follows its own miss, or use
// threshold 3. See docs/MODEL.md for choosing the threshold from an endurance budget.
//
// Sizing: expected_items (the sketch's aging period in accesses) should be >= ~20x the
// accesses that happen while one block sits in DRAM, so that a halving rarely falls between
// a block's reuse and its flush (a halving takes a count of 2-3 down to 1).
// Memory: the sketch, FrequencySketch::memory_bytes() (8..16 bytes per expected item).
// Thread safety: safe for concurrent use; lock-free except for the periodic sketch halving.
#ifndef KVSTASH_ADMISSION_REUSE_AWARE_POLICY_H_
#define KVSTASH_ADMISSION_REUSE_AWARE_POLICY_H_

#include <cstdint>

#include "admission/admission_policy.h"
#include "admission/frequency_sketch.h"

namespace kvstash {

struct ReuseAwareConfig {
  uint32_t threshold = 2;                // sketch count to admit; 1..FrequencySketch::kMaxCount
  uint32_t min_dram_hits = 1;            // DRAM hits to admit regardless of the sketch; 0 = off
  uint64_t expected_items = 1ull << 20;  // accesses per sketch aging period (see FrequencySketch)
};

class ReuseAwarePolicy final : public AdmissionPolicy {
 public:
  // `config` must be valid (AdmissionOptions::Validate checks it; out-of-range values are
  // clamped here rather than trusted).
  explicit ReuseAwarePolicy(const ReuseAwareConfig& config);

  void RecordAccess(uint64_t key_hash) override { sketch_.Increment(key_hash); }
  bool Admit(const AdmissionCandidate& candidate) override;
  AdmissionStats Stats() const override { return counters_.Snapshot(); }
  std::string_view Name() const override { return "reuse"; }

  const FrequencySketch& sketch() const { return sketch_; }

 private:
  const uint32_t threshold_;
  const uint32_t min_dram_hits_;
  FrequencySketch sketch_;
  AdmissionCounters counters_;
};

}  // namespace kvstash

#endif  // KVSTASH_ADMISSION_REUSE_AWARE_POLICY_H_
