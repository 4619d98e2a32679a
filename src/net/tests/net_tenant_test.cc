// Security tests: tenant namespaces bound at Hello with constant-time token checks, one store
// (own registered arena) per tenant, and every server limit triggering its documented error.
#include <gtest/gtest.h>

#include <thread>

#include "net/proto/protocol.h"
#include "net/server/server_tenants.h"
#include "net/tests/net_test_util.h"

namespace kvstash::testing {
namespace {

constexpr char kTokenA[] = "token-of-tenant-a-0123456789";
constexpr char kTokenB[] = "token-of-tenant-b-9876543210";

StoreOptions SmallStore() {
  StoreOptions o = TestStoreOptions();
  o.dram_bytes = 128ull << 20;
  return o;
}

// A default store plus one own store per tenant (namespaces 1 and 2).
struct TenantServer {
  std::unique_ptr<BlockStore> store_a, store_b;
  std::unique_ptr<TestServer> ts;
};

std::unique_ptr<TenantServer> StartTenantServer() {
  auto t = std::make_unique<TenantServer>();
  t->store_a = std::move(BlockStore::Create(SmallStore())).value();
  t->store_b = std::move(BlockStore::Create(SmallStore())).value();
  ServerOptions so;
  so.tenants = {{"a", 1, kTokenA, t->store_a.get()}, {"b", 2, kTokenB, t->store_b.get()}};
  t->ts = StartServer(0, 2, SmallStore(), so);
  return t->ts == nullptr ? nullptr : std::move(t);
}

ClientOptions As(const TestServer& ts, uint16_t ns, std::string token) {
  ClientOptions o = TestClientOptions(ts);
  o.namespace_id = ns;
  o.token = std::move(token);
  o.timeout = std::chrono::seconds(5);
  return o;
}

TEST(ConstantTimeEqualsTest, ComparesWholeStrings) {
  EXPECT_TRUE(net::ConstantTimeEquals("secret-token", "secret-token"));
  EXPECT_FALSE(net::ConstantTimeEquals("secret-token", "secret-tokem"));
  EXPECT_FALSE(net::ConstantTimeEquals("secret-token", "secret-token-longer"));
  EXPECT_FALSE(net::ConstantTimeEquals("secret-token", "secret"));
  EXPECT_FALSE(net::ConstantTimeEquals("secret-token", ""));
  EXPECT_FALSE(net::ConstantTimeEquals("ab", "abab"));  // the modulo walk must not alias
}

TEST(TenantTest, WrongOrMissingTokenIsRefusedAndCounted) {
  auto t = StartTenantServer();
  ASSERT_NE(t, nullptr);
  const TestServer& ts = *t->ts;
  for (auto [ns, token] : std::vector<std::pair<uint16_t, std::string>>{
           {1, ""}, {1, kTokenB}, {2, kTokenA}, {1, "token-of-tenant-a-012345678"}, {3, kTokenA}}) {
    auto c = Client::Connect(As(ts, ns, token));
    ASSERT_FALSE(c.ok()) << ns << " " << token;
    EXPECT_EQ(c.status().code(), StatusCode::kPermissionDenied);
    EXPECT_NE(c.status().message().find("permission denied"), std::string::npos);
  }
  EXPECT_EQ(ts.server->Stats().auth_failures, 5u);
  EXPECT_TRUE(Client::Connect(As(ts, 1, kTokenA)).ok());
  EXPECT_TRUE(Client::Connect(As(ts, 0, "")).ok());  // no auth_tokens: namespace 0 is open
  EXPECT_EQ(ts.server->Stats().auth_failures, 5u);
}

TEST(TenantTest, ATenantCannotReadWriteProbeOrDeleteAnotherNamespace) {
  auto t = StartTenantServer();
  ASSERT_NE(t, nullptr);
  auto a = std::move(Client::Connect(As(*t->ts, 1, kTokenA))).value();
  auto b = std::move(Client::Connect(As(*t->ts, 2, kTokenB))).value();
  auto d = std::move(Client::Connect(As(*t->ts, 0, ""))).value();
  ASSERT_TRUE(a->Put("shared-name", Pattern(1, 8192)).ok());
  std::vector<std::byte> dest(8192);
  for (Client* other : {b.get(), d.get()}) {
    EXPECT_EQ(other->Get("shared-name", dest).status().code(), StatusCode::kNotFound);
    EXPECT_FALSE(*other->Exists("shared-name"));
    std::string_view keys[] = {"shared-name"};
    EXPECT_EQ(*other->LongestPrefix(keys), 0u);
    EXPECT_EQ(other->Delete("shared-name").code(), StatusCode::kNotFound);
  }
  // Each writes its own block under the same name: no clash, each reads its own bytes.
  ASSERT_TRUE(b->Put("shared-name", Pattern(2, 8192)).ok());
  ASSERT_TRUE(*a->Get("shared-name", dest) == 8192);
  EXPECT_EQ(dest, Pattern(1, 8192));
  ASSERT_TRUE(*b->Get("shared-name", dest) == 8192);
  EXPECT_EQ(dest, Pattern(2, 8192));
  // The blocks live in separate stores (separate arenas); the default store has none.
  EXPECT_EQ(t->store_a->Stats().blocks_committed, 1u);
  EXPECT_EQ(t->store_b->Stats().blocks_committed, 1u);
  EXPECT_EQ(t->ts->store->Stats().blocks_committed, 0u);
  // A tenant's Stats request shows its own store only.
  auto st = a->Stats();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->at("store.blocks_committed"), 1u);
  EXPECT_EQ(st->at("store.dram_capacity_bytes"), t->store_a->arena_size());
}

// Decodes the HelloReply of `raw` after a Hello(ns, token).
net::HelloReply RawHello(RawPeer& raw, uint16_t ns, std::string_view token, Status* status) {
  net::HelloRequest req;
  req.namespace_id = ns;
  req.token = token;
  net::HelloReply rep;
  if (!raw.Send(net::EncodeRequest(net::Opcode::kHello, 1, req)) || !raw.WaitReply(5000)) {
    *status = Status::Unavailable("no reply");
    return rep;
  }
  std::span<const std::byte> body;
  *status = RawPeer::ReplyStatus(raw.last_reply, &body);
  if (status->ok()) *status = net::DecodeBody(body, net::Limits{}, &rep);
  return rep;
}

TEST(TenantTest, HelloSendsOnlyTheTenantsArenaAndBindsTheNamespaceForGood) {
  auto t = StartTenantServer();
  ASSERT_NE(t, nullptr);
  auto raw = RawPeer::Connect("127.0.0.1", t->ts->server->port());
  ASSERT_NE(raw, nullptr);
  Status s;
  RawHello(*raw, 1, "wrong-token-wrong-token", &s);
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied);
  // Not hello'd: every request is refused.
  ASSERT_TRUE(raw->Send(net::EncodeRequest(net::Opcode::kExists, 2, net::KeysRequest{{"x"}})));
  ASSERT_TRUE(raw->WaitReply(5000));
  EXPECT_EQ(RawPeer::ReplyStatus(raw->last_reply).code(), StatusCode::kPermissionDenied);
  net::HelloReply rep = RawHello(*raw, 1, kTokenA, &s);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(rep.arena_address, reinterpret_cast<uint64_t>(t->store_a->arena_base()));
  EXPECT_EQ(rep.arena_bytes, t->store_a->arena_size());
  // A second Hello cannot move the connection to another namespace.
  RawHello(*raw, 2, kTokenB, &s);
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied);
}

