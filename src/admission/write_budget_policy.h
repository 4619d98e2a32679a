// WriteBudgetPolicy: a decorator that caps the flash write rate of another policy.
//
// A block is admitted iff the inner policy admits it AND a TokenBucket of
// `bytes_per_sec` (refill) and `burst_bytes` (capacity) has room for its size. The inner
// policy is asked first, so blocks it rejects never consume budget. Rejections caused by the
// budget are counted in Stats().rejected_by_budget (and in rejected). This object's Stats()
// are the effective decisions; the inner policy's own Stats() count what it would have
// admitted without the budget.
//
// A block larger than the burst is admitted when the bucket is full and drives it into debt
// (TokenBucket semantics), so no block size is starved and the long-run rate still holds.
//
// Why a budget: QLC flash is rated in drive writes per day (DWPD); capacity * DWPD / 86400 is
// the sustainable write rate (docs/MODEL.md, EnduranceWriteBudget()).
//
// Thread safety: safe for concurrent use; the bucket takes a short internal lock.
#ifndef KVSTASH_ADMISSION_WRITE_BUDGET_POLICY_H_
#define KVSTASH_ADMISSION_WRITE_BUDGET_POLICY_H_

#include <cstdint>
#include <memory>
#include <string>

#include "admission/admission_policy.h"
#include "common/clock.h"
#include "common/rate_limiter.h"

namespace kvstash {

class WriteBudgetPolicy final : public AdmissionPolicy {
 public:
  // Takes ownership of `inner` (non-null). bytes_per_sec > 0, burst_bytes > 0. `clock` is not
  // owned and must outlive this object.
  WriteBudgetPolicy(std::unique_ptr<AdmissionPolicy> inner, uint64_t bytes_per_sec,
                    uint64_t burst_bytes, Clock* clock);

  void RecordAccess(uint64_t key_hash) override { inner_->RecordAccess(key_hash); }
  bool Admit(const AdmissionCandidate& candidate) override;
  AdmissionStats Stats() const override { return counters_.Snapshot(); }
  std::string_view Name() const override { return name_; }

  const AdmissionPolicy& inner() const { return *inner_; }

 private:
  const std::unique_ptr<AdmissionPolicy> inner_;
  const std::string name_;
  TokenBucket bucket_;
  AdmissionCounters counters_;
};

}  // namespace kvstash

#endif  // KVSTASH_ADMISSION_WRITE_BUDGET_POLICY_H_
