#include "nixl/xfer_plan.h"

#include <cstddef>

namespace kvstash::nixl {
namespace {

constexpr size_t kMaxKeyBytes = 256;

XferOutcome Fail(XferCode code, std::string message, size_t index) {
  return XferOutcome{code, index, true, std::move(message)};
}

bool LocalKindOk(MemKind local, bool vram_ok) {
  return local == MemKind::kDram || (local == MemKind::kVram && vram_ok);
}

// Per-descriptor checks shared by Check() and Build().
XferOutcome CheckDesc(const XferDesc& d, size_t i) {
  if (d.target == nullptr) {
    return Fail(XferCode::kInvalidParam,
                "remote descriptor " + std::to_string(i) + " is not a KVSTASH OBJ registration", i);
  }
  if (d.len == 0) {
    return Fail(XferCode::kInvalidParam, "descriptor " + std::to_string(i) + " has len 0", i);
  }
  if (d.remote_offset != 0) {
    return Fail(XferCode::kNotSupported,
                "descriptor " + std::to_string(i) + ": object offset " +
                    std::to_string(d.remote_offset) + " (kvstash blocks move whole; use addr 0)",
                i);
  }
  if (d.local_addr == 0) {
    return Fail(XferCode::kInvalidParam, "descriptor " + std::to_string(i) + ": null address", i);
  }
  return {};
}

}  // namespace

Result<std::string> ObjectKeyFor(std::string_view meta_info, uint64_t dev_id) {
  std::string key = meta_info.empty() ? std::to_string(dev_id) : std::string(meta_info);
  if (key.size() > kMaxKeyBytes) {
    return Status::InvalidArgument("object key of " + std::to_string(key.size()) +
                                   " bytes (max 256)");
  }
  return key;
}

XferOutcome XferPlan::Check(XferOp op, MemKind local, MemKind remote,
                            std::span<const XferDesc> descs, bool vram_ok) {
  if (op != XferOp::kRead && op != XferOp::kWrite) {
    return {XferCode::kInvalidParam, 0, false, "unknown transfer operation"};
  }
  if (!LocalKindOk(local, vram_ok) || remote != MemKind::kObject) {
    return {XferCode::kNotSupported, 0, false,
            vram_ok ? "KVSTASH moves DRAM_SEG/VRAM_SEG <-> OBJ_SEG only"
                    : "KVSTASH moves DRAM_SEG <-> OBJ_SEG only (built without CUDA)"};
  }
  if (descs.empty()) return {XferCode::kInvalidParam, 0, false, "empty descriptor list"};
  for (size_t i = 0; i < descs.size(); ++i) {
    XferOutcome o = CheckDesc(descs[i], i);
    if (o.code != XferCode::kSuccess) return o;
  }
  return {};
}

Result<XferPlan> XferPlan::Build(XferOp op, MemKind local, MemKind remote,
                                 std::span<const XferDesc> descs, bool vram_ok) {
  XferOutcome checked = Check(op, local, remote, descs, vram_ok);
  if (checked.code != XferCode::kSuccess) return Status::InvalidArgument(checked.message);
  XferPlan plan;
  plan.op_ = op;
  plan.keys_.reserve(descs.size());
  for (const XferDesc& d : descs) plan.keys_.push_back(d.target->key);
  // Views into keys_ are taken only now: keys_ never reallocates again.
  for (size_t i = 0; i < descs.size(); ++i) {
    auto* p = reinterpret_cast<std::byte*>(descs[i].local_addr);
    if (op == XferOp::kWrite) {
      plan.puts_.push_back(PutItem{plan.keys_[i], std::span<const std::byte>(p, descs[i].len)});
    } else {
      plan.gets_.push_back(GetItem{plan.keys_[i], std::span<std::byte>(p, descs[i].len)});
    }
    plan.total_bytes_ += descs[i].len;
  }
  return plan;
}

XferOutcome XferPlan::SummarizeGets(const Result<std::vector<Result<size_t>>>& results) const {
  if (!results.ok()) return {ToXferCode(results.status()), 0, false, results.status().ToString()};
  if (results->size() != gets_.size()) {
    return {XferCode::kBackend, 0, false, "client returned a result count unlike the request"};
  }
  for (size_t i = 0; i < gets_.size(); ++i) {
    const Result<size_t>& r = (*results)[i];
    if (!r.ok()) return Fail(ToXferCode(r.status()), r.status().ToString(), i);
    if (*r != gets_[i].dest.size()) {
      return Fail(XferCode::kMismatch,
                  "block of " + std::to_string(*r) + " bytes for a descriptor of " +
                      std::to_string(gets_[i].dest.size()),
                  i);
    }
  }
  return {};
}

XferOutcome XferPlan::SummarizePuts(const Result<std::vector<Status>>& results,
                                    bool existing_ok) const {
  if (!results.ok()) return {ToXferCode(results.status()), 0, false, results.status().ToString()};
  if (results->size() != puts_.size()) {
    return {XferCode::kBackend, 0, false, "client returned a result count unlike the request"};
  }
  for (size_t i = 0; i < puts_.size(); ++i) {
    const Status& s = (*results)[i];
    if (s.ok() || (existing_ok && s.Is(StatusCode::kAlreadyExists))) continue;
    return Fail(ToXferCode(s), s.ToString(), i);
  }
  return {};
}

}  // namespace kvstash::nixl
