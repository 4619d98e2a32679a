// XferCode: the NIXL-free mirror of nixl_status_t, and the ONE place where kvstash statuses
// become NIXL statuses (docs/NIXL.md, "Status mapping").
//
// The numeric values equal NIXL's nixl_status_t (nixl_types.h); kvstash_backend.cc
// static_asserts that, so the adapter converts with a cast and nothing else.
//
// Thread safety: pure functions.
#ifndef KVSTASH_NIXL_XFER_STATUS_H_
#define KVSTASH_NIXL_XFER_STATUS_H_

#include <string_view>

#include "kvstash/status.h"

namespace kvstash::nixl {

enum class XferCode : int {
  kInProgress = 1,     // NIXL_IN_PROG
  kSuccess = 0,        // NIXL_SUCCESS
  kInvalidParam = -2,  // NIXL_ERR_INVALID_PARAM
  kBackend = -3,       // NIXL_ERR_BACKEND
  kNotFound = -4,      // NIXL_ERR_NOT_FOUND
  kMismatch = -5,      // NIXL_ERR_MISMATCH
  kNotAllowed = -6,    // NIXL_ERR_NOT_ALLOWED
  kNotSupported = -9,  // NIXL_ERR_NOT_SUPPORTED
};

// Short name, e.g. "NIXL_ERR_NOT_FOUND".
std::string_view XferCodeName(XferCode code);

// Maps a kvstash status to the NIXL status a caller sees:
//   Ok -> kSuccess; NotFound -> kNotFound; InvalidArgument -> kInvalidParam;
//   PermissionDenied -> kNotAllowed; AlreadyExists -> kNotAllowed (on_existing=error);
//   everything else (Unavailable, Timeout, Busy, ResourceExhausted, LeaseExpired, IOError,
//   DataLoss, Internal) -> kBackend.
// Unavailable is deliberately NOT NIXL_ERR_REMOTE_DISCONNECT: for a local-only backend the
// "remote" is the agent itself, and the agent would invalidate its own metadata.
XferCode ToXferCode(const Status& status);

}  // namespace kvstash::nixl

#endif  // KVSTASH_NIXL_XFER_STATUS_H_
