#include "config/kvstashd_flags.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

namespace kvstash {
namespace {

Result<KvstashdArgs> Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "kvstashd");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  return ParseKvstashdArgs(static_cast<int>(argv.size()), argv.data());
}

// A temporary TOML file, removed on destruction.
class TempToml {
 public:
  explicit TempToml(const std::string& text) {
    path_ = ::testing::TempDir() + "kvstashd_flags_test_" + std::to_string(::getpid()) + ".toml";
    std::ofstream(path_) << text;
  }
  ~TempToml() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(KvstashdFlagsTest, NoFlagsGivesValidDefaults) {
  auto r = Parse({});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->help.has_value());
  EXPECT_EQ(r->config.listen, "127.0.0.1:7400");
  EXPECT_EQ(r->config.dram_bytes, 1ull << 30);
}

TEST(KvstashdFlagsTest, EveryFlag) {
  auto r = Parse({"--listen",
                  "127.0.0.1:7401",
                  "--dram",
                  "64MiB",
                  "--flash",
                  "/tmp/x.flash",
                  "--flash-size",
                  "1048576000",
                  "--region-size",
                  "8MiB",
                  "--workers",
                  "3",
                  "--admission",
                  "all",
                  "--lease-ms",
                  "500",
                  "--metrics-listen",
                  "127.0.0.1:0",
                  "--log-level",
                  "warn",
                  "--trim-rate",
                  "1GiB",
                  "--admission-budget",
                  "0",
                  "--peer-failure",
                  "off",
                  "--shared-arena",
                  "off",
                  "--flash-readers",
                  "2"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const KvstashdConfig& c = r->config;
  EXPECT_EQ(c.listen, "127.0.0.1:7401");
  EXPECT_EQ(c.dram_bytes, 64ull << 20);
  EXPECT_EQ(c.flash_path, "/tmp/x.flash");
  EXPECT_EQ(c.flash_bytes, 1048576000u);
  EXPECT_EQ(c.region_bytes, 8ull << 20);
  EXPECT_EQ(c.workers, 3u);
  EXPECT_EQ(c.admission, AdmissionKind::kAll);
  EXPECT_EQ(c.lease_ms, 500u);
  EXPECT_EQ(c.metrics_listen, "127.0.0.1:0");
  EXPECT_EQ(c.log_level, "warn");
  EXPECT_FALSE(c.shared_arena);
  EXPECT_EQ(c.peer_failure, PeerFailureDetection::kOff);
  EXPECT_EQ(c.flash_readers, 2u);
}

TEST(KvstashdFlagsTest, PeerFailureIsAutoByDefaultAndTakesAutoOnOff) {
  auto d = Parse({});
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->config.peer_failure, PeerFailureDetection::kAuto);
  for (auto [text, mode] :
       {std::pair{"auto", PeerFailureDetection::kAuto}, std::pair{"on", PeerFailureDetection::kOn},
        std::pair{"off", PeerFailureDetection::kOff}}) {
    auto r = Parse({"--peer-failure", text});
    ASSERT_TRUE(r.ok()) << text << ": " << r.status().ToString();
    EXPECT_EQ(r->config.peer_failure, mode) << text;
  }
  auto bad = Parse({"--peer-failure", "maybe"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'auto', 'on' or 'off'"), std::string::npos)
      << bad.status().ToString();
}

TEST(KvstashdFlagsTest, AdmissionPrefix) {
  auto r = Parse({"--admission", "prefix"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->config.admission, AdmissionKind::kPrefix);
  EXPECT_EQ(AdmissionKindName(r->config.admission), "prefix");
}

TEST(KvstashdFlagsTest, FlagsOverrideFileOverridesDefaults) {
  TempToml file("[server]\nworkers = 6\nlease_ms = 1234\n[dram]\nsize = \"2GiB\"\n");
  auto r = Parse({"--config", file.path(), "--dram", "8GiB"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->config_file, file.path());
  EXPECT_EQ(r->config.dram_bytes, 8ull << 30);  // flag beats file
  EXPECT_EQ(r->config.workers, 6u);             // file beats default
  EXPECT_EQ(r->config.lease_ms, 1234u);
  EXPECT_EQ(r->config.listen, "127.0.0.1:7400");  // default stays
  // The order of flags does not matter: the file is always applied first.
  auto r2 = Parse({"--dram", "8GiB", "--config", file.path()});
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->config.dram_bytes, 8ull << 30);
}

void ExpectError(std::vector<std::string> args, const std::string& needle) {
  auto r = Parse(args);
  ASSERT_FALSE(r.ok()) << needle;
  EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
}

TEST(KvstashdFlagsTest, RejectsBadInputWithClearMessages) {
  ExpectError({"--dram", "lots"}, "--dram: bad size 'lots'");
  ExpectError({"--dram", "12XB"}, "--dram: bad size unit");
  ExpectError({"--dram", "4KiB"}, "dram.size (4KiB) must be at least one region");
  ExpectError({"--workers", "two"}, "--workers: 'two' is not a number");
  ExpectError({"--workers", "0"}, "server.workers (0) must be in 1..256");
  ExpectError({"--listen", "7400"}, "bad address '7400'");
  ExpectError({"--metrics-listen", "localhost"}, "metrics.listen");
  ExpectError({"--admission", "none"}, "must be 'reuse', 'prefix' or 'all'");
  ExpectError({"--flash-readers", "0"}, "flash.readers (0) must be in 1..64");
  ExpectError({"--peer-failure", "maybe"},
              "--peer-failure: peer failure detection ('maybe') must be 'auto', 'on' or 'off'");
  ExpectError({"--shared-arena", "1"}, "--shared-arena: expected on or off");
  ExpectError({"--bogus"}, "--bogus");
  ExpectError({"--config", "/nonexistent/k.toml"}, "/nonexistent/k.toml");
  TempToml bad("[dram]\nsise = 1\n");
  ExpectError({"--config", bad.path()}, "unknown key 'dram.sise'");
}

TEST(KvstashdFlagsTest, HelpIsNotAnError) {
  auto r = Parse({"--help"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_TRUE(r->help.has_value());
  EXPECT_NE(r->help->find("--flash-size"), std::string::npos);
}

}  // namespace
}  // namespace kvstash
