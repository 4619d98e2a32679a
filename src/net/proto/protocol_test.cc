#include "net/proto/protocol.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace kvstash::net {
namespace {

std::span<const std::byte> BodyOf(const std::vector<std::byte>& msg) {
  return std::span(msg).subspan(kHeaderBytes);
}

// Decoded messages borrow the encoded bytes: the helpers park them in `g_keep` so that the
// views stay valid for the rest of the test.
std::vector<std::vector<std::byte>> g_keep;

template <typename Req>
Req RoundTripRequest(Opcode op, const Req& in, const Limits& l = {}) {
  const auto& msg = g_keep.emplace_back(EncodeRequest(op, 42, in));
  Header h;
  EXPECT_TRUE(DecodeHeader(msg, &h).ok());
  EXPECT_EQ(h.opcode, op);
  EXPECT_FALSE(h.reply);
  EXPECT_EQ(h.request_id, 42u);
  Req out;
  Status s = DecodeBody(BodyOf(msg), l, &out);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

template <typename Rep>
Rep RoundTripReply(Opcode op, const Rep& in) {
  const auto& msg = g_keep.emplace_back(EncodeReply(op, 9, Status::Ok(), in));
  Header h;
  EXPECT_TRUE(DecodeHeader(msg, &h).ok());
  EXPECT_TRUE(h.reply);
  Status req;
  std::span<const std::byte> rest;
  EXPECT_TRUE(DecodeReplyStatus(BodyOf(msg), &req, &rest).ok());
  EXPECT_TRUE(req.ok());
  Rep out;
  Status s = DecodeBody(rest, Limits{}, &out);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

TEST(ProtocolTest, HeaderLayout) {
  auto msg = EncodeRequest(Opcode::kStats, 0x1122334455667788ull, StatsRequest{});
  ASSERT_EQ(msg.size(), kHeaderBytes);
  EXPECT_EQ(msg[0], std::byte{'K'});
  EXPECT_EQ(msg[3], std::byte{'1'});
  EXPECT_EQ(msg[6], std::byte{11});     // opcode low byte
  EXPECT_EQ(msg[12], std::byte{0x88});  // request id, little-endian
  EXPECT_EQ(msg[20], std::byte{0});     // body length
}

TEST(ProtocolTest, RequestsRoundTrip) {
  auto hello = RoundTripRequest(Opcode::kHello, HelloRequest{1, 1, 7, "secret"});
  EXPECT_EQ(hello.namespace_id, 7);
  EXPECT_EQ(hello.token, "secret");

  std::string big(256, 'k');
  auto alloc = RoundTripRequest(Opcode::kAllocate, AllocateRequest{{{"a", 1}, {big, 64ull << 20}}});
  ASSERT_EQ(alloc.items.size(), 2u);
  EXPECT_EQ(alloc.items[1].key, big);
  EXPECT_EQ(alloc.items[1].size, 64ull << 20);

  auto commit = RoundTripRequest(Opcode::kCommit,
                                 CommitRequest{{{"a", 4096, std::nullopt}, {"b", 8, 0xABCDull}}});
  EXPECT_FALSE(commit.items[0].checksum.has_value());
  EXPECT_EQ(commit.items[1].checksum, 0xABCDull);

  std::vector<std::byte> rkey(100, std::byte{3});
  auto reg =
      RoundTripRequest(Opcode::kRegisterBuffer, RegisterBufferRequest{0x1000, 1 << 20, rkey});
  EXPECT_EQ(reg.address, 0x1000u);
  EXPECT_EQ(reg.rkey.size(), 100u);

  auto get = RoundTripRequest(Opcode::kGet, GetRequest{{{"x", 3, 128, 4096}}});
  EXPECT_EQ(get.items[0].buffer_id, 3u);
  EXPECT_EQ(get.items[0].capacity, 4096u);

  auto keys = RoundTripRequest(Opcode::kExists, KeysRequest{{"a", "bb", "ccc"}});
  EXPECT_EQ(keys.keys[2], "ccc");
}

TEST(ProtocolTest, RepliesRoundTrip) {
  std::vector<std::byte> rkey(40, std::byte{9});
  auto hello =
      RoundTripReply(Opcode::kHello, HelloReply{kProtocolVersion, 0x7000, 1 << 30, rkey, Limits{}});
  EXPECT_EQ(hello.arena_bytes, 1u << 30);
  EXPECT_EQ(hello.arena_rkey.size(), 40u);

  auto alloc = RoundTripReply(
      Opcode::kAllocate, AllocateReply{{{StatusCode::kOk, 64, 10000}, {StatusCode::kBusy, 0, 0}}});
  EXPECT_EQ(alloc.items[1].status, StatusCode::kBusy);
  EXPECT_EQ(alloc.items[0].lease_ms, 10000u);

  std::vector<bool> bits = {true, false, true, true, false, false, false, false, true};
  EXPECT_EQ(RoundTripReply(Opcode::kExists, ExistsReply{bits}).present, bits);

  auto stats = RoundTripReply(Opcode::kStats, StatsReply{{{"server.x", 5}, {"store.y", 6}}});
  ASSERT_EQ(stats.entries.size(), 2u);
  EXPECT_EQ(stats.entries[1].first, "store.y");
  EXPECT_EQ(RoundTripReply(Opcode::kLongestPrefix, LongestPrefixReply{3}).count, 3u);
  EXPECT_EQ(RoundTripReply(Opcode::kGet, GetReply{{{StatusCode::kNotFound, 0}}}).items[0].status,
            StatusCode::kNotFound);
}

TEST(ProtocolTest, ErrorReplyCarriesOnlyStatus) {
  auto msg = EncodeReply(Opcode::kGet, 1, Status::PermissionDenied("no hello"), GetReply{});
  Status req;
  std::span<const std::byte> rest;
  ASSERT_TRUE(DecodeReplyStatus(BodyOf(msg), &req, &rest).ok());
  EXPECT_EQ(req.code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(req.message(), "no hello");
  EXPECT_TRUE(rest.empty());
}

TEST(ProtocolTest, LimitsAreEnforced) {
  Limits l;
  l.max_key_bytes = 8;
  l.max_value_bytes = 100;
  l.max_batch_keys = 2;
  AllocateRequest out;
  auto too_long = EncodeRequest(Opcode::kAllocate, 1, AllocateRequest{{{"123456789", 1}}});
  EXPECT_FALSE(DecodeBody(BodyOf(too_long), l, &out).ok());
  auto too_big = EncodeRequest(Opcode::kAllocate, 1, AllocateRequest{{{"k", 101}}});
  EXPECT_FALSE(DecodeBody(BodyOf(too_big), l, &out).ok());
  auto zero = EncodeRequest(Opcode::kAllocate, 1, AllocateRequest{{{"k", 0}}});
  EXPECT_FALSE(DecodeBody(BodyOf(zero), l, &out).ok());
  auto many = EncodeRequest(Opcode::kAllocate, 1, AllocateRequest{{{"a", 1}, {"b", 1}, {"c", 1}}});
  EXPECT_FALSE(DecodeBody(BodyOf(many), l, &out).ok());
  auto empty_key = EncodeRequest(Opcode::kDelete, 1, KeysRequest{{""}});
  KeysRequest keys;
  EXPECT_FALSE(DecodeBody(BodyOf(empty_key), l, &keys).ok());
  auto none = EncodeRequest(Opcode::kDelete, 1, KeysRequest{});
  EXPECT_FALSE(DecodeBody(BodyOf(none), l, &keys).ok());
  auto ok = EncodeRequest(Opcode::kAllocate, 1, AllocateRequest{{{"a", 100}, {"b", 1}}});
  EXPECT_TRUE(DecodeBody(BodyOf(ok), l, &out).ok());
}

TEST(ProtocolTest, MalformedHeadersRejected) {
  auto good = EncodeRequest(Opcode::kExists, 5, KeysRequest{{"abc"}});
  Header h;
  ASSERT_TRUE(DecodeHeader(good, &h).ok());
  auto bad = good;
  bad[0] = std::byte{'X'};
  EXPECT_FALSE(DecodeHeader(bad, &h).ok());  // magic
  bad = good;
  bad[4] = std::byte{kProtocolVersion + 1};
  EXPECT_FALSE(DecodeHeader(bad, &h).ok());  // version
  bad = good;
  bad[6] = std::byte{99};
  EXPECT_FALSE(DecodeHeader(bad, &h).ok());  // opcode
  bad = good;
  bad[8] = std::byte{1};
  EXPECT_FALSE(DecodeHeader(bad, &h).ok());  // flags
  bad = good;
  bad.push_back(std::byte{0});
  EXPECT_FALSE(DecodeHeader(bad, &h).ok());  // body length mismatch
  for (size_t cut = 0; cut < good.size(); ++cut) {
    EXPECT_FALSE(DecodeHeader(std::span(good).first(cut), &h).ok()) << cut;
  }
}

TEST(ProtocolTest, TruncatedAndTrailingBodiesRejected) {
  auto msg = EncodeRequest(Opcode::kGet, 1, GetRequest{{{"key1", 1, 0, 10}, {"key2", 1, 10, 10}}});
  auto body = BodyOf(msg);
  GetRequest out;
  ASSERT_TRUE(DecodeBody(body, Limits{}, &out).ok());
  for (size_t cut = 0; cut < body.size(); ++cut) {
    EXPECT_FALSE(DecodeBody(body.first(cut), Limits{}, &out).ok()) << cut;
  }
  std::vector<std::byte> longer(body.begin(), body.end());
  longer.push_back(std::byte{0});
  EXPECT_FALSE(DecodeBody(std::span<const std::byte>(longer), Limits{}, &out).ok());
}

TEST(ProtocolTest, BadFieldValuesRejected) {
  // Commit checksum flag must be 0 or 1.
  auto msg = EncodeRequest(Opcode::kCommit, 1, CommitRequest{{{"k", 0, std::nullopt}}});
  std::vector<std::byte> body(BodyOf(msg).begin(), BodyOf(msg).end());
  body[4 + 2 + 1 + 8] = std::byte{2};
  CommitRequest c;
  EXPECT_FALSE(DecodeBody(std::span<const std::byte>(body), Limits{}, &c).ok());
  // Unknown status code in a reply.
  auto rep = EncodeReply(Opcode::kDelete, 1, Status::Ok(), StatusListReply{{StatusCode::kOk}});
  std::vector<std::byte> rb(BodyOf(rep).begin(), BodyOf(rep).end());
  rb.back() = std::byte{200};
  Status req;
  std::span<const std::byte> rest;
  ASSERT_TRUE(DecodeReplyStatus(std::span<const std::byte>(rb), &req, &rest).ok());
  StatusListReply sl;
  EXPECT_FALSE(DecodeBody(rest, Limits{}, &sl).ok());
  // Exists bitmap with padding bits set.
  auto ex = EncodeReply(Opcode::kExists, 1, Status::Ok(), ExistsReply{{true}});
  std::vector<std::byte> eb(BodyOf(ex).begin(), BodyOf(ex).end());
  eb.back() = std::byte{0x03};
  ASSERT_TRUE(DecodeReplyStatus(std::span<const std::byte>(eb), &req, &rest).ok());
  ExistsReply er;
  EXPECT_FALSE(DecodeBody(rest, Limits{}, &er).ok());
  // A register-buffer range that wraps around the address space.
  std::vector<std::byte> rkey(4, std::byte{1});
  auto wrap = EncodeRequest(Opcode::kRegisterBuffer, 1, RegisterBufferRequest{~0ull, 2, rkey});
  RegisterBufferRequest rr;
  EXPECT_FALSE(DecodeBody(BodyOf(wrap), Limits{}, &rr).ok());
}

TEST(ProtocolTest, PayloadHeaderRoundTripsAndRejectsOtherSizes) {
  auto bytes = EncodePayloadHeader({0x0102030405060708ull, 77});
  EXPECT_EQ(bytes[0], std::byte{0x08});  // little-endian request id, then the item
  EXPECT_EQ(bytes[8], std::byte{77});
  PayloadHeader ph;
  ASSERT_TRUE(DecodePayloadHeader(bytes, &ph).ok());
  EXPECT_EQ(ph.request_id, 0x0102030405060708ull);
  EXPECT_EQ(ph.item, 77u);
  EXPECT_FALSE(DecodePayloadHeader(std::span(bytes).first(11), &ph).ok());
  std::vector<std::byte> longer(bytes.begin(), bytes.end());
  longer.push_back(std::byte{0});
  EXPECT_FALSE(DecodePayloadHeader(longer, &ph).ok());
}

TEST(ProtocolTest, PutPayloadHeaderRoundTripsAndRejectsOtherSizes) {
  auto bytes = EncodePutPayloadHeader(0x1122334455667788ull);
  EXPECT_EQ(bytes[0], std::byte{0x88});
  uint64_t offset = 0;
  ASSERT_TRUE(DecodePutPayloadHeader(bytes, &offset).ok());
  EXPECT_EQ(offset, 0x1122334455667788ull);
  EXPECT_FALSE(DecodePutPayloadHeader(std::span(bytes).first(7), &offset).ok());
  EXPECT_FALSE(DecodePutPayloadHeader({}, &offset).ok());
}

TEST(ProtocolTest, PayloadGetItemMustNotCarryAnOffset) {
  GetRequest out;
  auto ok = EncodeRequest(Opcode::kGet, 1, GetRequest{{{"k", kPayloadBufferId, 0, 4096}}});
  EXPECT_TRUE(DecodeBody(BodyOf(ok), Limits{}, &out).ok());
  auto bad = EncodeRequest(Opcode::kGet, 1, GetRequest{{{"k", kPayloadBufferId, 64, 4096}}});
  EXPECT_FALSE(DecodeBody(BodyOf(bad), Limits{}, &out).ok());
}

TEST(ProtocolTest, RandomBytesNeverCrashDecoders) {
  std::mt19937_64 rng(1234);
  for (int i = 0; i < 20000; ++i) {
    std::vector<std::byte> buf(rng() % 96);
    for (auto& b : buf) b = static_cast<std::byte>(rng());
    Header h;
    (void)DecodeHeader(buf, &h);
    GetRequest g;
    (void)DecodeBody(std::span<const std::byte>(buf), Limits{}, &g);
    AllocateRequest a;
    (void)DecodeBody(std::span<const std::byte>(buf), Limits{}, &a);
    StatsReply s;
    (void)DecodeBody(std::span<const std::byte>(buf), Limits{}, &s);
  }
}

}  // namespace
}  // namespace kvstash::net
