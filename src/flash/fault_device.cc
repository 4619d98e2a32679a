#include "flash/fault_device.h"

#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace kvstash {

uint64_t FaultCounts::total() const {
  return read_errors + write_errors + discard_errors + short_reads + short_writes + bit_flips +
         torn_writes + latency_injections + no_space_errors;
}

FaultInjectionDevice::FaultInjectionDevice(Device* inner, const FaultInjectionOptions& options)
    : Device(inner->size(), inner->io_alignment()),
      inner_(inner),
      options_(options),
      rng_(options.seed) {}

FaultInjectionDevice::FaultInjectionDevice(std::unique_ptr<Device> inner,
                                           const FaultInjectionOptions& options)
    : FaultInjectionDevice(inner.get(), options) {
  owned_ = std::move(inner);
}

void FaultInjectionDevice::SetOptions(const FaultInjectionOptions& options) {
  MutexLock lock(&mu_);
  options_ = options;
  rng_.seed(options.seed);
}

void FaultInjectionDevice::SetHealthy(bool healthy) {
  MutexLock lock(&mu_);
  injecting_ = !healthy;
}

bool FaultInjectionDevice::healthy() const {
  MutexLock lock(&mu_);
  return !injecting_;
}

FaultCounts FaultInjectionDevice::counts() const {
  MutexLock lock(&mu_);
  return counts_;
}

bool FaultInjectionDevice::Roll(uint32_t one_in) {
  if (!injecting_ || one_in == 0) return false;
  return one_in == 1 || rng_() % one_in == 0;
}

// A multiple of the alignment strictly below `len` (len is a non-zero aligned length).
uint64_t FaultInjectionDevice::AlignedPrefix(uint64_t len) {
  const uint64_t blocks = len / io_alignment();
  return (rng_() % blocks) * io_alignment();
}

FaultInjectionDevice::Plan FaultInjectionDevice::PlanRead(const IoRequest& r) {
  MutexLock lock(&mu_);
  Plan p;
  if (Roll(options_.latency_one_in)) p.delay = options_.latency;
  if (Roll(options_.read_error_one_in)) {
    p.fault = Fault::kError;
  } else if (Roll(options_.short_read_one_in)) {
    p.fault = Fault::kShort;
    p.prefix = AlignedPrefix(r.buffer.size());
  } else if (Roll(options_.bit_flip_one_in) && options_.bit_flips > 0) {
    p.flips = options_.bit_flips;
    p.flip_seed = rng_();
  }
  counts_.latency_injections += p.delay.count() > 0;
  counts_.read_errors += p.fault == Fault::kError;
  counts_.short_reads += p.fault == Fault::kShort;
  counts_.bit_flips += p.flips > 0;
  return p;
}

FaultInjectionDevice::Plan FaultInjectionDevice::PlanWrite(const IoRequest& r) {
  MutexLock lock(&mu_);
  Plan p;
  if (Roll(options_.latency_one_in)) p.delay = options_.latency;
  const uint64_t end = r.offset.value() + r.buffer.size();
  if (injecting_ && end > options_.full_beyond_offset) {
    p.fault = Fault::kNoSpace;
  } else if (Roll(options_.write_error_one_in)) {
    p.fault = Fault::kError;
  } else if (Roll(options_.short_write_one_in)) {
    p.fault = Fault::kShort;
    p.prefix = AlignedPrefix(r.buffer.size());
  } else if (Roll(options_.torn_write_one_in)) {
    p.fault = Fault::kTorn;
    p.prefix = AlignedPrefix(r.buffer.size());
    p.silent = options_.torn_write_silent;
  }
  counts_.latency_injections += p.delay.count() > 0;
  counts_.no_space_errors += p.fault == Fault::kNoSpace;
  counts_.write_errors += p.fault == Fault::kError;
  counts_.short_writes += p.fault == Fault::kShort;
  counts_.torn_writes += p.fault == Fault::kTorn;
  return p;
}

void FaultInjectionDevice::FlipBits(std::span<std::byte> data, uint32_t flips, uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (uint32_t i = 0; i < flips; ++i) {
    const uint64_t bit = rng() % (data.size() * 8);
    data[bit / 8] ^= static_cast<std::byte>(1u << (bit % 8));
  }
}

