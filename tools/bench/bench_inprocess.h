// An in-process kvstash server for `kvstash bench kv --in-process`: a DRAM-only BlockStore
// served by net/Server on 127.0.0.1:<ephemeral>, in the benchmark's own process.
//
// Why: with UCX 1.13, shared-memory lanes (UCX_TLS=sm) are only used between endpoints
// created without peer-failure detection (client.h, PeerFailureDetection::kOff), and
// kvstashd always enables it. In process, both ends run with it off when UCX_TLS asks for
// shared memory, so "sm" measures shared memory and not a silent TCP fallback.
//
// Thread safety: owned by one thread; the server runs its own worker threads.
#ifndef KVSTASH_TOOLS_BENCH_INPROCESS_H_
#define KVSTASH_TOOLS_BENCH_INPROCESS_H_

#include <cstdint>
#include <memory>
#include <string>

#include "kvstash/client.h"
#include "kvstash/status.h"

namespace kvstash {

class BlockStore;
class Server;

// True when $UCX_TLS names a shared-memory transport (sm, posix, sysv, cma, knem, xpmem).
bool TransportWantsSharedMemory();

class InProcessServer {
 public:
  // Creates a DRAM-only store of `dram_bytes` (64 MiB regions, or 8 MiB when smaller than
  // 256 MiB) and starts a server with `workers` threads. Errors: from BlockStore/Server.
  static Result<std::unique_ptr<InProcessServer>> Start(uint64_t dram_bytes, uint32_t workers);
  ~InProcessServer();

  // Client options that reach this server (peer-failure detection matching the server's).
  ClientOptions client_options() const;
  std::string address() const;

 private:
  InProcessServer() = default;
  std::unique_ptr<BlockStore> store_;
  std::unique_ptr<Server> server_;
  bool shm_ = false;
};

}  // namespace kvstash

#endif  // KVSTASH_TOOLS_BENCH_INPROCESS_H_
