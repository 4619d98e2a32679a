// End-to-end tests: a real BlockStore served by an in-process Server on 127.0.0.1, real
// Clients over UCX. CTest runs this binary twice: UCX_TLS=sm,self and UCX_TLS=tcp.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstdlib>
#include <optional>
#include <thread>

#include "kvstash/client.h"
#include "kvstash/kvstash.h"
#include "net/tests/net_test_util.h"

namespace kvstash::testing {
namespace {

class NetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tls = std::getenv("UCX_TLS");
    RecordProperty("UCX_TLS", tls ? tls : "(default)");
    server_ = StartServer();
    ASSERT_NE(server_, nullptr);
    auto c = Client::Connect(TestClientOptions(*server_));
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    client_ = std::move(c).value();
  }

  std::unique_ptr<TestServer> server_;
  std::unique_ptr<Client> client_;
};

TEST_F(NetTest, RoundTripsFromOneByteTo64MiB) {
  const size_t sizes[] = {1, 7, 4095, 4096, 4097, 65537, (1 << 20) + 3, 8 << 20, 64 << 20};
  std::vector<std::byte> pool(64 << 20);
  auto reg = client_->RegisterBuffer(pool.data(), pool.size());
  ASSERT_TRUE(reg.ok()) << reg.status().ToString();
  for (size_t n : sizes) {
    std::string key = "size-" + std::to_string(n);
    auto value = Pattern(SeedOf(key), n);
    ASSERT_TRUE(client_->Put(key, value).ok()) << n;
    // Into the registered pool (zero copy), at an odd offset when it fits.
    size_t off = n + 3 <= pool.size() ? 3 : 0;
    auto got = client_->Get(key, std::span(pool).subspan(off, n));
    ASSERT_TRUE(got.ok()) << n << " " << got.status().ToString();
    ASSERT_EQ(*got, n);
    ASSERT_TRUE(std::equal(value.begin(), value.end(), pool.begin() + off)) << n;
    // Into an unregistered buffer (staged), larger than the block.
    std::vector<std::byte> dest(n + 10, std::byte{0xEE});
    got = client_->Get(key, dest);
    ASSERT_TRUE(got.ok()) << n << " " << got.status().ToString();
    ASSERT_EQ(*got, n);
    ASSERT_TRUE(std::equal(value.begin(), value.end(), dest.begin())) << n;
    EXPECT_EQ(dest[n], std::byte{0xEE});     // nothing past the block was written
    ASSERT_TRUE(client_->Delete(key).ok());  // keep the 256 MiB arena from filling
  }
}

TEST_F(NetTest, DuplicatePutIsAlreadyExistsAndKeepsFirstValue) {
  auto a = Pattern(1, 5000);
  auto b = Pattern(2, 5000);
  ASSERT_TRUE(client_->Put("dup", a).ok());
  EXPECT_EQ(client_->Put("dup", b).code(), StatusCode::kAlreadyExists);
  std::vector<std::byte> dest(5000);
  ASSERT_TRUE(client_->Get("dup", dest).ok());
  EXPECT_EQ(dest, a);
}

