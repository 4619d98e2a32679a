// Failure tests: the server going away and coming back, malformed input from a raw peer, a
// writer dying between Allocate and Commit.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "net/proto/protocol.h"
#include "net/proto/wire.h"
#include "net/tests/net_test_util.h"
#include "net/ucx/ucx_endpoint.h"
#include "net/ucx/ucx_listener.h"

namespace kvstash::testing {
namespace {

using Clock = std::chrono::steady_clock;

TEST(NetFaultTest, ServerStopMakesCallsUnavailableWithinOneSecond) {
  auto ts = StartServer();
  ASSERT_NE(ts, nullptr);
  auto c = Client::Connect(TestClientOptions(*ts));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_TRUE((*c)->Put("k", Pattern(1, 100)).ok());
  ts->server->Stop();
  std::vector<std::byte> dest(100);
  auto t0 = Clock::now();
  auto got = (*c)->Get("k", dest);
  auto elapsed = Clock::now() - t0;
  EXPECT_EQ(got.status().code(), StatusCode::kUnavailable) << got.status().ToString();
  EXPECT_LT(elapsed, std::chrono::seconds(1));
  // Still down: the lazy reconnect fails fast too.
  t0 = Clock::now();
  EXPECT_EQ((*c)->Put("k2", Pattern(2, 100)).code(), StatusCode::kUnavailable);
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(1));
  EXPECT_FALSE((*c)->connected());
}

TEST(NetFaultTest, ClientReconnectsWhenTheServerReturnsOnTheSamePort) {
  auto ts = StartServer();
  ASSERT_NE(ts, nullptr);
  uint16_t port = ts->server->port();
  auto c = Client::Connect(TestClientOptions(*ts));
  ASSERT_TRUE(c.ok());
  std::vector<std::byte> pool(1 << 20);
  auto reg = (*c)->RegisterBuffer(pool.data(), pool.size());
  ASSERT_TRUE(reg.ok());
  auto v = Pattern(5, 50000);
  ASSERT_TRUE((*c)->Put("survivor", v).ok());
  ts->server->Stop();
  ts->server.reset();
  EXPECT_EQ((*c)->Get("survivor", pool).status().code(), StatusCode::kUnavailable);
  ts->server = StartServerOn(ts->store.get(), port);  // same store: the block is still there
  ASSERT_NE(ts->server, nullptr);
  auto got = (*c)->Get("survivor", pool);  // reconnects, re-announces the registered pool
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(std::equal(v.begin(), v.end(), pool.begin()));
  EXPECT_TRUE((*c)->connected());
  EXPECT_TRUE((*c)->Put("after", Pattern(6, 10)).ok());
}

// What a hand-made server in these tests starts from: its own UCX context and worker, and a
// loopback address with a free port.
struct BareServer {
  std::unique_ptr<net::UcxContext> ctx;
  std::unique_ptr<net::UcxWorker> worker;  // destroyed before ctx
  sockaddr_storage addr{};
};

void MakeBareServer(BareServer* s) {
  auto ctx = net::UcxContext::Create();
  ASSERT_TRUE(ctx.ok()) << ctx.status().ToString();
  s->ctx = std::move(*ctx);
  auto worker = net::UcxWorker::Create(*s->ctx);
  ASSERT_TRUE(worker.ok()) << worker.status().ToString();
  s->worker = std::move(*worker);
  auto addr = net::ResolveAddress("127.0.0.1", 0);
  ASSERT_TRUE(addr.ok()) << addr.status().ToString();
  s->addr = *addr;
}

// A listener that accepts every connection and tears it down at once: Connect keeps trying
// (with backoff) until its connect deadline, then reports how many attempts failed.
TEST(NetFaultTest, ConnectRetriesAFailedHandshakeUntilTheConnectDeadline) {
  BareServer bare;
  ASSERT_NO_FATAL_FAILURE(MakeBareServer(&bare));
  net::UcxWorker* worker = bare.worker.get();
  int accepted = 0;
  std::vector<std::unique_ptr<net::UcxEndpoint>> eps;
  auto listener = net::UcxListener::Create(*worker, bare.addr, [&](ucp_conn_request_h req) {
    auto ep = net::UcxEndpoint::Accept(*worker, req, nullptr);
    if (!ep.ok()) return;
    ++accepted;
    (*ep)->Close(/*force=*/true, std::chrono::milliseconds(0));
    eps.push_back(std::move(*ep));
  });
  ASSERT_TRUE(listener.ok()) << listener.status().ToString();
  std::atomic<bool> stop{false};
  std::thread progress([&] {
    while (!stop.load()) worker->Wait(std::chrono::milliseconds(5));
  });
  ClientOptions o;
  o.server_address = "127.0.0.1:" + std::to_string((*listener)->port());
  o.connect_timeout = std::chrono::milliseconds(500);
  auto t0 = Clock::now();
  auto c = Client::Connect(o);
  auto elapsed = Clock::now() - t0;
  stop = true;
  progress.join();
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kUnavailable) << c.status().ToString();
  EXPECT_NE(c.status().message().find("attempts"), std::string::npos) << c.status().ToString();
  EXPECT_GE(accepted, 2);
  EXPECT_GE(elapsed, std::chrono::milliseconds(300));   // it kept trying...
  EXPECT_LT(elapsed, std::chrono::milliseconds(1500));  // ...until the connect deadline
}

