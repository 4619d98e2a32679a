// ReuseAwarePolicy: the default flash admission policy. Admits a block iff
//   (a) it was hit in DRAM at least `min_dram_hits` times (default 1), or
//   (b) its key's access count in a TinyLFU-style FrequencySketch is >= `threshold`
//       (default 2: the put plus one more access, e.g. a lookup of a key evicted earlier), or
//   (c) with `full_block_threshold` set ("prefix" admission): it is a full-size block and its
//       count is >= full_block_threshold (1: on first sight).
// One-shot blocks (put once, never read) fail (a) and (b) and stay out of flash.
//
// Why (c): in a prefix cache every full block of a prompt is a prefix of any longer prompt
// that shares it, so it can be reused long after its DRAM lifetime (a document asked about
// again), with no DRAM hit to announce it; (b) then loses its first reuse. The last block of
// a prompt whose length is not a multiple of the block's tokens is partial: smaller, and
// never a prefix of a longer prompt (more tokens change that block), so only an exact repeat
// reuses it. A block is full when its size is >= full_block_bytes, or (0) >= the largest
// size offered so far: one model's KV chunks all have one size. A store that mixes block
// sizes treats the smaller ones as partial, i.e. as under (b). On the Mooncake trace replay
// (`kvstash bench trace`) (a)+(b) alone hit ~10 points below an LRU of the same capacity,
// (a)+(b)+(c) as well as it while writing less than AdmitAll; on one-shot-heavy traffic (c)
// writes like AdmitAll for full blocks, which is why it is a separate kind, not the default.
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

#include <atomic>
#include <cstdint>

#include "admission/admission_policy.h"
#include "admission/frequency_sketch.h"

namespace kvstash {

struct ReuseAwareConfig {
  uint32_t threshold = 2;                // sketch count to admit; 1..FrequencySketch::kMaxCount
  uint32_t min_dram_hits = 1;            // DRAM hits to admit regardless of the sketch; 0 = off
  uint64_t expected_items = 1ull << 20;  // accesses per sketch aging period (see FrequencySketch)
  uint32_t full_block_threshold = 0;     // (c): sketch count that admits a full block; 0 = off
  uint64_t full_block_bytes = 0;         // (c): full-block size; 0 = the largest offered so far
};

class ReuseAwarePolicy final : public AdmissionPolicy {
 public:
  // `config` must be valid (AdmissionOptions::Validate checks it; out-of-range values are
  // clamped here rather than trusted).
  explicit ReuseAwarePolicy(const ReuseAwareConfig& config);

  void RecordAccess(uint64_t key_hash) override { sketch_.Increment(key_hash); }
  bool Admit(const AdmissionCandidate& candidate) override;
  AdmissionStats Stats() const override { return counters_.Snapshot(); }
  std::string_view Name() const override { return full_block_threshold_ > 0 ? "prefix" : "reuse"; }

  const FrequencySketch& sketch() const { return sketch_; }

 private:
  // True if `size_bytes` is a full block; learns the largest size when none is configured.
  bool IsFullBlock(uint64_t size_bytes);

  const uint32_t threshold_;
  const uint32_t min_dram_hits_;
  const uint32_t full_block_threshold_;
  const uint64_t full_block_bytes_;
  std::atomic<uint64_t> largest_bytes_{0};  // full_block_bytes_ == 0: largest size offered
  FrequencySketch sketch_;
  AdmissionCounters counters_;
};

}  // namespace kvstash

#endif  // KVSTASH_ADMISSION_REUSE_AWARE_POLICY_H_
