#include "tools/bench/cli_bench.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <span>
#include <thread>

#include "common/size.h"
#include "tools/bench/bench_kv.h"
#include "tools/bench/bench_limits.h"
#include "tools/bench/bench_reuse.h"
#include "tools/bench/bench_trace.h"
#include "tools/bench/cli_bench_report.h"
#include "tools/bench/cli_progress.h"

namespace kvstash {
namespace {

enum class Op { kPut, kGet, kDelete };
constexpr uint64_t kHeaderBytes = 16;  // block index + run nonce, checked on every get
constexpr uint32_t kCleanupBatch = 1024;

using Stats = std::map<std::string, uint64_t>;

// One unit of queue depth: a connection, a registered buffer of `batch` blocks, its results.
struct Worker {
  std::unique_ptr<Client> client;
  std::span<std::byte> memory;  // buffer's bytes
  BufferHandle buffer;
  std::vector<uint64_t> latencies_ns;
  uint64_t errors = 0, misses = 0, corrupt = 0;
  Status fatal;
};

struct PhaseResult {
  double seconds = 0;
  Status status;
};

uint64_t StatOr0(const Stats& stats, const std::string& name) {
  auto it = stats.find(name);
  return it == stats.end() ? 0 : it->second;
}

class BenchRun {
 public:
  BenchRun(const ClientOptions& c, const BenchOptions& o, uint64_t block_bytes)
      : client_options_(c), options_(o), block_(block_bytes) {
    char host[64] = "host";
    ::gethostname(host, sizeof(host) - 1);
    nonce_ = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    prefix_ = "bench/" + std::string(host) + "-" + std::to_string(::getpid()) + "-" +
              std::to_string(nonce_ % 1000000007) + "/";
  }

  Status Connect();
  PhaseResult RunPhase(Op op, const std::string& prefix, uint64_t count, uint32_t batch,
                       const char* label, bool timed);
  Status PrepareFlash();
  Status CheckFitsDram();
  Result<Stats> ServerStats() { return workers_[0].client->Stats(); }
  void Cleanup();
  nlohmann::ordered_json Report(const PhaseResult& timed, const Stats& before, const Stats& after);

  const std::string& prefix() const { return prefix_; }
  // Sums and clears the per-worker error/miss/corruption counters of the last phases.
  uint64_t TakeFailures() {
    uint64_t n = 0;
    for (Worker& w : workers_) {
      n += w.errors + w.misses + w.corrupt;
      w.errors = w.misses = w.corrupt = 0;
      w.latencies_ns.clear();
    }
    return n;
  }

 private:
  Status DoBatch(Worker* w, Op op, const std::string& prefix, uint64_t first, uint64_t n,
                 bool timed);
  void CountResults(Worker* w, Op op, uint64_t first, std::span<const Status> statuses);
  void CheckBlocks(Worker* w, uint64_t first, const std::vector<Result<size_t>>& sizes);
  // Blocks are >= kHeaderBytes (Validate): [index, nonce] identifies the block and the run.
  void WriteHeader(std::byte* block, uint64_t index) const {
    std::memcpy(block, &index, 8);
    std::memcpy(block + 8, &nonce_, 8);
  }
  bool HeaderMatches(const std::byte* block, uint64_t index) const {
    std::byte expected[kHeaderBytes];
    WriteHeader(expected, index);
    return std::memcmp(block, expected, kHeaderBytes) == 0;
  }

