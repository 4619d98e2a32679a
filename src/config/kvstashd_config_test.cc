#include "config/kvstashd_config.h"

#include <gtest/gtest.h>

namespace kvstash {
namespace {

// Expects Validate() to fail with InvalidArgument mentioning `needle`.
void ExpectInvalid(const KvstashdConfig& c, const std::string& needle) {
  Status s = c.Validate();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << needle;
  EXPECT_NE(s.message().find(needle), std::string::npos) << s.message();
}

TEST(KvstashdConfigTest, DefaultsAreValid) {
  KvstashdConfig c;
  EXPECT_TRUE(c.Validate().ok()) << c.Validate().ToString();
  EXPECT_EQ(c.listen, "127.0.0.1:7400");
  EXPECT_EQ(c.dram_bytes, 1ull << 30);
  EXPECT_EQ(c.region_bytes, 64ull << 20);
  EXPECT_EQ(c.flash_path, "./var/kvstash.flash");
  EXPECT_EQ(c.flash_bytes, 0u);
  EXPECT_EQ(c.lease_ms, 10'000u);
  EXPECT_EQ(c.metrics_listen, "127.0.0.1:9400");
  EXPECT_EQ(c.admission, AdmissionKind::kReuse);
}

TEST(KvstashdConfigTest, RejectsBadValues) {
  KvstashdConfig c;
  c.listen = "nohost";
  ExpectInvalid(c, "server.listen");
  c = {};
  c.dram_bytes = 4096;
  ExpectInvalid(c, "dram.size (4KiB) must be at least one region");
  c = {};
  c.region_bytes = (64ull << 20) + 1;
  ExpectInvalid(c, "dram.region_size");
  c = {};
  c.flash_bytes = 64ull << 20;
  ExpectInvalid(c, "flash.size");
  c = {};
  c.workers = 0;
  ExpectInvalid(c, "server.workers (0) must be in 1..256");
  c = {};
  c.max_value_bytes = 128ull << 20;
  ExpectInvalid(c, "server.max_value (128MiB) must be at most dram.region_size (64MiB)");
  c = {};
  EXPECT_EQ(c.EffectiveMaxValueBytes(), 64ull << 20);
  c.max_value_bytes = 1 << 20;
  EXPECT_EQ(c.EffectiveMaxValueBytes(), 1u << 20);
  c = {};
  c.lease_ms = 0;
  ExpectInvalid(c, "server.lease_ms");
  c = {};
  c.metrics_listen = "127.0.0.1:7400";
  ExpectInvalid(c, "must differ from server.listen");
  c = {};
  c.metrics_listen = "bad";
  ExpectInvalid(c, "metrics.listen");
  c = {};
  c.log_level = "loud";
  ExpectInvalid(c, "log.level");
}

TEST(KvstashdConfigTest, EmptyMetricsAndFlashDisable) {
  KvstashdConfig c;
  c.metrics_listen = "";
  c.flash_path = "";
  EXPECT_TRUE(c.Validate().ok());
}

TEST(KvstashdConfigTest, ValidatesTenants) {
  KvstashdConfig c;
  c.tenants = {{"a", 1, "0123456789abcdef"}, {"b", 2, "fedcba9876543210"}};
  EXPECT_TRUE(c.Validate().ok()) << c.Validate().ToString();
  c.tenants[1].namespace_id = 1;
  ExpectInvalid(c, "namespace 1 already belongs");
  c.tenants[1] = {"a", 3, "fedcba9876543210"};
  ExpectInvalid(c, "defined twice");
  c.tenants[1] = {"b", 3, "short"};
  ExpectInvalid(c, "at least 16 bytes");
  c.tenants[1] = {"b", 0, "fedcba9876543210"};
  ExpectInvalid(c, "namespace");
  c.tenants[1] = {"", 3, "fedcba9876543210"};
  ExpectInvalid(c, "tenant[1].name");
  c.tenants[1] = {"b", 3, "0123456789abcdef"};
  ExpectInvalid(c, "token is shared");
  c.tenants[1] = {"b", 3, std::string(257, 't')};
  ExpectInvalid(c, "token over 256 bytes");
  c.tenants[1] = {"b", 3, "fedcba9876543210", 1 << 20};
  ExpectInvalid(c, "at least one region");
  c.tenants[1].dram_bytes = 0;
  EXPECT_EQ(c.TenantDramBytes(c.tenants[1]), 2 * c.region_bytes);
  c.tenants[1].dram_bytes = 3 * c.region_bytes;
  EXPECT_TRUE(c.Validate().ok()) << c.Validate().ToString();
}

TEST(KvstashdConfigTest, AdmissionKindNames) {
  EXPECT_EQ(*ParseAdmissionKind("all"), AdmissionKind::kAll);
  EXPECT_EQ(*ParseAdmissionKind("reuse"), AdmissionKind::kReuse);
  EXPECT_EQ(AdmissionKindName(AdmissionKind::kAll), "all");
  EXPECT_FALSE(ParseAdmissionKind("some").ok());
}

}  // namespace
}  // namespace kvstash
