// A kvstash cluster against real processes: one etcd and several kvstashd on loopback, all
// started here and stopped by PID. Each test bounds its own time. What is checked is the
// cluster's contract (include/kvstash/cluster_client.h, docs/ARCHITECTURE.md §6): joins and
// graceful leaves are seen within 100 ms, a SIGKILLed node costs only its own keys (as misses,
// never errors or wrong bytes, no call over 1 s) and is dropped within TTL + 1 s, etcd being
// away changes nothing on the data path, and a node name is held by one live node.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "cluster/placement.h"
#include "tools/cluster/cluster_fixture.h"

namespace kvstash {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr size_t kValueBytes = 4096;

std::string Bin() {
  const char* b = std::getenv("KVSTASHD_BIN");
  return b == nullptr ? "" : b;
}

// The bytes stored under `key`: derived from the key, so any reader can check them.
std::vector<std::byte> ValueOf(std::string_view key) {
  std::vector<std::byte> v(kValueBytes);
  uint64_t h = cluster::Placement::KeyHash(key);
  for (size_t i = 0; i < v.size(); ++i) v[i] = std::byte((h >> ((i % 8) * 8)) + i);
  return v;
}

std::string KeyOf(int i) { return "k/" + std::to_string(i); }

std::unique_ptr<ClusterFixture> StartCluster(const std::string& test, int nodes, int ttl_s = 2) {
  ClusterFixtureOptions o;
  o.kvstashd = Bin();
  o.dir = ::testing::TempDir() + "cluster_" + test + "_" + std::to_string(::getpid());
  o.cluster = test;
  o.ttl_s = ttl_s;
  auto f = ClusterFixture::Start(o);
  EXPECT_TRUE(f.ok()) << f.status().ToString();
  if (!f.ok()) return nullptr;
  for (int i = 0; i < nodes; ++i) {
    Status s = (*f)->AddNode("n" + std::to_string(i));
    EXPECT_TRUE(s.ok()) << s.ToString();
    if (!s.ok()) return nullptr;
  }
  return std::move(*f);
}

ClientOptions NodeOptions() {
  ClientOptions o;
  o.timeout = milliseconds(800);  // no call may wait on a dead node for long
  return o;
}

// Puts keys [0, n) and returns how many were stored.
int PutKeys(ClusterClient& c, int n) {
  int ok = 0;
  for (int i = 0; i < n; ++i) {
    std::string k = KeyOf(i);
    ok += c.Put(k, ValueOf(k)).ok() ? 1 : 0;
  }
  return ok;
}

// Polls `done` every millisecond for at most `limit`; returns the time it took (or `limit`).
template <typename F>
milliseconds TimeUntil(F done, milliseconds limit) {
  auto t0 = Clock::now();
  while (!done() && Clock::now() - t0 < limit) std::this_thread::sleep_for(milliseconds(1));
  return std::chrono::duration_cast<milliseconds>(Clock::now() - t0);
}

size_t UpNodes(ClusterClient& c) {
  size_t up = 0;
  for (const auto& n : c.Nodes()) up += n.state == "draining" ? 0 : 1;
  return up;
}

TEST(ClusterProcessTest, KeysSpreadOverTheNodesAndReadBackExactly) {
  auto f = StartCluster("spread", 3);
  ASSERT_NE(f, nullptr);
  auto c = f->Connect(NodeOptions());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ((*c)->Nodes().size(), 3u);
  ASSERT_EQ(PutKeys(**c, 600), 600);
  std::map<std::string, int> per_node;
  for (int i = 0; i < 600; ++i) per_node[(*c)->OwnerOf(KeyOf(i))]++;
  ASSERT_EQ(per_node.size(), 3u);
  for (const auto& [node, n] : per_node) EXPECT_GT(n, 120) << node;  // ~200 each
  // Each node holds exactly the keys it owns: ask it directly.
  for (const auto& [name, count] : per_node) {
    ClientOptions o;
    o.server_address = f->node(name)->address();
    auto direct = Client::Connect(o);
    ASSERT_TRUE(direct.ok());
    int held = 0;
    for (int i = 0; i < 600; ++i) held += *(*direct)->Exists(KeyOf(i)) ? 1 : 0;
    EXPECT_EQ(held, count) << name;
  }
  std::vector<std::string> keys;
  std::vector<std::vector<std::byte>> bufs(600, std::vector<std::byte>(kValueBytes));
  std::vector<GetItem> items;
  for (int i = 0; i < 600; ++i) keys.push_back(KeyOf(i));
  for (int i = 0; i < 600; ++i) items.push_back({keys[i], bufs[i]});
  auto got = (*c)->GetBatch(items);
  ASSERT_TRUE(got.ok());
  for (int i = 0; i < 600; ++i) {
    ASSERT_TRUE((*got)[i].ok()) << keys[i] << ": " << (*got)[i].status().ToString();
    EXPECT_EQ(bufs[i], ValueOf(keys[i])) << keys[i];
  }
  std::vector<std::string_view> chain(keys.begin(), keys.begin() + 100);
  EXPECT_EQ(*(*c)->LongestPrefix(chain), 100u);
  std::string absent = "absent";
  chain[60] = absent;
  EXPECT_EQ(*(*c)->LongestPrefix(chain), 60u);
}

TEST(ClusterProcessTest, ASecondNodeWithTheSameNameIsRefused) {
  auto f = StartCluster("dupname", 1, /*ttl_s=*/1);
  ASSERT_NE(f, nullptr);
  auto port = FreeLoopbackPort();
  ASSERT_TRUE(port.ok());
  std::string log = ::testing::TempDir() + "dupname_second_" + std::to_string(::getpid()) + ".log";
  KvstashdProcess second(
      Bin(),
      {"--listen", "127.0.0.1:" + std::to_string(*port), "--dram", "64MiB", "--region-size", "4MiB",
       "--flash", "", "--metrics-listen", "", "--etcd", f->etcd().endpoint(), "--cluster",
       "dupname", "--node-name", "n0", "--cluster-ttl", "1"},
      log);
  auto t0 = Clock::now();
  Status s = second.Start(std::chrono::seconds(15));
  EXPECT_FALSE(s.ok());
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(10));  // it waited out one TTL, no more
  EXPECT_NE(second.LogTail().find("already registered"), std::string::npos) << second.LogTail();
  EXPECT_TRUE(f->node("n0")->proc->Running());  // the first is untouched
}