// Transfers plan.prefix bytes through the inner device, then reports the injected failure.
Status FaultInjectionDevice::DoPartial(const IoRequest& r, const Plan& plan, bool write) {
  if (plan.prefix > 0) {
    auto prefix = r.buffer.first(plan.prefix);
    KVSTASH_RETURN_IF_ERROR(write ? inner_->Write(r.offset, prefix)
                                  : inner_->Read(r.offset, prefix));
  }
  const std::string what = std::to_string(plan.prefix) + " of " + std::to_string(r.buffer.size()) +
                           " bytes at offset " + std::to_string(r.offset.value());
  if (plan.fault == Fault::kTorn) {
    if (plan.silent) return Status::Ok();  // the lost tail goes unreported
    return Status::IOError("injected torn write: " + what);
  }
  return Status::IOError(std::string("injected short ") + (write ? "write: " : "read: ") + what);
}

Status FaultInjectionDevice::ReadVImpl(std::span<IoRequest> requests) {
  std::vector<Plan> plans;
  plans.reserve(requests.size());
  for (const IoRequest& r : requests) plans.push_back(PlanRead(r));
  std::vector<IoRequest> pass;  // fault-free requests go to the inner device as one batch
  std::vector<size_t> pass_index;
  for (size_t i = 0; i < requests.size(); ++i) {
    if (plans[i].delay.count() > 0) std::this_thread::sleep_for(plans[i].delay);
    IoRequest& r = requests[i];
    switch (plans[i].fault) {
      case Fault::kError:
        r.result = Status::IOError("injected read error (EIO)");
        break;
      case Fault::kShort:
        r.result = DoPartial(r, plans[i], /*write=*/false);
        break;
      default:
        pass.push_back(IoRequest{r.offset, r.buffer, {}});
        pass_index.push_back(i);
    }
  }
  if (!pass.empty()) inner_->ReadV(pass).IgnoreError();  // per-request results below
  for (size_t k = 0; k < pass.size(); ++k) {
    IoRequest& r = requests[pass_index[k]];
    r.result = pass[k].result;
    const Plan& plan = plans[pass_index[k]];
    if (r.result.ok() && plan.flips > 0) FlipBits(r.buffer, plan.flips, plan.flip_seed);
  }
  return Status::Ok();
}

Status FaultInjectionDevice::WriteVImpl(std::span<IoRequest> requests) {
  std::vector<Plan> plans;
  plans.reserve(requests.size());
  for (const IoRequest& r : requests) plans.push_back(PlanWrite(r));
  std::vector<IoRequest> pass;
  std::vector<size_t> pass_index;
  for (size_t i = 0; i < requests.size(); ++i) {
    if (plans[i].delay.count() > 0) std::this_thread::sleep_for(plans[i].delay);
    IoRequest& r = requests[i];
    switch (plans[i].fault) {
      case Fault::kNoSpace:
        r.result = Status::ResourceExhausted("injected device full (ENOSPC) writing to offset " +
                                             std::to_string(r.offset.value()));
        break;
      case Fault::kError:
        r.result = Status::IOError("injected write error (EIO)");
        break;
      case Fault::kShort:
      case Fault::kTorn:
        r.result = DoPartial(r, plans[i], /*write=*/true);
        break;
      default:
        pass.push_back(IoRequest{r.offset, r.buffer, {}});
        pass_index.push_back(i);
    }
  }
  if (!pass.empty()) inner_->WriteV(pass).IgnoreError();
  for (size_t k = 0; k < pass.size(); ++k) requests[pass_index[k]].result = pass[k].result;
  return Status::Ok();
}

Status FaultInjectionDevice::DiscardImpl(DeviceOffset offset, uint64_t len, bool* unsupported) {
  std::chrono::microseconds delay{0};
  bool fail;
  {
    MutexLock lock(&mu_);
    if (Roll(options_.latency_one_in)) delay = options_.latency;
    fail = Roll(options_.discard_error_one_in);
    counts_.latency_injections += delay.count() > 0;
    counts_.discard_errors += fail;
  }
  if (delay.count() > 0) std::this_thread::sleep_for(delay);
  if (fail) return Status::IOError("injected discard error (EIO)");
  KVSTASH_RETURN_IF_ERROR(inner_->Discard(offset, len));
  *unsupported = !inner_->discard_supported();
  return Status::Ok();
}

}  // namespace kvstash
