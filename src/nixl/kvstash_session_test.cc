// Integration tests of the NIXL seam (Session/XferPlan/XferRequest) against a real kvstash
// server in this process: what libplugin_KVSTASH.so does, without NIXL.
#include "nixl/kvstash_session.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "nixl/nixl_test_server.h"

namespace kvstash::nixl {
namespace {

constexpr size_t kBlock = 128 << 10;

class SessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<TestServer>> server = TestServer::Start(256ull << 20);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    src_.resize(kBlocks * kBlock);
    dst_.resize(kBlocks * kBlock);
    std::mt19937_64 rng(42);
    for (auto& b : src_) b = static_cast<std::byte>(rng());
  }

  std::unique_ptr<Session> Open(ExistingKeyPolicy policy = ExistingKeyPolicy::kReplace) {
    BackendConfig cfg;
    cfg.client.server_address = server_->address();
    cfg.client.timeout = std::chrono::milliseconds(3000);
    cfg.on_existing = policy;
    Result<std::unique_ptr<Session>> s = Session::Create(cfg);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }

  // One descriptor per block: block i of `buf` <-> object key "<prefix>-i".
  std::vector<XferDesc> Descs(Session* s, std::vector<std::byte>& buf, const std::string& prefix,
                              size_t n) {
    std::vector<XferDesc> descs;
    for (size_t i = 0; i < n; ++i) {
      ObjectTarget* t = s->RegisterObject(prefix + "-" + std::to_string(i), i, kBlock).value();
      descs.push_back({reinterpret_cast<uintptr_t>(buf.data() + i * kBlock), kBlock, 0, t});
    }
    return descs;
  }

  XferOutcome Run(Session* s, XferOp op, const std::vector<XferDesc>& descs) {
    std::unique_ptr<XferRequest> req;
    XferOutcome prepared = s->Prepare(op, MemKind::kDram, MemKind::kObject, descs, &req);
    if (prepared.code != XferCode::kSuccess) return prepared;
    EXPECT_EQ(req->Post(), XferCode::kInProgress);
    req->Wait();
    return req->outcome();
  }

  static constexpr size_t kBlocks = 64;
  std::unique_ptr<TestServer> server_;
  std::vector<std::byte> src_, dst_;
};

TEST_F(SessionTest, ManyBlocksRoundTripThroughOneBatch) {
  auto s = Open();
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(
      s->RegisterLocal(MemKind::kDram, reinterpret_cast<uintptr_t>(src_.data()), src_.size()).ok());
  ASSERT_TRUE(
      s->RegisterLocal(MemKind::kDram, reinterpret_cast<uintptr_t>(dst_.data()), dst_.size()).ok());
  EXPECT_EQ(Run(s.get(), XferOp::kWrite, Descs(s.get(), src_, "rt", kBlocks)).code,
            XferCode::kSuccess);
  XferOutcome read = Run(s.get(), XferOp::kRead, Descs(s.get(), dst_, "rt", kBlocks));
  EXPECT_EQ(read.code, XferCode::kSuccess) << read.message;
  EXPECT_EQ(std::memcmp(src_.data(), dst_.data(), src_.size()), 0);
}

TEST_F(SessionTest, QueryAnswersExistence) {
  auto s = Open();
  ASSERT_NE(s, nullptr);
  ASSERT_EQ(Run(s.get(), XferOp::kWrite, Descs(s.get(), src_, "q", 3)).code, XferCode::kSuccess);
  std::vector<std::string> keys = {"q-0", "absent", "q-2", "q-3"};
  Result<std::vector<bool>> exists = s->Query(keys);
  ASSERT_TRUE(exists.ok()) << exists.status().ToString();
  EXPECT_EQ(*exists, (std::vector<bool>{true, false, true, false}));
}