TEST(ClusterProcessTest, AJoinIsSeenWithin100MsAndAGracefulStopToo) {
  auto f = StartCluster("joinleave", 2);
  ASSERT_NE(f, nullptr);
  auto c = f->Connect(NodeOptions());
  ASSERT_TRUE(c.ok());
  ASSERT_EQ((*c)->Nodes().size(), 2u);
  // The startup line comes after the registration, so this bounds registration -> seen.
  ASSERT_TRUE(f->AddNode("n2").ok());
  milliseconds seen = TimeUntil([&] { return (*c)->Nodes().size() == 3; }, milliseconds(2000));
  EXPECT_LT(seen, milliseconds(100)) << "join seen after " << seen.count() << " ms";
  ::kill(f->node("n1")->proc->pid(), SIGTERM);
  milliseconds gone = TimeUntil([&] { return UpNodes(**c) == 2; }, milliseconds(2000));
  EXPECT_LT(gone, milliseconds(100)) << "graceful stop seen after " << gone.count() << " ms";
  std::printf("join seen after %lld ms, graceful stop after %lld ms\n",
              static_cast<long long>(seen.count()), static_cast<long long>(gone.count()));
  EXPECT_EQ(f->node("n1")->proc->Stop(), 0);
  f->Forget("n1");
  EXPECT_EQ(
      TimeUntil([&] { return (*c)->Nodes().size() == 2; }, milliseconds(2000)) < milliseconds(2000),
      true);
}

// Readers of keys [0, keys) through one ClusterClient, classifying every outcome by whether
// the key's owner (at Start) is `victim`. A miss is re-put, as a cache would.
class Load {
 public:
  Load(ClusterClient& c, int keys, std::string victim) : c_(c), keys_(keys), victim_(victim) {
    for (int i = 0; i < keys; ++i) victim_key_.push_back(c.OwnerOf(KeyOf(i)) == victim);
    missed_.resize(keys);
  }
  ~Load() { Stop(); }
  void Start(int threads) {
    for (int t = 0; t < threads; ++t) threads_.emplace_back([this, t] { Run(t); });
  }
  void Stop() {
    stop_ = true;
    for (auto& t : threads_) t.join();
    threads_.clear();
  }
  int64_t worst_ms() const { return worst_us_.load() / 1000; }
  uint64_t survivor_failures() const { return survivor_failures_.load(); }
  uint64_t wrong_bytes() const { return wrong_.load(); }
  uint64_t gets() const { return gets_.load(); }
  std::string last_survivor_failure() {
    std::lock_guard lock(mu_);
    return last_failure_;
  }
  double missed_fraction() {
    std::lock_guard lock(mu_);
    return double(std::count(missed_.begin(), missed_.end(), true)) / keys_;
  }

