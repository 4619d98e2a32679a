#include "tools/bench/bench_trace.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>
#include <unordered_set>

#include "common/size.h"
#include "model/model_shape.h"
#include "tools/bench/bench_trace_file.h"
#include "tools/bench/bench_util.h"

namespace kvstash {
namespace {

using SteadyClock = std::chrono::steady_clock;

uint64_t NanosSince(SteadyClock::time_point start) {
  return static_cast<uint64_t>((SteadyClock::now() - start).count());
}

// Replays requests through one client; counts what an engine would see.
class TraceReplay {
 public:
  TraceReplay(std::unique_ptr<Client> client, uint64_t block, bool sized_tails)
      : client_(std::move(client)), block_(block), sized_tails_(sized_tails), nonce_(RunNonce()) {
    prefix_ = "trace/" + nonce_ + "/";
    seed_ = std::hash<std::string>()(nonce_);
  }

  Status Prepare(const std::vector<TraceRequest>& requests);
  Status ReplayOne(const TraceRequest& r);
  void Cleanup(const std::vector<TraceRequest>& requests);
  nlohmann::ordered_json Counters();
  Client* client() { return client_.get(); }

 private:
  void Stamp(std::byte* block, uint64_t id) const {
    std::memcpy(block, &id, 8);
    std::memcpy(block + 8, &seed_, 8);
  }
  bool StampMatches(const std::byte* block, uint64_t id) const {
    std::byte want[16];
    Stamp(want, id);
    return std::memcmp(block, want, 16) == 0;
  }
  // Bytes stored for block i of `r`: block_, or for a partial last block (input_length not a
  // multiple of kTraceBlockTokens) with sized tails its share of block_, at least the stamp.
  uint64_t BlockBytes(const TraceRequest& r, size_t i) const;
  Status GetRun(const std::vector<std::string_view>& keys, const TraceRequest& r, size_t n);
  Status PutRest(const std::vector<std::string_view>& keys, const TraceRequest& r, size_t n);

