#include "model/break_even.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>

namespace kvstash {
namespace {

constexpr double kSecondsPerDay = 86'400;
constexpr double kDaysPerYear = 365;

Status CheckPositive(double v, const char* field) {
  if (!std::isfinite(v) || v <= 0) {
    return Status::InvalidArgument(std::string("model input ") + field +
                                   " must be finite and > 0, got " + std::to_string(v));
  }
  return Status::Ok();
}

double Bytes(const ModelInputs& in, uint64_t tokens) {
  return static_cast<double>(tokens) * static_cast<double>(in.model.KvBytesPerToken());
}

double FlashDollarsPerSec(const ModelInputs& in) {
  return in.flash_price_dollars / (in.flash_warranty_years * kDaysPerYear * kSecondsPerDay);
}

}  // namespace

ModelInputs::ModelInputs() : model(FindModelPreset("Llama-3.1-70B").value()) {}

Status ModelInputs::Validate() const {
  KVSTASH_RETURN_IF_ERROR(model.Validate());
  KVSTASH_RETURN_IF_ERROR(CheckPositive(prefill_tokens_per_sec, "prefill_tokens_per_sec"));
  KVSTASH_RETURN_IF_ERROR(CheckPositive(load_bytes_per_sec, "load_bytes_per_sec"));
  if (!std::isfinite(load_latency_sec) || load_latency_sec < 0) {
    return Status::InvalidArgument("model input load_latency_sec must be finite and >= 0");
  }
  if (block_tokens == 0) return Status::InvalidArgument("model input block_tokens is 0");
  KVSTASH_RETURN_IF_ERROR(CheckPositive(gpu_dollars_per_hour, "gpu_dollars_per_hour"));
  KVSTASH_RETURN_IF_ERROR(CheckPositive(flash_capacity_bytes, "flash_capacity_bytes"));
  KVSTASH_RETURN_IF_ERROR(CheckPositive(flash_dwpd, "flash_dwpd"));
  KVSTASH_RETURN_IF_ERROR(CheckPositive(flash_warranty_years, "flash_warranty_years"));
  KVSTASH_RETURN_IF_ERROR(CheckPositive(flash_price_dollars, "flash_price_dollars"));
  return CheckPositive(flash_write_bytes_per_sec, "flash_write_bytes_per_sec");
}

double RecomputeSeconds(const ModelInputs& in, uint64_t tokens) {
  return static_cast<double>(tokens) / in.prefill_tokens_per_sec;
}

double LoadSeconds(const ModelInputs& in, uint64_t tokens) {
  return in.load_latency_sec + Bytes(in, tokens) / in.load_bytes_per_sec;
}

double ReuseBenefitDollars(const ModelInputs& in, uint64_t tokens) {
  double saved = std::max(0.0, RecomputeSeconds(in, tokens) - LoadSeconds(in, tokens));
  return saved * in.gpu_dollars_per_hour / 3600.0;
}

double EnduranceDollarsPerByte(const ModelInputs& in) {
  double lifetime_bytes =
      in.flash_capacity_bytes * in.flash_dwpd * kDaysPerYear * in.flash_warranty_years;
  return in.flash_price_dollars / lifetime_bytes;
}

double WriteCostDollars(const ModelInputs& in, uint64_t tokens) {
  double bytes = Bytes(in, tokens);
  return bytes * EnduranceDollarsPerByte(in) +
         bytes / in.flash_write_bytes_per_sec * FlashDollarsPerSec(in);
}

double EnduranceWriteBudgetBytesPerSec(const ModelInputs& in) {
  return in.flash_capacity_bytes * in.flash_dwpd / kSecondsPerDay;
}

double BreakEvenReuseProbability(const ModelInputs& in, uint64_t tokens) {
  double benefit = ReuseBenefitDollars(in, tokens);
  if (benefit <= 0) return 1.0;  // loading is no faster than recomputing: never pays
  return std::clamp(WriteCostDollars(in, tokens) / benefit, 0.0, 1.0);
}

double BreakEvenReuseProbability(const ModelInputs& in) {
  return BreakEvenReuseProbability(in, in.block_tokens);
}

Result<EnduranceThreshold> EnduranceAdmissionThreshold(const ModelInputs& in,
                                                       double incoming_bytes_per_sec,
                                                       std::span<const double> fraction_at_least) {
  KVSTASH_RETURN_IF_ERROR(in.Validate());
  KVSTASH_RETURN_IF_ERROR(CheckPositive(incoming_bytes_per_sec, "incoming_bytes_per_sec"));
  if (fraction_at_least.empty() || fraction_at_least.size() > 15) {
    return Status::InvalidArgument("fraction_at_least needs 1..15 entries");
  }
  for (size_t k = 0; k < fraction_at_least.size(); ++k) {
    double f = fraction_at_least[k];
    if (!(f >= 0 && f <= 1) || (k > 0 && f > fraction_at_least[k - 1])) {
      return Status::InvalidArgument("fraction_at_least must be in [0, 1] and non-increasing");
    }
  }
  EnduranceThreshold out;
  out.budget_bytes_per_sec = EnduranceWriteBudgetBytesPerSec(in);
  for (size_t k = 0; k < fraction_at_least.size(); ++k) {
    out.threshold = static_cast<uint32_t>(k + 1);
    out.admitted_bytes_per_sec = incoming_bytes_per_sec * fraction_at_least[k];
    out.fits = out.admitted_bytes_per_sec <= out.budget_bytes_per_sec;
    if (out.fits) break;
  }
  return out;
}

Result<double> MinReuseProbabilityToAdmit(const ModelInputs& in, double incoming_bytes_per_sec,
                                          std::span<const double> block_reuse_probabilities) {
  KVSTASH_RETURN_IF_ERROR(in.Validate());
  KVSTASH_RETURN_IF_ERROR(CheckPositive(incoming_bytes_per_sec, "incoming_bytes_per_sec"));
  if (block_reuse_probabilities.empty()) {
    return Status::InvalidArgument("block_reuse_probabilities is empty");
  }
  std::vector<double> sorted(block_reuse_probabilities.begin(), block_reuse_probabilities.end());
  for (double p : sorted) {
    if (!(p >= 0 && p <= 1)) return Status::InvalidArgument("reuse probability outside [0, 1]");
  }
  std::sort(sorted.begin(), sorted.end(), std::greater<>());
  double fraction = std::min(1.0, EnduranceWriteBudgetBytesPerSec(in) / incoming_bytes_per_sec);
  auto admit = static_cast<size_t>(std::floor(fraction * static_cast<double>(sorted.size())));
  double budget_cut = 0;
  if (admit < sorted.size()) {
    // Just above the first block that must stay out, so ties at the cut are rejected too.
    budget_cut = std::min(1.0, std::nextafter(sorted[admit], 2.0));
  }
  return std::max(BreakEvenReuseProbability(in), budget_cut);
}

}  // namespace kvstash
