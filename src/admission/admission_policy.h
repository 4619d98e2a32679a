// AdmissionPolicy: decides whether a COMMITTED DRAM block that is about to be flushed or
// dropped is written to flash (docs/ARCHITECTURE.md §3, "Admission").
//
// Much KV traffic is never re-read (one-shot API calls); writing it to flash burns write
// bandwidth and QLC endurance for nothing. A policy sees every access to a key
// (RecordAccess) and, at flush time, the block's DRAM history (AdmissionCandidate), and says
// yes or no. Policies: AdmitAllPolicy (baseline), ReuseAwarePolicy (default; TinyLFU-style
// frequency sketch), WriteBudgetPolicy (decorator: caps flash write bytes/s). Build one from
// AdmissionOptions with MakeAdmissionPolicy() (admission/admission_options.h).
//
// Thread safety: every implementation is safe for concurrent use by any number of threads
// (the engine's workers record accesses while the flusher asks Admit()). No method blocks on
// I/O; RecordAccess and Admit are lock-free except where a policy documents otherwise.
#ifndef KVSTASH_ADMISSION_ADMISSION_POLICY_H_
#define KVSTASH_ADMISSION_ADMISSION_POLICY_H_

#include <atomic>
#include <cstdint>
#include <string_view>

namespace kvstash {

// What the engine knows about a block when it leaves DRAM.
struct AdmissionCandidate {
  uint64_t key_hash = 0;    // HashKey(ns, key): the same value passed to RecordAccess
  uint64_t size_bytes = 0;  // payload bytes that would be written to flash
  uint32_t dram_hits = 0;   // lookups that hit this block while it was in DRAM
  int64_t age_nanos = 0;    // Clock time since commit
};

// Counters since construction. Monotonic; a snapshot (fields read one by one, so a snapshot
// taken during traffic may be off by the decisions in flight).
struct AdmissionStats {
  uint64_t admitted = 0;
  uint64_t rejected = 0;  // all rejections, including rejected_by_budget
  uint64_t bytes_admitted = 0;
  uint64_t bytes_rejected = 0;
  uint64_t rejected_by_budget = 0;  // WriteBudgetPolicy: the inner policy said yes
  uint64_t bytes_rejected_by_budget = 0;
};

class AdmissionPolicy {
 public:
  virtual ~AdmissionPolicy() = default;

  // Called on every put and every get/lookup of a key, hits and misses alike.
  virtual void RecordAccess(uint64_t key_hash) = 0;
  // True: write the block to flash. Counts the decision in Stats().
  virtual bool Admit(const AdmissionCandidate& candidate) = 0;
  virtual AdmissionStats Stats() const = 0;
  // "all", "reuse", "budget(reuse)": for logs and metrics labels.
  virtual std::string_view Name() const = 0;
};

// Lock-free decision counters shared by the implementations.
class AdmissionCounters {
 public:
  void RecordAdmit(uint64_t bytes);
  void RecordReject(uint64_t bytes);
  void RecordBudgetReject(uint64_t bytes);  // also counts as a rejection
  AdmissionStats Snapshot() const;

 private:
  std::atomic<uint64_t> admitted_{0};
  std::atomic<uint64_t> rejected_{0};
  std::atomic<uint64_t> bytes_admitted_{0};
  std::atomic<uint64_t> bytes_rejected_{0};
  std::atomic<uint64_t> rejected_by_budget_{0};
  std::atomic<uint64_t> bytes_rejected_by_budget_{0};
};

// Admits every block: the baseline that every other policy is measured against.
class AdmitAllPolicy final : public AdmissionPolicy {
 public:
  void RecordAccess(uint64_t key_hash) override {}
  bool Admit(const AdmissionCandidate& candidate) override;
  AdmissionStats Stats() const override { return counters_.Snapshot(); }
  std::string_view Name() const override { return "all"; }

 private:
  AdmissionCounters counters_;
};

}  // namespace kvstash

#endif  // KVSTASH_ADMISSION_ADMISSION_POLICY_H_
