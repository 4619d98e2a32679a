#include "admission/admission_options.h"

#include <utility>

#include "admission/frequency_sketch.h"
#include "admission/reuse_aware_policy.h"
#include "admission/write_budget_policy.h"

namespace kvstash {

Status AdmissionOptions::Validate() const {
  if (kind != "all" && kind != "reuse" && kind != "prefix") {
    return Status::InvalidArgument(
        "admission kind must be \"all\", \"reuse\" or \"prefix\", got \"" + kind + "\"");
  }
  if (threshold < 1 || threshold > FrequencySketch::kMaxCount) {
    return Status::InvalidArgument("admission threshold must be in 1..15, got " +
                                   std::to_string(threshold));
  }
  if (sketch_items < 1 || sketch_items > (uint64_t{1} << 32)) {
    return Status::InvalidArgument("admission sketch_items must be in 1..2^32, got " +
                                   std::to_string(sketch_items));
  }
  if (budget_burst_bytes != 0 && budget_bytes_per_sec == 0) {
    return Status::InvalidArgument("admission budget_burst_bytes set without budget_bytes_per_sec");
  }
  if (clock == nullptr) return Status::InvalidArgument("admission clock is null");
  return Status::Ok();
}

Result<std::unique_ptr<AdmissionPolicy>> MakeAdmissionPolicy(const AdmissionOptions& options) {
  KVSTASH_RETURN_IF_ERROR(options.Validate());
  std::unique_ptr<AdmissionPolicy> policy;
  if (options.kind == "all") {
    policy = std::make_unique<AdmitAllPolicy>();
  } else {
    ReuseAwareConfig config;
    config.threshold = options.threshold;
    config.min_dram_hits = options.min_dram_hits;
    config.expected_items = options.sketch_items;
    if (options.kind == "prefix") {
      config.full_block_threshold = 1;
      config.full_block_bytes = options.full_block_bytes;
    }
    policy = std::make_unique<ReuseAwarePolicy>(config);
  }
  if (options.budget_bytes_per_sec == 0) return policy;
  uint64_t burst =
      options.budget_burst_bytes != 0 ? options.budget_burst_bytes : options.budget_bytes_per_sec;
  return std::unique_ptr<AdmissionPolicy>(std::make_unique<WriteBudgetPolicy>(
      std::move(policy), options.budget_bytes_per_sec, burst, options.clock));
}

}  // namespace kvstash
