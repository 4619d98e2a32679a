// Loopback TCP bandwidth probe: the physical limit of the UCX tcp transport on one host,
// measured in the same run as the kvstash figures it is compared with.
//
// A listener on 127.0.0.1:<ephemeral>, one connected socket pair, a sender thread writing
// `write_bytes` chunks for `seconds` and the calling thread reading them. Default socket
// buffers (what UCX's tcp transport gets too); TCP_NODELAY on both ends.
//
// Thread safety: reentrant; each call owns its sockets and its one sender thread.
#ifndef KVSTASH_TOOLS_BENCH_TCP_PROBE_H_
#define KVSTASH_TOOLS_BENCH_TCP_PROBE_H_

#include <cstdint>

#include "kvstash/status.h"

namespace kvstash {

struct TcpProbeResult {
  uint64_t write_bytes = 0;  // size of each write() call
  uint64_t bytes = 0;        // received
  double seconds = 0;
  double gbps() const { return seconds > 0 ? static_cast<double>(bytes) / seconds / 1e9 : 0; }
};

// Errors: the socket call that failed (errno mapped), or Internal when nothing arrived.
Result<TcpProbeResult> ProbeLoopbackTcp(uint64_t write_bytes = 4ull << 20, double seconds = 0.5);

}  // namespace kvstash

#endif  // KVSTASH_TOOLS_BENCH_TCP_PROBE_H_
