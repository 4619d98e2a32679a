// kvstash-nixl-bench: the cost of going through NIXL. For each block size (128 KiB..8 MiB) it
// moves the same bytes (a 32 MiB batch per request) two ways against one in-process kvstash
// server, alternating which goes first so both see the same machine state:
//   direct  kvstash Client PutBatchAsync / GetBatchAsync (+ future.get()) on registered
//           buffers: the very calls the plugin makes, so the difference is NIXL + plugin
//   nixl    nixlAgent createXferReq + postXferReq + getXferStatus polling (sleeping) +
//           releaseXferReq through libplugin_KVSTASH.so (OBJ registrations outside the timing)
// It prints the median bandwidth of each, the end-to-end NIXL overhead in percent (target
// <= 5%), and "api %": the time spent inside agent calls (the CPU cost NIXL + plugin add on
// the caller's thread) as a percent of the direct transfer time, which is what the overhead is
// made of and stays measurable on a noisy machine. memcpy of a batch is printed as the
// physical reference of this loopback setup.
//
//   NIXL_PLUGIN_DIR=build/src/nixl UCX_TLS=sm,self,tcp ./kvstash-nixl-bench [reps] [poll_us]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "kvstash/client.h"
#include "nixl.h"
#include "nixl/nixl_test_server.h"

