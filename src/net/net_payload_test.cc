// Get transfers: the same bytes whichever way a Get's blocks travel (ClientOptions::
// get_transfer): puts into registered memory, or payload messages received straight into the
// destination. Runs over shared memory and over TCP (the net_integration_test variants).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "kvstash/client.h"
#include "net/net_test_util.h"

namespace kvstash::testing {
namespace {

using Transfer = ClientOptions::GetTransfer;

class NetGetTransferTest : public ::testing::TestWithParam<Transfer> {
 protected:
  void SetUp() override {
    server_ = StartServer();
    ASSERT_NE(server_, nullptr);
    ClientOptions o = TestClientOptions(*server_);
    o.get_transfer = GetParam();
    auto c = Client::Connect(o);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    client_ = std::move(c).value();
  }

  std::unique_ptr<TestServer> server_;
  std::unique_ptr<Client> client_;
};

// Sizes around the eager/rendezvous switch of every transport here (8 KiB), a 1-byte block and
// multi-MiB ones; into unregistered memory and into a registered buffer, at odd offsets.
TEST_P(NetGetTransferTest, EveryTransferDeliversTheSameBytes) {
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
  EXPECT_EQ(messages, server_->server->Stats().get_bytes_messages);
  switch (GetParam()) {
    case Transfer::kPut:
      EXPECT_EQ(messages, 0u);
      break;
    case Transfer::kMessage:
      EXPECT_EQ(messages, 2 * total);
      break;
    case Transfer::kAuto:  // one choice per connection: all messages without native RMA
      EXPECT_TRUE(messages == 0 || messages == 2 * total) << messages;
      break;
  }
}

// Misses and too-small destinations in one batch: statuses per key, and a destination the
// block does not fit is never written.
TEST_P(NetGetTransferTest, MissesAndShortDestinationsAreReportedPerKey) {
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

// A client that asks for payloads and disconnects before taking them: the server releases the
// blocks (they can be deleted) and serves the next client.
TEST_P(NetGetTransferTest, ClientGoneBeforeItsPayloadsLeavesServerServing) {
  auto value = Pattern(3, 2 << 20);
  ASSERT_TRUE(client_->Put("k", value).ok());
  {
    ClientOptions o = TestClientOptions(*server_);
    o.get_transfer = GetParam();
    auto other = Client::Connect(o);
    ASSERT_TRUE(other.ok());
    std::vector<std::vector<std::byte>> dests(16, std::vector<std::byte>(value.size()));
    std::vector<GetItem> items;
    for (auto& d : dests) items.push_back({"k", d});
    auto future = (*other)->GetBatchAsync(items);
    other->reset();  // drains the executor: the Get completes or fails, then the client goes
    auto r = future.get();
    if (r.ok()) {
      for (size_t i = 0; i < dests.size(); ++i) {
        if ((*r)[i].ok()) EXPECT_EQ(dests[i], value) << i;
      }
    }
  }
  std::vector<std::byte> dest(value.size());
  auto got = client_->Get("k", dest);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(dest, value);
  auto del = client_->Delete("k");
  EXPECT_TRUE(del.ok()) << del.ToString();
}

INSTANTIATE_TEST_SUITE_P(Transfers, NetGetTransferTest,
                         ::testing::Values(Transfer::kAuto, Transfer::kPut, Transfer::kMessage),
                         [](const auto& info) {
                           switch (info.param) {
                             case Transfer::kPut:
                               return std::string("Put");
                             case Transfer::kMessage:
                               return std::string("Message");
                             default:
                               return std::string("Auto");
                           }
                         });

}  // namespace
}  // namespace kvstash::testing
