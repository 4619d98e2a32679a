// End-to-end test of libplugin_KVSTASH.so through the REAL NIXL agent (libnixl.so): the
// plugin is found through NIXL_PLUGIN_DIR (set by ctest), created with createBackend(), and
// driven with registerMem / createXferReq / postXferReq / getXferStatus / queryMem against a
// kvstash server running in this process. Built only when NIXL is found (label: nixl).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "kvstash/client.h"
#include "nixl.h"
#include "nixl/nixl_test_server.h"

namespace kvstash::nixl {
namespace {

constexpr size_t kBlock = 128 << 10;
constexpr size_t kBlocks = 64;
constexpr const char* kAgent = "kvstash-agent-test";

// Posts `req` and polls until it leaves NIXL_IN_PROG or `limit` passes (then NIXL_IN_PROG).
nixl_status_t RunXfer(nixlAgent& agent, nixlXferReqH* req,
                      std::chrono::seconds limit = std::chrono::seconds(10)) {
  nixl_status_t s = agent.postXferReq(req);
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (s == NIXL_IN_PROG && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::microseconds(50));
    s = agent.getXferStatus(req);
  }
  return s;
}

class NixlAgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = TestServer::Start(256ull << 20);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    agent_ = std::make_unique<nixlAgent>(kAgent, nixlAgentConfig());
    nixl_b_params_t params = {{"server_address", server_->address()}, {"timeout_ms", "3000"}};
    ASSERT_EQ(agent_->createBackend("KVSTASH", params, backend_), NIXL_SUCCESS);
    opts_.backends.push_back(backend_);
    src_.resize(kBlocks * kBlock);
    dst_.resize(kBlocks * kBlock);
    std::mt19937_64 rng(7);
    for (auto& b : src_) b = static_cast<std::byte>(rng());
    ASSERT_EQ(agent_->registerMem(Dram(src_, 1), &opts_), NIXL_SUCCESS);
    ASSERT_EQ(agent_->registerMem(Dram(dst_, 1), &opts_), NIXL_SUCCESS);
  }

  void TearDown() override {
    if (!agent_) return;
    for (auto& objs : objs_) EXPECT_EQ(agent_->deregisterMem(objs, &opts_), NIXL_SUCCESS);
    agent_->deregisterMem(Dram(src_, 1), &opts_);
    agent_->deregisterMem(Dram(dst_, 1), &opts_);
    agent_.reset();
  }

  static nixl_reg_dlist_t Dram(std::vector<std::byte>& buf, size_t parts) {
    nixl_reg_dlist_t list(DRAM_SEG);
    size_t part = buf.size() / parts;
    for (size_t i = 0; i < parts; ++i) {
      list.addDesc(nixlBlobDesc(reinterpret_cast<uintptr_t>(buf.data() + i * part), part, 0, ""));
    }
    return list;
  }

  // Registers objects `keys` (metaInfo) with devIds starting at `first_dev`.
  void RegisterObjects(const std::vector<std::string>& keys, uint64_t first_dev) {
    nixl_reg_dlist_t objs(OBJ_SEG);
    for (size_t i = 0; i < keys.size(); ++i)
      objs.addDesc(nixlBlobDesc(0, kBlock, first_dev + i, keys[i]));
    ASSERT_EQ(agent_->registerMem(objs, &opts_), NIXL_SUCCESS);
    objs_.push_back(objs);
  }

  // Block i of `buf` <-> object devId first_dev + i, for n blocks.
  nixl_status_t Xfer(nixl_xfer_op_t op, std::vector<std::byte>& buf, uint64_t first_dev, size_t n) {
    nixl_xfer_dlist_t local(DRAM_SEG), remote(OBJ_SEG);
    for (size_t i = 0; i < n; ++i) {
      local.addDesc(nixlBasicDesc(reinterpret_cast<uintptr_t>(buf.data() + i * kBlock), kBlock, 0));
      remote.addDesc(nixlBasicDesc(0, kBlock, first_dev + i));
    }
    nixlXferReqH* req = nullptr;
    nixl_status_t s = agent_->createXferReq(op, local, remote, kAgent, req, &opts_);
    if (s != NIXL_SUCCESS) return s;
    s = RunXfer(*agent_, req);
    EXPECT_EQ(agent_->releaseXferReq(req), NIXL_SUCCESS);
    return s;
  }

  static std::vector<std::string> Keys(const std::string& prefix, size_t n) {
    std::vector<std::string> keys;
    for (size_t i = 0; i < n; ++i) keys.push_back(prefix + "@" + std::to_string(i));
    return keys;
  }

  std::unique_ptr<TestServer> server_;
  std::unique_ptr<nixlAgent> agent_;
  nixlBackendH* backend_ = nullptr;
  nixl_opt_args_t opts_;
  std::vector<std::byte> src_, dst_;
  std::vector<nixl_reg_dlist_t> objs_;
};

