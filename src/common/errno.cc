#include "common/errno.h"

#include <cerrno>
#include <cstring>
#include <string>

namespace kvstash {

Status ErrnoToStatus(int err, std::string_view context) {
  std::string msg(context);
  msg += ": ";
  msg += std::strerror(err);
  switch (err) {
    case ENOENT:
      return Status::NotFound(std::move(msg));
    case EEXIST:
      return Status::AlreadyExists(std::move(msg));
    case EBUSY:
    case EAGAIN:
      return Status::Busy(std::move(msg));
    case ENOSPC:
    case ENOMEM:
    case EDQUOT:
    case EMFILE:
    case ENFILE:
      return Status::ResourceExhausted(std::move(msg));
    case EINVAL:
    case ENAMETOOLONG:
    case EFBIG:
      return Status::InvalidArgument(std::move(msg));
    case EACCES:
    case EPERM:
    case EROFS:
      return Status::PermissionDenied(std::move(msg));
    case ETIMEDOUT:
      return Status::Timeout(std::move(msg));
    case ECONNREFUSED:
    case ECONNRESET:
    case EPIPE:
    case ENOTCONN:
    case ESHUTDOWN:
      return Status::Unavailable(std::move(msg));
    case EBADMSG:
    case EUCLEAN:
      return Status::DataLoss(std::move(msg));
    default:
      return Status::IOError(std::move(msg));
  }
}

}  // namespace kvstash
