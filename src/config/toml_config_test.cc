#include "config/toml_config.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace kvstash {
namespace {

constexpr const char* kFull = R"(
[server]
listen = "0.0.0.0:7500"
workers = 8
max_connections = 64
max_outstanding = 32
max_batch = 128
max_value = "8MiB"
lease_ms = 2500
detect_peer_failure = false

[dram]
size = "2GiB"
region_size = 33554432
shared = false

[flash]
path = "/tmp/kvstash-test.flash"
size = "4GiB"
trim_rate = "512MiB"
readers = 8
bounce = "128MiB"

[admission]
kind = "all"
budget = "100MiB"

[metrics]
listen = ""

[log]
level = "debug"

[[tenant]]
name = "alpha"
namespace = 7
token = "alpha-token-0123456789"

[[tenant]]
name = "beta"
namespace = 8
token = "beta-token-0123456789"
)";

void ExpectError(const char* text, const std::string& needle) {
  auto r = ParseKvstashdConfigToml(text);
  ASSERT_FALSE(r.ok()) << text;
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
}

TEST(TomlConfigTest, EmptyDocumentGivesDefaults) {
  auto r = ParseKvstashdConfigToml("");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->listen, KvstashdConfig{}.listen);
  EXPECT_EQ(r->dram_bytes, KvstashdConfig{}.dram_bytes);
}

TEST(TomlConfigTest, ParsesEveryKey) {
  auto r = ParseKvstashdConfigToml(kFull);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const KvstashdConfig& c = *r;
  EXPECT_EQ(c.listen, "0.0.0.0:7500");
  EXPECT_EQ(c.workers, 8u);
  EXPECT_EQ(c.max_connections, 64u);
  EXPECT_EQ(c.max_outstanding, 32u);
  EXPECT_EQ(c.max_batch, 128u);
  EXPECT_EQ(c.max_value_bytes, 8ull << 20);
  EXPECT_EQ(c.lease_ms, 2500u);
  EXPECT_EQ(c.peer_failure, PeerFailureDetection::kOff);
  EXPECT_EQ(c.dram_bytes, 2ull << 30);
  EXPECT_EQ(c.region_bytes, 32ull << 20);
  EXPECT_FALSE(c.shared_arena);
  EXPECT_EQ(c.flash_path, "/tmp/kvstash-test.flash");
  EXPECT_EQ(c.flash_bytes, 4ull << 30);
  EXPECT_EQ(c.trim_bytes_per_s, 512ull << 20);
  EXPECT_EQ(c.flash_readers, 8u);
  EXPECT_EQ(c.flash_bounce_bytes, 128ull << 20);
  EXPECT_EQ(c.admission, AdmissionKind::kAll);
  EXPECT_EQ(c.admission_bytes_per_s, 100ull << 20);
  EXPECT_EQ(c.metrics_listen, "");
  EXPECT_EQ(c.log_level, "debug");
  ASSERT_EQ(c.tenants.size(), 2u);
  EXPECT_EQ(c.tenants[0].name, "alpha");
  EXPECT_EQ(c.tenants[0].namespace_id, 7u);
  EXPECT_EQ(c.tenants[1].token, "beta-token-0123456789");
}

TEST(TomlConfigTest, TenantDramSize) {
  auto r = ParseKvstashdConfigToml(
      "[[tenant]]\nname = \"a\"\nnamespace = 1\ntoken = \"0123456789abcdef\"\n"
      "dram = \"512MiB\"\n");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->tenants.size(), 1u);
  EXPECT_EQ(r->tenants[0].dram_bytes, 512ull << 20);
}

TEST(TomlConfigTest, PeerFailureTakesAutoOnOffAndBooleans) {
  for (auto [text, mode] : {std::pair{"\"auto\"", PeerFailureDetection::kAuto},
                            std::pair{"\"on\"", PeerFailureDetection::kOn},
                            std::pair{"\"off\"", PeerFailureDetection::kOff},
                            std::pair{"true", PeerFailureDetection::kOn},
                            std::pair{"false", PeerFailureDetection::kOff}}) {
    auto r = ParseKvstashdConfigToml(std::string("[server]\ndetect_peer_failure = ") + text);
    ASSERT_TRUE(r.ok()) << text << ": " << r.status().ToString();
    EXPECT_EQ(r->peer_failure, mode) << text;
  }
  auto d = ParseKvstashdConfigToml("");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->peer_failure, PeerFailureDetection::kAuto);
}

