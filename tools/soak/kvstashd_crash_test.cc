// Crash tests against the real kvstashd binary ($KVSTASHD_BIN) on a free 127.0.0.1 port with a
// temporary flash file:
//  * kvstashd SIGKILLed under load: every client call returns Unavailable within 1 s; after a
//    restart on the same port the same Client objects reconnect and serve;
//  * a client process SIGKILLed between Allocate and Commit: its allocations are aborted when
//    the lease runs out (store.lease_aborts), and their DRAM is reused.
// The mid-put writer is this binary re-executed with KVSTASH_REL_CHILD=midput:<port>:<fd>: it
// speaks the wire protocol directly (RawPeer), so it can stop after Allocate.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "kvstash/client.h"
#include "net/proto/protocol.h"
#include "net/tests/net_test_util.h"
#include "tools/soak/rel_daemon.h"

namespace kvstash {
namespace {

using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;
constexpr uint64_t kOrphanBytes = (15ull << 20) / 2;  // 7.5 MiB: one per 8 MiB region
constexpr int kOrphans = 4;

std::string Bin() {
  const char* b = std::getenv("KVSTASHD_BIN");
  return b == nullptr ? "" : b;
}

struct Daemon {
  std::string dir;
  uint16_t port = 0;
  std::unique_ptr<KvstashdProcess> proc;
  std::string address() const { return "127.0.0.1:" + std::to_string(port); }
};

// A kvstashd with 4 DRAM regions of 8 MiB and `extra` flags.
std::unique_ptr<Daemon> StartDaemon(const std::string& name, std::vector<std::string> extra) {
  auto d = std::make_unique<Daemon>();
  d->dir = ::testing::TempDir() + name + "_" + std::to_string(::getpid());
  std::filesystem::create_directories(d->dir);
  auto port = FreeLoopbackPort();
  EXPECT_TRUE(port.ok());
  d->port = *port;
  std::vector<std::string> args = {"--listen",      d->address(), "--dram",           "32MiB",
                                   "--region-size", "8MiB",       "--metrics-listen", "",
                                   "--workers",     "2"};
  args.insert(args.end(), extra.begin(), extra.end());
  d->proc = std::make_unique<KvstashdProcess>(Bin(), args, d->dir + "/kvstashd.log");
  Status s = d->proc->Start();
  EXPECT_TRUE(s.ok()) << s.ToString();
  return s.ok() ? std::move(d) : nullptr;
}

ClientOptions Options(const Daemon& d) {
  ClientOptions o;
  o.server_address = d.address();
  o.timeout = std::chrono::seconds(5);
  // The promise under test is what happens after the kill; the first connect of 8 clients at
  // once to a daemon that just started, beside the soak test on a loaded 2-core CI machine,
  // once took over the 1 s default (3 of 8 failed) and is not what this test measures.
  o.connect_timeout = std::chrono::seconds(5);
  return o;
}

struct LoadResult {
  std::atomic<int64_t> worst_after_kill_us{0};  // slowest call started after the kill
  std::atomic<int> wrong_code_after_kill{0};
  std::atomic<int> ok_before_kill{0};
  std::atomic<int> ok_after_restart{0};
  std::atomic<int> unavailable{0};
  std::atomic<int64_t> kill_ns{0};                 // steady clock, just before SIGKILL
  std::atomic<int64_t> worst_inflight_fail_us{0};  // kill -> failure of a call in flight
};

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now().time_since_epoch())
      .count();
}

void RaiseTo(std::atomic<int64_t>& a, int64_t v) {
  int64_t prev = a.load();
  while (v > prev && !a.compare_exchange_weak(prev, v)) {
  }
}

