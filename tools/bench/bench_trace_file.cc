#include "tools/bench/bench_trace_file.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <unordered_set>

namespace kvstash {
namespace {

Result<uint64_t> UnsignedField(const nlohmann::json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_number_unsigned()) {
    return Status::InvalidArgument(std::string("field '") + name + "' missing or not unsigned");
  }
  return it->get<uint64_t>();
}

}  // namespace

Result<TraceRequest> ParseTraceLine(std::string_view line) {
  nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Status::InvalidArgument("not a JSON object");
  TraceRequest r;
  auto ts = j.find("timestamp");
  if (ts == j.end() || !ts->is_number()) {
    return Status::InvalidArgument("field 'timestamp' missing or not a number");
  }
  r.timestamp_ms = static_cast<int64_t>(ts->get<double>());
  KVSTASH_ASSIGN_OR_RETURN(r.input_length, UnsignedField(j, "input_length"));
  if (j.contains("output_length")) {
    KVSTASH_ASSIGN_OR_RETURN(r.output_length, UnsignedField(j, "output_length"));
  }
  auto ids = j.find("hash_ids");
  if (ids == j.end() || !ids->is_array()) {
    return Status::InvalidArgument("field 'hash_ids' missing or not an array");
  }
  r.hash_ids.reserve(ids->size());
  for (const auto& id : *ids) {
    if (!id.is_number_unsigned()) return Status::InvalidArgument("a hash id is not unsigned");
    r.hash_ids.push_back(id.get<uint64_t>());
  }
  return r;
}

Result<std::vector<TraceRequest>> LoadTrace(const std::string& path, size_t max_requests) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("cannot open trace " + path);
  std::vector<TraceRequest> requests;
  std::string line;
  size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    Result<TraceRequest> r = ParseTraceLine(line);
    if (!r.ok()) {
      return Status::InvalidArgument(path + ":" + std::to_string(number) + ": " +
                                     r.status().message());
    }
    requests.push_back(std::move(r).value());
    if (max_requests != 0 && requests.size() >= max_requests) break;
  }
  if (in.bad()) return Status::IOError("reading trace " + path);
  return requests;
}

bool LruCache::Access(uint64_t id) {
  auto it = map_.find(id);
  if (it != map_.end()) {
    order_.splice(order_.begin(), order_, it->second);
    return true;
  }
  if (capacity_ == 0) return false;
  if (map_.size() >= capacity_) {
    map_.erase(order_.back());
    order_.pop_back();
  }
  order_.push_front(id);
  map_[id] = order_.begin();
  return false;
}

TraceHitRatios SimulateLru(const std::vector<TraceRequest>& requests, uint64_t capacity_blocks) {
  LruCache lru(capacity_blocks);
  TraceHitRatios r;
  std::unordered_set<uint64_t> seen;
  for (const TraceRequest& req : requests) {
    bool in_prefix = true;
    for (uint64_t id : req.hash_ids) {
      bool hit = lru.Contains(id);
      in_prefix = in_prefix && hit;
      r.block_hits += hit;
      r.prefix_hits += in_prefix;
      ++r.references;
      seen.insert(id);
    }
    for (uint64_t id : req.hash_ids) lru.Access(id);
  }
  r.unique_blocks = seen.size();
  return r;
}

}  // namespace kvstash
