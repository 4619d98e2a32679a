#include "nixl/xfer_status.h"

namespace kvstash::nixl {

std::string_view XferCodeName(XferCode code) {
  switch (code) {
    case XferCode::kInProgress:
      return "NIXL_IN_PROG";
    case XferCode::kSuccess:
      return "NIXL_SUCCESS";
    case XferCode::kInvalidParam:
      return "NIXL_ERR_INVALID_PARAM";
    case XferCode::kBackend:
      return "NIXL_ERR_BACKEND";
    case XferCode::kNotFound:
      return "NIXL_ERR_NOT_FOUND";
    case XferCode::kMismatch:
      return "NIXL_ERR_MISMATCH";
    case XferCode::kNotAllowed:
      return "NIXL_ERR_NOT_ALLOWED";
    case XferCode::kNotSupported:
      return "NIXL_ERR_NOT_SUPPORTED";
  }
  return "NIXL_ERR_UNKNOWN";
}

XferCode ToXferCode(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk:
      return XferCode::kSuccess;
    case StatusCode::kNotFound:
      return XferCode::kNotFound;
    case StatusCode::kInvalidArgument:
      return XferCode::kInvalidParam;
    case StatusCode::kPermissionDenied:
    case StatusCode::kAlreadyExists:
      return XferCode::kNotAllowed;
    case StatusCode::kBusy:
    case StatusCode::kResourceExhausted:
    case StatusCode::kDataLoss:
    case StatusCode::kIOError:
    case StatusCode::kUnavailable:
    case StatusCode::kLeaseExpired:
    case StatusCode::kTimeout:
    case StatusCode::kInternal:
      return XferCode::kBackend;
  }
  return XferCode::kBackend;
}

}  // namespace kvstash::nixl