  const ClientOptions client_options_;
  const BenchOptions& options_;
  const uint64_t block_;
  uint64_t nonce_;
  std::string prefix_;
  std::string filler_prefix_;
  uint64_t filler_count_ = 0;
  std::vector<Worker> workers_;
};

Status BenchRun::Connect() {
  workers_.resize(options_.queue_depth);
  for (Worker& w : workers_) {
    KVSTASH_ASSIGN_OR_RETURN(w.client, Client::Connect(client_options_));
    // Memory from the client library: a shared segment the server maps when it is on this
    // host (gets are then one memcpy), plain registered memory elsewhere.
    KVSTASH_ASSIGN_OR_RETURN(
        w.buffer, w.client->AllocateBuffer(static_cast<size_t>(block_) * options_.batch));
    w.memory = {static_cast<std::byte*>(w.buffer.data()), w.buffer.size()};
    std::fill(w.memory.begin(), w.memory.end(), std::byte{0});
  }
  return Status::Ok();
}

void BenchRun::CountResults(Worker* w, Op op, uint64_t first, std::span<const Status> statuses) {
  for (const Status& s : statuses) {
    if (s.ok()) continue;
    if (s.Is(StatusCode::kNotFound) && op != Op::kPut) {
      ++w->misses;
    } else {
      ++w->errors;
    }
  }
}

void BenchRun::CheckBlocks(Worker* w, uint64_t first, const std::vector<Result<size_t>>& sizes) {
  for (size_t j = 0; j < sizes.size(); ++j) {
    if (sizes[j].status().Is(StatusCode::kNotFound)) {
      ++w->misses;
    } else if (!sizes[j].ok()) {
      ++w->errors;
    } else if (*sizes[j] != block_ || !HeaderMatches(w->memory.data() + j * block_, first + j)) {
      ++w->corrupt;
    }
  }
}

Status BenchRun::DoBatch(Worker* w, Op op, const std::string& prefix, uint64_t first, uint64_t n,
                         bool timed) {
  std::vector<std::string> keys(n);
  std::vector<std::string_view> views(n);
  for (uint64_t j = 0; j < n; ++j) views[j] = keys[j] = prefix + std::to_string(first + j);
  auto start = std::chrono::steady_clock::now();
  if (op == Op::kPut) {
    std::vector<PutItem> items(n);
    for (uint64_t j = 0; j < n; ++j) {
      std::byte* block = w->memory.data() + j * block_;
      WriteHeader(block, first + j);
      items[j] = {views[j], std::span<const std::byte>(block, block_)};
    }
    start = std::chrono::steady_clock::now();  // header writes are not the server's time
    KVSTASH_ASSIGN_OR_RETURN(std::vector<Status> statuses, w->client->PutBatch(items));
    CountResults(w, op, first, statuses);
  } else if (op == Op::kGet) {
    std::vector<GetItem> items(n);
    for (uint64_t j = 0; j < n; ++j) items[j] = {views[j], {w->memory.data() + j * block_, block_}};
    KVSTASH_ASSIGN_OR_RETURN(std::vector<Result<size_t>> sizes, w->client->GetBatch(items));
    auto end = std::chrono::steady_clock::now();
    if (timed) w->latencies_ns.push_back((end - start).count());
    CheckBlocks(w, first, sizes);
    return Status::Ok();
  } else {
    KVSTASH_ASSIGN_OR_RETURN(std::vector<Status> statuses, w->client->DeleteBatch(views));
    CountResults(w, op, first, statuses);
  }
  if (timed) w->latencies_ns.push_back((std::chrono::steady_clock::now() - start).count());
  return Status::Ok();
}

PhaseResult BenchRun::RunPhase(Op op, const std::string& prefix, uint64_t count, uint32_t batch,
                               const char* label, bool timed) {
  std::atomic<uint64_t> next{0};
  std::atomic<bool> failed{false};
  ProgressBar bar(label, count, op == Op::kDelete ? 0 : block_);
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (Worker& w : workers_) {
    threads.emplace_back([&, w = &w] {
      while (!failed.load(std::memory_order_relaxed)) {
        uint64_t first = next.fetch_add(batch);
        if (first >= count) break;
        uint64_t n = std::min<uint64_t>(batch, count - first);
        Status s = DoBatch(w, op, prefix, first, n, timed);
        if (!s.ok()) {
          w->fatal = s;
          failed.store(true);
        }
        bar.Add(n);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  PhaseResult result;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  bar.Finish();
  for (Worker& w : workers_) {
    if (!w.fatal.ok() && result.status.ok()) result.status = w.fatal;
  }
  return result;
}

// Makes the working set flash-resident: read once (reuse-aware admission sees a hit), then
// write filler worth the whole DRAM arena (plus a quarter) so the DRAM copies are recycled.
Status BenchRun::PrepareFlash() {
  KVSTASH_ASSIGN_OR_RETURN(Stats stats, ServerStats());
  uint64_t dram = StatOr0(stats, "store.dram_capacity_bytes");
  uint64_t flash = StatOr0(stats, "store.flash_capacity_bytes");
  if (flash == 0) {
    return Status::InvalidArgument(
        "--tier flash: the server has no flash tier (store.flash_capacity_bytes = 0)");
  }
  if (options_.count * block_ + dram > flash) {
    return Status::InvalidArgument(
        "--tier flash: working set " + FormatSize(options_.count * block_) + " + filler " +
        FormatSize(dram) + " exceed the flash tier (" + FormatSize(flash) + ")");
  }
  PhaseResult warm = RunPhase(Op::kGet, prefix_, options_.count, options_.batch, "warm", false);
  KVSTASH_RETURN_IF_ERROR(warm.status);
  filler_prefix_ = prefix_ + "filler/";
  filler_count_ = (dram + dram / 4) / block_ + 1;
  return RunPhase(Op::kPut, filler_prefix_, filler_count_, options_.batch, "filler", false).status;
}

// A DRAM get run whose working set cannot stay in DRAM would measure misses, not reads.
Status BenchRun::CheckFitsDram() {
  KVSTASH_ASSIGN_OR_RETURN(Stats stats, ServerStats());
  uint64_t dram = StatOr0(stats, "store.dram_capacity_bytes");
  uint64_t regions = StatOr0(stats, "store.dram_regions");
  // Two regions stay out of reach: the open one and the free reserve the maintenance keeps.
  if (regions > 2) dram -= 2 * (dram / regions);
  uint64_t working_set = options_.count * block_;
  if (dram > 0 && working_set > dram) {
    return Status::InvalidArgument("--tier dram: working set " + FormatSize(working_set) +
                                   " exceeds the DRAM tier (" + FormatSize(dram) +
                                   "); lower --count or use --tier flash");
  }
  return Status::Ok();
}

void BenchRun::Cleanup() {
  PhaseResult r = RunPhase(Op::kDelete, prefix_, options_.count, kCleanupBatch, "cleanup", false);
  if (r.status.ok() && filler_count_ > 0) {
    r = RunPhase(Op::kDelete, filler_prefix_, filler_count_, kCleanupBatch, "cleanup", false);
  }
  if (!r.status.ok()) ReportError("bench cleanup", r.status);
}

nlohmann::ordered_json BenchRun::Report(const PhaseResult& timed, const Stats& before,
                                        const Stats& after) {
  std::vector<uint64_t> latencies;
  uint64_t errors = 0, misses = 0, corrupt = 0;
  for (Worker& w : workers_) {
    latencies.insert(latencies.end(), w.latencies_ns.begin(), w.latencies_ns.end());
    errors += w.errors;
    misses += w.misses;
    corrupt += w.corrupt;
  }
  BenchLatency lat = SummarizeLatencies(&latencies);
  MachineInfo machine = ProbeMachine();
  uint64_t bytes = options_.count * block_;
  double gbps = static_cast<double>(bytes) / timed.seconds / 1e9;
  double memcpy_gbps = MeasureMemcpyGbps(block_);
  auto delta = [&](const char* name) { return StatOr0(after, name) - StatOr0(before, name); };
  nlohmann::ordered_json j;
  j["op"] = options_.op;
  j["tier"] = options_.tier;
  j["block_size"] = block_;
  j["batch"] = options_.batch;
  j["count"] = options_.count;
  j["queue_depth"] = options_.queue_depth;
  j["transport"] = TransportName();
  j["server"] = client_options_.server_address;
  j["machine"] = {{"nproc", machine.nproc}, {"cpu_model", machine.cpu_model}};
  j["elapsed_s"] = timed.seconds;
  j["bytes"] = bytes;
  j["gbps"] = gbps;
  j["ops_per_s"] = static_cast<double>(options_.count) / timed.seconds;
  j["latency_unit"] = options_.batch == 1 ? "block" : "batch";
  j["p50_us"] = lat.p50_us;
  j["p99_us"] = lat.p99_us;
  j["p999_us"] = lat.p999_us;
  j["max_us"] = lat.max_us;
  j["errors"] = errors;
  j["misses"] = misses;
  j["corrupt"] = corrupt;
  j["hits_dram"] = delta("store.hits_dram");
  j["hits_flash"] = delta("store.hits_flash");
  j["memcpy_gbps"] = memcpy_gbps;
  j["ratio_to_memcpy"] = memcpy_gbps > 0 ? gbps / memcpy_gbps : 0;
  return j;
}

void PrintHuman(const nlohmann::ordered_json& j) {
  std::printf("%s %s x%llu, batch %u, queue depth %u, transport %s, tier %s\n",
              j["op"].get<std::string>().c_str(), FormatSize(j["block_size"]).c_str(),
              j["count"].get<unsigned long long>(), j["batch"].get<unsigned>(),
              j["queue_depth"].get<unsigned>(), j["transport"].get<std::string>().c_str(),
              j["tier"].get<std::string>().c_str());
  std::printf("  %.3f GB/s  %.0f ops/s  in %.3f s  (%.1f%% of local memcpy %.2f GB/s)\n",
              j["gbps"].get<double>(), j["ops_per_s"].get<double>(), j["elapsed_s"].get<double>(),
              100 * j["ratio_to_memcpy"].get<double>(), j["memcpy_gbps"].get<double>());
  std::printf("  latency per %s: p50 %.1f us  p99 %.1f us  p99.9 %.1f us  max %.1f us\n",
              j["latency_unit"].get<std::string>().c_str(), j["p50_us"].get<double>(),
              j["p99_us"].get<double>(), j["p999_us"].get<double>(), j["max_us"].get<double>());
  std::printf("  errors %llu  misses %llu  corrupt %llu  hits dram %llu flash %llu\n",
              j["errors"].get<unsigned long long>(), j["misses"].get<unsigned long long>(),
              j["corrupt"].get<unsigned long long>(), j["hits_dram"].get<unsigned long long>(),
              j["hits_flash"].get<unsigned long long>());
  std::printf("  machine: %u CPUs, %s\n", j["machine"]["nproc"].get<unsigned>(),
              j["machine"]["cpu_model"].get<std::string>().c_str());
}

// Populates (gets only), prepares the tier, runs the timed phase and reports.
Result<nlohmann::ordered_json> Execute(BenchRun* run, const BenchOptions& o) {
  bool get = o.op == "get";
  if (get && o.tier == "dram") KVSTASH_RETURN_IF_ERROR(run->CheckFitsDram());
  if (get) {
    KVSTASH_RETURN_IF_ERROR(
        run->RunPhase(Op::kPut, run->prefix(), o.count, o.batch, "populate", false).status);
    if (uint64_t failed = run->TakeFailures(); failed > 0) {
      return Status::Internal("populate: " + std::to_string(failed) + " puts failed");
    }
    if (o.tier == "flash") KVSTASH_RETURN_IF_ERROR(run->PrepareFlash());
    run->TakeFailures();
  }
  KVSTASH_ASSIGN_OR_RETURN(Stats before, run->ServerStats());
  PhaseResult timed =
      run->RunPhase(get ? Op::kGet : Op::kPut, run->prefix(), o.count, o.batch, o.op.c_str(), true);
  KVSTASH_RETURN_IF_ERROR(timed.status);
  KVSTASH_ASSIGN_OR_RETURN(Stats after, run->ServerStats());
  return run->Report(timed, before, after);
}

}  // namespace

Status BenchOptions::Validate(uint64_t* block_bytes) const {
  if (op != "get" && op != "put") return Status::InvalidArgument("--op must be get or put");
  if (tier != "dram" && tier != "flash") {
    return Status::InvalidArgument("--tier must be dram or flash");
  }
  Result<uint64_t> size = ParseSize(block_size);
  if (!size.ok()) return Status::InvalidArgument("--block-size: " + size.status().message());
  if (*size < kHeaderBytes || *size > (1ull << 30)) {
    return Status::InvalidArgument("--block-size must be in 16B..1GiB");
  }
  if (count == 0) return Status::InvalidArgument("--count must be at least 1");
  if (batch == 0 || batch > 4096) return Status::InvalidArgument("--batch must be in 1..4096");
  if (queue_depth == 0 || queue_depth > 256) {
    return Status::InvalidArgument("--queue-depth must be in 1..256");
  }
  *block_bytes = *size;
  return Status::Ok();
}

Result<nlohmann::ordered_json> MeasureKv(const ClientOptions& client, const BenchOptions& options) {
  uint64_t block_bytes = 0;
  KVSTASH_RETURN_IF_ERROR(options.Validate(&block_bytes));
  BenchRun run(client, options, block_bytes);
  Status connected = run.Connect();
  if (!connected.ok()) {
    return Status(connected.code(),
                  "connect to " + client.server_address + ": " + connected.message());
  }
  Result<nlohmann::ordered_json> report = Execute(&run, options);
  if (!options.keep) run.Cleanup();
  return report;
}

int RunBench(const GlobalOptions& global, const BenchOptions& options) {
  Result<ClientOptions> client = global.ToClientOptions();
  if (!client.ok()) return ReportError("bench", client.status());
  Result<nlohmann::ordered_json> report = MeasureKv(*client, options);
  if (!report.ok()) return ReportError("bench", report.status());
  if (options.json) {
    std::printf("%s\n", report->dump().c_str());
  } else {
    PrintHuman(*report);
  }
  uint64_t failures = (*report)["errors"].get<uint64_t>() + (*report)["misses"].get<uint64_t>() +
                      (*report)["corrupt"].get<uint64_t>();
  return failures == 0 ? kExitOk : kExitError;
}

CLI::App* AddBenchCommand(CLI::App* app, CommandRunner* runner) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* bench = app->add_subcommand("bench", "Measure put/get throughput and latency");
  bench->add_option("--op", o->op, "get|put (default get)");
  bench->add_option("--block-size", o->block_size, "block SIZE (default 1MiB)");
  bench->add_option("--count", o->count, "blocks in the timed phase (default 1024)");
  bench->add_option("--batch", o->batch, "keys per call, 1..4096 (default 1)");
  bench->add_option("--tier", o->tier, "dram|flash: where gets are served from (default dram)");
  bench->add_option("--queue-depth", o->queue_depth,
                    "concurrent in-flight batches: threads x connections (default 1)");
  bench->add_flag("--json", o->json, "print one JSON object");
  bench->add_flag("--keep", o->keep, "leave the bench keys on the server");
  AddLimitsCommand(bench, runner);
  AddKvCommand(bench, runner);
  AddTraceCommand(bench, runner);
  AddReuseCommand(bench, runner);
  bench->callback([runner, o, bench] {
    if (!bench->get_subcommands().empty()) return;  // a bench subcommand set its own runner
    *runner = [o](const GlobalOptions& g) { return RunBench(g, *o); };
  });
  return bench;
}

}  // namespace kvstash