  std::unique_ptr<Client> client_;
  uint64_t block_;
  bool sized_tails_;
  std::string nonce_, prefix_;
  uint64_t seed_ = 0;
  std::vector<std::byte> memory_;
  BufferHandle buffer_;
  uint64_t references_ = 0, prefix_hits_ = 0, present_after_gap_ = 0, get_misses_ = 0;
  uint64_t corrupt_ = 0, put_errors_ = 0, get_errors_ = 0, got_bytes_ = 0, requests_ = 0;
  uint64_t get_nanos_ = 0;
  std::vector<uint64_t> lookup_ns_, get_ns_, put_ns_, request_ns_;
};

Status TraceReplay::Prepare(const std::vector<TraceRequest>& requests) {
  size_t most = 1;
  for (const TraceRequest& r : requests) most = std::max(most, r.hash_ids.size());
  memory_.assign(most * block_, std::byte{0});
  KVSTASH_ASSIGN_OR_RETURN(buffer_, client_->RegisterBuffer(memory_.data(), memory_.size()));
  return Status::Ok();
}

uint64_t TraceReplay::BlockBytes(const TraceRequest& r, size_t i) const {
  uint64_t tail_tokens = r.input_length % kTraceBlockTokens;
  if (!sized_tails_ || i + 1 != r.hash_ids.size() || tail_tokens == 0) return block_;
  return std::max<uint64_t>(16, (block_ * tail_tokens + kTraceBlockTokens - 1) / kTraceBlockTokens);
}

Status TraceReplay::GetRun(const std::vector<std::string_view>& keys, const TraceRequest& r,
                           size_t n) {
  std::vector<GetItem> items(n);
  for (size_t i = 0; i < n; ++i) items[i] = {keys[i], {memory_.data() + i * block_, block_}};
  auto start = SteadyClock::now();
  KVSTASH_ASSIGN_OR_RETURN(std::vector<Result<size_t>> got, client_->GetBatch(items));
  uint64_t ns = NanosSince(start);
  get_ns_.push_back(ns);
  get_nanos_ += ns;
  for (size_t i = 0; i < n; ++i) {
    if (got[i].ok() && *got[i] == BlockBytes(r, i) &&
        StampMatches(items[i].dest.data(), r.hash_ids[i])) {
      ++prefix_hits_;
      got_bytes_ += *got[i];
    } else if (got[i].ok()) {
      ++corrupt_;
    } else if (got[i].status().Is(StatusCode::kNotFound)) {
      ++get_misses_;  // evicted between the lookup and the get
    } else {
      ++get_errors_;
    }
  }
  return Status::Ok();
}

Status TraceReplay::PutRest(const std::vector<std::string_view>& keys, const TraceRequest& r,
                            size_t n) {
  std::vector<PutItem> items;
  items.reserve(keys.size() - n);
  for (size_t i = n; i < keys.size(); ++i) {
    std::byte* block = memory_.data() + i * block_;
    Stamp(block, r.hash_ids[i]);
    items.push_back({keys[i], {block, BlockBytes(r, i)}});
  }
  auto start = SteadyClock::now();
  KVSTASH_ASSIGN_OR_RETURN(std::vector<Status> statuses, client_->PutBatch(items));
  put_ns_.push_back(NanosSince(start));
  for (const Status& s : statuses) {
    if (s.Is(StatusCode::kAlreadyExists)) {
      ++present_after_gap_;
    } else if (!s.ok()) {
      ++put_errors_;
    }
  }
  return Status::Ok();
}

Status TraceReplay::ReplayOne(const TraceRequest& r) {
  if (r.hash_ids.empty()) return Status::Ok();
  std::vector<std::string> names(r.hash_ids.size());
  std::vector<std::string_view> keys(names.size());
  for (size_t i = 0; i < names.size(); ++i)
    keys[i] = names[i] = prefix_ + std::to_string(r.hash_ids[i]);
  auto start = SteadyClock::now();
  KVSTASH_ASSIGN_OR_RETURN(size_t n, client_->LongestPrefix(keys));
  lookup_ns_.push_back(NanosSince(start));
  n = std::min(n, keys.size());
  if (n > 0) KVSTASH_RETURN_IF_ERROR(GetRun(keys, r, n));
  if (n < keys.size()) KVSTASH_RETURN_IF_ERROR(PutRest(keys, r, n));
  request_ns_.push_back(NanosSince(start));
  references_ += keys.size();
  ++requests_;
  return Status::Ok();
}

void TraceReplay::Cleanup(const std::vector<TraceRequest>& requests) {
  std::unordered_set<uint64_t> ids;
  for (const TraceRequest& r : requests) ids.insert(r.hash_ids.begin(), r.hash_ids.end());
  std::vector<std::string> names;
  for (uint64_t id : ids) names.push_back(prefix_ + std::to_string(id));
  for (size_t first = 0; first < names.size(); first += 4096) {
    size_t n = std::min<size_t>(4096, names.size() - first);
    std::vector<std::string_view> keys(names.begin() + first, names.begin() + first + n);
    (void)client_->DeleteBatch(keys);  // misses are expected: evicted blocks
  }
}

nlohmann::ordered_json TraceReplay::Counters() {
  double refs = references_ ? static_cast<double>(references_) : 1;
  nlohmann::ordered_json j;
  j["requests"] = requests_;
  j["block_references"] = references_;
  j["prefix_hits"] = prefix_hits_;
  j["present_after_gap"] = present_after_gap_;
  j["block_hit_ratio"] = (prefix_hits_ + present_after_gap_) / refs;
  j["prefix_hit_ratio"] = prefix_hits_ / refs;
  j["get_misses_after_lookup"] = get_misses_;
  j["get_errors"] = get_errors_;
  j["put_errors"] = put_errors_;
  j["corrupt"] = corrupt_;
  j["get_bytes"] = got_bytes_;
  j["get_gbps"] = get_nanos_ ? static_cast<double>(got_bytes_) / get_nanos_ : 0;
  j["latency_lookup"] = LatencyJson(&lookup_ns_);
  j["latency_get"] = LatencyJson(&get_ns_);
  j["latency_put"] = LatencyJson(&put_ns_);
  j["latency_request"] = LatencyJson(&request_ns_);
  return j;
}

// Replays every request, sleeping to its timestamp when `realtime`.
Status ReplayAll(TraceReplay* replay, const std::vector<TraceRequest>& requests, bool realtime,
                 double time_scale) {
  auto start = SteadyClock::now();
  int64_t t0 = requests.empty() ? 0 : requests.front().timestamp_ms;
  for (const TraceRequest& r : requests) {
    if (realtime) {
      auto due =
          start + std::chrono::duration<double, std::milli>((r.timestamp_ms - t0) / time_scale);
      std::this_thread::sleep_until(std::chrono::time_point_cast<SteadyClock::duration>(due));
    }
    KVSTASH_RETURN_IF_ERROR(replay->ReplayOne(r));
  }
  return Status::Ok();
}

Result<nlohmann::ordered_json> LruReference(const TraceOptions& o,
                                            const std::vector<TraceRequest>& requests,
                                            uint64_t capacity_blocks) {
  KVSTASH_ASSIGN_OR_RETURN(std::vector<double> fractions,
                           ParseNumberList("--lru-fractions", o.lru_fractions, 0, 1));
  TraceHitRatios same = SimulateLru(requests, capacity_blocks);
  nlohmann::ordered_json j;
  j["unique_blocks"] = same.unique_blocks;
  j["capacity_blocks"] = capacity_blocks;
  j["capacity_fraction_of_unique"] =
      same.unique_blocks ? double(capacity_blocks) / same.unique_blocks : 0;
  j["lru_block_hit_ratio"] = same.block_hit_ratio();
  j["lru_prefix_hit_ratio"] = same.prefix_hit_ratio();
  j["lru_curve"] = nlohmann::ordered_json::array();
  for (double f : fractions) {
    uint64_t cap = static_cast<uint64_t>(f * same.unique_blocks);
    TraceHitRatios r = SimulateLru(requests, cap);
    j["lru_curve"].push_back({{"fraction_of_unique", f},
                              {"capacity_blocks", cap},
                              {"block_hit_ratio", r.block_hit_ratio()},
                              {"prefix_hit_ratio", r.prefix_hit_ratio()}});
  }
  return j;
}

nlohmann::ordered_json StatsDeltas(const StatsMap& before, const StatsMap& after) {
  nlohmann::ordered_json j;
  for (const char* name :
       {"flash_bytes_written", "flash_device_bytes_written", "discard_bytes", "hits_dram",
        "hits_flash", "misses", "admission_admitted", "admission_rejected",
        "admission_admitted_bytes", "admission_rejected_bytes", "flash_reinserted",
        "blocks_evicted", "checksum_failures"}) {
    j[name] = StatDelta(before, after, std::string("store.") + name);
  }
  return j;
}

Result<nlohmann::ordered_json> Scaling(const TraceOptions& o, uint64_t block) {
  KVSTASH_ASSIGN_OR_RETURN(ModelShape model, FindModelPreset(o.model));
  uint64_t real = kTraceBlockTokens * model.KvBytesPerToken();
  return nlohmann::ordered_json{
      {"model", model.name},
      {"block_tokens", kTraceBlockTokens},
      {"model_block_bytes", real},
      {"block_bytes", block},
      {"scale_factor", double(real) / block},
      {"scaling", "each 512-token trace block is stored as " + FormatSize(block) + " instead of " +
                      FormatSize(real) + " (" + model.name +
                      "); hit ratios are scale-free, byte counters are of the scaled run"}};
}

void PrintTrace(const nlohmann::ordered_json& j) {
  std::printf("trace %s: %llu requests, %llu block refs, %s (%s)\n",
              j["trace"].get<std::string>().c_str(), j["requests"].get<unsigned long long>(),
              j["block_references"].get<unsigned long long>(),
              j["label"].get<std::string>().c_str(), j["scaling"].get<std::string>().c_str());
  std::printf(
      "  kvstash: block hit %.4f  prefix hit %.4f   LRU same capacity (%llu blocks): "
      "block %.4f prefix %.4f\n",
      j["block_hit_ratio"].get<double>(), j["prefix_hit_ratio"].get<double>(),
      j["capacity_blocks"].get<unsigned long long>(), j["lru_block_hit_ratio"].get<double>(),
      j["lru_prefix_hit_ratio"].get<double>());
  std::printf("  flash written %s (device %s), discarded %s, hits dram %llu flash %llu\n",
              FormatSize(j["flash_bytes_written"]).c_str(),
              FormatSize(j["flash_device_bytes_written"]).c_str(),
              FormatSize(j["discard_bytes"]).c_str(), j["hits_dram"].get<unsigned long long>(),
              j["hits_flash"].get<unsigned long long>());
  for (const char* k : {"latency_lookup", "latency_get", "latency_put", "latency_request"}) {
    std::printf("  %-16s p50 %9.1f us  p99 %9.1f us  p999 %9.1f us\n", k,
                j[k]["p50_us"].get<double>(), j[k]["p99_us"].get<double>(),
                j[k]["p999_us"].get<double>());
  }
}

}  // namespace

Status TraceOptions::Validate(uint64_t* block) const {
  if (speed != "realtime" && speed != "max") {
    return Status::InvalidArgument("--speed must be realtime or max");
  }
  if (!(time_scale > 0)) return Status::InvalidArgument("--time-scale must be > 0");
  if (tail_blocks != "sized" && tail_blocks != "full") {
    return Status::InvalidArgument("--tail-blocks must be sized or full");
  }
  Result<uint64_t> b = ParseSize(block_bytes);
  if (!b.ok() || *b < 16 || *b > (64ull << 20)) {
    return Status::InvalidArgument("--block-bytes must be a size in 16B..64MiB");
  }
  *block = *b;
  return FindModelPreset(model).status();
}

Result<nlohmann::ordered_json> RunTraceReplay(const GlobalOptions& global, const TraceOptions& o) {
  uint64_t block = 0;
  KVSTASH_RETURN_IF_ERROR(o.Validate(&block));
  KVSTASH_ASSIGN_OR_RETURN(nlohmann::ordered_json scaling, Scaling(o, block));
  KVSTASH_ASSIGN_OR_RETURN(std::vector<TraceRequest> requests, LoadTrace(o.trace, o.max_requests));
  KVSTASH_ASSIGN_OR_RETURN(ClientOptions co, global.ToClientOptions());
  KVSTASH_ASSIGN_OR_RETURN(std::unique_ptr<Client> client, Client::Connect(co));
  TraceReplay replay(std::move(client), block, o.tail_blocks == "sized");
  KVSTASH_RETURN_IF_ERROR(replay.Prepare(requests));
  KVSTASH_ASSIGN_OR_RETURN(StatsMap before, replay.client()->Stats());
  uint64_t capacity = StatValue(before, "store.dram_capacity_bytes") +
                      StatValue(before, "store.flash_capacity_bytes");
  auto start = SteadyClock::now();
  KVSTASH_RETURN_IF_ERROR(ReplayAll(&replay, requests, o.speed == "realtime", o.time_scale));
  double seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  KVSTASH_ASSIGN_OR_RETURN(StatsMap after, replay.client()->Stats());
  nlohmann::ordered_json j;
  j["kind"] = "trace";
  j["trace"] = o.trace;
  j["label"] = o.label;
  j["tail_blocks"] = o.tail_blocks;
  j["speed"] = o.speed;
  j["server"] = co.server_address;
  j["machine"] = MachineJson();
  j["elapsed_s"] = seconds;
  j["server_capacity_bytes"] = capacity;
  j.update(scaling);
  j.update(replay.Counters());
  KVSTASH_ASSIGN_OR_RETURN(nlohmann::ordered_json lru, LruReference(o, requests, capacity / block));
  j.update(lru);
  j.update(StatsDeltas(before, after));
  if (!o.keep) replay.Cleanup(requests);
  return j;
}

void AddTraceCommand(CLI::App* bench, CommandRunner* runner) {
  auto o = std::make_shared<TraceOptions>();
  CLI::App* cmd = bench->add_subcommand("trace", "Replay a Mooncake prefix-reuse trace");
  cmd->add_option("--trace", o->trace,
                  "JSONL trace FILE (e.g. bench/traces/mooncake_synthetic_trace.jsonl)")
      ->required();
  cmd->add_option("--block-bytes", o->block_bytes, "bytes stored per 512-token block (256KiB)");
  cmd->add_option("--model", o->model, "model preset for the scaling note (llama-3.1-8b)");
  cmd->add_option("--speed", o->speed, "realtime|max (default max)");
  cmd->add_option("--time-scale", o->time_scale, "realtime: replay this much faster");
  cmd->add_option("--max-requests", o->max_requests, "replay only the first N requests");
  cmd->add_option("--label", o->label, "free text copied into the report");
  cmd->add_option("--tail-blocks", o->tail_blocks,
                  "sized|full: a request's partial last block stored at its share of "
                  "--block-bytes (default) or whole");
  cmd->add_option("--lru-fractions", o->lru_fractions, "LRU curve capacities (of unique blocks)");
  cmd->add_flag("--keep", o->keep, "leave the trace keys on the server");
  cmd->add_flag("--json", o->json, "print one JSON object");
  cmd->callback([runner, o] {
    *runner = [o](const GlobalOptions& g) {
      Result<nlohmann::ordered_json> j = RunTraceReplay(g, *o);
      if (!j.ok()) return ReportError("bench trace", j.status());
      if (o->json) {
        PrintJsonLine(*j);
      } else {
        PrintTrace(*j);
      }
      uint64_t bad = (*j)["corrupt"].get<uint64_t>() + (*j)["get_errors"].get<uint64_t>();
      return bad == 0 ? static_cast<int>(kExitOk) : static_cast<int>(kExitError);
    };
  });
}

}  // namespace kvstash
