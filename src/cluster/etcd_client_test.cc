// EtcdClient and EtcdWatch against a real etcd (EtcdProcess). One etcd serves the suite, each
// test under its own key prefix; the tests that kill or pause etcd start their own.
#include "cluster/etcd_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "cluster/tests/etcd_process.h"
#include "common/mutex.h"

namespace kvstash::cluster {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

constexpr milliseconds kTimeout(1000);  // the clients' per-call timeout

std::string MakeTempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "etcd_client_test.XXXXXX");
  char* dir = ::mkdtemp(pattern.data());
  return dir == nullptr ? std::string() : std::string(dir);
}

// A loopback port nothing listens on (bound a moment ago, then closed): connect is refused.
int ClosedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ADD_FAILURE() << "bind 127.0.0.1:0 failed";
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

milliseconds Since(Clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - start);
}

EtcdOptions Options(std::vector<std::string> endpoints) {
  EtcdOptions options;
  options.endpoints = std::move(endpoints);
  options.timeout = kTimeout;
  return options;
}

std::unique_ptr<EtcdClient> MakeClient(std::vector<std::string> endpoints) {
  auto client = EtcdClient::Create(Options(std::move(endpoints)));
  EXPECT_TRUE(client.ok()) << client.status().ToString();
  return client.ok() ? std::move(client).value() : nullptr;
}

// Collects what a watch reports, for the test thread to wait on.
class WatchLog {
 public:
  EtcdWatch::OnEvents Events() {
    return [this](const std::vector<EtcdEvent>& events, int64_t revision) {
      MutexLock lock(&mu_);
      for (const EtcdEvent& e : events) events_.push_back(e);
      last_revision_ = revision;
    };
  }
  EtcdWatch::OnBroken Broken() {
    return [this](const Status& cause) {
      MutexLock lock(&mu_);
      ++broken_;
      cause_ = cause;
    };
  }
  // Waits (up to `timeout`) until at least `n` events arrived; returns them.
  std::vector<EtcdEvent> AwaitEvents(size_t n, milliseconds timeout) {
    MutexLock lock(&mu_);
    auto enough = [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return events_.size() >= n; };
    mu_.AwaitWithTimeout(Condition(&enough), timeout);
    return events_;
  }
  bool AwaitBroken(milliseconds timeout) {
    MutexLock lock(&mu_);
    auto broken = [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return broken_ > 0; };
    return mu_.AwaitWithTimeout(Condition(&broken), timeout);
  }
  int broken() {
    MutexLock lock(&mu_);
    return broken_;
  }
  Status cause() {
    MutexLock lock(&mu_);
    return cause_;
  }
  size_t event_count() {
    MutexLock lock(&mu_);
    return events_.size();
  }

 private:
  Mutex mu_;
  std::vector<EtcdEvent> events_ ABSL_GUARDED_BY(mu_);
  int64_t last_revision_ ABSL_GUARDED_BY(mu_) = 0;
  int broken_ ABSL_GUARDED_BY(mu_) = 0;
  Status cause_ ABSL_GUARDED_BY(mu_);
};

class EtcdClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(MakeTempDir());
    auto etcd = EtcdProcess::Start(*dir_ + "/shared");
    ASSERT_TRUE(etcd.ok()) << etcd.status().ToString();
    etcd_ = std::move(etcd).value().release();
  }
  static void TearDownTestSuite() {
    delete etcd_;
    etcd_ = nullptr;
    std::error_code ec;
    std::filesystem::remove_all(*dir_, ec);
    delete dir_;
  }
  void SetUp() override {
    ASSERT_NE(etcd_, nullptr);
    client_ = MakeClient({etcd_->endpoint()});
    ASSERT_NE(client_, nullptr);
    prefix_ = std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "/";
  }
  // An etcd of the test's own, for tests that kill or pause it.
  static std::unique_ptr<EtcdProcess> StartOwnEtcd(const std::string& name) {
    auto etcd = EtcdProcess::Start(*dir_ + "/" + name);
    EXPECT_TRUE(etcd.ok()) << etcd.status().ToString();
    return etcd.ok() ? std::move(etcd).value() : nullptr;
  }

  static std::string* dir_;
  static EtcdProcess* etcd_;
  std::unique_ptr<EtcdClient> client_;
  std::string prefix_;  // the test's keys start with it
};

std::string* EtcdClientTest::dir_ = nullptr;
EtcdProcess* EtcdClientTest::etcd_ = nullptr;

