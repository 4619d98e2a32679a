#include "admission/write_budget_policy.h"

#include <utility>

namespace kvstash {

WriteBudgetPolicy::WriteBudgetPolicy(std::unique_ptr<AdmissionPolicy> inner, uint64_t bytes_per_sec,
                                     uint64_t burst_bytes, Clock* clock)
    : inner_(std::move(inner)),
      name_("budget(" + std::string(inner_->Name()) + ")"),
      bucket_(static_cast<double>(bytes_per_sec), static_cast<double>(burst_bytes), clock) {}

bool WriteBudgetPolicy::Admit(const AdmissionCandidate& candidate) {
  if (!inner_->Admit(candidate)) {
    counters_.RecordReject(candidate.size_bytes);
    return false;
  }
  if (!bucket_.TryAcquire(static_cast<double>(candidate.size_bytes))) {
    counters_.RecordBudgetReject(candidate.size_bytes);
    return false;
  }
  counters_.RecordAdmit(candidate.size_bytes);
  return true;
}

}  // namespace kvstash