// A server that holds every connection request until told to accept, and counts the
// requests (Hellos) that arrive on the accepted connections.
class LateAcceptServer {
 public:
  void Start() {
    ASSERT_NO_FATAL_FAILURE(MakeBareServer(&bare_));
    net::UcxWorker* worker = bare_.worker.get();
    auto count = [](void* arg, const void*, size_t, void*, size_t,
                    const ucp_am_recv_param_t*) -> ucs_status_t {
      static_cast<std::atomic<int>*>(arg)->fetch_add(1);
      return UCS_OK;
    };
    ASSERT_TRUE(worker->SetAmHandler(net::kRequestAmId, count, &hellos_).ok());
    auto listener = net::UcxListener::Create(
        *worker, bare_.addr, [this](ucp_conn_request_h req) { held_.push_back(req); });
    ASSERT_TRUE(listener.ok()) << listener.status().ToString();
    listener_ = std::move(*listener);
    progress_ = std::thread([this, worker] {
      while (!stop_.load()) {
        worker->Wait(std::chrono::milliseconds(2));
        if (!accept_.load()) continue;
        for (ucp_conn_request_h req : held_) {
          auto ep = net::UcxEndpoint::Accept(*worker, req, nullptr, /*peer_failure=*/false);
          if (ep.ok()) eps_.push_back(std::move(*ep));
        }
        held_.clear();
      }
    });
  }
  ~LateAcceptServer() {
    stop_ = true;
    if (progress_.joinable()) progress_.join();
  }
  ClientOptions ClientOptionsWith(std::chrono::milliseconds connect_timeout) const {
    ClientOptions o;
    o.server_address = "127.0.0.1:" + std::to_string(listener_->port());
    o.connect_timeout = connect_timeout;
    o.peer_failure = PeerFailureDetection::kOff;
    return o;
  }
  void Accept() { accept_ = true; }
  int hellos() const { return hellos_.load(); }
  // Waits (10 s at most) until a Hello has arrived and the reaper holds no worker.
  void WaitForHelloAndReaper() const {
    auto deadline = Clock::now() + std::chrono::seconds(10);
    while ((hellos_.load() == 0 || net::UcxWorker::HandedToReaper() > 0) && Clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }

 private:
  BareServer bare_;
  std::unique_ptr<net::UcxListener> listener_;
  std::vector<ucp_conn_request_h> held_;  // touched by the progress thread only
  std::vector<std::unique_ptr<net::UcxEndpoint>> eps_;
  std::atomic<int> hellos_{0};
  std::atomic<bool> stop_{false};
  std::atomic<bool> accept_{false};
  std::thread progress_;  // last: stopped before the rest goes
};

// A server that takes the connection only after the client has given up: the client's Hello
// is still queued behind the unfinished connection set-up when Connect returns, and UCX sends
// it, reading the message, once the server accepts (in the client worker's last progress, or
// from the reaper if that missed it). The message must still be alive then:
// UcxEndpoint::Abandon keeps it. Before that, ASan saw a heap-use-after-free here (in
// ucp_wireup_replay_pending_requests, from ~UcxWorker). The server counts the late Hello, so
// the test knows the path ran.
TEST(NetFaultTest, AHelloSentAfterTheClientGaveUpReadsLiveMemory) {
  LateAcceptServer server;
  ASSERT_NO_FATAL_FAILURE(server.Start());
  // Accepted 30 ms after the client's deadline: within its worker's 100 ms of final progress.
  std::thread later([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(180));
    server.Accept();
  });
  auto c = Client::Connect(server.ClientOptionsWith(std::chrono::milliseconds(150)));
  EXPECT_FALSE(c.ok());
  later.join();
  server.WaitForHelloAndReaper();
  EXPECT_EQ(server.hellos(), 1) << "the queued Hello never reached the server";
  EXPECT_EQ(net::UcxWorker::HandedToReaper(), 0u);
}