TEST(TomlConfigTest, FlashSizeAuto) {
  auto r = ParseKvstashdConfigToml("[flash]\nsize = \"auto\"\n");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->flash_bytes, 0u);
}

TEST(TomlConfigTest, RejectsUnknownKeysWithLocation) {
  ExpectError("[dram]\nsise = \"1GiB\"\n", "<string>:2:1: unknown key 'dram.sise'");
  ExpectError("listen = \"127.0.0.1:1\"\n", "unknown key 'listen'");
  ExpectError("[storage]\nx = 1\n", "unknown key 'storage'");
  ExpectError("[[tenant]]\nname = \"a\"\nnamespace = 1\ntoken = \"0123456789abcdef\"\nrole = 1\n",
              "unknown key 'tenant.role'");
}

TEST(TomlConfigTest, RejectsWrongTypesAndBadValues) {
  ExpectError("[dram]\nsize = \"12XB\"\n", "dram.size: bad size unit in '12XB'");
  ExpectError("[dram]\nsize = true\n", "dram.size: expected a size");
  ExpectError("[server]\nworkers = \"4\"\n", "server.workers: expected a non-negative integer");
  ExpectError("[server]\nworkers = -1\n", "server.workers: -1 is out of range");
  ExpectError("[server]\nworkers = 5000000000\n", "out of range 0..4294967295");
  ExpectError("[server]\nlisten = \"localhost\"\n", "server.listen");
  ExpectError("[admission]\nkind = \"most\"\n", "must be 'reuse', 'prefix' or 'all'");
  ExpectError("[server]\ndetect_peer_failure = 1\n",
              "server.detect_peer_failure: expected true, false, \"auto\"");
  ExpectError("[server]\ndetect_peer_failure = \"sometimes\"\n", "'auto', 'on' or 'off'");
  ExpectError("server = 1\n", "expected a [server] table");
  ExpectError("[tenant]\nname = \"a\"\n", "expected [[tenant]] tables");
  ExpectError("[dram]\nsize = \"4KiB\"\n", "must be at least one region");
}

TEST(TomlConfigTest, RejectsSyntaxErrorsWithLine) {
  ExpectError("[server]\nworkers = = 3\n", "<string>:2:");
  ExpectError("[dram\nsize = 1\n", "<string>:1:");
  ExpectError("a = \"unterminated\n", "TOML syntax");
}

TEST(TomlConfigTest, OverlayKeepsUnsetValues) {
  KvstashdConfig c;
  c.workers = 9;
  ASSERT_TRUE(ApplyTomlConfig("[dram]\nsize = \"2GiB\"\n", "x.toml", &c).ok());
  EXPECT_EQ(c.workers, 9u);
  EXPECT_EQ(c.dram_bytes, 2ull << 30);
}

TEST(TomlConfigTest, MissingFileIsAnError) {
  KvstashdConfig c;
  Status s = ApplyTomlConfigFile("/nonexistent/kvstash.toml", &c);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("/nonexistent/kvstash.toml"), std::string::npos) << s.message();
}

// The complete example in docs/CONFIG.md parses and shows the documented defaults.
TEST(TomlConfigTest, DocsExampleParses) {
  std::ifstream in(std::string(KVSTASH_SOURCE_DIR) + "/docs/CONFIG.md");
  ASSERT_TRUE(in) << "docs/CONFIG.md not found";
  std::stringstream doc;
  doc << in.rdbuf();
  std::string text = doc.str();
  size_t begin = text.find("```toml\n");
  ASSERT_NE(begin, std::string::npos);
  begin += 8;
  std::string example = text.substr(begin, text.find("```", begin) - begin);
  auto r = ParseKvstashdConfigToml(example);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  KvstashdConfig defaults;
  EXPECT_EQ(r->listen, defaults.listen);
  EXPECT_EQ(r->workers, defaults.workers);
  EXPECT_EQ(r->max_outstanding, defaults.max_outstanding);
  EXPECT_EQ(r->max_batch, defaults.max_batch);
  EXPECT_EQ(r->dram_bytes, defaults.dram_bytes);
  EXPECT_EQ(r->region_bytes, defaults.region_bytes);
  EXPECT_EQ(r->flash_path, defaults.flash_path);
  EXPECT_EQ(r->trim_bytes_per_s, defaults.trim_bytes_per_s);
  EXPECT_EQ(r->metrics_listen, defaults.metrics_listen);
  EXPECT_EQ(r->tenants.size(), 2u);
}

}  // namespace
}  // namespace kvstash
