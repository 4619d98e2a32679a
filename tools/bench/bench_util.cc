#include "tools/bench/bench_util.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/size.h"

namespace kvstash {
namespace {

std::vector<std::string> SplitCommas(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) items.push_back(item);
  }
  return items;
}

Status BadItem(const std::string& flag, const std::string& item, const std::string& why) {
  return Status::InvalidArgument(flag + ": '" + item + "' " + why);
}

}  // namespace

uint64_t StatValue(const StatsMap& stats, const std::string& name) {
  auto it = stats.find(name);
  return it == stats.end() ? 0 : it->second;
}

uint64_t StatDelta(const StatsMap& before, const StatsMap& after, const std::string& name) {
  uint64_t a = StatValue(after, name), b = StatValue(before, name);
  return a >= b ? a - b : 0;
}

Result<std::vector<uint64_t>> ParseSizeList(const std::string& flag, const std::string& text) {
  std::vector<uint64_t> sizes;
  for (const std::string& item : SplitCommas(text)) {
    Result<uint64_t> size = ParseSize(item);
    if (!size.ok() || *size == 0) return BadItem(flag, item, "is not a size > 0");
    sizes.push_back(*size);
  }
  if (sizes.empty()) return Status::InvalidArgument(flag + ": empty list");
  return sizes;
}

Result<std::vector<uint32_t>> ParseCountList(const std::string& flag, const std::string& text,
                                             uint32_t max) {
  std::vector<uint32_t> counts;
  for (const std::string& item : SplitCommas(text)) {
    char* end = nullptr;
    unsigned long long v = std::strtoull(item.c_str(), &end, 10);
    if (end == item.c_str() || *end != '\0' || v == 0 || v > max) {
      return BadItem(flag, item, "is not a count in 1.." + std::to_string(max));
    }
    counts.push_back(static_cast<uint32_t>(v));
  }
  if (counts.empty()) return Status::InvalidArgument(flag + ": empty list");
  return counts;
}

Result<std::vector<double>> ParseNumberList(const std::string& flag, const std::string& text,
                                            double lo, double hi) {
  std::vector<double> values;
  for (const std::string& item : SplitCommas(text)) {
    char* end = nullptr;
    double v = std::strtod(item.c_str(), &end);
    if (end == item.c_str() || *end != '\0' || !(v >= lo && v <= hi)) {
      return BadItem(flag, item,
                     "is not a number in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    }
    values.push_back(v);
  }
  if (values.empty()) return Status::InvalidArgument(flag + ": empty list");
  return values;
}

Result<std::vector<std::string>> ParseWordList(const std::string& flag, const std::string& text,
                                               const std::vector<std::string>& allowed) {
  std::vector<std::string> words = SplitCommas(text);
  for (const std::string& w : words) {
    bool ok = false;
    for (const std::string& a : allowed) ok = ok || a == w;
    if (!ok) return BadItem(flag, w, "is not one of the allowed values");
  }
  if (words.empty()) return Status::InvalidArgument(flag + ": empty list");
  return words;
}

nlohmann::ordered_json LatencyJson(std::vector<uint64_t>* nanos) {
  BenchLatency lat = SummarizeLatencies(nanos);  // sorts
  nlohmann::ordered_json cdf = nlohmann::ordered_json::array();
  if (!nanos->empty()) {
    for (double q :
         {0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999, 1.0}) {
      size_t i = std::min(nanos->size() - 1, static_cast<size_t>(q * nanos->size()));
      cdf.push_back({q, static_cast<double>((*nanos)[i]) / 1e3});
    }
  }
  return {{"p50_us", lat.p50_us}, {"p99_us", lat.p99_us},   {"p999_us", lat.p999_us},
          {"max_us", lat.max_us}, {"mean_us", lat.mean_us}, {"samples", lat.samples},
          {"cdf_us", cdf}};
}

nlohmann::ordered_json MachineJson() {
  MachineInfo m = ProbeMachine();
  nlohmann::ordered_json j;
  j["nproc"] = m.nproc;
  j["cpu_model"] = m.cpu_model;
  struct utsname u {};
  j["kernel"] = ::uname(&u) == 0 ? std::string(u.release) : "unknown";
  double load[1] = {0};
  j["loadavg_1m"] = ::getloadavg(load, 1) == 1 ? load[0] : -1.0;
  long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  j["mem_total_bytes"] = pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * page : 0;
  j["transport"] = TransportName();
  return j;
}

std::string RunNonce() {
  char host[64] = "host";
  ::gethostname(host, sizeof(host) - 1);
  auto ns = std::chrono::steady_clock::now().time_since_epoch().count();
  return std::string(host) + "-" + std::to_string(::getpid()) + "-" + std::to_string(ns);
}

void PrintJsonLine(const nlohmann::ordered_json& j) {
  std::printf("%s\n", j.dump().c_str());
  std::fflush(stdout);
}

}  // namespace kvstash