namespace kvstash::nixl {
namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kBatchBytes = 32 << 20;
constexpr const char* kAgent = "kvstash-nixl-bench";

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct Bench {
  std::unique_ptr<TestServer> server;
  std::unique_ptr<Client> client, client2;  // client2: the A/A control (a second connection)
  std::unique_ptr<nixlAgent> agent;
  nixl_opt_args_t opts;
  std::vector<std::byte> src, dst;
  std::chrono::microseconds poll{200};  // sleep between getXferStatus polls
  uint64_t next_dev = 1;
  uint64_t round = 0;
};

// Seconds for one direct batch (WRITE when `write`), through the same async client calls the
// plugin uses (the sync PutBatch/GetBatch take another path inside the client).
double Direct(Bench& b, Client* client, size_t size, bool write,
              const std::vector<std::string>& keys) {
  size_t n = keys.size();
  auto t0 = Clock::now();
  if (write) {
    std::vector<PutItem> items;
    for (size_t i = 0; i < n; ++i) items.push_back({keys[i], {b.src.data() + i * size, size}});
    auto r = client->PutBatchAsync(std::move(items)).get();
    if (!r.ok() || std::any_of(r->begin(), r->end(), [](const Status& s) { return !s.ok(); })) {
      std::fprintf(stderr, "direct put failed\n"), std::exit(1);
    }
  } else {
    std::vector<GetItem> items;
    for (size_t i = 0; i < n; ++i) items.push_back({keys[i], {b.dst.data() + i * size, size}});
    auto r = client->GetBatchAsync(std::move(items)).get();
    if (!r.ok() || std::any_of(r->begin(), r->end(), [](const auto& x) { return !x.ok(); })) {
      std::fprintf(stderr, "direct get failed\n"), std::exit(1);
    }
  }
  return Seconds(t0, Clock::now());
}

// One NIXL batch over objects with devIds [dev, dev + n): wall seconds, and in *api_secs the
// time spent inside agent calls (create + post + every status poll + release), i.e. the
// CPU cost NIXL and the plugin add on the caller's thread, without the waiting.
double ViaNixl(Bench& b, size_t size, bool write, uint64_t dev, size_t n, double* api_secs) {
  std::vector<std::byte>& buf = write ? b.src : b.dst;
  nixl_xfer_dlist_t local(DRAM_SEG), remote(OBJ_SEG);
  for (size_t i = 0; i < n; ++i) {
    local.addDesc(nixlBasicDesc(reinterpret_cast<uintptr_t>(buf.data() + i * size), size, 0));
    remote.addDesc(nixlBasicDesc(0, size, dev + i));
  }
  double api = 0;
  auto timed = [&api](auto&& call) {
    auto t = Clock::now();
    auto r = call();
    api += Seconds(t, Clock::now());
    return r;
  };
  auto t0 = Clock::now();
  nixlXferReqH* req = nullptr;
  nixl_status_t s = timed([&] {
    return b.agent->createXferReq(write ? NIXL_WRITE : NIXL_READ, local, remote, kAgent, req,
                                  &b.opts);
  });
  if (s == NIXL_SUCCESS) s = timed([&] { return b.agent->postXferReq(req); });
  while (s == NIXL_IN_PROG) {
    // Poll like an engine does (LMCache sleeps 1 ms): a spinning poller steals the cores
    // the client's executor and the server need on a small machine.
    std::this_thread::sleep_for(b.poll);
    s = timed([&] { return b.agent->getXferStatus(req); });
  }
  if (req) timed([&] { return b.agent->releaseXferReq(req); });
  double secs = Seconds(t0, Clock::now());
  if (s != NIXL_SUCCESS) std::fprintf(stderr, "nixl xfer failed: %d\n", s), std::exit(1);
  *api_secs = api;
  return secs;
}

struct Row {
  // Bandwidths per path: [0] direct client, [1] second direct client (A/A control), [2] NIXL.
  std::vector<double> w[3], r[3];
  std::vector<double> api_pct;  // agent-call time / direct transfer time, percent
};

void OneRound(Bench& b, size_t size, Row& row) {
  size_t n = std::max<size_t>(1, kBatchBytes / size);
  std::vector<std::string> keys[2];
  nixl_reg_dlist_t objs(OBJ_SEG);
  uint64_t dev = b.next_dev;
  for (size_t i = 0; i < n; ++i) {
    std::string tag =
        std::to_string(size) + "-" + std::to_string(b.round) + "-" + std::to_string(i);
    keys[0].push_back("direct-" + tag);
    keys[1].push_back("direct2-" + tag);
    objs.addDesc(nixlBlobDesc(0, size, dev + i, "nixl-" + tag));
  }
  b.next_dev += n;
  if (b.agent->registerMem(objs, &b.opts) != NIXL_SUCCESS) std::exit(1);
  double bytes = double(n) * size, api = 0, direct_secs = 0;
  // Rotate the order of the three paths, so none always inherits another's aftermath.
  for (int phase = 0; phase < 2; ++phase) {
    bool write = phase == 0;
    for (int k = 0; k < 3; ++k) {
      int path = static_cast<int>((b.round + k) % 3);
      double api_one = 0, secs;
      if (path == 2) {
        secs = ViaNixl(b, size, write, dev, n, &api_one);
      } else {
        secs = Direct(b, path == 0 ? b.client.get() : b.client2.get(), size, write, keys[path]);
      }
      (write ? row.w : row.r)[path].push_back(bytes / secs);
      api += api_one;
      if (path == 0) direct_secs += secs;
    }
  }
  row.api_pct.push_back(100 * api / direct_secs);
  ++b.round;
  b.agent->deregisterMem(objs, &b.opts);
}

// Prints one size's line: medians, NIXL vs the mean of the two direct clients, and the A/A
// spread (client 1 vs client 2), which is the noise floor the NIXL figure must be read against.
void PrintRow(size_t size, const Row& row) {
  double w[3], r[3];
  for (int p = 0; p < 3; ++p) w[p] = Median(row.w[p]) / 1e9, r[p] = Median(row.r[p]) / 1e9;
  double dw = (w[0] + w[1]) / 2, dr = (r[0] + r[1]) / 2;
  std::printf(
      "%6zuK %5zu | %5.2f %5.2f %5.2f | %5.2f %5.2f %5.2f | %+6.1f %+6.1f | %+6.1f %+6.1f |"
      " %5.2f\n",
      size >> 10, kBatchBytes / size, w[0], w[1], w[2], r[0], r[1], r[2], (dw / w[2] - 1) * 100,
      (dr / r[2] - 1) * 100, (w[0] / w[1] - 1) * 100, (r[0] / r[1] - 1) * 100, Median(row.api_pct));
}

double MemcpyRate(Bench& b) {
  std::vector<double> rates;
  for (int i = 0; i < 5; ++i) {
    auto t0 = Clock::now();
    std::memcpy(b.dst.data(), b.src.data(), kBatchBytes);
    rates.push_back(kBatchBytes / Seconds(t0, Clock::now()));
  }
  return Median(rates);
}

int Main(int reps, int poll_us) {
  Bench b;
  b.poll = std::chrono::microseconds(poll_us);
  auto server = TestServer::Start(2ull << 30);
  if (!server.ok()) return std::fprintf(stderr, "%s\n", server.status().ToString().c_str()), 1;
  b.server = std::move(server).value();
  ClientOptions options;
  options.server_address = b.server->address();
  auto client = Client::Connect(options);
  if (!client.ok()) return std::fprintf(stderr, "%s\n", client.status().ToString().c_str()), 1;
  b.client = std::move(client).value();
  b.src.assign(kBatchBytes, std::byte{0x5a});
  b.dst.assign(kBatchBytes, std::byte{0});
  auto client2 = Client::Connect(options);
  if (!client2.ok()) return 1;
  b.client2 = std::move(client2).value();
  auto src_reg = b.client->RegisterBuffer(b.src.data(), b.src.size());
  auto dst_reg = b.client->RegisterBuffer(b.dst.data(), b.dst.size());
  auto src_reg2 = b.client2->RegisterBuffer(b.src.data(), b.src.size());
  auto dst_reg2 = b.client2->RegisterBuffer(b.dst.data(), b.dst.size());
  if (!src_reg.ok() || !dst_reg.ok() || !src_reg2.ok() || !dst_reg2.ok()) return 1;

  b.agent = std::make_unique<nixlAgent>(kAgent, nixlAgentConfig());
  nixlBackendH* backend = nullptr;
  if (b.agent->createBackend("KVSTASH", {{"server_address", b.server->address()}}, backend) !=
      NIXL_SUCCESS) {
    return std::fprintf(stderr, "createBackend(KVSTASH) failed: NIXL_PLUGIN_DIR?\n"), 1;
  }
  b.opts.backends.push_back(backend);
  nixl_reg_dlist_t dram(DRAM_SEG);
  dram.addDesc(nixlBlobDesc(reinterpret_cast<uintptr_t>(b.src.data()), b.src.size(), 0, ""));
  dram.addDesc(nixlBlobDesc(reinterpret_cast<uintptr_t>(b.dst.data()), b.dst.size(), 0, ""));
  if (b.agent->registerMem(dram, &b.opts) != NIXL_SUCCESS) return 1;

  std::printf(
      "kvstash-nixl-bench: in-process kvstashd on %s, batch %zu MiB/request, %d reps "
      "(median), poll every %d us, memcpy %.2f GB/s\n",
      b.server->address().c_str(), kBatchBytes >> 20, reps, poll_us, MemcpyRate(b) / 1e9);
  std::printf(
      "GB/s per path: d1 = direct client, d2 = second direct client (A/A control), "
      "nx = NIXL + plugin\n");
  std::printf("%7s %5s | %5s %5s %5s | %5s %5s %5s | %13s | %13s | %5s\n", "size", "blks", "W d1",
              "d2", "nx", "R d1", "d2", "nx", "nixl ovh W/R%", "A/A d1/d2 W/R", "api%");
  for (size_t size = 128 << 10; size <= (8u << 20); size *= 2) {
    Row row;
    OneRound(b, size, row);  // warm-up (registration caches, first touches)
    row = Row{};
    for (int r = 0; r < reps; ++r) OneRound(b, size, row);
    PrintRow(size, row);
  }
  b.agent->deregisterMem(dram, &b.opts);
  b.agent.reset();
  return 0;
}

}  // namespace
}  // namespace kvstash::nixl

int main(int argc, char** argv) {
  int reps = argc > 1 ? std::atoi(argv[1]) : 7;
  int poll_us = argc > 2 ? std::atoi(argv[2]) : 200;
  return kvstash::nixl::Main(std::max(1, reps), std::max(0, poll_us));
}
