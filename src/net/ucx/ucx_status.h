// The one place where ucs_status_t becomes a kvstash Status.
#ifndef KVSTASH_NET_UCX_STATUS_H_
#define KVSTASH_NET_UCX_STATUS_H_

#include <ucs/type/status.h>

#include <string_view>

#include "kvstash/status.h"

namespace kvstash::net {

// `context` names the failed call, e.g. "ucp_ep_create". Peer/connection failures map to
// Unavailable, timeouts to Timeout, exhausted resources to ResourceExhausted, bad parameters
// to InvalidArgument, the rest to Internal.
Status UcsToStatus(ucs_status_t s, std::string_view context);

}  // namespace kvstash::net

#endif  // KVSTASH_NET_UCX_STATUS_H_