 private:
  void Run(int seed) {
    std::vector<std::byte> buf(kValueBytes);
    uint64_t x = 0x9e3779b97f4a7c15ull * (seed + 1);
    while (!stop_) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      int i = static_cast<int>(x % keys_);
      std::string k = KeyOf(i);
      auto t0 = Clock::now();
      Result<size_t> got = c_.Get(k, buf);
      if (!got.ok() && got.status().code() == StatusCode::kNotFound) (void)c_.Put(k, ValueOf(k));
      int64_t us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count();
      for (int64_t w = worst_us_.load(); us > w && !worst_us_.compare_exchange_weak(w, us);) {
      }
      gets_++;
      if (got.ok()) {
        if (*got != kValueBytes || buf != ValueOf(k)) wrong_++;
        continue;
      }
      std::lock_guard lock(mu_);
      missed_[i] = true;
      if (!victim_key_[i]) {
        survivor_failures_++;
        last_failure_ = k + ": " + got.status().ToString();
      }
    }
  }

  ClusterClient& c_;
  const int keys_;
  const std::string victim_;
  std::vector<bool> victim_key_;
  std::mutex mu_;
  std::vector<bool> missed_;  // guarded by mu_
  std::string last_failure_;  // guarded by mu_
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> worst_us_{0};
  std::atomic<uint64_t> survivor_failures_{0}, wrong_{0}, gets_{0};
  std::vector<std::thread> threads_;
};

TEST(ClusterProcessTest, SigkillOfANodeUnderLoadCostsOnlyItsKeys) {
  constexpr int kTtl = 2;
  auto f = StartCluster("sigkill", 3, kTtl);
  ASSERT_NE(f, nullptr);
  auto c = f->Connect(NodeOptions());
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(PutKeys(**c, 1500), 1500);
  Load load(**c, 1500, "n1");
  load.Start(2);
  std::this_thread::sleep_for(milliseconds(500));
  ASSERT_EQ(load.survivor_failures(), 0u) << load.last_survivor_failure();
  f->node("n1")->proc->Kill();
  milliseconds dropped =
      TimeUntil([&] { return (*c)->Nodes().size() == 2; }, std::chrono::seconds(kTtl + 3));
  std::this_thread::sleep_for(milliseconds(500));  // misses re-put on the new owners
  load.Stop();
  EXPECT_LE(dropped, std::chrono::seconds(kTtl + 1))
      << "dropped after " << dropped.count() << " ms";
  std::printf(
      "sigkill: dropped after %lld ms (ttl %d s), worst call %lld ms, %llu gets, missed "
      "%.3f of the keys\n",
      static_cast<long long>(dropped.count()), kTtl, static_cast<long long>(load.worst_ms()),
      static_cast<unsigned long long>(load.gets()), load.missed_fraction());
  EXPECT_EQ(load.wrong_bytes(), 0u);
  EXPECT_EQ(load.survivor_failures(), 0u) << load.last_survivor_failure();
  EXPECT_LT(load.worst_ms(), 1000) << "a call blocked " << load.worst_ms() << " ms";
  EXPECT_LT(load.missed_fraction(), 0.45);  // about 1/3: the dead node's keys
  EXPECT_GT(load.gets(), 100u);
}

TEST(ClusterProcessTest, SigstopAndSigcontOfANode) {
  auto f = StartCluster("sigstop", 3, /*ttl_s=*/3);
  ASSERT_NE(f, nullptr);
  auto c = f->Connect(NodeOptions());
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(PutKeys(**c, 900), 900);
  Load load(**c, 900, "n2");
  load.Start(2);
  ::kill(f->node("n2")->proc->pid(), SIGSTOP);      // hangs with its sockets open
  std::this_thread::sleep_for(milliseconds(1500));  // within the TTL: still listed
  ::kill(f->node("n2")->proc->pid(), SIGCONT);
  std::this_thread::sleep_for(milliseconds(1500));
  load.Stop();
  EXPECT_EQ(load.wrong_bytes(), 0u);
  EXPECT_EQ(load.survivor_failures(), 0u) << load.last_survivor_failure();
  EXPECT_LT(load.worst_ms(), 1000);
  // Back in service: its keys read again once the quarantine ran out.
  auto t = TimeUntil(
      [&] {
        std::vector<std::byte> buf(kValueBytes);
        for (int i = 0; i < 900; ++i)
          if ((*c)->OwnerOf(KeyOf(i)) == "n2") return (*c)->Get(KeyOf(i), buf).ok();
        return false;
      },
      std::chrono::seconds(10));
  EXPECT_LT(t, std::chrono::seconds(10)) << "the resumed node never served again";
  EXPECT_EQ((*c)->Nodes().size(), 3u);
}