TEST_F(NetTest, MissesAndBadArgumentsAreReported) {
  std::vector<std::byte> dest(100);
  EXPECT_EQ(client_->Get("absent", dest).status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(client_->Put("big", Pattern(3, 1000)).ok());
  auto small = client_->Get("big", std::span(dest).first(10));
  EXPECT_EQ(small.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(small.status().message().find("1000"), std::string::npos);
  EXPECT_EQ(client_->Put(std::string(257, 'k'), Pattern(4, 10)).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(client_->Put("", Pattern(4, 10)).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(client_->Put("empty", {}).code(), StatusCode::kInvalidArgument);
  std::vector<std::byte> huge((64 << 20) + 1);
  EXPECT_EQ(client_->Put("huge", huge).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(client_->Delete("absent").code(), StatusCode::kNotFound);
  auto ok = client_->Exists("big");
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(*ok);
}

TEST_F(NetTest, BatchOperations) {
  constexpr int kN = 300;
  std::vector<std::string> keys;
  std::vector<std::vector<std::byte>> values;
  std::vector<PutItem> puts;
  for (int i = 0; i < kN; ++i) keys.push_back("batch-" + std::to_string(i));
  for (int i = 0; i < kN; ++i) values.push_back(Pattern(i, 1000 + 37 * i));
  for (int i = 0; i < kN; ++i) puts.push_back({keys[i], values[i]});
  puts.push_back({keys[0], values[0]});  // duplicate inside the batch
  auto put = client_->PutBatch(puts);
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  for (int i = 0; i < kN; ++i) EXPECT_TRUE((*put)[i].ok()) << i << (*put)[i].ToString();
  // The first copy was still ALLOCATED when the batch's Allocate reached it: Busy.
  EXPECT_EQ((*put)[kN].code(), StatusCode::kBusy);
  EXPECT_EQ(client_->Put(keys[0], values[0]).code(), StatusCode::kAlreadyExists);

  std::vector<std::vector<std::byte>> dests(kN + 1, std::vector<std::byte>(20000));
  std::vector<GetItem> gets;
  for (int i = 0; i < kN; ++i) gets.push_back({keys[i], dests[i]});
  gets.push_back({"batch-missing", dests[kN]});
  auto got = client_->GetBatch(gets);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  for (int i = 0; i < kN; ++i) {
    ASSERT_TRUE((*got)[i].ok()) << i;
    ASSERT_EQ(*(*got)[i], values[i].size());
    ASSERT_TRUE(std::equal(values[i].begin(), values[i].end(), dests[i].begin())) << i;
  }
  EXPECT_EQ((*got)[kN].status().code(), StatusCode::kNotFound);

  std::vector<std::string_view> views(keys.begin(), keys.end());
  auto lp = client_->LongestPrefix(views);
  ASSERT_TRUE(lp.ok());
  EXPECT_EQ(*lp, static_cast<size_t>(kN));
  ASSERT_TRUE(client_->Delete(keys[100]).ok());
  lp = client_->LongestPrefix(views);
  ASSERT_TRUE(lp.ok());
  EXPECT_EQ(*lp, 100u);

  auto ex = client_->ExistsBatch(std::span(views).first(102));
  ASSERT_TRUE(ex.ok());
  EXPECT_TRUE((*ex)[99]);
  EXPECT_FALSE((*ex)[100]);
  EXPECT_TRUE((*ex)[101]);

  auto del = client_->DeleteBatch(std::span(views).subspan(99, 3));
  ASSERT_TRUE(del.ok());
  EXPECT_TRUE((*del)[0].ok());
  EXPECT_EQ((*del)[1].code(), StatusCode::kNotFound);
  EXPECT_TRUE((*del)[2].ok());
}

TEST_F(NetTest, BatchesLargerThanTheServerLimitAreSplit) {
  constexpr int kN = 5000;  // > 4096 keys per request
  std::vector<std::string> keys;
  for (int i = 0; i < kN; ++i) keys.push_back("split-" + std::to_string(i));
  auto value = Pattern(9, 64);
  std::vector<PutItem> puts;
  for (auto& k : keys) puts.push_back({k, value});
  auto put = client_->PutBatch(puts);
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  for (int i = 0; i < kN; ++i) ASSERT_TRUE((*put)[i].ok()) << i;
  std::vector<std::string_view> views(keys.begin(), keys.end());
  auto lp = client_->LongestPrefix(views);
  ASSERT_TRUE(lp.ok());
  EXPECT_EQ(*lp, static_cast<size_t>(kN));
}

TEST_F(NetTest, AsyncBatches) {
  auto v1 = Pattern(11, 70000);
  auto v2 = Pattern(12, 3);
  auto fut = client_->PutBatchAsync({{"async-1", v1}, {"async-2", v2}});
  auto put = fut.get();
  ASSERT_TRUE(put.ok());
  EXPECT_TRUE((*put)[0].ok());
  EXPECT_TRUE((*put)[1].ok());
  std::vector<std::byte> d1(70000), d2(10);
  auto got = client_->GetBatchAsync({{"async-1", d1}, {"async-2", d2}}).get();
  ASSERT_TRUE(got.ok());
  ASSERT_TRUE((*got)[0].ok());
  ASSERT_EQ(*(*got)[1], 3u);
  EXPECT_EQ(d1, v1);
  EXPECT_TRUE(std::equal(v2.begin(), v2.end(), d2.begin()));
}

TEST_F(NetTest, ConcurrentClientsSeeTheirOwnBytes) {
  constexpr int kClients = 4;
  constexpr int kKeys = 40;
  auto two = StartServer(0, /*workers=*/2);  // connections spread over both workers
  ASSERT_NE(two, nullptr);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      auto client = Client::Connect(TestClientOptions(*two));
      if (!client.ok()) {
        ++failures;
        return;
      }
      std::vector<std::byte> pool(1 << 20);
      auto reg = (*client)->RegisterBuffer(pool.data(), pool.size());
      if (!reg.ok()) ++failures;
      for (int k = 0; k < kKeys; ++k) {
        std::string key = "c" + std::to_string(c) + "-k" + std::to_string(k);
        auto value = Pattern(SeedOf(key), 4096 + 1000 * k + c);
        if (!(*client)->Put(key, value).ok()) ++failures;
      }
      for (int k = 0; k < kKeys; ++k) {
        std::string key = "c" + std::to_string(c) + "-k" + std::to_string(k);
        auto value = Pattern(SeedOf(key), 4096 + 1000 * k + c);
        auto got = (*client)->Get(key, pool);
        if (!got.ok() || *got != value.size() ||
            !std::equal(value.begin(), value.end(), pool.begin())) {
          ++failures;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(two->server->Stats().connections_accepted, static_cast<uint64_t>(kClients));
  EXPECT_EQ(two->server->Stats().malformed_messages, 0u);
}

TEST_F(NetTest, DramGetsCopyNoPayloadBytesOnTheServer) {
  std::vector<std::byte> pool(4 << 20);
  auto reg = client_->RegisterBuffer(pool.data(), pool.size());
  ASSERT_TRUE(reg.ok());
  auto value = Pattern(21, 3 << 20);
  ASSERT_TRUE(client_->Put("zc", value).ok());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(client_->Get("zc", pool).ok());
  ServerStats st = server_->server->Stats();
  EXPECT_EQ(st.get_hits, 5u);
  EXPECT_EQ(st.get_bytes_dram, 5ull * (3 << 20));
  EXPECT_EQ(st.dram_payload_memcpy_bytes, 0u);
  auto remote = client_->Stats();
  ASSERT_TRUE(remote.ok());
  EXPECT_EQ(remote->at("server.dram_payload_memcpy_bytes"), 0u);
  EXPECT_EQ(remote->at("server.get_hits"), 5u);
  EXPECT_GE(remote->at("store.lifecycle_commits"), 1u);
}

// A client that closes says Goodbye first: the endpoint error UCX reports for its close counts
// as clean. A peer that goes without a word counts as an error.
TEST(NetCloseTest, GoodbyeMakesACloseCleanAndASilentPeerIsAnError) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto wait_closed = [&](uint64_t closed) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    ServerStats st;
    do {
      st = server->server->Stats();
      if (st.connections_closed_clean + st.connections_closed_error >= closed &&
          st.connections_active == 0) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    } while (std::chrono::steady_clock::now() < deadline);
    return st;
  };
  {
    auto c = Client::Connect(TestClientOptions(*server));
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    ASSERT_TRUE((*c)->Put("bye", Pattern(1, 1000)).ok());
  }
  ServerStats st = wait_closed(1);
  EXPECT_EQ(st.connections_closed_clean, 1u);
  EXPECT_EQ(st.connections_closed_error, 0u);
  {
    auto raw = RawPeer::Connect("127.0.0.1", server->server->port());
    ASSERT_NE(raw, nullptr);
    std::vector<std::byte> mem(4096);
    ASSERT_NE(raw->HelloAndRegister(mem), 0u);
  }
  st = wait_closed(2);
  EXPECT_EQ(st.connections_closed_clean, 1u);
  EXPECT_EQ(st.connections_closed_error, 1u);
}

TEST_F(NetTest, CApiRoundTrip) {
  kvstash_client_options_t o{};
  std::string addr = server_->address();
  o.server_address = addr.c_str();
  o.peer_failure_detection = ShmMode() ? KVSTASH_PEER_FAILURE_OFF : KVSTASH_PEER_FAILURE_ON;
  kvstash_client_t* c = nullptr;
  ASSERT_EQ(kvstash_client_open(&o, &c), KVSTASH_OK) << kvstash_last_error();
  auto value = Pattern(31, 12345);
  ASSERT_EQ(kvstash_put(c, "ckey", 4, value.data(), value.size()), KVSTASH_OK);
  EXPECT_EQ(kvstash_put(c, "ckey", 4, value.data(), value.size()), KVSTASH_ALREADY_EXISTS);
  std::vector<std::byte> dest(20000);
  size_t n = 0;
  ASSERT_EQ(kvstash_get(c, "ckey", 4, dest.data(), dest.size(), &n), KVSTASH_OK);
  EXPECT_EQ(n, value.size());
  EXPECT_TRUE(std::equal(value.begin(), value.end(), dest.begin()));
  EXPECT_EQ(kvstash_get(c, "nope", 4, dest.data(), dest.size(), &n), KVSTASH_NOT_FOUND);
  EXPECT_STREQ(kvstash_status_name(KVSTASH_NOT_FOUND), "NotFound");
  int exists = 0;
  ASSERT_EQ(kvstash_exists(c, "ckey", 4, &exists), KVSTASH_OK);
  EXPECT_EQ(exists, 1);
  uint64_t commits = 0;
  ASSERT_EQ(kvstash_stat(c, "server.keys_committed", &commits), KVSTASH_OK);
  EXPECT_GE(commits, 1u);
  // Into memory the library allocated (and, over shared memory, the server maps).
  kvstash_buffer_t* buf = nullptr;
  ASSERT_EQ(kvstash_allocate_buffer(c, value.size(), &buf), KVSTASH_OK) << kvstash_last_error();
  auto* mem = static_cast<std::byte*>(kvstash_buffer_data(buf));
  ASSERT_NE(mem, nullptr);
  ASSERT_EQ(kvstash_get(c, "ckey", 4, mem, value.size(), &n), KVSTASH_OK);
  EXPECT_TRUE(std::equal(value.begin(), value.end(), mem));
  kvstash_unregister_buffer(buf);
  EXPECT_EQ(kvstash_allocate_buffer(c, 0, &buf), KVSTASH_INVALID_ARGUMENT);
  EXPECT_EQ(kvstash_buffer_data(nullptr), nullptr);
  EXPECT_EQ(kvstash_delete(c, "ckey", 4), KVSTASH_OK);
  EXPECT_EQ(kvstash_put(nullptr, "k", 1, value.data(), 1), KVSTASH_INVALID_ARGUMENT);
  kvstash_client_close(c);
}

// kvstashd's default: the arena is a shared segment from UCX. Over shared memory a client maps
// it and puts with memcpy, and the server maps an AllocateBuffer'd buffer and gets with memcpy;
// over TCP neither can be mapped and both go through UCX. Either way every byte is right.
TEST(NetSharedArenaTest, SameHostPutsAndGetsAreOneMemcpyAndExact) {
  auto server = StartSharedArenaServer();
  ASSERT_NE(server, nullptr);
  auto c = Client::Connect(TestClientOptions(*server));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  std::unique_ptr<Client> client = std::move(c).value();

  const size_t sizes[] = {1, 4095, 4097, (1 << 20) + 13, 8 << 20};
  uint64_t total = 0;
  for (size_t n : sizes) total += n;
  auto allocated = client->AllocateBuffer(total + 64);
  ASSERT_TRUE(allocated.ok()) << allocated.status().ToString();
  auto* pool = static_cast<std::byte*>(allocated->data());
  std::vector<std::byte> caller_memory(total + 64);
  auto registered = client->RegisterBuffer(caller_memory.data(), caller_memory.size());
  ASSERT_TRUE(registered.ok()) << registered.status().ToString();

  std::vector<PutItem> puts;
  std::vector<std::vector<std::byte>> values;
  std::vector<std::string> keys;
  for (size_t n : sizes) keys.push_back("shared-" + std::to_string(n));
  for (size_t i = 0; i < keys.size(); ++i) values.push_back(Pattern(SeedOf(keys[i]), sizes[i]));
  for (size_t i = 0; i < keys.size(); ++i) puts.push_back({keys[i], values[i]});
  auto put = client->PutBatch(puts);
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  for (const Status& s : *put) ASSERT_TRUE(s.ok()) << s.ToString();

  // Into the allocated buffer at odd offsets, then into caller memory.
  for (std::byte* base : {pool, caller_memory.data()}) {
    std::vector<GetItem> gets;
    size_t off = 3;
    for (size_t i = 0; i < keys.size(); ++i) {
      gets.push_back({keys[i], std::span(base + off, sizes[i])});
      off += sizes[i];
    }
    auto got = client->GetBatch(gets);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    for (size_t i = 0; i < keys.size(); ++i) {
      ASSERT_TRUE((*got)[i].ok()) << (*got)[i].status().ToString();
      ASSERT_EQ(*(*got)[i], sizes[i]);
      ASSERT_TRUE(std::equal(values[i].begin(), values[i].end(), gets[i].dest.begin())) << i;
    }
  }
  auto stats = client->Stats();
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  ServerStats st = server->server->Stats();
  EXPECT_EQ(st.get_bytes_dram, 2 * total);
  if (ShmMode()) {
    EXPECT_EQ(stats->at("client.put_bytes_mapped"), total);
    EXPECT_EQ(st.get_bytes_mapped, total) << "only the allocated buffer is mapped";
    EXPECT_EQ(st.dram_payload_memcpy_bytes, total);
  } else {
    EXPECT_EQ(stats->at("client.put_bytes_mapped"), 0u);
    EXPECT_EQ(st.get_bytes_mapped, 0u);
    EXPECT_EQ(st.dram_payload_memcpy_bytes, 0u);
  }
  EXPECT_EQ(server->store->Stats().blocks_committed, keys.size());
}

// The server trusts a mapping only inside one shared mapping: UCX's rkey_ptr does no bounds
// check and the length comes from the client.
TEST(NetSharedArenaTest, MappingCheckAcceptsOnlyRangesInsideOneSharedMapping) {
  const size_t page = 4096;
  void* shared = mmap(nullptr, 3 * page, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  void* priv = mmap(nullptr, 3 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(shared, MAP_FAILED);
  ASSERT_NE(priv, MAP_FAILED);
  auto* s = static_cast<std::byte*>(shared);
  uint64_t inode = 0;
  EXPECT_TRUE(net::InOneSharedMapping(s, 3 * page, &inode));
  EXPECT_NE(inode, 0u);
  EXPECT_TRUE(net::InOneSharedMapping(s + 100, page));
  EXPECT_FALSE(net::InOneSharedMapping(s + page, 3 * page)) << "runs past the mapping";
  EXPECT_FALSE(net::InOneSharedMapping(s, 0));
  EXPECT_FALSE(net::InOneSharedMapping(static_cast<std::byte*>(priv), page)) << "private";
  munmap(shared, 3 * page);
  munmap(priv, 3 * page);
}

// Handles that outlive their Client are inert: not valid, and destroying them touches nothing
// of the gone client (it used to lock the freed client's mutex and hang; ASan in CI).
TEST(NetClientTest, BufferHandlesOutlivingTheirClientAreInert) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  std::vector<std::byte> caller(1 << 16);
  std::optional<BufferHandle> allocated, registered, moved;
  {
    auto c = Client::Connect(TestClientOptions(*server));
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    auto a = (*c)->AllocateBuffer(1 << 16);
    auto r = (*c)->RegisterBuffer(caller.data(), caller.size());
    ASSERT_TRUE(a.ok() && r.ok());
    allocated.emplace(std::move(*a));
    registered.emplace(std::move(*r));
    moved.emplace(std::move(*registered));  // the moved-from handle gives up the registration
    EXPECT_TRUE(allocated->valid());
    EXPECT_TRUE(moved->valid());
    EXPECT_FALSE(registered->valid());
  }
  EXPECT_FALSE(allocated->valid());
  EXPECT_FALSE(moved->valid());
  allocated.reset();
  moved.reset();
  registered.reset();
}

// A client that allocated the memory, got blocks into it and went away: the server drops its
// mapping with the connection and keeps serving others.
TEST(NetSharedArenaTest, ClientGoneWithItsAllocatedBufferLeavesServerServing) {
  auto server = StartSharedArenaServer();
  ASSERT_NE(server, nullptr);
  auto value = Pattern(7, 300000);
  {
    auto c = Client::Connect(TestClientOptions(*server));
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    auto buf = (*c)->AllocateBuffer(value.size());
    ASSERT_TRUE(buf.ok()) << buf.status().ToString();
    ASSERT_TRUE((*c)->Put("k", value).ok());
    auto got = (*c)->Get("k", std::span(static_cast<std::byte*>(buf->data()), value.size()));
    ASSERT_TRUE(got.ok()) << got.status().ToString();
  }
  auto c = Client::Connect(TestClientOptions(*server));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  auto buf = (*c)->AllocateBuffer(value.size());
  ASSERT_TRUE(buf.ok()) << buf.status().ToString();
  auto dest = std::span(static_cast<std::byte*>(buf->data()), value.size());
  auto got = (*c)->Get("k", dest);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(std::equal(value.begin(), value.end(), dest.begin()));
}

}  // namespace
}  // namespace kvstash::testing