void ClientLoop(int id, const Daemon& d, const std::atomic<int>& phase, LoadResult* r) {
  auto c = Client::Connect(Options(d));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  std::vector<std::byte> dest(64 << 10);
  for (int n = 0; phase.load() < 3; ++n) {
    int ph = phase.load();
    std::string key = "c" + std::to_string(id) + "-" + std::to_string(n);
    auto value = testing::Pattern(id * 1000003 + n, dest.size());
    auto t0 = SteadyClock::now();
    Status s = (*c)->Put(key, value);
    if (s.ok()) {
      auto got = (*c)->Get(key, dest);
      s = got.status();
      if (s.ok()) {
        EXPECT_EQ(dest, value) << key;
      }
    }
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - t0);
    if (ph == 0 && s.ok()) r->ok_before_kill++;
    if (ph == 0 && !s.ok() && r->kill_ns.load() != 0) {  // in flight when the daemon died
      RaiseTo(r->worst_inflight_fail_us, (NowNs() - r->kill_ns.load()) / 1000);
      if (s.code() != StatusCode::kUnavailable) {
        r->wrong_code_after_kill++;
        ADD_FAILURE() << "in flight at SIGKILL: " << s.ToString();
      }
    }
    if (ph == 1) {  // the daemon is dead: fast Unavailable, nothing else
      RaiseTo(r->worst_after_kill_us, us.count());
      if (s.code() == StatusCode::kUnavailable) {
        r->unavailable++;
      } else if (!(s.ok() && phase.load() >= 2)) {  // OK only if the restart came meanwhile
        r->wrong_code_after_kill++;
        ADD_FAILURE() << "after SIGKILL: " << s.ToString();
      }
    }
    if (ph == 2 && s.ok()) r->ok_after_restart++;
    if (!s.ok()) std::this_thread::sleep_for(milliseconds(20));
  }
}

TEST(KvstashdCrashTest, SigkillUnderLoadGivesUnavailableFastThenClientsReconnect) {
  ASSERT_FALSE(Bin().empty()) << "set KVSTASHD_BIN";
  auto d = StartDaemon("crash_sigkill", {"--flash", "", "--lease-ms", "2000"});
  ASSERT_NE(d, nullptr);
  constexpr int kClients = 8;
  std::atomic<int> phase{0};  // 0 load, 1 killed, 2 restarted, 3 stop
  LoadResult r;
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i)
    threads.emplace_back(ClientLoop, i, std::cref(*d), std::cref(phase), &r);
  for (int i = 0; i < 2000 && r.ok_before_kill.load() < 100; ++i)
    std::this_thread::sleep_for(milliseconds(10));
  r.kill_ns = NowNs();
  d->proc->Kill();  // SIGKILL, reaped
  phase = 1;
  std::this_thread::sleep_for(milliseconds(1500));
  phase = 2;  // from here a call may succeed again
  Status restarted = d->proc->Start();
  ASSERT_TRUE(restarted.ok()) << restarted.ToString();
  auto deadline = SteadyClock::now() + std::chrono::seconds(15);
  while (r.ok_after_restart.load() < 8 * kClients && SteadyClock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  phase = 3;
  for (auto& t : threads) t.join();
  std::printf(
      "sigkill: ok_before=%d unavailable_after=%d worst_inflight_kill_to_fail_ms=%.1f "
      "worst_call_after_kill_ms=%.1f ok_after_restart=%d\n",
      r.ok_before_kill.load(), r.unavailable.load(), r.worst_inflight_fail_us.load() / 1000.0,
      r.worst_after_kill_us.load() / 1000.0, r.ok_after_restart.load());
  EXPECT_GE(r.ok_before_kill.load(), 100);
  EXPECT_GT(r.unavailable.load(), 0);
  EXPECT_EQ(r.wrong_code_after_kill.load(), 0) << "only Unavailable while the daemon is dead";
  EXPECT_LT(r.worst_after_kill_us.load(), 1'000'000) << "a call took over 1 s to fail";
  EXPECT_LT(r.worst_inflight_fail_us.load(), 1'000'000) << "an in-flight call took over 1 s";
  EXPECT_GE(r.ok_after_restart.load(), 8 * kClients) << "clients did not reconnect";
  d->proc->Stop();
}

