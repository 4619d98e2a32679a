#include "admission/admission_policy.h"

namespace kvstash {

void AdmissionCounters::RecordAdmit(uint64_t bytes) {
  admitted_.fetch_add(1, std::memory_order_relaxed);
  bytes_admitted_.fetch_add(bytes, std::memory_order_relaxed);
}

void AdmissionCounters::RecordReject(uint64_t bytes) {
  rejected_.fetch_add(1, std::memory_order_relaxed);
  bytes_rejected_.fetch_add(bytes, std::memory_order_relaxed);
}

void AdmissionCounters::RecordBudgetReject(uint64_t bytes) {
  RecordReject(bytes);
  rejected_by_budget_.fetch_add(1, std::memory_order_relaxed);
  bytes_rejected_by_budget_.fetch_add(bytes, std::memory_order_relaxed);
}

AdmissionStats AdmissionCounters::Snapshot() const {
  AdmissionStats s;
  s.admitted = admitted_.load(std::memory_order_relaxed);
  s.rejected = rejected_.load(std::memory_order_relaxed);
  s.bytes_admitted = bytes_admitted_.load(std::memory_order_relaxed);
  s.bytes_rejected = bytes_rejected_.load(std::memory_order_relaxed);
  s.rejected_by_budget = rejected_by_budget_.load(std::memory_order_relaxed);
  s.bytes_rejected_by_budget = bytes_rejected_by_budget_.load(std::memory_order_relaxed);
  return s;
}

bool AdmitAllPolicy::Admit(const AdmissionCandidate& candidate) {
  counters_.RecordAdmit(candidate.size_bytes);
  return true;
}

}  // namespace kvstash
