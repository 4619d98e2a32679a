// Mooncake-format prefix-reuse traces (bench/traces/README.md) and the LRU reference a
// trace replay is judged against.
//
// One JSON object per line: {"timestamp": ms, "input_length": tokens, "output_length": tokens,
// "hash_ids": [..]}. Each hash id names one 512-token block and covers its whole prefix, so
// two requests sharing ids share that prefix.
//
// LruCache replays block references against an LRU of a fixed number of equal-sized blocks,
// the classic baseline: kvstash's hit ratio on the same trace with the same total capacity
// (DRAM + flash) should be at least this.
//
// Thread safety: value types and pure functions; an LruCache is single-threaded.
#ifndef KVSTASH_TOOLS_BENCH_TRACE_FILE_H_
#define KVSTASH_TOOLS_BENCH_TRACE_FILE_H_

#include <cstdint>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "kvstash/status.h"

namespace kvstash {

constexpr uint64_t kTraceBlockTokens = 512;

struct TraceRequest {
  int64_t timestamp_ms = 0;
  uint64_t input_length = 0;
  uint64_t output_length = 0;
  std::vector<uint64_t> hash_ids;
};

// Parses one line. InvalidArgument naming the missing or mistyped field.
Result<TraceRequest> ParseTraceLine(std::string_view line);
// Loads up to `max_requests` requests (0 = all) in file order, skipping blank lines.
// Errors: NotFound/IOError opening the file, InvalidArgument "FILE:LINE: ..." for a bad line.
Result<std::vector<TraceRequest>> LoadTrace(const std::string& path, size_t max_requests = 0);

// An LRU set of block ids holding at most `capacity` blocks.
class LruCache {
 public:
  explicit LruCache(uint64_t capacity) : capacity_(capacity) {}
  // True on a hit (the id becomes most recent); on a miss the id is inserted, evicting the
  // least recently used one when full. A zero-capacity cache always misses.
  bool Access(uint64_t id);
  bool Contains(uint64_t id) const { return map_.count(id) != 0; }
  uint64_t size() const { return map_.size(); }

 private:
  uint64_t capacity_;
  std::list<uint64_t> order_;  // front = most recent
  std::unordered_map<uint64_t, std::list<uint64_t>::iterator> map_;
};

struct TraceHitRatios {
  uint64_t references = 0;   // block references
  uint64_t block_hits = 0;   // references whose block was cached
  uint64_t prefix_hits = 0;  // references inside each request's leading run of cached blocks
  uint64_t unique_blocks = 0;
  double block_hit_ratio() const { return references ? double(block_hits) / references : 0; }
  double prefix_hit_ratio() const { return references ? double(prefix_hits) / references : 0; }
};

// Replays `requests` in order through an LRU of `capacity_blocks` (each request: look every
// block up, then every block is accessed, i.e. inserted or refreshed).
TraceHitRatios SimulateLru(const std::vector<TraceRequest>& requests, uint64_t capacity_blocks);

}  // namespace kvstash

#endif  // KVSTASH_TOOLS_BENCH_TRACE_FILE_H_