// The mid-put writer (child process): Hello, Allocate kOrphans blocks, report, wait to die.
int MidPutChild(uint16_t port, int fd) {
  // kvstashd on its default (peer-failure detection auto) has it off for a client on this host.
  auto raw = testing::RawPeer::Connect("127.0.0.1", port, /*peer_failure=*/false);
  if (raw == nullptr) return 10;
  if (!raw->Send(net::EncodeRequest(net::Opcode::kHello, 1, net::HelloRequest{})) ||
      !raw->WaitReply(5000) || !testing::RawPeer::ReplyStatus(raw->last_reply).ok()) {
    return 11;
  }
  std::vector<std::string> keys;
  net::AllocateRequest a;
  for (int i = 0; i < kOrphans; ++i) keys.push_back("orphan-" + std::to_string(i));
  for (const auto& k : keys) a.items.push_back({k, kOrphanBytes});
  if (!raw->Send(net::EncodeRequest(net::Opcode::kAllocate, 2, a)) || !raw->WaitReply(5000))
    return 12;
  std::span<const std::byte> body;
  if (!testing::RawPeer::ReplyStatus(raw->last_reply, &body).ok()) return 13;
  net::AllocateReply rep;
  if (!net::DecodeBody(body, net::Limits{}, &rep).ok()) return 14;
  char granted = 0;
  for (const auto& it : rep.items) granted += it.status == StatusCode::kOk;
  if (::write(fd, &granted, 1) != 1) return 15;
  for (;;) ::pause();  // SIGKILLed here, before any Commit
}

TEST(KvstashdCrashTest, WriterKilledMidPutIsAbortedAfterTheLeaseAndSpaceIsReused) {
  ASSERT_FALSE(Bin().empty()) << "set KVSTASHD_BIN";
  auto d = StartDaemon("crash_midput", {"--flash", "", "--lease-ms", "1500"});
  ASSERT_NE(d, nullptr);
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(fds[0]);
    std::string env =
        "KVSTASH_REL_CHILD=midput:" + std::to_string(d->port) + ":" + std::to_string(fds[1]);
    ::putenv(env.data());
    ::execl("/proc/self/exe", "kvstashd_crash_test", nullptr);
    _exit(127);
  }
  ::close(fds[1]);
  char granted = 0;
  ASSERT_EQ(::read(fds[0], &granted, 1), 1) << "the writer child failed";
  ::close(fds[0]);
  ASSERT_EQ(granted, kOrphans);
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  auto killed_at = SteadyClock::now();

  auto c = std::move(Client::Connect(Options(*d))).value();
  // Every region holds an unfinished allocation: new writes are refused, not queued.
  std::vector<std::byte> mib(1 << 20, std::byte{1});
  EXPECT_EQ(c->Put("orphan-0", mib).code(), StatusCode::kBusy);
  Status s = c->Put("fresh", mib);
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s.ToString();
  uint64_t aborts = 0;
  while (SteadyClock::now() - killed_at < std::chrono::seconds(15)) {
    auto stats = c->Stats();
    aborts = stats.ok() ? stats->at("store.lease_aborts") : 0;
    if (aborts >= kOrphans) break;
    std::this_thread::sleep_for(milliseconds(50));
  }
  double ms = std::chrono::duration<double, std::milli>(SteadyClock::now() - killed_at).count();
  std::printf("midput: %llu lease aborts %.0f ms after the writer died (lease 1500 ms)\n",
              (unsigned long long)aborts, ms);
  EXPECT_EQ(aborts, uint64_t(kOrphans));
  // The space comes back: 24 x 4 MiB (3x the arena) go through, recycling the orphans' regions.
  std::vector<std::byte> four(4 << 20);
  for (int i = 0; i < 24; ++i) {
    auto v = testing::Pattern(i, four.size());
    ASSERT_TRUE(c->Put("reuse-" + std::to_string(i), v).ok()) << i;
  }
  ASSERT_TRUE(c->Get("reuse-23", four).ok());
  EXPECT_EQ(four, testing::Pattern(23, four.size()));
  auto st = c->Stats();
  ASSERT_TRUE(st.ok());
  EXPECT_GT(st->at("store.dram_region_recycles"), 0u);
  EXPECT_TRUE(c->Put("orphan-0", mib).ok()) << "the orphaned key is free again";
  d->proc->Stop();
}

}  // namespace
}  // namespace kvstash

int main(int argc, char** argv) {
  if (const char* child = std::getenv("KVSTASH_REL_CHILD"); child != nullptr) {
    unsigned port = 0;
    int fd = -1;
    if (std::sscanf(child, "midput:%u:%d", &port, &fd) != 2) return 2;
    return kvstash::MidPutChild(static_cast<uint16_t>(port), fd);
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
