#include "flash/device.h"

#include <cstdint>
#include <string>
#include <vector>

namespace kvstash {
namespace {

std::string RangeText(DeviceOffset offset, uint64_t len) {
  return "[" + std::to_string(offset.value()) + ", +" + std::to_string(len) + ")";
}

}  // namespace

Status Device::CheckRange(DeviceOffset offset, uint64_t len, const void* buf) const {
  const uint64_t off = offset.value();
  if (!IsAligned(off, io_alignment_) || !IsAligned(len, io_alignment_)) {
    return Status::InvalidArgument("device range " + RangeText(offset, len) + " not aligned to " +
                                   std::to_string(io_alignment_));
  }
  if (buf != nullptr && !IsAligned(reinterpret_cast<uintptr_t>(buf), io_alignment_)) {
    return Status::InvalidArgument("I/O buffer not aligned to " + std::to_string(io_alignment_));
  }
  if (off > size_ || len > size_ - off) {
    return Status::InvalidArgument("device range " + RangeText(offset, len) +
                                   " beyond device size " + std::to_string(size_));
  }
  return Status::Ok();
}

Status Device::Read(DeviceOffset offset, std::span<std::byte> buffer) {
  IoRequest req{offset, buffer, Status::Ok()};
  return ReadV(std::span<IoRequest>(&req, 1));
}

Status Device::Write(DeviceOffset offset, std::span<const std::byte> data) {
  // The device only reads a write buffer; IoRequest is shared with reads, hence the cast.
  std::span<std::byte> buf(const_cast<std::byte*>(data.data()), data.size());
  IoRequest req{offset, buf, Status::Ok()};
  return WriteV(std::span<IoRequest>(&req, 1));
}

Status Device::ReadV(std::span<IoRequest> requests) { return SubmitV(requests, false); }

Status Device::WriteV(std::span<IoRequest> requests) { return SubmitV(requests, true); }

// Validates every request, hands the valid non-empty ones to the implementation, then counts.
// The common case (all valid) passes the caller's span through without copying.
Status Device::SubmitV(std::span<IoRequest> requests, bool write) {
  std::vector<size_t> submit;  // indices of requests that go to the implementation
  submit.reserve(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    IoRequest& r = requests[i];
    r.result = CheckRange(r.offset, r.buffer.size(), r.buffer.data());
    if (!r.result.ok()) {
      stats_.invalid_requests.fetch_add(1, std::memory_order_relaxed);
    } else if (!r.buffer.empty()) {
      submit.push_back(i);
    }
  }
  if (submit.size() == requests.size()) {
    (write ? WriteVImpl(requests) : ReadVImpl(requests)).IgnoreError();
  } else if (!submit.empty()) {
    std::vector<IoRequest> valid;
    valid.reserve(submit.size());
    for (size_t i : submit) valid.push_back(IoRequest{requests[i].offset, requests[i].buffer, {}});
    (write ? WriteVImpl(valid) : ReadVImpl(valid)).IgnoreError();
    for (size_t k = 0; k < submit.size(); ++k) requests[submit[k]].result = valid[k].result;
  }
  CountResults(requests, submit, write);
  for (const IoRequest& r : requests) {
    if (!r.result.ok()) return r.result;
  }
  return Status::Ok();
}

// Counts only submitted requests: rejected ones are counted as invalid_requests, and empty
// ones are no-ops.
void Device::CountResults(std::span<const IoRequest> requests, std::span<const size_t> submitted,
                          bool write) {
  uint64_t bytes = 0, errors = 0;
  for (size_t i : submitted) {
    const IoRequest& r = requests[i];
    if (r.result.ok()) {
      bytes += r.buffer.size();
    } else {
      ++errors;
    }
  }
  auto& s = stats_;
  (write ? s.write_ops : s.read_ops).fetch_add(submitted.size(), std::memory_order_relaxed);
  (write ? s.write_bytes : s.read_bytes).fetch_add(bytes, std::memory_order_relaxed);
  (write ? s.write_errors : s.read_errors).fetch_add(errors, std::memory_order_relaxed);
}

Status Device::Discard(DeviceOffset offset, uint64_t len) {
  Status s = CheckRange(offset, len, nullptr);
  if (!s.ok()) {
    stats_.invalid_requests.fetch_add(1, std::memory_order_relaxed);
    return s;
  }
  if (len == 0) return Status::Ok();
  stats_.discard_calls.fetch_add(1, std::memory_order_relaxed);
  if (!discard_supported()) {
    stats_.discard_unsupported.fetch_add(1, std::memory_order_relaxed);
    return Status::Ok();
  }
  bool unsupported = false;
  s = DiscardImpl(offset, len, &unsupported);
  if (!s.ok()) {
    stats_.discard_errors.fetch_add(1, std::memory_order_relaxed);
  } else if (unsupported) {
    discard_supported_.store(false, std::memory_order_release);
    stats_.discard_unsupported.fetch_add(1, std::memory_order_relaxed);
  } else {
    stats_.discard_bytes.fetch_add(len, std::memory_order_relaxed);
  }
  return s;
}

DeviceStats Device::stats() const {
  auto ld = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  DeviceStats out;
  out.read_ops = ld(stats_.read_ops);
  out.read_bytes = ld(stats_.read_bytes);
  out.read_errors = ld(stats_.read_errors);
  out.write_ops = ld(stats_.write_ops);
  out.write_bytes = ld(stats_.write_bytes);
  out.write_errors = ld(stats_.write_errors);
  out.discard_calls = ld(stats_.discard_calls);
  out.discard_bytes = ld(stats_.discard_bytes);
  out.discard_errors = ld(stats_.discard_errors);
  out.discard_unsupported = ld(stats_.discard_unsupported);
  out.invalid_requests = ld(stats_.invalid_requests);
  return out;
}

}  // namespace kvstash