TEST(NixlPluginTest, AgentFindsThePluginAndItsParameters) {
  nixlAgent agent("kvstash-plugin-list", nixlAgentConfig());
  std::vector<nixl_backend_t> plugins;
  ASSERT_EQ(agent.getAvailPlugins(plugins), NIXL_SUCCESS);
  ASSERT_NE(std::find(plugins.begin(), plugins.end(), "KVSTASH"), plugins.end());
  nixl_mem_list_t mems;
  nixl_b_params_t params;
  ASSERT_EQ(agent.getPluginParams("KVSTASH", mems, params), NIXL_SUCCESS);
  EXPECT_NE(std::find(mems.begin(), mems.end(), DRAM_SEG), mems.end());
  EXPECT_NE(std::find(mems.begin(), mems.end(), OBJ_SEG), mems.end());
  EXPECT_EQ(params.count("server_address"), 1u);
}

TEST(NixlPluginTest, CreateBackendWithoutServerFails) {
  nixlAgent agent("kvstash-no-server", nixlAgentConfig());
  nixlBackendH* backend = nullptr;
  nixl_b_params_t params = {{"server_address", "127.0.0.1:1"}, {"connect_timeout_ms", "500"}};
  auto start = std::chrono::steady_clock::now();
  EXPECT_NE(agent.createBackend("KVSTASH", params, backend), NIXL_SUCCESS);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

// The build directory also holds libplugin_OBJ.so -> libplugin_KVSTASH.so (the alias an
// OBJ-only consumer such as LMCache or KVBM uses), configured the way they configure S3.
TEST_F(NixlAgentTest, ObjAliasServesObjOnlyConsumers) {
  nixlAgent agent("kvstash-obj-alias", nixlAgentConfig());
  nixlBackendH* obj = nullptr;
  nixl_b_params_t s3_style = {{"endpoint_override", "http://" + server_->address()},
                              {"bucket", "kv-cache"},
                              {"access_key", "unused"}};
  ASSERT_EQ(agent.createBackend("OBJ", s3_style, obj), NIXL_SUCCESS);
  nixl_opt_args_t opts;
  opts.backends.push_back(obj);
  nixl_reg_dlist_t dram = Dram(src_, 1), objs(OBJ_SEG);
  objs.addDesc(nixlBlobDesc(0, kBlock, 9, "alias@0"));
  ASSERT_EQ(agent.registerMem(dram, &opts), NIXL_SUCCESS);
  ASSERT_EQ(agent.registerMem(objs, &opts), NIXL_SUCCESS);
  nixl_xfer_dlist_t local(DRAM_SEG), remote(OBJ_SEG);
  local.addDesc(nixlBasicDesc(reinterpret_cast<uintptr_t>(src_.data()), kBlock, 0));
  remote.addDesc(nixlBasicDesc(0, kBlock, 9));
  nixlXferReqH* req = nullptr;
  ASSERT_EQ(agent.createXferReq(NIXL_WRITE, local, remote, "kvstash-obj-alias", req, &opts),
            NIXL_SUCCESS);
  EXPECT_EQ(RunXfer(agent, req), NIXL_SUCCESS);
  agent.releaseXferReq(req);
  // The block is in the same store the KVSTASH-named backend of the fixture reads.
  nixl_reg_dlist_t query(OBJ_SEG);
  query.addDesc(nixlBlobDesc(0, 0, 0, "alias@0"));
  std::vector<nixl_query_resp_t> resp;
  ASSERT_EQ(agent_->queryMem(query, resp, &opts_), NIXL_SUCCESS);
  EXPECT_TRUE(resp.at(0).has_value());
  agent.deregisterMem(objs, &opts);
  agent.deregisterMem(dram, &opts);
}

TEST_F(NixlAgentTest, ManyBlocksRoundTripWithContentCheck) {
  RegisterObjects(Keys("rt", kBlocks), 1000);
  ASSERT_EQ(Xfer(NIXL_WRITE, src_, 1000, kBlocks), NIXL_SUCCESS);
  ASSERT_EQ(Xfer(NIXL_READ, dst_, 1000, kBlocks), NIXL_SUCCESS);
  EXPECT_EQ(std::memcmp(src_.data(), dst_.data(), src_.size()), 0);
}

TEST_F(NixlAgentTest, EmptyMetaInfoUsesDecimalDevIdAsTheKey) {
  RegisterObjects({""}, 777);
  ASSERT_EQ(Xfer(NIXL_WRITE, src_, 777, 1), NIXL_SUCCESS);
  // The same block is visible to a plain kvstash client under key "777".
  ClientOptions options;
  options.server_address = server_->address();
  auto client = Client::Connect(options);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  std::vector<std::byte> out(kBlock);
  Result<size_t> n = (*client)->Get("777", out);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(std::memcmp(out.data(), src_.data(), kBlock), 0);
}

TEST_F(NixlAgentTest, QueryMemReportsPresentAndAbsentKeys) {
  RegisterObjects(Keys("q", 2), 2000);
  ASSERT_EQ(Xfer(NIXL_WRITE, src_, 2000, 2), NIXL_SUCCESS);
  nixl_reg_dlist_t query(OBJ_SEG);
  query.addDesc(nixlBlobDesc(0, 0, 0, "q@0"));
  query.addDesc(nixlBlobDesc(0, 0, 0, "never-written"));
  query.addDesc(nixlBlobDesc(0, 0, 0, "q@1"));
  std::vector<nixl_query_resp_t> resp;
  ASSERT_EQ(agent_->queryMem(query, resp, &opts_), NIXL_SUCCESS);
  ASSERT_EQ(resp.size(), 3u);
  EXPECT_TRUE(resp[0].has_value());
  EXPECT_FALSE(resp[1].has_value());
  EXPECT_TRUE(resp[2].has_value());
}

TEST_F(NixlAgentTest, ReadOfAbsentKeyIsNotFound) {
  RegisterObjects({"present", "absent"}, 3000);
  ASSERT_EQ(Xfer(NIXL_WRITE, src_, 3000, 1), NIXL_SUCCESS);
  EXPECT_EQ(Xfer(NIXL_READ, dst_, 3000, 2), NIXL_ERR_NOT_FOUND);
}

TEST_F(NixlAgentTest, RewriteReplacesTheBlock) {
  RegisterObjects(Keys("rw", 2), 4000);
  ASSERT_EQ(Xfer(NIXL_WRITE, src_, 4000, 2), NIXL_SUCCESS);
  std::reverse(src_.begin(), src_.begin() + 2 * kBlock);
  ASSERT_EQ(Xfer(NIXL_WRITE, src_, 4000, 2), NIXL_SUCCESS);
  ASSERT_EQ(Xfer(NIXL_READ, dst_, 4000, 2), NIXL_SUCCESS);
  EXPECT_EQ(std::memcmp(src_.data(), dst_.data(), 2 * kBlock), 0);
}

TEST_F(NixlAgentTest, ServerDownIsAnErrorStatusNotAHang) {
  RegisterObjects(Keys("down", 4), 5000);
  ASSERT_EQ(Xfer(NIXL_WRITE, src_, 5000, 4), NIXL_SUCCESS);
  server_->Stop();
  auto start = std::chrono::steady_clock::now();
  nixl_status_t s = Xfer(NIXL_READ, dst_, 5000, 4);
  EXPECT_LT(s, 0) << "status " << s;  // an error, not NIXL_IN_PROG (a hang) or success
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  nixl_reg_dlist_t query(OBJ_SEG);
  query.addDesc(nixlBlobDesc(0, 0, 0, "down@0"));
  std::vector<nixl_query_resp_t> resp;
  EXPECT_LT(agent_->queryMem(query, resp, &opts_), 0);
}

}  // namespace
}  // namespace kvstash::nixl