TEST(EtcdOptionsTest, ParsesEndpointLists) {
  auto options = EtcdOptions::Parse("127.0.0.1:2379, http://etcd-1:2380,[::1]:12");
  ASSERT_TRUE(options.ok()) << options.status().ToString();
  EXPECT_EQ(options->endpoints,
            (std::vector<std::string>{"127.0.0.1:2379", "etcd-1:2380", "[::1]:12"}));
  EXPECT_TRUE(options->Validate().ok());
}

TEST(EtcdOptionsTest, RejectsBadEndpointsNamingThem) {
  for (const char* bad : {"", "etcd", "etcd:", "etcd:0", "etcd:65536", "etcd:12x", "::1:2379",
                          "https://etcd:2379", "a:1,,b:2", ":2379", "[::1]2379"}) {
    auto options = EtcdOptions::Parse(bad);
    ASSERT_FALSE(options.ok()) << bad;
    EXPECT_TRUE(options.status().Is(StatusCode::kInvalidArgument)) << bad;
  }
  auto options = EtcdOptions::Parse("good:1,bad:x");
  ASSERT_FALSE(options.ok());
  EXPECT_NE(options.status().message().find("bad:x"), std::string::npos)
      << options.status().ToString();
}

TEST(EtcdOptionsTest, ValidateRejectsEmptyListAndZeroTimeout) {
  EXPECT_TRUE(EtcdOptions{}.Validate().Is(StatusCode::kInvalidArgument));
  EtcdOptions options = Options({"127.0.0.1:2379"});
  options.timeout = milliseconds(0);
  EXPECT_TRUE(options.Validate().Is(StatusCode::kInvalidArgument));
  EXPECT_TRUE(EtcdClient::Create(options).status().Is(StatusCode::kInvalidArgument));
}

TEST_F(EtcdClientTest, PutGetAndPrefixInKeyOrder) {
  ASSERT_TRUE(client_->Put(prefix_ + "b", "2").ok());
  ASSERT_TRUE(client_->Put(prefix_ + "a", "1").ok());
  ASSERT_TRUE(client_->Put(prefix_ + "a/x", "").ok());
  ASSERT_TRUE(client_->Put(prefix_.substr(0, prefix_.size() - 1) + "0", "outside").ok());

  auto one = client_->Get(prefix_ + "a");
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  ASSERT_EQ(one->kvs.size(), 1u);
  EXPECT_EQ(one->kvs[0].value, "1");
  EXPECT_GT(one->kvs[0].mod_revision, 0);
  EXPECT_GE(one->revision, one->kvs[0].mod_revision);

  auto missing = client_->Get(prefix_ + "nope");
  ASSERT_TRUE(missing.ok());
  EXPECT_TRUE(missing->kvs.empty());

  auto all = client_->GetPrefix(prefix_);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->kvs.size(), 3u);
  EXPECT_EQ(all->kvs[0].key, prefix_ + "a");
  EXPECT_EQ(all->kvs[1].key, prefix_ + "a/x");
  EXPECT_EQ(all->kvs[1].value, "");
  EXPECT_EQ(all->kvs[2].key, prefix_ + "b");
}

TEST_F(EtcdClientTest, BinaryKeysAndValuesRoundTrip) {
  const std::string p = prefix_ + std::string("\xff", 1);
  const std::string k1 = p + std::string("\x00", 1), k2 = p + std::string("\xff\xff", 2);
  const std::string value("\x00\x01\xfe\xff\x00", 5);
  ASSERT_TRUE(client_->Put(k1, value).ok());
  ASSERT_TRUE(client_->Put(k2, "2").ok());
  ASSERT_TRUE(client_->Put(prefix_ + std::string("\xfe", 1), "below").ok());

  auto got = client_->Get(k1);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->kvs.size(), 1u);
  EXPECT_EQ(got->kvs[0].key, k1);
  EXPECT_EQ(got->kvs[0].value, value);

  // The prefix ends in 0xff: its range end increments the byte before it.
  auto range = client_->GetPrefix(p);
  ASSERT_TRUE(range.ok());
  ASSERT_EQ(range->kvs.size(), 2u);
  EXPECT_EQ(range->kvs[0].key, k1);
  EXPECT_EQ(range->kvs[1].key, k2);
}

TEST_F(EtcdClientTest, PutIfAbsentWritesOnce) {
  const std::string key = prefix_ + "k";
  auto first = client_->PutIfAbsent(key, "first");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_TRUE(*first);

  EtcdKeyValue existing;
  auto second = client_->PutIfAbsent(key, "second", 0, &existing);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_FALSE(*second);
  EXPECT_EQ(existing.key, key);
  EXPECT_EQ(existing.value, "first");
  EXPECT_GT(existing.create_revision, 0);

  auto third = client_->PutIfAbsent(key, "third");  // no `existing` wanted
  ASSERT_TRUE(third.ok());
  EXPECT_FALSE(*third);
  EXPECT_EQ(client_->Get(key)->kvs.at(0).value, "first");
}