TEST(LimitsTest, DefaultsBindLoopbackAndBoundEverything) {
  ServerOptions d;
  EXPECT_EQ(d.listen_host, "127.0.0.1");
  EXPECT_EQ(d.max_key_bytes, 256u);
  EXPECT_EQ(d.max_value_bytes, 64ull << 20);
  EXPECT_EQ(d.max_batch_keys, 4096u);
  EXPECT_EQ(d.max_outstanding_per_connection, 64u);
  EXPECT_EQ(d.max_connections, 1024u);
  EXPECT_TRUE(d.Validate().ok());
  ServerOptions bad;
  bad.tenants = {{"a", 1, "", nullptr}};
  EXPECT_FALSE(bad.Validate().ok()) << "a tenant without a token";
  bad.tenants = {{"a", 1, "t", nullptr}, {"b", 1, "u", nullptr}};
  EXPECT_FALSE(bad.Validate().ok()) << "a namespace defined twice";
}

TEST(LimitsTest, ConnectionsBeyondTheLimitAreRefused) {
  ServerOptions so;
  so.max_connections = 2;
  auto ts = StartServer(0, 1, SmallStore(), so);
  ASSERT_NE(ts, nullptr);
  auto c1 = Client::Connect(TestClientOptions(*ts));
  auto c2 = Client::Connect(TestClientOptions(*ts));
  ASSERT_TRUE(c1.ok() && c2.ok());
  ClientOptions o = TestClientOptions(*ts);
  o.timeout = std::chrono::seconds(3);
  auto c3 = Client::Connect(o);
  ASSERT_FALSE(c3.ok());
  EXPECT_EQ(c3.status().code(), StatusCode::kUnavailable) << c3.status().ToString();
  EXPECT_GE(ts->server->Stats().connections_refused, 1u);
  c1->reset();  // a slot frees up
  bool ok = false;
  for (int i = 0; i < 50 && !ok; ++i) {
    ok = Client::Connect(o).ok();
    if (!ok) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(ok);
}

TEST(LimitsTest, KeyValueAndBatchLimitsGiveClearErrors) {
  ServerOptions so;
  so.max_value_bytes = 1 << 20;
  so.max_batch_keys = 4;
  auto ts = StartServer(0, 1, SmallStore(), so);
  ASSERT_NE(ts, nullptr);
  auto c = std::move(Client::Connect(TestClientOptions(*ts))).value();
  Status s = c->Put(std::string(257, 'k'), Pattern(1, 10));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("key"), std::string::npos) << s.ToString();
  s = c->Put("big", Pattern(1, (1 << 20) + 1));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(c->Put("fits", Pattern(1, 1 << 20)).ok());
  // The client splits batches over the server's limit; a raw peer that sends one is closed.
  std::vector<std::string_view> five = {"a", "b", "c", "d", "e"};
  EXPECT_TRUE(c->ExistsBatch(five).ok());
  auto raw = RawPeer::Connect("127.0.0.1", ts->server->port());
  ASSERT_NE(raw, nullptr);
  Status hs;
  RawHello(*raw, 0, "", &hs);
  ASSERT_TRUE(hs.ok());
  net::KeysRequest req;
  for (auto k : five) req.keys.push_back(k);
  ASSERT_TRUE(raw->Send(net::EncodeRequest(net::Opcode::kExists, 2, req)));
  if (!ShmMode()) {
    EXPECT_TRUE(raw->WaitClosed(5000));
  }
  for (int i = 0; i < 200 && ts->server->Stats().malformed_messages == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(ts->server->Stats().malformed_messages, 1u);
  EXPECT_TRUE(c->Exists("fits").ok());  // the good client is unaffected
}

TEST(LimitsTest, OutstandingRequestsBeyondTheLimitGetResourceExhausted) {
  if (ShmMode()) GTEST_SKIP() << "shared-memory puts complete without the peer's progress";
  ServerOptions so;
  // 2 in flight; up to 4 x 2 = 8 queued before the server closes the connection as abusive.
  so.max_outstanding_per_connection = 2;
  auto ts = StartServer(0, 1, SmallStore(), so);
  ASSERT_NE(ts, nullptr);
  auto c = std::move(Client::Connect(TestClientOptions(*ts))).value();
  ASSERT_TRUE(c->Put("hot", Pattern(3, 1 << 20)).ok());
  auto raw = RawPeer::Connect("127.0.0.1", ts->server->port());
  ASSERT_NE(raw, nullptr);
  Status hs;
  RawHello(*raw, 0, "", &hs);
  ASSERT_TRUE(hs.ok());
  std::vector<std::byte> mem(8 << 20);
  auto rkey = raw->MapMemory(mem.data(), mem.size());
  ASSERT_FALSE(rkey.empty());
  net::RegisterBufferRequest rb{reinterpret_cast<uint64_t>(mem.data()), mem.size(), rkey};
  ASSERT_TRUE(raw->Send(net::EncodeRequest(net::Opcode::kRegisterBuffer, 2, rb)));
  ASSERT_TRUE(raw->WaitReply(5000));
  ASSERT_TRUE(RawPeer::ReplyStatus(raw->last_reply).ok());
  // Six Gets sent back to back: while the first two await this (not progressing) peer's
  // acknowledgement of their puts, the rest exceed the limit of two outstanding requests.
  constexpr int kGets = 6;
  std::vector<std::vector<std::byte>> burst;
  for (int i = 0; i < kGets; ++i) {
    net::GetRequest g{{{"hot", 1, uint64_t(i) * (1 << 20) % (8 << 20), 1 << 20}}};
    burst.push_back(net::EncodeRequest(net::Opcode::kGet, 10 + i, g));
  }
  ASSERT_TRUE(raw->SendBurst(burst));
  auto replies = raw->CollectReplies(kGets, 10000);
  int exhausted = 0;
  std::string seen;
  for (const auto& r : replies) {
    std::span<const std::byte> body;
    Status st = RawPeer::ReplyStatus(r, &body);
    exhausted += st.code() == StatusCode::kResourceExhausted;
    net::GetReply gr;
    if (st.ok() && net::DecodeBody(body, net::Limits{}, &gr).ok() && !gr.items.empty()) {
      seen += " item:" + std::to_string(int(gr.items[0].status));
    } else {
      seen += " req:" + std::to_string(int(st.code()));
    }
  }
  EXPECT_GE(exhausted, 1) << replies.size() << " replies:" << seen
                          << " get_write_errors=" << ts->server->Stats().get_write_errors;
  EXPECT_GE(ts->server->Stats().outstanding_rejected, 1u);
}

}  // namespace
}  // namespace kvstash::testing
