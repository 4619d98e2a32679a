// kvstash-cluster-bench: GET (and PUT) throughput of one kvstashd against N registered in
// etcd, through ClusterClient, all started here on loopback. Prints its conditions, memcpy
// (the physical limit of a same-host copy, measured in the same run), and per configuration
// GB/s, ops/s and the ratio to the one-node baseline through a plain Client.
//
//   kvstash-cluster-bench --kvstashd build/tools/kvstashd --nodes 1,3 --threads 2 --seconds 5
#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <thread>

#include "common/size.h"
#include "kvstash/cluster_client.h"
#include "tools/cluster/cluster_fixture.h"

namespace kvstash {
namespace {

using Clock = std::chrono::steady_clock;

struct BenchArgs {
  std::string kvstashd;
  std::vector<int> nodes = {1, 3};
  int threads = 2;
  std::string value_size = "64KiB";
  int keys = 1024;
  int batch = 16;
  double seconds = 5;
  int node_workers = 1;
  std::string dram = "256MiB";
  int idle_poll_us = -1;  // kvstashd --idle-poll-us; -1: its default
};

double MemcpyGBps(size_t bytes) {
  std::vector<char> a(bytes, 1), b(bytes);
  auto t0 = Clock::now();
  int reps = 0;
  while (Clock::now() - t0 < std::chrono::milliseconds(300)) {
    std::memcpy(b.data(), a.data(), bytes);
    ++reps;
  }
  return double(bytes) * reps / std::chrono::duration<double>(Clock::now() - t0).count() / 1e9;
}

std::string Key(int i) { return "bench/" + std::to_string(i); }

// `threads` threads each GetBatch `batch` random keys in a loop for `seconds`; returns bytes/s
// and ops/s. `get(thread, items)` issues one batch and returns how many items hit.
template <typename GetFn>
std::pair<double, double> RunGets(const BenchArgs& a, uint64_t value_bytes, GetFn get) {
  std::atomic<uint64_t> items{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < a.threads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::vector<std::byte>> bufs(a.batch, std::vector<std::byte>(value_bytes));
      std::vector<std::string> keys(a.batch);
      std::vector<GetItem> batch(a.batch);
      uint64_t x = 88172645463325252ull + t;
      while (!stop) {
        for (int i = 0; i < a.batch; ++i) {
          x ^= x << 13, x ^= x >> 7, x ^= x << 17;
          keys[i] = Key(static_cast<int>(x % a.keys));
          batch[i] = {keys[i], bufs[i]};
        }
        items += get(t, batch);
      }
    });
  }
  auto t0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(a.seconds));
  stop = true;
  for (auto& t : threads) t.join();
  double s = std::chrono::duration<double>(Clock::now() - t0).count();
  return {double(items.load()) * value_bytes / s, items.load() / s};
}

int RunBench(BenchArgs& a) {
  auto vb = ParseSize(a.value_size);
  if (!vb.ok()) return std::fprintf(stderr, "bad --value-size\n"), 2;
  std::string poll = a.idle_poll_us < 0 ? "200 (default)" : std::to_string(a.idle_poll_us);
  std::printf(
      "conditions: %u cores, %d client threads, value %s, %d keys, batch %d, %.1f s per "
      "run, node workers %d, node idle poll %s us, UCX_TLS=%s\n",
      std::thread::hardware_concurrency(), a.threads, a.value_size.c_str(), a.keys, a.batch,
      a.seconds, a.node_workers, poll.c_str(),
      std::getenv("UCX_TLS") ? std::getenv("UCX_TLS") : "(default)");
  std::printf("memcpy (one thread, %s): %.2f GB/s\n", FormatSize(*vb).c_str(), MemcpyGBps(*vb));
  double baseline = 0;
  for (int n : a.nodes) {
    ClusterFixtureOptions o;
    o.kvstashd = a.kvstashd;
    o.dir = "/tmp/kvstash-cluster-bench-" + std::to_string(::getpid()) + "-" + std::to_string(n);
    o.cluster = "bench" + std::to_string(n);
    o.dram = a.dram;
    o.region = "8MiB";
    o.workers = a.node_workers;
    if (a.idle_poll_us >= 0) o.extra = {"--idle-poll-us", std::to_string(a.idle_poll_us)};
    auto f = ClusterFixture::Start(o);
    if (!f.ok()) return std::fprintf(stderr, "%s\n", f.status().ToString().c_str()), 1;
    for (int i = 0; i < n; ++i) {
      Status s = (*f)->AddNode("n" + std::to_string(i));
      if (!s.ok()) return std::fprintf(stderr, "%s\n", s.ToString().c_str()), 1;
    }
    std::vector<std::unique_ptr<ClusterClient>> clients;
    for (int t = 0; t < a.threads; ++t) clients.push_back((*f)->Connect().value());
    std::vector<std::byte> value(*vb, std::byte{7});
    for (int i = 0; i < a.keys; ++i) (void)clients[0]->Put(Key(i), value);
    if (n == a.nodes.front() && n == 1) {  // the baseline: a plain Client to the one node
      std::vector<std::unique_ptr<Client>> direct;
      for (int t = 0; t < a.threads; ++t) {
        ClientOptions co;
        co.server_address = (*f)->node("n0")->address();
        direct.push_back(Client::Connect(co).value());
      }
      auto [bps, ops] = RunGets(a, *vb, [&](int t, std::vector<GetItem>& b) {
        auto r = direct[t]->GetBatch(b);
        return r.ok() ? std::ranges::count_if(*r, [](auto& x) { return x.ok(); }) : 0;
      });
      baseline = bps;
      std::printf("1 node, plain Client:   GET %.2f GB/s  %.0f ops/s\n", bps / 1e9, ops);
    }
    auto [bps, ops] = RunGets(a, *vb, [&](int t, std::vector<GetItem>& b) {
      auto r = clients[t]->GetBatch(b);
      return r.ok() ? std::ranges::count_if(*r, [](auto& x) { return x.ok(); }) : 0;
    });
    std::printf(
        "%d node(s), ClusterClient: GET %.2f GB/s  %.0f ops/s  (%.2fx the one-node "
        "plain Client)\n",
        n, bps / 1e9, ops, baseline > 0 ? bps / baseline : 0.0);
    std::fflush(stdout);
    std::filesystem::remove_all(o.dir);
  }
  return 0;
}

}  // namespace
}  // namespace kvstash

int main(int argc, char** argv) {
  kvstash::BenchArgs a;
  CLI::App app("kvstash-cluster-bench: GET throughput of 1 vs N kvstashd nodes in one cluster");
  app.add_option("--kvstashd", a.kvstashd, "the kvstashd binary")->required();
  app.add_option("--nodes", a.nodes, "node counts to run, e.g. 1,3 (default 1,3)")->delimiter(',');
  app.add_option("--threads", a.threads, "client threads (default 2)");
  app.add_option("--value-size", a.value_size, "block SIZE (default 64KiB)");
  app.add_option("--keys", a.keys, "distinct keys (default 1024)");
  app.add_option("--batch", a.batch, "keys per GetBatch (default 16)");
  app.add_option("--seconds", a.seconds, "seconds per run (default 5)");
  app.add_option("--node-workers", a.node_workers, "kvstashd --workers (default 1)");
  app.add_option("--dram", a.dram, "kvstashd --dram (default 256MiB)");
  app.add_option("--idle-poll-us", a.idle_poll_us, "kvstashd --idle-poll-us (default: its own)");
  CLI11_PARSE(app, argc, argv);
  return kvstash::RunBench(a);
}