TEST(ClusterProcessTest, ARestartedNodeKeepsItsNameWithANewBootId) {
  auto f = StartCluster("restart", 2, /*ttl_s=*/1);
  ASSERT_NE(f, nullptr);
  auto c = f->Connect(NodeOptions());
  ASSERT_TRUE(c.ok());
  std::string boot;
  for (const auto& n : (*c)->Nodes())
    if (n.name == "n1") boot = n.boot_id;
  ASSERT_FALSE(boot.empty());
  f->node("n1")->proc->Kill();
  f->Forget("n1");
  ASSERT_TRUE(f->AddNode("n1").ok());  // waits out the dead one's lease, then registers
  auto t = TimeUntil(
      [&] {
        for (const auto& n : (*c)->Nodes())
          if (n.name == "n1" && n.boot_id != boot) return true;
        return false;
      },
      std::chrono::seconds(5));
  EXPECT_LT(t, std::chrono::seconds(5));
  EXPECT_EQ(PutKeys(**c, 200), 200);  // including n1's, on its new process
  std::vector<std::byte> buf(kValueBytes);
  for (int i = 0; i < 200; ++i) ASSERT_TRUE((*c)->Get(KeyOf(i), buf).ok()) << KeyOf(i);
}

TEST(ClusterProcessTest, JoinAndLeaveUnderLoad) {
  auto f = StartCluster("churn", 3);
  ASSERT_NE(f, nullptr);
  auto c = f->Connect(NodeOptions());
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(PutKeys(**c, 1200), 1200);
  Load load(**c, 1200, "n0");  // n0 leaves; n3 joins and takes ~1/4 of the keys
  load.Start(2);
  ASSERT_TRUE(f->AddNode("n3").ok());
  std::this_thread::sleep_for(milliseconds(500));
  EXPECT_EQ(f->node("n0")->proc->Stop(), 0);
  f->Forget("n0");
  std::this_thread::sleep_for(milliseconds(500));
  load.Stop();
  EXPECT_EQ(load.wrong_bytes(), 0u);
  EXPECT_LT(load.worst_ms(), 1000);
  // Keys of n1 and n2 that moved to n3 were found on their previous owner meanwhile.
  auto stats = (*c)->Stats();
  EXPECT_GT(stats["cluster.previous_owner_hits"], 0u);
  EXPECT_EQ((*c)->Nodes().size(), 3u);
}

// etcd killed for a while (KVSTASH_CLUSTER_ETCD_DOWN_S, default 30 s) under load: no data-path
// error, and when it returns no node has left the view or registered again.
TEST(ClusterProcessTest, EtcdDownChangesNothingOnTheDataPath) {
  const char* env = std::getenv("KVSTASH_CLUSTER_ETCD_DOWN_S");
  int down_s = env != nullptr ? std::atoi(env) : 30;
  auto f = StartCluster("etcddown", 3, /*ttl_s=*/3);
  ASSERT_NE(f, nullptr);
  auto c = f->Connect(NodeOptions());
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(PutKeys(**c, 900), 900);
  Load load(**c, 900, "none");  // every key must hit
  load.Start(2);
  f->etcd().Kill();
  size_t min_nodes = 3;
  auto until = Clock::now() + std::chrono::seconds(down_s);
  while (Clock::now() < until) {
    min_nodes = std::min(min_nodes, (*c)->Nodes().size());
    std::this_thread::sleep_for(milliseconds(20));
  }
  ASSERT_TRUE(f->etcd().Restart().ok()) << f->etcd().LogTail();
  until = Clock::now() + std::chrono::seconds(5);  // the renewals and the watch resume
  while (Clock::now() < until) {
    min_nodes = std::min(min_nodes, (*c)->Nodes().size());
    std::this_thread::sleep_for(milliseconds(20));
  }
  load.Stop();
  EXPECT_EQ(load.survivor_failures(), 0u) << load.last_survivor_failure();
  EXPECT_EQ(load.wrong_bytes(), 0u);
  EXPECT_EQ(min_nodes, 3u) << "a node left the client's view";
  for (const char* n : {"n0", "n1", "n2"}) {
    EXPECT_EQ(f->node(n)->proc->LogTail(100000).find("registering again"), std::string::npos)
        << n << " lost its lease: " << f->node(n)->proc->LogTail();
  }
}

}  // namespace
}  // namespace kvstash