// The same late server, accepted long after the client's worker is gone: the reaper keeps
// progressing the worker it was handed, the Hello arrives, and then the worker is destroyed.
// Before the reaper such a worker was left allocated for good (LeakSanitizer failed the CI
// soak on one, whose server had been slow to answer a connect under load).
TEST(NetFaultTest, TheReaperFinishesAWorkerWhosePeerAnswersLate) {
  LateAcceptServer server;
  ASSERT_NO_FATAL_FAILURE(server.Start());
  auto c = Client::Connect(server.ClientOptionsWith(std::chrono::milliseconds(150)));
  EXPECT_FALSE(c.ok());
  EXPECT_EQ(net::UcxWorker::HandedToReaper(), 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(server.hellos(), 0);
  server.Accept();  // 300 ms after Connect returned and handed its worker to the reaper
  server.WaitForHelloAndReaper();
  EXPECT_EQ(server.hellos(), 1);
  EXPECT_EQ(net::UcxWorker::HandedToReaper(), 0u) << "the reaper kept a worker it could free";
}

// A port that accepts TCP connections and then never answers (a stopped kvstashd, another
// program): Connect fails with a Timeout naming the cause, in every peer-failure mode, and the
// process lives. Without peer-failure handling UCX 1.13 aborts the process if an endpoint is
// destroyed with the unanswered Hello still queued on it; UcxEndpoint::Abandon parks such an
// endpoint instead, and the worker goes to the background reaper. The connects run in a child
// process (this binary, the DISABLED_ test below): the parent checks that it exits normally,
// where before the fix it died of SIGABRT. Once the port closes, the reaper sees the parked
// requests fail and destroys the workers and contexts: the child checks that, with leak
// detection on (under ASan a worker left behind is reported, as one failed the CI soak).
TEST(NetFaultTest, DISABLED_NeverAnsweringPeerChild) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ASSERT_EQ(::listen(fd, 64), 0);  // the kernel completes TCP handshakes; nobody answers
  socklen_t len = sizeof(a);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  for (PeerFailureDetection mode :
       {PeerFailureDetection::kAuto, PeerFailureDetection::kOff, PeerFailureDetection::kOn}) {
    for (int i = 0; i < 3; ++i) {
      ClientOptions o;
      o.server_address = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
      o.connect_timeout = std::chrono::milliseconds(200);
      o.peer_failure = mode;
      auto c = Client::Connect(o);
      ASSERT_FALSE(c.ok());
      EXPECT_EQ(c.status().code(), StatusCode::kTimeout) << c.status().ToString();
      EXPECT_NE(c.status().message().find("no handshake reply"), std::string::npos)
          << c.status().ToString();
    }
  }
  EXPECT_GT(net::UcxWorker::HandedToReaper(), 0u);  // the Hellos wait on the unanswering port
  ::close(fd);
  auto deadline = Clock::now() + std::chrono::seconds(10);
  while (net::UcxWorker::HandedToReaper() > 0 && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(net::UcxWorker::HandedToReaper(), 0u) << "the reaper kept workers of a closed port";
}

TEST(NetFaultTest, ConnectToAPeerThatNeverAnswersFailsWithoutAborting) {
  char self[4096];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
  ASSERT_GT(n, 0);
  self[n] = '\0';
  std::string cmd = std::string("'") + self +
                    "' --gtest_also_run_disabled_tests "
                    "--gtest_filter=NetFaultTest.DISABLED_NeverAnsweringPeerChild";
  int rc = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(rc)) << "the child died (UCX abort?): status " << rc;
  EXPECT_EQ(WEXITSTATUS(rc), 0) << "the child's assertions failed (its output is above)";
}