TEST_F(EtcdClientTest, PutIfUnchangedComparesModRevision) {
  const std::string key = prefix_ + "k";
  ASSERT_TRUE(client_->Put(key, "v1").ok());
  int64_t rev = client_->Get(key)->kvs.at(0).mod_revision;

  auto won = client_->PutIfUnchanged(key, "v2", rev);
  ASSERT_TRUE(won.ok()) << won.status().ToString();
  EXPECT_TRUE(*won);
  auto stale = client_->PutIfUnchanged(key, "v3", rev);
  ASSERT_TRUE(stale.ok());
  EXPECT_FALSE(*stale);
  EXPECT_EQ(client_->Get(key)->kvs.at(0).value, "v2");

  int64_t rev2 = client_->Get(key)->kvs.at(0).mod_revision;
  ASSERT_TRUE(client_->Delete(key).ok());
  auto gone = client_->PutIfUnchanged(key, "v4", rev2);
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(*gone);
  EXPECT_TRUE(client_->Get(key)->kvs.empty());
}

TEST_F(EtcdClientTest, DeleteRemovesAndToleratesAbsent) {
  ASSERT_TRUE(client_->Put(prefix_ + "k", "v").ok());
  EXPECT_TRUE(client_->Delete(prefix_ + "k").ok());
  EXPECT_TRUE(client_->Get(prefix_ + "k")->kvs.empty());
  EXPECT_TRUE(client_->Delete(prefix_ + "k").ok());
}

TEST_F(EtcdClientTest, LeaseKeepAliveAndRevoke) {
  auto lease = client_->LeaseGrant(seconds(30));
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  ASSERT_TRUE(client_->Put(prefix_ + "a", "1", *lease).ok());
  auto added = client_->PutIfAbsent(prefix_ + "b", "2", *lease);
  ASSERT_TRUE(added.ok() && *added);
  EXPECT_EQ(client_->Get(prefix_ + "a")->kvs.at(0).lease, *lease);

  auto ttl = client_->LeaseKeepAlive(*lease);
  ASSERT_TRUE(ttl.ok()) << ttl.status().ToString();
  EXPECT_EQ(*ttl, seconds(30));

  ASSERT_TRUE(client_->LeaseRevoke(*lease).ok());
  EXPECT_TRUE(client_->GetPrefix(prefix_)->kvs.empty());  // revoke deleted both keys
  EXPECT_TRUE(client_->LeaseKeepAlive(*lease).status().Is(StatusCode::kNotFound));
  Status again = client_->LeaseRevoke(*lease);  // already gone: not an error
  EXPECT_TRUE(again.ok()) << again.ToString();
  Status put = client_->Put(prefix_ + "c", "3", *lease);
  EXPECT_TRUE(put.Is(StatusCode::kNotFound)) << put.ToString();
  Status txn = client_->PutIfAbsent(prefix_ + "c", "3", *lease).status();
  EXPECT_TRUE(txn.Is(StatusCode::kNotFound)) << txn.ToString();
  EXPECT_TRUE(client_->Get(prefix_ + "c")->kvs.empty());
  EXPECT_TRUE(client_->LeaseGrant(seconds(0)).status().Is(StatusCode::kInvalidArgument));
}

