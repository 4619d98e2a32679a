// The request stream of `kvstash bench reuse` (bench_reuse.h): multi-turn conversations with
// a controlled reuse probability. Pure and seeded, so tests can check its statistics.
//
// Next() returns the block ids of one request in prefix order. With probability `rate` (and
// once a conversation exists) it is a follow-up turn: a conversation chosen uniformly among
// all earlier ones, its existing blocks followed by `turn_blocks` new ids (the conversation
// grows, up to `max_blocks`; a full conversation is re-read as is). Otherwise a new
// conversation of `first_blocks` new ids. Ids are unique per new block.
//
// Thread safety: single-threaded.
#ifndef KVSTASH_TOOLS_BENCH_REUSE_WORKLOAD_H_
#define KVSTASH_TOOLS_BENCH_REUSE_WORKLOAD_H_

#include <cstdint>
#include <random>
#include <vector>

namespace kvstash {

class ReuseWorkload {
 public:
  // REQUIRES: rate in [0, 1], 1 <= first_blocks <= max_blocks.
  ReuseWorkload(double rate, uint32_t first_blocks, uint32_t turn_blocks, uint32_t max_blocks,
                uint64_t seed)
      : rate_(rate), first_(first_blocks), turn_(turn_blocks), max_(max_blocks), rng_(seed) {}

  struct Request {
    std::vector<uint64_t> blocks;  // prefix order
    size_t reused = 0;             // leading blocks that were written by earlier requests
  };
  Request Next();

  uint64_t conversations() const { return conversations_.size(); }

 private:
  double rate_;
  uint32_t first_, turn_, max_;
  std::mt19937_64 rng_;
  uint64_t next_id_ = 0;
  std::vector<std::vector<uint64_t>> conversations_;
};

}  // namespace kvstash

#endif  // KVSTASH_TOOLS_BENCH_REUSE_WORKLOAD_H_
