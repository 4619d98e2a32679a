// AdmissionOptions and MakeAdmissionPolicy(): how the daemon's "admission" flags become an
// AdmissionPolicy.
//
//   AdmissionOptions o;               // kind "reuse", threshold 2, no write budget
//   o.budget_bytes_per_sec = 200e6;   // e.g. EnduranceWriteBudget() of the flash device
//   KVSTASH_ASSIGN_OR_RETURN(auto policy, MakeAdmissionPolicy(o));
//
// Thread safety: plain value types; MakeAdmissionPolicy is reentrant.
#ifndef KVSTASH_ADMISSION_ADMISSION_OPTIONS_H_
#define KVSTASH_ADMISSION_ADMISSION_OPTIONS_H_

#include <cstdint>
#include <memory>
#include <string>

#include "admission/admission_policy.h"
#include "common/clock.h"
#include "kvstash/status.h"

namespace kvstash {

struct AdmissionOptions {
  std::string kind = "reuse";          // "all" | "reuse" | "prefix" (reuse + full blocks on
                                       // first sight; ReuseAwarePolicy (c))
  uint32_t threshold = 2;              // reuse, prefix: sketch count to admit, 1..15
  uint32_t min_dram_hits = 1;          // reuse: DRAM hits that admit outright; 0 = off
  uint64_t sketch_items = 1ull << 20;  // reuse: accesses per aging period; >= 1
  uint64_t full_block_bytes = 0;       // prefix: full-block size; 0 = the largest seen
  uint64_t budget_bytes_per_sec = 0;   // > 0: wrap in WriteBudgetPolicy; 0 = no budget
  uint64_t budget_burst_bytes = 0;     // 0: one second of budget_bytes_per_sec
  Clock* clock = Clock::Real();        // not owned; must outlive the policy

  // InvalidArgument naming the bad field: unknown kind, threshold outside 1..15, sketch_items
  // 0 or above 2^32 (the sketch would exceed 64 GiB), burst without a rate, null clock.
  Status Validate() const;
};

// Builds the configured policy (wrapped in WriteBudgetPolicy when a budget is set).
// Errors: those of Validate().
Result<std::unique_ptr<AdmissionPolicy>> MakeAdmissionPolicy(const AdmissionOptions& options);

}  // namespace kvstash

#endif  // KVSTASH_ADMISSION_ADMISSION_OPTIONS_H_