TEST_F(EtcdClientTest, UnrenewedLeaseExpiresWithItsKey) {
  auto lease = client_->LeaseGrant(seconds(1));  // etcd raises it to its minimum (2 s here)
  ASSERT_TRUE(lease.ok());
  ASSERT_TRUE(client_->Put(prefix_ + "k", "v", *lease).ok());
  auto start = Clock::now();
  while (!client_->Get(prefix_ + "k")->kvs.empty() && Since(start) < seconds(5)) {
    std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_TRUE(client_->Get(prefix_ + "k")->kvs.empty());
  EXPECT_LT(Since(start), milliseconds(3500));
  EXPECT_TRUE(client_->LeaseKeepAlive(*lease).status().Is(StatusCode::kNotFound));
}

TEST_F(EtcdClientTest, ConcurrentCallsShareTheClient) {
  constexpr int kThreads = 8, kPuts = 25;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPuts; ++i) {
        std::string key = prefix_ + std::to_string(t) + "/" + std::to_string(i);
        if (!client_->Put(key, key).ok() || client_->Get(key)->kvs.size() != 1) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(client_->GetPrefix(prefix_)->kvs.size(), size_t{kThreads} * kPuts);
}

// ---- Watches ----------------------------------------------------------------------------------

TEST_F(EtcdClientTest, WatchReportsPutsAndDeletesInOrderFromStartRevision) {
  auto before = client_->GetPrefix(prefix_);
  ASSERT_TRUE(before.ok());
  // Written before the watch starts: it replays them from start_revision.
  ASSERT_TRUE(client_->Put(prefix_ + "a", "1").ok());
  ASSERT_TRUE(client_->Put(prefix_ + "b", "2").ok());
  ASSERT_TRUE(client_->Delete(prefix_ + "a").ok());
  WatchLog log;
  auto watch = EtcdWatch::Start(client_->options(), prefix_, before->revision + 1, log.Events(),
                                log.Broken());
  ASSERT_TRUE(watch.ok()) << watch.status().ToString();
  ASSERT_TRUE(client_->Put("other/" + prefix_, "not watched").ok());
  // Large enough that its event spans many reads of the stream.
  std::string big(size_t{300} << 10, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + i / 251);
  ASSERT_TRUE(client_->Put(prefix_ + "c", big).ok());

  std::vector<EtcdEvent> events = log.AwaitEvents(4, seconds(5));
  ASSERT_EQ(events.size(), 4u);
  const std::vector<std::pair<EtcdEvent::Type, std::string>> want = {
      {EtcdEvent::Type::kPut, "a"},
      {EtcdEvent::Type::kPut, "b"},
      {EtcdEvent::Type::kDelete, "a"},
      {EtcdEvent::Type::kPut, "c"}};
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(events[i].type, want[i].first) << i;
    EXPECT_EQ(events[i].kv.key, prefix_ + want[i].second) << i;
    if (i > 0) {
      EXPECT_GT(events[i].kv.mod_revision, events[i - 1].kv.mod_revision) << i;
    }
  }
  EXPECT_EQ(events[0].kv.value, "1");
  EXPECT_EQ(events[3].kv.value, big);
  EXPECT_EQ(log.broken(), 0);
}

TEST_F(EtcdClientTest, WatchDestructorReturnsPromptlyAndStopsCallbacks) {
  WatchLog log;
  auto watch = EtcdWatch::Start(client_->options(), prefix_, 0, log.Events(), log.Broken());
  ASSERT_TRUE(watch.ok()) << watch.status().ToString();
  std::this_thread::sleep_for(milliseconds(100));  // the stream is idle, blocked in a read
  auto start = Clock::now();
  watch->reset();
  EXPECT_LT(Since(start), milliseconds(1000));
  ASSERT_TRUE(client_->Put(prefix_ + "k", "v").ok());
  std::this_thread::sleep_for(milliseconds(200));
  EXPECT_EQ(log.event_count(), 0u);
  EXPECT_EQ(log.broken(), 0);  // a watch its owner stopped is not "broken"
}

// Destruction races with the stream's connect, its "created" and a steady flow of events.
TEST_F(EtcdClientTest, WatchesStartAndStopWhileKeysChange) {
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; !done.load(); ++i) client_->Put(prefix_ + "k", std::to_string(i)).IgnoreError();
  });
  for (int i = 0; i < 20; ++i) {
    WatchLog log;
    auto watch = EtcdWatch::Start(client_->options(), prefix_, 0, log.Events(), log.Broken());
    ASSERT_TRUE(watch.ok()) << watch.status().ToString();
    if (i % 2 == 1) log.AwaitEvents(1, seconds(2));
    auto start = Clock::now();
    watch->reset();
    EXPECT_LT(Since(start), milliseconds(1000));
    EXPECT_EQ(log.broken(), 0);
  }
  done = true;
  writer.join();
}

TEST_F(EtcdClientTest, WatchFromCompactedRevisionBreaks) {
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(client_->Put(prefix_ + "k", std::to_string(i)).ok());
  int64_t rev = client_->Get(prefix_ + "k")->revision;
  std::string command = "ETCDCTL_API=3 /usr/bin/etcdctl --endpoints=" + etcd_->endpoint() +
                        " compaction " + std::to_string(rev) + " > /dev/null";
  ASSERT_EQ(std::system(command.c_str()), 0);  // NOLINT(concurrency-mt-unsafe): no env change
  WatchLog log;
  auto watch = EtcdWatch::Start(client_->options(), prefix_, 1, log.Events(), log.Broken());
  ASSERT_TRUE(watch.ok()) << watch.status().ToString();
  ASSERT_TRUE(log.AwaitBroken(seconds(2)));
  EXPECT_NE(log.cause().message().find("compacted"), std::string::npos) << log.cause().ToString();
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_EQ(log.broken(), 1);
}

