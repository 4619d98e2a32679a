// Shared helpers of the `kvstash bench` subcommands (tools/bench/bench_*.cc): server counter
// deltas, list flags ("4KiB,1MiB"), the conditions printed beside every figure (machine, kernel,
// load, transport) and latency objects in JSON.
//
// Thread safety: pure functions, except MachineJson (reads /proc and uname).
#ifndef KVSTASH_TOOLS_BENCH_UTIL_H_
#define KVSTASH_TOOLS_BENCH_UTIL_H_

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kvstash/status.h"
#include "tools/bench/cli_bench_report.h"

namespace kvstash {

using StatsMap = std::map<std::string, uint64_t>;

// The counter `name` ("store.hits_flash"), 0 when the server does not report it.
uint64_t StatValue(const StatsMap& stats, const std::string& name);
// after - before, 0 if the counter went backwards (a restarted server).
uint64_t StatDelta(const StatsMap& before, const StatsMap& after, const std::string& name);

// "4KiB,128KiB,1MiB" -> bytes. InvalidArgument naming `flag` and the bad item; empty lists too.
Result<std::vector<uint64_t>> ParseSizeList(const std::string& flag, const std::string& text);
// "1,8,32" -> counts in [1, max]. InvalidArgument naming `flag` and the bad item.
Result<std::vector<uint32_t>> ParseCountList(const std::string& flag, const std::string& text,
                                             uint32_t max);
// "0,0.5,1" -> numbers in [lo, hi]. InvalidArgument naming `flag` and the bad item.
Result<std::vector<double>> ParseNumberList(const std::string& flag, const std::string& text,
                                            double lo, double hi);
// "dram,flash" -> items, each of which must be in `allowed`.
Result<std::vector<std::string>> ParseWordList(const std::string& flag, const std::string& text,
                                               const std::vector<std::string>& allowed);

// {"p50_us", "p99_us", "p999_us", "max_us", "mean_us", "samples", "cdf_us": [[q, us], ...]}
// (15 quantiles from 0 to 1, for CDF plots); sorts `nanos`.
nlohmann::ordered_json LatencyJson(std::vector<uint64_t>* nanos);

// {"nproc", "cpu_model", "kernel", "loadavg_1m", "mem_total_bytes"}: the conditions of a run.
nlohmann::ordered_json MachineJson();

// A token unique to this process and moment ("<host>-<pid>-<ns>"), for key prefixes that must
// not collide with an earlier run on the same server.
std::string RunNonce();

// Prints `j` as one line of JSON on stdout.
void PrintJsonLine(const nlohmann::ordered_json& j);

}  // namespace kvstash

#endif  // KVSTASH_TOOLS_BENCH_UTIL_H_
