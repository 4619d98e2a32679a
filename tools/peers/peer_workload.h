// The workload every peer of `kvstash-peers` runs: the same blocks (same sizes, count, bytes
// and keys), the same batch depth and the same get order, so that kvstash and its peers are
// compared side by side in one run on one machine.
//
// A BlockSet owns `count` blocks of `block_bytes` in one 4 KiB-aligned allocation (usable as
// an O_DIRECT source and registrable once with UCX). Block i holds a pseudo-random pattern
// derived from (seed, block_bytes, i), so a get that returns another block's bytes, a stale
// block or a torn block fails Matches().
//
// PeerStore is the seam each peer implements (kvstash, Redis, the file-per-block store);
// RunPeer() drives it through put, timed gets, single-block get latency and a content
// verification pass, and returns the figures with their conditions.
//
// Thread safety: a BlockSet is immutable after Create (readable from any thread). A PeerStore
// is driven from one thread.
#ifndef KVSTASH_TOOLS_PEER_WORKLOAD_H_
#define KVSTASH_TOOLS_PEER_WORKLOAD_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "kvstash/status.h"

namespace kvstash {

class BlockSet {
 public:
  // Errors: InvalidArgument (zero size/count), ResourceExhausted (allocation failed).
  static Result<std::unique_ptr<BlockSet>> Create(uint64_t block_bytes, uint32_t count,
                                                  uint64_t seed);
  ~BlockSet();
  BlockSet(const BlockSet&) = delete;
  BlockSet& operator=(const BlockSet&) = delete;

  uint64_t block_bytes() const { return block_bytes_; }
  uint32_t count() const { return count_; }
  std::byte* base() const { return base_; }
  uint64_t total_bytes() const { return block_bytes_ * count_; }
  std::span<const std::byte> block(uint32_t i) const;
  const std::string& key(uint32_t i) const { return keys_[i]; }
  // True when `got` is exactly block i's bytes.
  bool Matches(uint32_t i, std::span<const std::byte> got) const;

 private:
  BlockSet() = default;
  uint64_t block_bytes_ = 0;
  uint32_t count_ = 0;
  std::byte* base_ = nullptr;
  std::vector<std::string> keys_;
};

// A 4 KiB-aligned, zeroed buffer (O_DIRECT destination; freed with FreeAligned).
std::byte* AllocAligned(uint64_t bytes);
void FreeAligned(std::byte* p);

struct PeerLatency {
  double p50_us = 0, p99_us = 0, p999_us = 0, max_us = 0, mean_us = 0;
  uint64_t samples = 0;
};
// Nearest-rank percentiles (sorts `nanos`).
PeerLatency SummarizeNanos(std::vector<uint64_t>* nanos);

// One measured operation: `blocks` blocks moved in `requests` calls of `depth` blocks each.
struct OpResult {
  std::string op;  // "put", "get" (depth-batched), "get_qd1" (one block per call)
  uint32_t depth = 1;
  uint64_t blocks = 0;
  uint64_t bytes = 0;
  double seconds = 0;
  PeerLatency latency;  // per call (a call carries `depth` blocks)
  double gbps() const { return seconds > 0 ? static_cast<double>(bytes) / seconds / 1e9 : 0; }
};

// The figures of one peer (or kvstash configuration) for one block size.
struct PeerRun {
  std::string peer;       // "kvstash", "redis", "filestore", "mooncake"
  std::string transport;  // "ucx-sm", "ucx-tcp", "unix", "tcp", "odirect", ...
  std::string tier;       // "dram" or "flash"
  uint64_t block_bytes = 0;
  uint32_t count = 0;
  std::vector<OpResult> ops;
  uint64_t verified_blocks = 0;  // gets whose bytes were compared with what was put
  uint64_t mismatched_blocks = 0;
  std::string note;  // conditions specific to this peer (e.g. flash fraction)
  double load1 = 0;  // 1-minute load average when the run started (other work on the box)
  const OpResult* Find(const std::string& op) const;
};

// What a peer must do. Each call is one batched request / pipeline of `ids.size()` blocks.
class PeerStore {
 public:
  virtual ~PeerStore() = default;
  // Called once per BlockSet before any put (e.g. register the set's memory).
  virtual Status Prepare(const BlockSet& set) = 0;
  virtual Status PutBlocks(const BlockSet& set, std::span<const uint32_t> ids) = 0;
  // Block ids[k] lands in dest[k*block_bytes, (k+1)*block_bytes). dest is 4 KiB-aligned,
  // comes from DestBuffer() and holds ids.size() blocks.
  virtual Status GetBlocks(const BlockSet& set, std::span<const uint32_t> ids, std::byte* dest) = 0;
  // Removes the set's keys (so the next size starts from an empty store).
  virtual Status Clear(const BlockSet& set) = 0;
  // A destination of `bytes` owned by the store (registered where the peer needs it).
  virtual Result<std::byte*> DestBuffer(uint64_t bytes) = 0;
  // Extra conditions to record (called after the gets).
  virtual std::string Note() { return ""; }
  // The set is about to be freed: drop anything that refers to its memory (registrations).
  virtual void Release(const BlockSet& set) { (void)set; }
};

struct RunOptions {
  uint32_t depth = 8;          // blocks per batched call (put and get)
  uint32_t get_rounds = 2;     // timed passes over `get_ids`
  uint32_t qd1_samples = 200;  // single-block gets timed one by one (0: skip)
  bool put = true;             // false: the blocks are already there
  // Put every block once and clear, untimed, before the timed put: the server's memory is then
  // in the state of a long-running node (allocator pages faulted in), for every peer alike.
  bool warmup = false;
  bool clear = true;              // delete the keys at the end
  std::vector<uint32_t> get_ids;  // empty: every block, shuffled with a fixed seed
  // > 0: print each call slower than this to stderr (op, call index, ms): where the tail is.
  double trace_slow_ms = 0;
};

// [warm-up put + clear], put (unless !put), `get_rounds` timed get passes at `depth`, `qd1_samples`
// single gets, then one untimed get of every id in get_ids compared byte for byte. Errors: the
// first failed call (a mismatch is not an error: it is counted in mismatched_blocks).
Result<PeerRun> RunPeer(PeerStore& store, const BlockSet& set, const RunOptions& options);

}  // namespace kvstash

#endif  // KVSTASH_TOOLS_PEER_WORKLOAD_H_