// ---- etcd down, hung or partly unreachable ----------------------------------------------------

TEST_F(EtcdClientTest, WatchBreaksOnceWhenEtcdIsKilled) {
  auto etcd = StartOwnEtcd("killed-watch");
  ASSERT_NE(etcd, nullptr);
  WatchLog log;
  auto watch = EtcdWatch::Start(Options({etcd->endpoint()}), "w/", 0, log.Events(), log.Broken());
  ASSERT_TRUE(watch.ok()) << watch.status().ToString();
  auto start = Clock::now();
  etcd->Kill();
  ASSERT_TRUE(log.AwaitBroken(seconds(2)));
  EXPECT_LT(Since(start), seconds(2));
  EXPECT_TRUE(log.cause().Is(StatusCode::kUnavailable)) << log.cause().ToString();
  std::this_thread::sleep_for(milliseconds(200));
  EXPECT_EQ(log.broken(), 1);
}

TEST_F(EtcdClientTest, CallsToKilledEtcdAreUnavailableWithinTheTimeout) {
  auto etcd = StartOwnEtcd("killed-calls");
  ASSERT_NE(etcd, nullptr);
  auto client = MakeClient({etcd->endpoint()});
  ASSERT_TRUE(client->Put("k", "v").ok());  // leaves a pooled connection to a dying etcd
  ASSERT_TRUE(etcd->Restart().ok()) << etcd->LogTail();
  auto got = client->Get("k");  // the stale connection is not reused; the data survived
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->kvs.at(0).value, "v");

  etcd->Kill();
  auto start = Clock::now();
  EXPECT_TRUE(client->Get("k").status().Is(StatusCode::kUnavailable));
  EXPECT_TRUE(client->Put("k", "v").Is(StatusCode::kUnavailable));
  EXPECT_TRUE(client->LeaseGrant(seconds(5)).status().Is(StatusCode::kUnavailable));
  WatchLog log;
  auto watch = EtcdWatch::Start(client->options(), "w/", 0, log.Events(), log.Broken());
  EXPECT_TRUE(watch.status().Is(StatusCode::kUnavailable)) << watch.status().ToString();
  EXPECT_LT(Since(start), kTimeout);
  EXPECT_EQ(log.broken(), 0);
}

TEST_F(EtcdClientTest, CallsToPausedEtcdTimeOut) {
  auto etcd = StartOwnEtcd("paused");
  ASSERT_NE(etcd, nullptr);
  auto client = MakeClient({etcd->endpoint()});
  ASSERT_TRUE(client->Put("k", "v").ok());
  etcd->Pause();
  auto start = Clock::now();
  EXPECT_TRUE(client->Get("k").status().Is(StatusCode::kUnavailable));
  EXPECT_GE(Since(start), kTimeout - milliseconds(50));
  EXPECT_LT(Since(start), kTimeout + milliseconds(500));
  start = Clock::now();
  WatchLog log;
  auto watch = EtcdWatch::Start(client->options(), "w/", 0, log.Events(), log.Broken());
  EXPECT_TRUE(watch.status().Is(StatusCode::kUnavailable)) << watch.status().ToString();
  EXPECT_LT(Since(start), kTimeout + milliseconds(500));
  etcd->Resume();
  EXPECT_TRUE(client->Get("k").ok());
}

TEST_F(EtcdClientTest, FailsOverToTheNextEndpoint) {
  const std::string closed = "127.0.0.1:" + std::to_string(ClosedPort());
  auto client = MakeClient({closed, etcd_->endpoint()});
  auto start = Clock::now();
  ASSERT_TRUE(client->Put(prefix_ + "k", "v").ok());
  auto got = client->Get(prefix_ + "k");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->kvs.at(0).value, "v");
  EXPECT_LT(Since(start), kTimeout);

  WatchLog log;
  auto watch = EtcdWatch::Start(client->options(), prefix_, 0, log.Events(), log.Broken());
  ASSERT_TRUE(watch.ok()) << watch.status().ToString();
  ASSERT_TRUE(client->Delete(prefix_ + "k").ok());
  EXPECT_EQ(log.AwaitEvents(1, seconds(5)).size(), 1u);

  auto none = MakeClient({closed, "127.0.0.1:" + std::to_string(ClosedPort())});
  EXPECT_TRUE(none->Get("k").status().Is(StatusCode::kUnavailable));
}

}  // namespace
}  // namespace kvstash::cluster