// A server that comes up while Connect is trying: Connect succeeds within its deadline.
TEST(NetFaultTest, ConnectWaitsForAServerThatIsStarting) {
  auto ts = StartServer();
  ASSERT_NE(ts, nullptr);
  uint16_t port = ts->server->port();
  ClientOptions o = TestClientOptions(*ts);
  o.connect_timeout = std::chrono::milliseconds(3000);
  ts->server->Stop();
  ts->server.reset();
  std::thread later([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    ts->server = StartServerOn(ts->store.get(), port);
  });
  auto c = Client::Connect(o);
  later.join();
  ASSERT_NE(ts->server, nullptr);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE((*c)->Put("k", Pattern(3, 1000)).ok());
}

std::vector<std::byte> Garbage(int which) {
  using namespace net;
  switch (which) {
    case 0:
      return std::vector<std::byte>(40, std::byte{0x5A});  // bad magic
    case 1: {                                              // header claims more body than follows
      auto m = EncodeRequest(Opcode::kStats, 1, StatsRequest{});
      m[20] = std::byte{100};
      return m;
    }
    case 2: {  // a count of 4 billion items with 4 bytes behind it
      WireWriter w;
      w.U32(0xFFFFFFFFu);
      w.U32(0);
      auto body = w.Take();
      auto m = EncodeRequest(Opcode::kStats, 1, StatsRequest{});
      m.insert(m.end(), body.begin(), body.end());
      m[6] = std::byte{static_cast<uint8_t>(Opcode::kExists)};
      m[20] = std::byte{8};
      return m;
    }
    default: {  // a key of 300 bytes
      std::string k(300, 'x');
      return EncodeRequest(Opcode::kDelete, 1, KeysRequest{{k}});
    }
  }
}

