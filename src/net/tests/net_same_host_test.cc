// The same-host fast path needs no settings: a server and a client left on their defaults
// (PeerFailureDetection::kAuto on both ends) agree on an endpoint mode that gives UCX its
// shared-memory lanes, so the client maps the server's shared arena (puts are one memcpy) and
// the server maps the client's AllocateBuffer memory (gets are one memcpy). CTest runs this
// binary with UCX's default transports and with UCX_TLS=sm,self, which UCX 1.13 cannot connect
// with as it is (UcxContext adds tcp for the handshake).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdlib>
#include <cstring>

#include "kvstash/client.h"
#include "net/tests/net_test_util.h"
#include "net/ucx/ucx_context.h"
#include "net/ucx/ucx_endpoint.h"

namespace kvstash::testing {
namespace {

sockaddr_storage Address(const char* host) {
  auto a = net::ResolveAddress(host, 7400);
  EXPECT_TRUE(a.ok()) << host << ": " << a.status().ToString();
  return a.ok() ? *a : sockaddr_storage{};
}

TEST(SameHostTest, LoopbackIsLocalAndAForeignAddressIsNot) {
  EXPECT_TRUE(net::IsLocalAddress(Address("127.0.0.1")));
  EXPECT_TRUE(net::IsLocalAddress(Address("127.3.2.1")));
  EXPECT_TRUE(net::IsLocalAddress(Address("::1")));
  EXPECT_FALSE(net::IsLocalAddress(Address("192.0.2.1")));  // TEST-NET-1: never assigned
  EXPECT_FALSE(net::IsLocalAddress(Address("2001:db8::1")));
}

TEST(SameHostTest, HandshakeTransportIsAddedOnlyWhereMissing) {
  EXPECT_EQ(net::WithHandshakeTransport("sm,self"), "sm,self,tcp");
  EXPECT_EQ(net::WithHandshakeTransport("posix,sysv,cma"), "posix,sysv,cma,tcp");
  EXPECT_EQ(net::WithHandshakeTransport("sm,self,tcp"), "sm,self,tcp");
  EXPECT_EQ(net::WithHandshakeTransport("tcp"), "tcp");
  EXPECT_EQ(net::WithHandshakeTransport("rc,sm"), "rc,sm");
  EXPECT_EQ(net::WithHandshakeTransport("ud_verbs,sm"), "ud_verbs,sm");
  EXPECT_EQ(net::WithHandshakeTransport("dc_x"), "dc_x");
  EXPECT_EQ(net::WithHandshakeTransport("all"), "all");
  EXPECT_EQ(net::WithHandshakeTransport("^tcp"), "^tcp");  // exclusions are the user's call
  EXPECT_EQ(net::WithHandshakeTransport(""), "");
}

// A server on a kernel-chosen port of 127.0.0.1 with peer-failure detection `mode`; its arena
// in shared memory when `arenas` is given (as kvstashd has it by default).
struct LocalServer {
  std::unique_ptr<BlockStore> store;
  std::unique_ptr<Server> server;
  std::string address() const { return "127.0.0.1:" + std::to_string(server->port()); }
  ~LocalServer() {
    if (server != nullptr) server->Stop();
  }
};

std::unique_ptr<LocalServer> StartLocal(PeerFailureDetection mode,
                                        std::shared_ptr<net::SharedArenas> arenas = nullptr) {
  ServerOptions so;
  so.listen_port = 0;
  so.peer_failure = mode;
  StoreOptions store_options = TestStoreOptions();
  if (arenas != nullptr) {
    store_options.arena_allocator = SharedArenaAllocator(arenas);
    so.shared_arenas = arenas;
  }
  auto s = std::make_unique<LocalServer>();
  auto store = BlockStore::Create(store_options);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  if (!store.ok()) return nullptr;
  s->store = std::move(store).value();
  auto server = Server::Create(so, s->store.get());
  EXPECT_TRUE(server.ok()) << server.status().ToString();
  if (!server.ok()) return nullptr;
  Status started = (*server)->Start();
  EXPECT_TRUE(started.ok()) << started.ToString();
  if (!started.ok()) return nullptr;
  s->server = std::move(server).value();
  return s;
}

uint64_t Stat(const std::map<std::string, uint64_t>& stats, const std::string& name) {
  auto it = stats.find(name);
  EXPECT_NE(it, stats.end()) << name;
  return it == stats.end() ? 0 : it->second;
}

// Both ends on their defaults: the put lands with memcpy in the mapped shared arena and the
// get with memcpy in the client's AllocateBuffer memory, byte-exact.
TEST(SameHostTest, DefaultsOnBothEndsTakeTheSharedMemoryPath) {
  const char* tls = std::getenv("UCX_TLS");
  RecordProperty("UCX_TLS", tls ? tls : "(default)");
  ASSERT_EQ(ServerOptions{}.peer_failure, PeerFailureDetection::kAuto);
  auto arenas = CreateSharedArenas();
  ASSERT_TRUE(arenas.ok()) << arenas.status().ToString();
  auto server = StartLocal(PeerFailureDetection::kAuto, *arenas);
  ASSERT_NE(server, nullptr);

  ClientOptions co;  // peer_failure: kAuto
  ASSERT_EQ(co.peer_failure, PeerFailureDetection::kAuto);
  co.server_address = server->address();
  auto client = Client::Connect(co);
  ASSERT_TRUE(client.ok()) << client.status().ToString();

  constexpr size_t kBytes = 1 << 20;
  auto value = Pattern(42, kBytes);
  ASSERT_TRUE((*client)->Put("same-host", value).ok());
  auto buffer = (*client)->AllocateBuffer(kBytes);
  ASSERT_TRUE(buffer.ok()) << buffer.status().ToString();
  std::span<std::byte> dest(static_cast<std::byte*>(buffer->data()), buffer->size());
  auto got = (*client)->Get("same-host", dest);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(*got, kBytes);
  EXPECT_TRUE(std::equal(value.begin(), value.end(), dest.begin()));

  auto stats = (*client)->Stats();
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(Stat(*stats, "client.put_bytes_mapped"), kBytes);
  EXPECT_EQ(Stat(*stats, "server.get_bytes_mapped"), kBytes);
}

// A client on auto reaches a server forced either way (it tries the other mode when the first
// is refused), so kvstashd --peer-failure on|off needs nothing on the client side.
TEST(SameHostTest, AutoClientReachesAServerForcedEitherWay) {
  for (PeerFailureDetection forced : {PeerFailureDetection::kOn, PeerFailureDetection::kOff}) {
    auto server = StartLocal(forced);
    ASSERT_NE(server, nullptr);
    ClientOptions co;
    co.server_address = server->address();
    auto client = Client::Connect(co);
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    auto value = Pattern(7, 100000);
    ASSERT_TRUE((*client)->Put("forced", value).ok());
    std::vector<std::byte> got(value.size());
    auto n = (*client)->Get("forced", got);
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    EXPECT_EQ(got, value);
  }
}

// A client that forces peer-failure detection against a server that forces it off cannot
// connect (UCX's wire-up fails); it says so and names the setting, instead of a bare
// "Endpoint is not connected".
TEST(SameHostTest, ForcedMismatchFailsWithAnErrorThatNamesTheFix) {
  auto server = StartLocal(PeerFailureDetection::kOff);
  ASSERT_NE(server, nullptr);
  ClientOptions co;
  co.peer_failure = PeerFailureDetection::kOn;
  co.server_address = server->address();
  auto start = std::chrono::steady_clock::now();
  auto client = Client::Connect(co);
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(client.ok());
  EXPECT_NE(client.status().message().find("ClientOptions::peer_failure"), std::string::npos)
      << client.status().ToString();
  EXPECT_LT(took, std::chrono::seconds(3)) << client.status().ToString();
}

}  // namespace
}  // namespace kvstash::testing
