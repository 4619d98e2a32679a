// kvstash-net-bench: DRAM-hit GET and PUT bandwidth/latency through the real server and client
// (in one process, over UCX), next to single-thread memcpy bandwidth measured in the same run.
//
//   kvstash-net-bench [--transports sm,tcp] [--sizes 4096,65536,1048576,8388608] [--mib 256]
//
// Each (transport, size) runs a fresh server+client: PUT = Allocate -> ucp_put -> flush ->
// Commit per block (distinct keys); GET = one resident block fetched repeatedly into a
// registered buffer (zero copy: the server puts from its arena). "sm" runs the endpoints
// without peer-failure mode (UCX 1.13 needs that for shared-memory lanes), "tcp" with it.
#include <ucp/api/ucp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "engine/block_store.h"
#include "kvstash/client.h"
#include "net/server/server.h"

namespace kvstash {
namespace {

using Clock = std::chrono::steady_clock;

struct Result {
  double gbps = 0;
  double p50_us = 0, p99_us = 0, p999_us = 0;
  size_t ops = 0;
};

Result Summarize(std::vector<double>& lat_us, size_t bytes_per_op, double seconds) {
  Result r;
  std::sort(lat_us.begin(), lat_us.end());
  auto pct = [&](double p) {
    return lat_us[std::min(lat_us.size() - 1, size_t(p * lat_us.size()))];
  };
  r.ops = lat_us.size();
  r.p50_us = pct(0.50);
  r.p99_us = pct(0.99);
  r.p999_us = pct(0.999);
  r.gbps = double(bytes_per_op) * r.ops / seconds / 1e9;
  return r;
}

double MemcpyGBps(size_t size, size_t total) {
  std::vector<std::byte> a(size, std::byte{1}), b(size);
  std::memcpy(b.data(), a.data(), size);  // fault the pages in
  size_t iters = std::max<size_t>(4, total / size);
  auto t0 = Clock::now();
  for (size_t i = 0; i < iters; ++i) {
    a[i % size] = std::byte(i);
    std::memcpy(b.data(), a.data(), size);
  }
  double s = std::chrono::duration<double>(Clock::now() - t0).count();
  volatile auto sink = b[size / 2];
  (void)sink;
  return double(size) * iters / s / 1e9;
}

struct Setup {
  std::unique_ptr<BlockStore> store;
  std::unique_ptr<Server> server;
  std::unique_ptr<Client> client;
};

bool Start(const std::string& tls, Setup* s) {
  const char* sm_tls = std::getenv("KVSTASH_BENCH_SM_TLS");  // e.g. "cma,sysv,self,tcp"
  setenv("UCX_TLS", tls == "sm" ? (sm_tls ? sm_tls : "sm,self,tcp") : "tcp", 1);
  bool shm = tls == "sm";
  StoreOptions so;
  so.dram_bytes = 1ull << 30;
  auto store = BlockStore::Create(so);
  if (!store.ok()) return fprintf(stderr, "store: %s\n", store.status().ToString().c_str()), false;
  s->store = std::move(store).value();
  ServerOptions sv;
  sv.listen_port = 0;
  sv.peer_failure = shm ? PeerFailureDetection::kOff : PeerFailureDetection::kOn;
  auto server = Server::Create(sv, s->store.get());
  if (!server.ok() || !(*server)->Start().ok()) return fprintf(stderr, "server failed\n"), false;
  s->server = std::move(server).value();
  ClientOptions co;
  co.server_address = "127.0.0.1:" + std::to_string(s->server->port());
  co.peer_failure = shm ? PeerFailureDetection::kOff : PeerFailureDetection::kOn;
  co.send_checksums = false;  // measure the transport; checksums are an option
  auto client = Client::Connect(co);
  if (!client.ok())
    return fprintf(stderr, "client: %s\n", client.status().ToString().c_str()), false;
  s->client = std::move(client).value();
  return true;
}

void RunOne(const std::string& tls, size_t size, size_t budget) {
  Setup s;
  if (!Start(tls, &s)) return;
  std::vector<std::byte> src(size, std::byte{7});
  size_t put_ops = std::clamp<size_t>(budget / size, 16, 4000);
  put_ops = std::min<size_t>(put_ops, (512ull << 20) / size);  // stay inside the arena
  std::vector<double> lat;
  auto t0 = Clock::now();
  for (size_t i = 0; i < put_ops; ++i) {
    auto a = Clock::now();
    Status st = s.client->Put("put-" + std::to_string(i), src);
    lat.push_back(std::chrono::duration<double, std::micro>(Clock::now() - a).count());
    if (!st.ok()) return (void)fprintf(stderr, "put: %s\n", st.ToString().c_str());
  }
  Result put = Summarize(lat, size, std::chrono::duration<double>(Clock::now() - t0).count());

  std::vector<std::byte> dst(size);
  auto reg = s.client->RegisterBuffer(dst.data(), dst.size());
  if (!reg.ok()) return (void)fprintf(stderr, "register failed\n");
  size_t get_ops = std::clamp<size_t>(budget / size, 64, 4000);
  for (int i = 0; i < 8; ++i) (void)s.client->Get("put-0", dst);  // warm up
  lat.clear();
  t0 = Clock::now();
  for (size_t i = 0; i < get_ops; ++i) {
    auto a = Clock::now();
    auto r = s.client->Get("put-0", dst);
    lat.push_back(std::chrono::duration<double, std::micro>(Clock::now() - a).count());
    if (!r.ok()) return (void)fprintf(stderr, "get: %s\n", r.status().ToString().c_str());
  }
  Result get = Summarize(lat, size, std::chrono::duration<double>(Clock::now() - t0).count());
  double mc = MemcpyGBps(size, budget);
  uint64_t copies = s.server->Stats().dram_payload_memcpy_bytes;
  for (auto [name, r] : {std::pair{"GET", get}, std::pair{"PUT", put}}) {
    printf("%-4s %-4s %9zu %6zu %8.2f %9.1f %9.1f %9.1f %8.2f %6.2f %llu\n", tls.c_str(), name,
           size, r.ops, r.gbps, r.p50_us, r.p99_us, r.p999_us, mc, r.gbps / mc,
           static_cast<unsigned long long>(copies));
  }
  fflush(stdout);
}

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  size_t b = 0;
  while (b <= s.size()) {
    size_t e = s.find(',', b);
    if (e == std::string::npos) e = s.size();
    if (e > b) out.push_back(s.substr(b, e - b));
    b = e + 1;
  }
  return out;
}

}  // namespace
}  // namespace kvstash

