// Unit tests: NIXL custom parameters -> BackendConfig, and kvstash Status -> NIXL status.
#include "nixl/backend_config.h"

#include <gtest/gtest.h>

#include <map>

#include "nixl/xfer_status.h"

namespace kvstash::nixl {
namespace {

using Params = std::unordered_map<std::string, std::string>;

EnvLookup FakeEnv(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& n) -> std::optional<std::string> {
    auto it = vars.find(n);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(BackendConfigTest, DefaultsMatchClientOptions) {
  Result<BackendConfig> cfg = ParseBackendConfig({}, NoEnv());
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  ClientOptions d;
  EXPECT_EQ(cfg->client.server_address, d.server_address);
  EXPECT_EQ(cfg->client.timeout, d.timeout);
  EXPECT_EQ(cfg->client.namespace_id, 0);
  EXPECT_EQ(cfg->on_existing, ExistingKeyPolicy::kReplace);
  EXPECT_TRUE(cfg->ignored_keys.empty());
}

TEST(BackendConfigTest, ParsesEveryParameter) {
  Params p = {{"server_address", "10.0.0.7:7411"},
              {"namespace_id", "42"},
              {"token", "s3cret"},
              {"timeout_ms", "250"},
              {"connect_timeout_ms", "100"},
              {"send_checksums", "false"},
              {"on_existing", "keep"}};
  Result<BackendConfig> cfg = ParseBackendConfig(p, NoEnv());
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(cfg->client.server_address, "10.0.0.7:7411");
  EXPECT_EQ(cfg->client.namespace_id, 42);
  EXPECT_EQ(cfg->client.token, "s3cret");
  EXPECT_EQ(cfg->client.timeout.count(), 250);
  EXPECT_EQ(cfg->client.connect_timeout.count(), 100);
  EXPECT_FALSE(cfg->client.send_checksums);
  EXPECT_EQ(cfg->on_existing, ExistingKeyPolicy::kKeep);
}

TEST(BackendConfigTest, ObjEndpointOverrideIsAnAddressAndObjKeysAreIgnored) {
  Params p = {
      {"endpoint_override", "http://10.1.2.3:7400/"}, {"bucket", "kv"}, {"access_key", "x"}};
  Result<BackendConfig> cfg = ParseBackendConfig(p, NoEnv());
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(cfg->client.server_address, "10.1.2.3:7400");
  EXPECT_EQ(cfg->ignored_keys, (std::vector<std::string>{"access_key", "bucket"}));
}

TEST(BackendConfigTest, ParameterBeatsEnvironmentBeatsDefault) {
  auto env = FakeEnv({{"KVSTASH_SERVER_ADDRESS", "env-host:1"}, {"KVSTASH_TOKEN", "envtok"}});
  Result<BackendConfig> from_env = ParseBackendConfig({}, env);
  ASSERT_TRUE(from_env.ok());
  EXPECT_EQ(from_env->client.server_address, "env-host:1");
  EXPECT_EQ(from_env->client.token, "envtok");
  Result<BackendConfig> from_param = ParseBackendConfig({{"server_address", "p:2"}}, env);
  ASSERT_TRUE(from_param.ok());
  EXPECT_EQ(from_param->client.server_address, "p:2");
}

TEST(BackendConfigTest, RejectsBadValuesNamingTheParameter) {
  const std::vector<Params> bad = {
      {{"namespace_id", "65536"}}, {{"namespace_id", "-1"}},      {{"timeout_ms", "12x"}},
      {{"timeout_ms", ""}},        {{"send_checksums", "maybe"}}, {{"on_existing", "merge"}},
      {{"server_address", ""}},
  };
  for (const Params& p : bad) {
    Result<BackendConfig> cfg = ParseBackendConfig(p, NoEnv());
    ASSERT_FALSE(cfg.ok()) << p.begin()->first << "=" << p.begin()->second;
    EXPECT_EQ(cfg.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(cfg.status().message().find(p.begin()->first), std::string::npos)
        << cfg.status().message();
  }
}

TEST(BackendConfigTest, DefaultParamsParseBackToDefaults) {
  Result<BackendConfig> cfg = ParseBackendConfig(DefaultBackendParams(), NoEnv());
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_TRUE(cfg->ignored_keys.empty());
  EXPECT_EQ(cfg->client.server_address, ClientOptions().server_address);
}

TEST(XferStatusTest, MapsEveryStatusCode) {
  EXPECT_EQ(ToXferCode(Status::Ok()), XferCode::kSuccess);
  EXPECT_EQ(ToXferCode(Status::NotFound()), XferCode::kNotFound);
  EXPECT_EQ(ToXferCode(Status::InvalidArgument()), XferCode::kInvalidParam);
  EXPECT_EQ(ToXferCode(Status::PermissionDenied()), XferCode::kNotAllowed);
  EXPECT_EQ(ToXferCode(Status::AlreadyExists()), XferCode::kNotAllowed);
  for (const Status& s :
       {Status::Busy(), Status::ResourceExhausted(), Status::DataLoss(), Status::IOError(),
        Status::Unavailable(), Status::LeaseExpired(), Status::Timeout(), Status::Internal()}) {
    EXPECT_EQ(ToXferCode(s), XferCode::kBackend) << s.ToString();
  }
  EXPECT_EQ(XferCodeName(XferCode::kNotFound), "NIXL_ERR_NOT_FOUND");
  EXPECT_EQ(static_cast<int>(XferCode::kInProgress), 1);
  EXPECT_EQ(static_cast<int>(XferCode::kNotSupported), -9);
}

}  // namespace
}  // namespace kvstash::nixl
