#include "tools/bench/bench_reuse.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "common/size.h"
#include "model/break_even.h"
#include "model/model_shape.h"
#include "tools/bench/bench_reuse_workload.h"
#include "tools/bench/bench_trace_file.h"
#include "tools/bench/bench_util.h"

namespace kvstash {
namespace {

using SteadyClock = std::chrono::steady_clock;
constexpr uint32_t kMaxConversationBlocks = 32;

struct RatePoint {
  uint64_t requests = 0, refs = 0, hits = 0, errors = 0, got_bytes = 0, get_ns = 0;
  std::vector<uint64_t> get_lat, lookup_lat;
};

// One client and a registered buffer big enough for the longest conversation.
class ReuseRunner {
 public:
  ReuseRunner(std::unique_ptr<Client> c, uint64_t block) : client_(std::move(c)), block_(block) {}
  Status Prepare() {
    memory_.assign(block_ * kMaxConversationBlocks, std::byte{0});
    KVSTASH_ASSIGN_OR_RETURN(buffer_, client_->RegisterBuffer(memory_.data(), memory_.size()));
    return Status::Ok();
  }
  Status Request(const std::string& prefix, const std::vector<uint64_t>& ids, RatePoint* p);
  void Delete(const std::string& prefix, uint64_t ids);
  Client* client() { return client_.get(); }

