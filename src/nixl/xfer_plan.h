// XferPlan: one NIXL transfer request translated into one batched kvstash client call.
//
// NIXL hands the backend two descriptor lists of equal length: local memory (DRAM_SEG, or
// VRAM_SEG in a CUDA build) and remote OBJ_SEG descriptors whose registration carries the
// object key. Descriptor i moves `len` bytes between local address i and the whole block
// under key i:
//   WRITE  local bytes -> Put(key)       (one PutBatch for the request)
//   READ   Get(key)    -> local bytes    (one GetBatch for the request)
// A kvstash block is written and read whole, so a remote descriptor's addr (the object
// offset) must be 0; anything else is NotSupported rather than a silent partial transfer.
//
// The plan owns copies of the keys, so the registrations may go away while a request runs.
// Summarize*() turn the per-item results of the batch call into the request's one status:
// the status of the FIRST failing descriptor in list order (docs/NIXL.md, "Partial failure").
//
// This file needs no NIXL header (unit-tested without NIXL).
// Thread safety: an XferPlan is immutable after Build(); share it read-only.
#ifndef KVSTASH_NIXL_XFER_PLAN_H_
#define KVSTASH_NIXL_XFER_PLAN_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kvstash/client.h"
#include "kvstash/status.h"
#include "nixl/xfer_status.h"

namespace kvstash::nixl {

enum class XferOp { kRead, kWrite };
enum class MemKind { kDram, kVram, kObject, kOther };

// The object side of a registration (what the backend returns as OBJ_SEG metadata).
struct ObjectTarget {
  std::string key;
  uint64_t registered_len = 0;  // the registration's len; 0 = unbounded
};

// One local/remote descriptor pair as NIXL gives it.
struct XferDesc {
  uintptr_t local_addr = 0;
  size_t len = 0;
  uint64_t remote_offset = 0;            // the remote descriptor's addr
  const ObjectTarget* target = nullptr;  // null: the remote is not one of our registrations
};

// The key an OBJ_SEG registration names: `meta_info` if not empty, else decimal `dev_id`
// (the OBJ plugin's rule). Errors: InvalidArgument when longer than 256 bytes.
Result<std::string> ObjectKeyFor(std::string_view meta_info, uint64_t dev_id);

// The request's one outcome, plus which descriptor decided it (for the log line).
struct XferOutcome {
  XferCode code = XferCode::kSuccess;
  size_t failed_index = 0;  // meaningful when code != kSuccess and per_item is true
  bool per_item = false;    // false: the whole call failed (no descriptor to blame)
  std::string message;
};

class XferPlan {
 public:
  // What the backend cannot do at all, checked before Build(): kNotSupported for a memory
  // kind other than DRAM (VRAM when `vram_ok`) -> OBJ, or a nonzero object offset;
  // kInvalidParam for anything else Build() would refuse. kSuccess when Build() will succeed.
  static XferOutcome Check(XferOp op, MemKind local, MemKind remote,
                           std::span<const XferDesc> descs, bool vram_ok);

  // Translates descriptors that passed Check(). Errors: InvalidArgument (what Check()
  // reports as kInvalidParam or kNotSupported); nothing has been sent.
  static Result<XferPlan> Build(XferOp op, MemKind local, MemKind remote,
                                std::span<const XferDesc> descs, bool vram_ok);

  XferOp op() const { return op_; }
  size_t size() const { return keys_.size(); }
  uint64_t total_bytes() const { return total_bytes_; }
  const std::vector<PutItem>& puts() const { return puts_; }  // WRITE only
  const std::vector<GetItem>& gets() const { return gets_; }  // READ only

  // READ: every item must have hit and filled exactly its descriptor (a shorter block would
  // leave stale bytes in the destination: kMismatch).
  XferOutcome SummarizeGets(const Result<std::vector<Result<size_t>>>& results) const;
  // WRITE: AlreadyExists counts as success only when `existing_ok`.
  XferOutcome SummarizePuts(const Result<std::vector<Status>>& results, bool existing_ok) const;

 private:
  XferPlan() = default;
  XferOp op_ = XferOp::kRead;
  std::vector<std::string> keys_;
  std::vector<PutItem> puts_;
  std::vector<GetItem> gets_;
  uint64_t total_bytes_ = 0;
};

}  // namespace kvstash::nixl

#endif  // KVSTASH_NIXL_XFER_PLAN_H_