int main(int argc, char** argv) {
  std::string transports = "sm,tcp";
  std::string sizes = "4096,65536,1048576,8388608";
  size_t mib = 256;  // bytes moved per (transport, size, op), roughly
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--transports")
      transports = argv[i + 1];
    else if (k == "--sizes")
      sizes = argv[i + 1];
    else if (k == "--mib")
      mib = std::stoul(argv[i + 1]);
  }
  unsigned major = 0, minor = 0, release = 0;
  ucp_get_version(&major, &minor, &release);
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  printf(
      "# kvstash-net-bench: in-process server (1 worker) + 1 client, sync calls, 1 block per "
      "call\n");
  printf("# UCX %u.%u.%u, host %s, %u CPUs, loopback 127.0.0.1; DRAM arena 1 GiB; no checksums\n",
         major, minor, release, host, std::thread::hardware_concurrency());
  printf("# sm = UCX_TLS=sm,self,tcp without peer-failure mode (shm lanes); tcp = UCX_TLS=tcp\n");
  printf(
      "# memcpy = single-thread memcpy of the same block size in this run; ratio = GB/s / "
      "memcpy\n");
  printf("%-4s %-4s %9s %6s %8s %9s %9s %9s %8s %6s %s\n", "tls", "op", "bytes", "ops", "GB/s",
         "p50_us", "p99_us", "p999_us", "memcpy", "ratio", "srv_memcpy_B");
  for (const auto& t : kvstash::Split(transports)) {
    for (const auto& sz : kvstash::Split(sizes)) kvstash::RunOne(t, std::stoul(sz), mib << 20);
  }
  return 0;
}
