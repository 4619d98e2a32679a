#include "net/ucx/ucx_status.h"

#include <fmt/format.h>

namespace kvstash::net {

Status UcsToStatus(ucs_status_t s, std::string_view context) {
  if (s == UCS_OK || s == UCS_INPROGRESS) return Status::Ok();
  std::string msg = fmt::format("{}: {}", context, ucs_status_string(s));
  switch (s) {
    case UCS_ERR_UNREACHABLE:
    case UCS_ERR_CONNECTION_RESET:
    case UCS_ERR_ENDPOINT_TIMEOUT:
    case UCS_ERR_REJECTED:
    case UCS_ERR_NOT_CONNECTED:
    case UCS_ERR_CANCELED:
    case UCS_ERR_IO_ERROR:
    case UCS_ERR_BUSY:
    case UCS_ERR_NO_DEVICE:
    case UCS_ERR_NO_RESOURCE:
      return Status::Unavailable(std::move(msg));
    case UCS_ERR_TIMED_OUT:
      return Status::Timeout(std::move(msg));
    case UCS_ERR_NO_MEMORY:
    case UCS_ERR_EXCEEDS_LIMIT:
    case UCS_ERR_OUT_OF_RANGE:
      return Status::ResourceExhausted(std::move(msg));
    case UCS_ERR_INVALID_PARAM:
    case UCS_ERR_INVALID_ADDR:
    case UCS_ERR_UNSUPPORTED:
    case UCS_ERR_MESSAGE_TRUNCATED:
      return Status::InvalidArgument(std::move(msg));
    case UCS_ERR_ALREADY_EXISTS:
      return Status::AlreadyExists(std::move(msg));
    case UCS_ERR_NO_ELEM:
      return Status::NotFound(std::move(msg));
    default:
      return Status::Internal(std::move(msg));
  }
}

}  // namespace kvstash::net