 private:
  std::unique_ptr<Client> client_;
  uint64_t block_;
  std::vector<std::byte> memory_;
  BufferHandle buffer_;
};

Status ReuseRunner::Request(const std::string& prefix, const std::vector<uint64_t>& ids,
                            RatePoint* p) {
  std::vector<std::string> names(ids.size());
  std::vector<std::string_view> keys(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) keys[i] = names[i] = prefix + std::to_string(ids[i]);
  auto start = SteadyClock::now();
  KVSTASH_ASSIGN_OR_RETURN(size_t n, client_->LongestPrefix(keys));
  p->lookup_lat.push_back((SteadyClock::now() - start).count());
  n = std::min(n, keys.size());
  if (n > 0) {
    std::vector<GetItem> gets(n);
    for (size_t i = 0; i < n; ++i) gets[i] = {keys[i], {memory_.data() + i * block_, block_}};
    auto g = SteadyClock::now();
    KVSTASH_ASSIGN_OR_RETURN(std::vector<Result<size_t>> got, client_->GetBatch(gets));
    uint64_t ns = (SteadyClock::now() - g).count();
    p->get_lat.push_back(ns);
    p->get_ns += ns;
    for (size_t i = 0; i < n; ++i) {
      bool ok = got[i].ok() && std::memcmp(memory_.data() + i * block_, &ids[i], 8) == 0;
      p->hits += ok;
      p->got_bytes += ok ? block_ : 0;
      p->errors += got[i].ok() && !ok;
    }
  }
  std::vector<PutItem> puts;
  for (size_t i = n; i < keys.size(); ++i) {
    std::memcpy(memory_.data() + i * block_, &ids[i], 8);
    puts.push_back({keys[i], {memory_.data() + i * block_, block_}});
  }
  if (!puts.empty()) {
    KVSTASH_ASSIGN_OR_RETURN(std::vector<Status> st, client_->PutBatch(puts));
    for (const Status& s : st) p->errors += !s.ok() && !s.Is(StatusCode::kAlreadyExists);
  }
  p->refs += keys.size();
  ++p->requests;
  return Status::Ok();
}

void ReuseRunner::Delete(const std::string& prefix, uint64_t ids) {
  for (uint64_t first = 0; first < ids; first += 4096) {
    uint64_t n = std::min<uint64_t>(4096, ids - first);
    std::vector<std::string> names(n);
    std::vector<std::string_view> keys(n);
    for (uint64_t i = 0; i < n; ++i) keys[i] = names[i] = prefix + std::to_string(first + i);
    (void)client_->DeleteBatch(keys);  // evicted keys answer NotFound
  }
}

// The model's verdict on a measured point (docs/MODEL.md): GPU time saved by the hits, and
// flash benefit vs the endurance cost of the blocks admitted to flash. `suffix` names the load
// inputs used ("": measured here; "_at_model_load": MODEL.md's 25 GB/s + 500 us).
void AddModel(const ModelInputs& in, const std::string& suffix, nlohmann::ordered_json* j) {
  uint64_t t = kTraceBlockTokens;
  double saved = std::max(0.0, RecomputeSeconds(in, t) - LoadSeconds(in, t));
  double hits = (*j)["hits"].get<double>(), flash_hits = (*j)["hits_flash"].get<double>();
  double written = (*j)["flash_blocks_admitted"].get<double>();
  double benefit = flash_hits * ReuseBenefitDollars(in, t);
  double cost = written * WriteCostDollars(in, t);
  (*j)["load_seconds_per_block" + suffix] = LoadSeconds(in, t);
  (*j)["recompute_seconds_per_block" + suffix] = RecomputeSeconds(in, t);
  (*j)["gpu_seconds_saved" + suffix] = hits * saved;
  (*j)["flash_gpu_seconds_saved" + suffix] = flash_hits * saved;
  (*j)["flash_benefit_dollars" + suffix] = benefit;
  (*j)["flash_write_cost_dollars" + suffix] = cost;
  (*j)["net_flash_benefit_dollars" + suffix] = benefit - cost;
  (*j)["break_even_p" + suffix] = BreakEvenReuseProbability(in, t);
}

nlohmann::ordered_json PointJson(double rate, RatePoint* p, const StatsMap& before,
                                 const StatsMap& after) {
  auto d = [&](const char* n) { return StatDelta(before, after, std::string("store.") + n); };
  nlohmann::ordered_json j;
  j["rate"] = rate;
  j["requests"] = p->requests;
  j["block_refs"] = p->refs;
  j["hits"] = p->hits;
  j["hit_ratio"] = p->refs ? double(p->hits) / p->refs : 0;
  j["errors"] = p->errors;
  j["hits_dram"] = d("hits_dram");
  j["hits_flash"] = d("hits_flash");
  j["flash_bytes_written"] = d("flash_bytes_written");
  j["flash_blocks_admitted"] = d("admission_admitted");
  j["flash_blocks_rejected"] = d("admission_rejected");
  j["flash_bytes_written_per_hit"] = p->hits ? double(d("flash_bytes_written")) / p->hits : 0;
  j["get_gbps"] = p->get_ns ? double(p->got_bytes) / p->get_ns : 0;
  j["latency_get"] = LatencyJson(&p->get_lat);
  j["latency_lookup"] = LatencyJson(&p->lookup_lat);
  return j;
}

// Model inputs for a point: measured load (get bandwidth, lookup latency) unless `model_load`.
Result<ModelInputs> Inputs(const ReuseOptions& o, const nlohmann::ordered_json& point,
                           bool model_load) {
  ModelInputs in;
  KVSTASH_ASSIGN_OR_RETURN(in.model, FindModelPreset(o.model));
  in.prefill_tokens_per_sec = o.prefill_tokens_per_sec;
  in.block_tokens = kTraceBlockTokens;
  double gbps = point["get_gbps"].get<double>();
  double lookup = point["latency_lookup"]["p50_us"].get<double>();
  if (!model_load && gbps > 0) in.load_bytes_per_sec = gbps * 1e9;
  if (!model_load && lookup > 0) in.load_latency_sec = lookup * 1e-6;
  KVSTASH_RETURN_IF_ERROR(in.Validate());
  return in;
}

void PrintPoint(const nlohmann::ordered_json& p) {
  std::printf("%5.2f %8.4f %8llu %8llu %12s %12.0f %10.1f %12.3e\n", p["rate"].get<double>(),
              p["hit_ratio"].get<double>(), p["hits_dram"].get<unsigned long long>(),
              p["hits_flash"].get<unsigned long long>(),
              FormatSize(p["flash_bytes_written"]).c_str(),
              p["flash_bytes_written_per_hit"].get<double>(),
              p["gpu_seconds_saved_at_model_load"].get<double>(),
              p["net_flash_benefit_dollars_at_model_load"].get<double>());
  std::fflush(stdout);
}

// One rate: the workload through the server, Stats deltas, the model; keys deleted after.
Result<nlohmann::ordered_json> RunRate(ReuseRunner* runner, const ReuseOptions& o, double rate,
                                       const std::string& prefix, uint64_t seed) {
  ReuseWorkload workload(rate, o.first_blocks, o.turn_blocks, kMaxConversationBlocks, seed);
  RatePoint p;
  KVSTASH_ASSIGN_OR_RETURN(StatsMap before, runner->client()->Stats());
  uint64_t max_id = 0;
  for (uint32_t i = 0; i < o.requests; ++i) {
    ReuseWorkload::Request r = workload.Next();
    for (uint64_t id : r.blocks) max_id = std::max(max_id, id + 1);
    KVSTASH_RETURN_IF_ERROR(runner->Request(prefix, r.blocks, &p));
  }
  KVSTASH_ASSIGN_OR_RETURN(StatsMap after, runner->client()->Stats());
  nlohmann::ordered_json j = PointJson(rate, &p, before, after);
  KVSTASH_ASSIGN_OR_RETURN(ModelInputs measured, Inputs(o, j, false));
  KVSTASH_ASSIGN_OR_RETURN(ModelInputs nominal, Inputs(o, j, true));
  AddModel(measured, "", &j);
  AddModel(nominal, "_at_model_load", &j);
  runner->Delete(prefix, max_id);
  return j;
}

}  // namespace

Result<nlohmann::ordered_json> RunReuseSweep(const GlobalOptions& global, const ReuseOptions& o) {
  KVSTASH_ASSIGN_OR_RETURN(std::vector<double> rates, ParseNumberList("--rates", o.rates, 0, 1));
  KVSTASH_ASSIGN_OR_RETURN(uint64_t block, ParseSize(o.block_bytes));
  if (block < 16 || block > (16ull << 20))
    return Status::InvalidArgument("--block-bytes: 16B..16MiB");
  if (o.requests == 0 || o.first_blocks == 0 || o.first_blocks > kMaxConversationBlocks) {
    return Status::InvalidArgument("--requests >= 1, --first-blocks in 1..32");
  }
  KVSTASH_ASSIGN_OR_RETURN(ModelShape shape, FindModelPreset(o.model));
  KVSTASH_ASSIGN_OR_RETURN(ClientOptions co, global.ToClientOptions());
  KVSTASH_ASSIGN_OR_RETURN(std::unique_ptr<Client> client, Client::Connect(co));
  ReuseRunner runner(std::move(client), block);
  KVSTASH_RETURN_IF_ERROR(runner.Prepare());
  nlohmann::ordered_json out;
  out["kind"] = "reuse";
  out["label"] = o.label;
  out["server"] = co.server_address;
  out["machine"] = MachineJson();
  out["block_bytes"] = block;
  out["model"] = {{"name", shape.name},
                  {"block_tokens", kTraceBlockTokens},
                  {"model_block_bytes", kTraceBlockTokens * shape.KvBytesPerToken()},
                  {"prefill_tokens_per_sec", o.prefill_tokens_per_sec}};
  out["points"] = nlohmann::ordered_json::array();
  if (!o.json) {
    std::printf(
        "reuse sweep %s: %u requests/rate, %s blocks\n%5s %8s %8s %8s %12s %12s %10s %12s\n",
        o.label.c_str(), o.requests, FormatSize(block).c_str(), "rate", "hit", "dramhit",
        "flashhit", "flash wr", "wr B/hit", "gpu s sav*", "net flash $*");
  }
  std::string run = "reuse/" + RunNonce() + "/";
  for (size_t k = 0; k < rates.size(); ++k) {
    KVSTASH_ASSIGN_OR_RETURN(
        nlohmann::ordered_json j,
        RunRate(&runner, o, rates[k], run + std::to_string(k) + "/", o.seed + k));
    if (!o.json) PrintPoint(j);
    out["points"].push_back(std::move(j));
  }
  return out;
}

void AddReuseCommand(CLI::App* bench, CommandRunner* runner) {
  auto o = std::make_shared<ReuseOptions>();
  CLI::App* cmd = bench->add_subcommand("reuse", "Synthetic multi-turn reuse-rate sweep");
  cmd->add_option("--rates", o->rates, "reuse probabilities, e.g. 0,0.5,1");
  cmd->add_option("--requests", o->requests, "requests per rate (400)");
  cmd->add_option("--first-blocks", o->first_blocks, "blocks of a new conversation (8)");
  cmd->add_option("--turn-blocks", o->turn_blocks, "blocks a follow-up turn appends (2)");
  cmd->add_option("--block-bytes", o->block_bytes, "bytes per block (256KiB)");
  cmd->add_option("--model", o->model, "model preset a block's 512 tokens belong to");
  cmd->add_option("--prefill-tokens-per-sec", o->prefill_tokens_per_sec,
                  "recompute throughput (10000, docs/MODEL.md)");
  cmd->add_option("--seed", o->seed, "workload seed");
  cmd->add_option("--label", o->label, "free text copied into the report");
  cmd->add_flag("--json", o->json, "print one JSON object");
  cmd->callback([runner, o] {
    *runner = [o](const GlobalOptions& g) {
      Result<nlohmann::ordered_json> j = RunReuseSweep(g, *o);
      if (!j.ok()) return ReportError("bench reuse", j.status());
      if (o->json) PrintJsonLine(*j);
      return static_cast<int>(kExitOk);
    };
  });
}

}  // namespace kvstash
