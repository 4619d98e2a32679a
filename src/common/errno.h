// The one place where errno values become Status codes.
#ifndef KVSTASH_COMMON_ERRNO_H_
#define KVSTASH_COMMON_ERRNO_H_

#include <string_view>

#include "kvstash/status.h"

namespace kvstash {

// `err` is a positive errno value (io_uring completions carry -errno: negate first).
// `context` names the failed operation, e.g. "pwrite /dev/nvme0n1".
Status ErrnoToStatus(int err, std::string_view context);

}  // namespace kvstash

#endif  // KVSTASH_COMMON_ERRNO_H_
