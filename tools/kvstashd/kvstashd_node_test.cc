#include "tools/kvstashd/kvstashd_node.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <filesystem>

#include "config/host_port.h"

namespace kvstash {
namespace {

KvstashdConfig SmallConfig(const std::string& dir) {
  KvstashdConfig c;
  c.listen = "127.0.0.1:0";
  c.metrics_listen = "127.0.0.1:0";
  c.dram_bytes = 32ull << 20;
  c.region_bytes = 8ull << 20;
  c.flash_path = dir + "/var/node.flash";
  c.flash_bytes = 64ull << 20;
  c.workers = 1;
  c.lease_ms = 400;
  return c;
}

TEST(KvstashdNodeTest, TranslatesTheConfig) {
  KvstashdConfig c = SmallConfig("/tmp/x");
  c.admission = AdmissionKind::kAll;
  c.trim_bytes_per_s = 1 << 20;
  c.max_batch = 128;
  c.tenants = {{"a", 1, "0123456789abcdef"}};
  StoreOptions s = MakeStoreOptions(c, {.bytes = 64ull << 20, .direct_io = false});
  EXPECT_EQ(s.dram_bytes, 32ull << 20);
  EXPECT_EQ(s.dram_region_bytes, 8ull << 20);
  EXPECT_EQ(s.max_value_bytes, 8ull << 20);  // 0 = the region size
  EXPECT_EQ(s.lease.count(), 400);
  EXPECT_EQ(s.flash.path, "/tmp/x/var/node.flash");
  EXPECT_EQ(s.flash.size_bytes, 64ull << 20);
  EXPECT_FALSE(s.flash.direct_io);
  EXPECT_EQ(s.flash.regions.region_bytes, 8ull << 20);
  EXPECT_EQ(s.flash.regions.trim.rate_bytes_per_sec, 1 << 20);
  EXPECT_EQ(s.flash.admission.kind, "all");
  c.flash_path = "";
  EXPECT_TRUE(MakeStoreOptions(c, {}).flash.path.empty());

  auto server = MakeServerOptions(c);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  EXPECT_EQ(server->listen_host, "127.0.0.1");
  EXPECT_EQ(server->listen_port, 0);
  EXPECT_EQ(server->workers, 1u);
  EXPECT_EQ(server->max_batch_keys, 128u);
  EXPECT_EQ(server->max_value_bytes, 8ull << 20);
  EXPECT_TRUE(server->auth_tokens.empty());
  ASSERT_EQ(server->tenants.size(), 1u);  // the store is filled in at StartParts()
  EXPECT_EQ(server->tenants[0].store, nullptr);
  EXPECT_EQ(server->lease_sweep_interval.count(), 100);
  EXPECT_TRUE(server->Validate().ok());
}

TEST(KvstashdNodeTest, StartsServesMetricsAndStops) {
  std::string dir = ::testing::TempDir() + "kvstashd_node_test_" + std::to_string(::getpid());
  auto node = KvstashdNode::Start(SmallConfig(dir));
  ASSERT_TRUE(node.ok()) << node.status().ToString();
  EXPECT_TRUE(std::filesystem::exists(dir + "/var")) << "the flash directory is created";
  std::string line = (*node)->StartupLine();
  EXPECT_EQ(line.find("127.0.0.1:0 "), std::string::npos) << "port 0 is resolved: " << line;
  EXPECT_NE(line.find("dram=32MiB"), std::string::npos) << line;
  EXPECT_NE(line.find("node.flash 64MiB"), std::string::npos) << line;
  EXPECT_TRUE((*node)->healthy());

  size_t at = line.find("metrics=http://");
  ASSERT_NE(at, std::string::npos) << line;
  std::string address = line.substr(at + 15, line.find("/metrics", at) - at - 15);
  auto hp = ParseHostPort(address);
  ASSERT_TRUE(hp.ok()) << address;
  httplib::Client http(hp->host, hp->port);
  auto res = http.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_NE(res->body.find("kvstash_up 1\n"), std::string::npos);
  EXPECT_NE(res->body.find("kvstash_capacity_bytes{tier=\"flash\"} 67108864\n"), std::string::npos)
      << res->body;

  (*node)->Stop();
  EXPECT_FALSE((*node)->healthy());
  (*node)->Stop();  // idempotent
  std::filesystem::remove_all(dir);
}

TEST(KvstashdNodeTest, StartFailsOnAnUnwritableFlashDirectory) {
  KvstashdConfig c = SmallConfig("/proc/kvstash-cannot-create");
  auto node = KvstashdNode::Start(c);
  ASSERT_FALSE(node.ok());
  EXPECT_NE(node.status().message().find("flash directory"), std::string::npos)
      << node.status().ToString();
}

}  // namespace
}  // namespace kvstash
