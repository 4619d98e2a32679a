#include "tools/bench/cli_bench_report.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <numeric>

namespace kvstash {
namespace {

double PercentileUs(const std::vector<uint64_t>& sorted, double q) {
  size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  size_t index = std::clamp<size_t>(rank, 1, sorted.size()) - 1;
  return static_cast<double>(sorted[index]) / 1e3;
}

}  // namespace

BenchLatency SummarizeLatencies(std::vector<uint64_t>* nanos) {
  BenchLatency s;
  if (nanos->empty()) return s;
  std::sort(nanos->begin(), nanos->end());
  s.samples = nanos->size();
  s.p50_us = PercentileUs(*nanos, 0.50);
  s.p99_us = PercentileUs(*nanos, 0.99);
  s.p999_us = PercentileUs(*nanos, 0.999);
  s.max_us = static_cast<double>(nanos->back()) / 1e3;
  long double sum = std::accumulate(nanos->begin(), nanos->end(), 0.0L);
  s.mean_us = static_cast<double>(sum / nanos->size() / 1e3);
  return s;
}

MachineInfo ProbeMachine() {
  MachineInfo m;
  long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  m.nproc = n > 0 ? static_cast<unsigned>(n) : 0;
  m.cpu_model = "unknown";
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (!line.starts_with("model name")) continue;
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    size_t start = line.find_first_not_of(" \t", colon + 1);
    if (start != std::string::npos) m.cpu_model = line.substr(start);
    break;
  }
  return m;
}

std::string TransportName() {
  const char* tls = std::getenv("UCX_TLS");
  return tls != nullptr && *tls != '\0' ? tls : "default";
}

double MeasureMemcpyGbps(uint64_t block_bytes, double seconds) {
  block_bytes = std::clamp<uint64_t>(block_bytes, 4096, 64ull << 20);
  std::vector<char> src(block_bytes, 1), dst(block_bytes, 0);
  using Clock = std::chrono::steady_clock;
  auto start = Clock::now();
  uint64_t copied = 0;
  double elapsed = 0;
  do {
    std::memcpy(dst.data(), src.data(), block_bytes);
    src[copied % block_bytes] = static_cast<char>(copied);  // keep the copy observable
    copied += block_bytes;
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  } while (elapsed < seconds);
  volatile char sink = dst[block_bytes / 2];
  (void)sink;
  return static_cast<double>(copied) / elapsed / 1e9;
}

}  // namespace kvstash
