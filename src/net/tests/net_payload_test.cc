// Get transfers: the same bytes whichever way a Get's blocks travel (ClientOptions::
// transfer): puts into registered memory, or payload messages received straight into the
// destination. Runs over shared memory and over TCP (the net_integration_test variants).
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "kvstash/client.h"
#include "net/proto/protocol.h"
#include "net/tests/net_test_util.h"

namespace kvstash::testing {
namespace {

using Transfer = ClientOptions::Transfer;

class NetTransferTest : public ::testing::TestWithParam<Transfer> {
 protected:
  void SetUp() override {
    server_ = StartServer();
    ASSERT_NE(server_, nullptr);
    ClientOptions o = TestClientOptions(*server_);
    o.transfer = GetParam();
    auto c = Client::Connect(o);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    client_ = std::move(c).value();
  }

  std::unique_ptr<TestServer> server_;
  std::unique_ptr<Client> client_;
};

// Sizes around the eager/rendezvous switch of every transport here (8 KiB), a 1-byte block and
// multi-MiB ones; into unregistered memory and into a registered buffer, at odd offsets.
TEST_P(NetTransferTest, EveryTransferDeliversTheSameBytes) {
  const std::vector<size_t> sizes = {1, 4095, 8185, 8192, 8193, 65543, 1 << 20, (3 << 20) + 5};
  std::vector<std::string> keys;
  std::vector<std::vector<std::byte>> values;
  std::vector<PutItem> puts;
  size_t total = 0;
  for (size_t n : sizes) {
    keys.push_back("t-" + std::to_string(n));
    values.push_back(Pattern(SeedOf(keys.back()), n));
    total += n;
  }
  for (size_t i = 0; i < keys.size(); ++i) puts.push_back({keys[i], values[i]});
  auto put = client_->PutBatch(puts);
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  for (const Status& s : *put) ASSERT_TRUE(s.ok()) << s.ToString();

  std::vector<std::byte> plain(total + 64, std::byte{0xEE});
  std::vector<std::byte> registered(total + 64, std::byte{0xEE});
  ASSERT_TRUE(client_->RegisterBuffer(registered.data(), registered.size()).ok());
  for (std::vector<std::byte>* mem : {&plain, &registered}) {
    std::vector<GetItem> gets;
    size_t off = 7;
    for (size_t i = 0; i < keys.size(); ++i) {
      gets.push_back({keys[i], std::span(mem->data() + off, sizes[i])});
      off += sizes[i];
    }
    auto got = client_->GetBatch(gets);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    for (size_t i = 0; i < keys.size(); ++i) {
      ASSERT_TRUE((*got)[i].ok()) << (*got)[i].status().ToString();
      ASSERT_EQ(*(*got)[i], sizes[i]);
      ASSERT_TRUE(std::ranges::equal(values[i], gets[i].dest)) << "WRONG BYTES, item " << i;
    }
    EXPECT_EQ((*mem)[6], std::byte{0xEE}) << "written before the first destination";
    EXPECT_EQ((*mem)[off], std::byte{0xEE}) << "written past the last destination";
  }

  auto stats = client_->Stats();
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  const uint64_t messages = stats->at("client.get_bytes_messages");
  const uint64_t put_messages = stats->at("client.put_bytes_messages");
  EXPECT_EQ(messages, server_->server->Stats().get_bytes_messages);
  EXPECT_EQ(put_messages, server_->server->Stats().put_bytes_messages);
  switch (GetParam()) {
    case Transfer::kRma:
      EXPECT_EQ(messages, 0u);
      EXPECT_EQ(put_messages, 0u);
      break;
    case Transfer::kMessage:  // the arena is private here: nothing is mapped
      EXPECT_EQ(messages, 2 * total);
      EXPECT_EQ(put_messages, total);
      break;
    case Transfer::kAuto:  // one choice per connection: all messages without native RMA
      EXPECT_TRUE(messages == 0 || messages == 2 * total) << messages;
      EXPECT_TRUE(put_messages == 0 || put_messages == total) << put_messages;
      break;
  }
}

// Misses and too-small destinations in one batch: statuses per key, and a destination the
// block does not fit is never written.
TEST_P(NetTransferTest, MissesAndShortDestinationsAreReportedPerKey) {
  auto big = Pattern(1, 300000);
  auto small = Pattern(2, 5000);
  ASSERT_TRUE(client_->Put("big", big).ok());
  ASSERT_TRUE(client_->Put("small", small).ok());
  std::vector<std::byte> a(small.size()), b(big.size() - 1, std::byte{0xEE}), c(big.size());
  std::vector<std::byte> d(10);
  auto got =
      client_->GetBatch(std::vector<GetItem>{{"small", a}, {"big", b}, {"absent", d}, {"big", c}});
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_TRUE((*got)[0].ok());
  EXPECT_EQ(a, small);
  ASSERT_FALSE((*got)[1].ok());
  EXPECT_EQ((*got)[1].status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE((*got)[1].status().message().find("300000"), std::string::npos)
      << (*got)[1].status().ToString();
  EXPECT_TRUE(std::ranges::all_of(b, [](std::byte x) { return x == std::byte{0xEE}; }));
  EXPECT_EQ((*got)[2].status().code(), StatusCode::kNotFound);
  ASSERT_TRUE((*got)[3].ok());
  EXPECT_EQ(c, big);
  // The connection is still good.
  std::vector<std::byte> again(big.size());
  ASSERT_TRUE(client_->Get("big", again).ok());
  EXPECT_EQ(again, big);
}

// A peer that asks for payloads and goes away without taking them (it has no handler for
// them and closes at once): the server's sends fail or are dropped with the connection, the
// pins are released (the block can be deleted) and the next client is served.
TEST(NetPayloadPeerTest, PeerGoneBeforeItsPayloadsLeavesServerServing) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto client = Client::Connect(TestClientOptions(*server));
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  auto value = Pattern(3, 2 << 20);
  ASSERT_TRUE((*client)->Put("k", value).ok());
  {
    std::vector<std::byte> mem(4096);
    auto peer = RawPeer::Connect("127.0.0.1", server->server->port());
    ASSERT_NE(peer, nullptr);
    ASSERT_NE(peer->HelloAndRegister(mem), 0u);
    net::GetRequest get;
    for (int i = 0; i < 8; ++i) get.items.push_back({"k", net::kPayloadBufferId, 0, value.size()});
    ASSERT_TRUE(peer->Send(net::EncodeRequest(net::Opcode::kGet, 3, get)));
  }  // closed with the Get's payload sends in flight
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (server->server->Stats().connections_active > 1 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(server->server->Stats().connections_active, 1u);
  std::vector<std::byte> dest(value.size());
  auto got = (*client)->Get("k", dest);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(dest, value);
  auto del = (*client)->Delete("k");
  EXPECT_TRUE(del.ok()) << del.ToString();
}

// Put payloads the server must refuse: before Hello, a header of the wrong size, a range
// outside the arena. Each closes that connection only (counted as malformed); the arena is not
// written and other clients are served.
TEST(NetPutPayloadTest, MalformedPutPayloadsCloseOnlyTheirConnection) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto client = Client::Connect(TestClientOptions(*server));
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  auto value = Pattern(5, 100000);
  ASSERT_TRUE((*client)->Put("kept", value).ok());
  std::vector<std::byte> data(64 << 10, std::byte{0x5A});
  std::vector<std::byte> mem(4096);
  const auto in_arena = net::EncodePutPayloadHeader(0);
  const auto past_end = net::EncodePutPayloadHeader(server->store->Stats().dram_capacity_bytes);
  const std::array<std::byte, 4> short_header{};
  struct Case {
    const char* what;
    bool hello;
    std::span<const std::byte> header;
  };
  const Case cases[] = {{"before Hello", false, in_arena},
                        {"short header", true, short_header},
                        {"outside the arena", true, past_end}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    uint64_t malformed = server->server->Stats().malformed_messages;
    auto peer = RawPeer::Connect("127.0.0.1", server->server->port());
    ASSERT_NE(peer, nullptr);
    if (c.hello) {
      ASSERT_NE(peer->HelloAndRegister(mem), 0u);
    }
    (void)peer->SendAm(net::kPutPayloadAmId, c.header, data);
    EXPECT_TRUE(peer->WaitClosed(5000)) << "the server kept the connection";
    EXPECT_EQ(server->server->Stats().malformed_messages, malformed + 1);
  }
  std::vector<std::byte> got(value.size());
  auto r = (*client)->Get("kept", got);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(got, value);
}

INSTANTIATE_TEST_SUITE_P(Transfers, NetTransferTest,
                         ::testing::Values(Transfer::kAuto, Transfer::kRma, Transfer::kMessage),
                         [](const auto& info) {
                           switch (info.param) {
                             case Transfer::kRma:
                               return std::string("Rma");
                             case Transfer::kMessage:
                               return std::string("Message");
                             default:
                               return std::string("Auto");
                           }
                         });

}  // namespace
}  // namespace kvstash::testing
