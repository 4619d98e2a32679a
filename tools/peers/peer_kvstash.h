// The kvstash side of `kvstash-peers`: a kvstash node in a separate process on loopback, driven
// by the libkvstash client exactly as an inference engine would (registered buffers, PutBatch /
// GetBatch).
//
// The node is this same binary re-executed in "serve" mode (RunKvstashServeMode): a BlockStore
// (DRAM arena, optional flash file, admission "all") behind a net::Server. We do not use the
// kvstashd binary because the shared-memory transport needs endpoints without peer-failure
// mode (UCX 1.13 excludes sysv/posix from them, see src/net/tests/CMakeLists.txt) and kvstashd has
// no flag for that; everything else (engine, server, client) is the production code.
//
// Transports: "sm" runs both sides with UCX_TLS=sm,self,tcp and peer-failure detection off
// (payload and control over shared memory / CMA; tcp only carries the connection handshake);
// "tcp" runs both with UCX_TLS=tcp (loopback TCP, peer-failure mode on, as across hosts).
//
// Thread safety: KvstashPeer is driven from one thread (PeerStore contract).
#ifndef KVSTASH_TOOLS_PEER_KVSTASH_H_
#define KVSTASH_TOOLS_PEER_KVSTASH_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kvstash/client.h"
#include "tools/peers/peer_process.h"
#include "tools/peers/peer_workload.h"

namespace kvstash {

struct KvstashNodeOptions {
  std::string transport = "sm";  // "sm" | "tcp"
  uint64_t dram_bytes = 1ull << 30;
  uint64_t region_bytes = 64ull << 20;
  std::string flash_path;  // empty: DRAM only
  uint64_t flash_bytes = 0;
  uint32_t workers = 1;
  // Touch every arena page before serving (as a long-running node's arena is): the first-touch
  // page faults (zeroing, THP) are then not charged to the benchmark's first puts.
  bool prefault = true;
  // Arena in shared memory from UCX (net/server/shared_arenas.h): a client on this host puts with
  // one memcpy. false: a private arena, every put a UCX put (software-emulated over sm in 1.13).
  bool shared_arena = true;
  bool send_checksums = true;  // client sends XXH3-64 of each value; the server verifies
  ClientOptions::Transfer transfer = ClientOptions::Transfer::kAuto;
};

// The environment a side needs for `transport` ("UCX_TLS=...").
std::string UcxTlsFor(const std::string& transport);

// Entry point of `kvstash-peers --serve ...` (argv after "--serve"): starts the node on
// 127.0.0.1 port 0, prints "READY <port>" on stdout, serves until SIGTERM/SIGINT, exits 0.
// Returns the process exit code (1: startup failed, 2: bad arguments).
int RunKvstashServeMode(int argc, char** argv);

class KvstashPeer : public PeerStore {
 public:
  // Spawns `self_exe --serve ...` with `options`, waits for READY (10 s), connects. The node
  // log goes to `log_path`. Errors: the node's startup failure (with its log) or Connect's.
  static Result<std::unique_ptr<KvstashPeer>> Start(const std::string& self_exe,
                                                    const KvstashNodeOptions& options,
                                                    const std::string& log_path);
  ~KvstashPeer() override;

  Status Prepare(const BlockSet& set) override;
  Status PutBlocks(const BlockSet& set, std::span<const uint32_t> ids) override;
  Status GetBlocks(const BlockSet& set, std::span<const uint32_t> ids, std::byte* dest) override;
  Status Clear(const BlockSet& set) override;
  Result<std::byte*> DestBuffer(uint64_t bytes) override;
  // Bytes served from DRAM and from flash since the last Prepare().
  std::string Note() override;
  // Unregisters the set's memory (it is about to be freed).
  void Release(const BlockSet& set) override;

  // Server and store counters (Client::Stats).
  Result<std::map<std::string, uint64_t>> Stats() { return client_->Stats(); }

 private:
  KvstashPeer() = default;
  KvstashNodeOptions options_;
  ChildProcess node_;
  std::unique_ptr<Client> client_;
  BufferHandle set_handle_;
  const BlockSet* registered_set_ = nullptr;
  std::vector<BufferHandle> dest_handles_;
  std::map<std::string, uint64_t> stats_at_prepare_;
  std::vector<PutItem> put_items_;
  std::vector<GetItem> get_items_;
  uint64_t put_retries_ = 0;  // since the last Note()
};

}  // namespace kvstash

#endif  // KVSTASH_TOOLS_PEER_KVSTASH_H_