TEST(NetFaultTest, MalformedMessagesCloseOnlyThatConnection) {
  auto ts = StartServer();
  ASSERT_NE(ts, nullptr);
  auto good = Client::Connect(TestClientOptions(*ts));
  ASSERT_TRUE(good.ok());
  ASSERT_TRUE((*good)->Put("stable", Pattern(7, 999)).ok());
  for (int which = 0; which < 4; ++which) {
    auto raw = RawPeer::Connect("127.0.0.1", ts->server->port());
    ASSERT_NE(raw, nullptr);
    // A well-formed Hello first (so the failure below is about the bad message itself).
    ASSERT_TRUE(raw->Send(net::EncodeRequest(net::Opcode::kHello, 1, net::HelloRequest{})));
    ASSERT_TRUE(raw->WaitReply(5000)) << which;
    ASSERT_TRUE(raw->Send(Garbage(which)));
    if (!ShmMode()) {  // without peer-failure mode the raw peer is not told; the server is
      EXPECT_TRUE(raw->WaitClosed(5000)) << "connection not closed for garbage " << which;
    }
    for (int i = 0; i < 500; ++i) {  // the server counts, then closes on its next loop turn
      ServerStats st = ts->server->Stats();
      if (st.malformed_messages == uint64_t(which) + 1 && st.connections_active == 1) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(ts->server->Stats().malformed_messages, uint64_t(which) + 1);
    EXPECT_EQ(ts->server->Stats().connections_active, 1u) << which;  // only `good` is left
    std::vector<std::byte> dest(999);
    auto got = (*good)->Get("stable", dest);
    ASSERT_TRUE(got.ok()) << which << " " << got.status().ToString();
    EXPECT_EQ(dest, Pattern(7, 999));
  }
  ServerStats st = ts->server->Stats();
  EXPECT_EQ(st.malformed_messages, 4u);
  EXPECT_TRUE((*good)->connected());
}

TEST(NetFaultTest, RequestsBeforeHelloAreRefused) {
  auto ts = StartServer();
  ASSERT_NE(ts, nullptr);
  auto raw = RawPeer::Connect("127.0.0.1", ts->server->port());
  ASSERT_NE(raw, nullptr);
  ASSERT_TRUE(raw->Send(net::EncodeRequest(net::Opcode::kStats, 7, net::StatsRequest{})));
  ASSERT_TRUE(raw->WaitReply(5000));
  net::Header h;
  ASSERT_TRUE(net::DecodeHeader(raw->last_reply, &h).ok());
  EXPECT_EQ(h.request_id, 7u);
  Status req;
  std::span<const std::byte> rest;
  ASSERT_TRUE(
      net::DecodeReplyStatus(std::span<const std::byte>(raw->last_reply).subspan(net::kHeaderBytes),
                             &req, &rest)
          .ok());
  EXPECT_EQ(req.code(), StatusCode::kPermissionDenied);
}

TEST(NetFaultTest, WriterDyingBeforeCommitIsReclaimedByTheLease) {
  StoreOptions so = TestStoreOptions();
  so.lease = std::chrono::milliseconds(200);
  ServerOptions server_options;
  server_options.lease_sweep_interval = std::chrono::milliseconds(50);
  auto ts = StartServer(0, 1, so, server_options);
  ASSERT_NE(ts, nullptr);
  {
    auto raw = RawPeer::Connect("127.0.0.1", ts->server->port());
    ASSERT_NE(raw, nullptr);
    ASSERT_TRUE(raw->Send(net::EncodeRequest(net::Opcode::kHello, 1, net::HelloRequest{})));
    ASSERT_TRUE(raw->WaitReply(5000));
    net::AllocateRequest a{{{"orphan", 4096}}};
    ASSERT_TRUE(raw->Send(net::EncodeRequest(net::Opcode::kAllocate, 2, a)));
    ASSERT_TRUE(raw->WaitReply(5000));
  }  // the writer vanishes without Commit
  auto c = Client::Connect(TestClientOptions(*ts));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ((*c)->Put("orphan", Pattern(8, 4096)).code(), StatusCode::kBusy);
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  EXPECT_TRUE((*c)->Put("orphan", Pattern(8, 4096)).ok());
  EXPECT_GE(ts->store->Stats().lease_aborts, 1u);
}

TEST(NetFaultTest, AuthTokensAreChecked) {
  ServerOptions server_options;
  server_options.auth_tokens = {"let-me-in"};
  auto ts = StartServer(0, 2, TestStoreOptions(), server_options);
  ASSERT_NE(ts, nullptr);
  ClientOptions o = TestClientOptions(*ts);
  o.token = "wrong";
  EXPECT_EQ(Client::Connect(o).status().code(), StatusCode::kPermissionDenied);
  o.token = "let-me-in";
  auto c = Client::Connect(o);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE((*c)->Put("authed", Pattern(9, 10)).ok());
}

}  // namespace
}  // namespace kvstash::testing
