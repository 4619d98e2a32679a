// Redis as a peer of `kvstash-peers`: a Debian redis-server started by the benchmark itself
// (loopback only, a temporary directory, no persistence, maxmemory large enough, noeviction)
// and a hiredis client issuing pipelined SET/GET of the same blocks, over the Unix socket (its
// fastest local transport) or loopback TCP.
//
// A get pipeline of `depth` GETs is one PeerStore call: all commands are appended, flushed,
// then the replies read; each reply's bytes are copied into the caller's destination (a
// hiredis reply is its own allocation: that copy is part of Redis's cost for a caller that
// needs the block in its buffer, as an inference engine does).
//
// Thread safety: driven from one thread (PeerStore contract).
#ifndef KVSTASH_TOOLS_PEER_REDIS_H_
#define KVSTASH_TOOLS_PEER_REDIS_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tools/peers/peer_process.h"
#include "tools/peers/peer_workload.h"

struct redisContext;

namespace kvstash {

// One redis-server process (stopped by the destructor).
class RedisServer {
 public:
  // Starts `redis_server` (path or name in $PATH) with its data dir and socket under `dir`,
  // TCP on a free 127.0.0.1 port. Waits until it answers PING (10 s). Errors: NotFound (not
  // installed), Unavailable (did not start; the log tail is in the message).
  static Result<std::unique_ptr<RedisServer>> Start(const std::string& redis_server,
                                                    const std::string& dir,
                                                    uint64_t maxmemory_bytes);
  uint16_t port() const { return port_; }
  const std::string& socket_path() const { return socket_; }
  std::string version() const { return version_; }

 private:
  ChildProcess process_;
  uint16_t port_ = 0;
  std::string socket_;
  std::string version_;
};

class RedisPeer : public PeerStore {
 public:
  // transport "unix" or "tcp". Errors: Unavailable (cannot connect).
  static Result<std::unique_ptr<RedisPeer>> Connect(const RedisServer& server,
                                                    const std::string& transport);
  ~RedisPeer() override;

  Status Prepare(const BlockSet& set) override;
  Status PutBlocks(const BlockSet& set, std::span<const uint32_t> ids) override;
  Status GetBlocks(const BlockSet& set, std::span<const uint32_t> ids, std::byte* dest) override;
  Status Clear(const BlockSet& set) override;
  Result<std::byte*> DestBuffer(uint64_t bytes) override;

 private:
  RedisPeer() = default;
  redisContext* ctx_ = nullptr;
  std::byte* dest_ = nullptr;
  uint64_t dest_bytes_ = 0;
};

}  // namespace kvstash

#endif  // KVSTASH_TOOLS_PEER_REDIS_H_