TEST_F(SessionTest, ReadOfAbsentKeyFailsTheRequestWithNotFound) {
  auto s = Open();
  ASSERT_NE(s, nullptr);
  ASSERT_EQ(Run(s.get(), XferOp::kWrite, Descs(s.get(), src_, "p", 2)).code, XferCode::kSuccess);
  auto descs = Descs(s.get(), dst_, "p", 4);  // p-2 and p-3 were never written
  XferOutcome o = Run(s.get(), XferOp::kRead, descs);
  EXPECT_EQ(o.code, XferCode::kNotFound);
  EXPECT_TRUE(o.per_item);
  EXPECT_EQ(o.failed_index, 2u);
  // The hits before the miss were delivered (documented partial semantics).
  EXPECT_EQ(std::memcmp(src_.data(), dst_.data(), 2 * kBlock), 0);
}

TEST_F(SessionTest, ReadIntoLargerDescriptorIsAMismatch) {
  auto s = Open();
  ASSERT_NE(s, nullptr);
  ObjectTarget* t = s->RegisterObject("small", 0, 0).value();
  std::vector<XferDesc> w = {{reinterpret_cast<uintptr_t>(src_.data()), 4096, 0, t}};
  ASSERT_EQ(Run(s.get(), XferOp::kWrite, w).code, XferCode::kSuccess);
  std::vector<XferDesc> r = {{reinterpret_cast<uintptr_t>(dst_.data()), 8192, 0, t}};
  EXPECT_EQ(Run(s.get(), XferOp::kRead, r).code, XferCode::kMismatch);
}

TEST_F(SessionTest, RewritingAKeyFollowsThePolicy) {
  std::vector<std::byte> other(src_.rbegin(), src_.rend());
  auto replace = Open(ExistingKeyPolicy::kReplace);
  auto keep = Open(ExistingKeyPolicy::kKeep);
  auto error = Open(ExistingKeyPolicy::kError);
  ASSERT_TRUE(replace && keep && error);
  ASSERT_EQ(Run(keep.get(), XferOp::kWrite, Descs(keep.get(), src_, "rw", 4)).code,
            XferCode::kSuccess);

  EXPECT_EQ(Run(keep.get(), XferOp::kWrite, Descs(keep.get(), other, "rw", 4)).code,
            XferCode::kSuccess);
  ASSERT_EQ(Run(keep.get(), XferOp::kRead, Descs(keep.get(), dst_, "rw", 4)).code,
            XferCode::kSuccess);
  EXPECT_EQ(std::memcmp(dst_.data(), src_.data(), 4 * kBlock), 0);  // kept the old bytes

  EXPECT_EQ(Run(error.get(), XferOp::kWrite, Descs(error.get(), other, "rw", 4)).code,
            XferCode::kNotAllowed);

  EXPECT_EQ(Run(replace.get(), XferOp::kWrite, Descs(replace.get(), other, "rw", 4)).code,
            XferCode::kSuccess);
  ASSERT_EQ(Run(replace.get(), XferOp::kRead, Descs(replace.get(), dst_, "rw", 4)).code,
            XferCode::kSuccess);
  EXPECT_EQ(std::memcmp(dst_.data(), other.data(), 4 * kBlock), 0);  // the new bytes
}

TEST_F(SessionTest, ServerDownIsAnErrorNotAHang) {
  auto s = Open();
  ASSERT_NE(s, nullptr);
  ASSERT_EQ(Run(s.get(), XferOp::kWrite, Descs(s.get(), src_, "d", 2)).code, XferCode::kSuccess);
  server_->Stop();
  auto start = std::chrono::steady_clock::now();
  XferOutcome o = Run(s.get(), XferOp::kRead, Descs(s.get(), dst_, "d", 2));
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(o.code, XferCode::kBackend) << o.message;
  EXPECT_LT(took, std::chrono::seconds(4));  // bounded by the 3 s call timeout
  Result<std::vector<bool>> q = s->Query(std::vector<std::string>{"d-0"});
  EXPECT_FALSE(q.ok());
}

TEST(SessionCreateTest, NoServerIsUnavailable) {
  BackendConfig cfg;
  cfg.client.server_address = "127.0.0.1:1";  // nothing listens on port 1
  cfg.client.connect_timeout = std::chrono::milliseconds(500);
  Result<std::unique_ptr<Session>> s = Session::Create(cfg);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(ToXferCode(s.status()), XferCode::kSuccess);
}

}  // namespace
}  // namespace kvstash::nixl
