#include "nixl/backend_config.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string_view>

namespace kvstash::nixl {
namespace {

constexpr const char* kServerAddress = "server_address";
constexpr const char* kEndpointOverride = "endpoint_override";  // the OBJ plugin's name
constexpr const char* kNamespace = "namespace_id";
constexpr const char* kToken = "token";
constexpr const char* kTimeoutMs = "timeout_ms";
constexpr const char* kConnectTimeoutMs = "connect_timeout_ms";
constexpr const char* kSendChecksums = "send_checksums";
constexpr const char* kOnExisting = "on_existing";

// Parameter name -> environment fallback. endpoint_override has none (server_address's).
const std::map<std::string, std::string>& KnownKeys() {
  static const auto* keys = new std::map<std::string, std::string>{
      {kServerAddress, "KVSTASH_SERVER_ADDRESS"}, {kEndpointOverride, ""},
      {kNamespace, "KVSTASH_NAMESPACE_ID"},       {kToken, "KVSTASH_TOKEN"},
      {kTimeoutMs, "KVSTASH_TIMEOUT_MS"},         {kConnectTimeoutMs, "KVSTASH_CONNECT_TIMEOUT_MS"},
      {kSendChecksums, "KVSTASH_SEND_CHECKSUMS"}, {kOnExisting, "KVSTASH_ON_EXISTING"},
  };
  return *keys;
}

// The parameter, else its environment variable, else nullopt.
std::optional<std::string> Lookup(const std::unordered_map<std::string, std::string>& params,
                                  const EnvLookup& env, const std::string& key) {
  if (auto it = params.find(key); it != params.end()) return it->second;
  const std::string& var = KnownKeys().at(key);
  if (var.empty()) return std::nullopt;
  return env(var);
}

Result<uint64_t> ParseUnsigned(const std::string& key, const std::string& text, uint64_t max) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty() || v > max) {
    return Status::InvalidArgument("NIXL parameter '" + key + "': '" + text +
                                   "' is not an integer in [0, " + std::to_string(max) + "]");
  }
  return v;
}

Result<bool> ParseBool(const std::string& key, const std::string& text) {
  if (text == "true" || text == "1" || text == "yes" || text == "on") return true;
  if (text == "false" || text == "0" || text == "no" || text == "off") return false;
  return Status::InvalidArgument("NIXL parameter '" + key + "': '" + text + "' is not a boolean");
}

Result<ExistingKeyPolicy> ParsePolicy(const std::string& text) {
  if (text == "replace") return ExistingKeyPolicy::kReplace;
  if (text == "keep") return ExistingKeyPolicy::kKeep;
  if (text == "error") return ExistingKeyPolicy::kError;
  return Status::InvalidArgument("NIXL parameter 'on_existing': '" + text +
                                 "' is not one of replace, keep, error");
}

// "http://host:port/" (an S3-style endpoint) -> "host:port"; "host:port" unchanged.
std::string StripUrl(std::string_view s) {
  if (auto pos = s.find("://"); pos != std::string_view::npos) s.remove_prefix(pos + 3);
  while (!s.empty() && s.back() == '/') s.remove_suffix(1);
  return std::string(s);
}

Status ApplyAddress(const std::unordered_map<std::string, std::string>& params,
                    const EnvLookup& env, ClientOptions* out) {
  std::optional<std::string> addr = Lookup(params, env, kServerAddress);
  if (!addr) addr = Lookup(params, env, kEndpointOverride);
  if (!addr) return Status::Ok();  // ClientOptions' default
  out->server_address = StripUrl(*addr);
  if (out->server_address.empty()) {
    return Status::InvalidArgument("NIXL parameter 'server_address' is empty");
  }
  return Status::Ok();
}

Status ApplyNumbers(const std::unordered_map<std::string, std::string>& params,
                    const EnvLookup& env, ClientOptions* out) {
  if (auto v = Lookup(params, env, kNamespace)) {
    KVSTASH_ASSIGN_OR_RETURN(uint64_t ns, ParseUnsigned(kNamespace, *v, UINT16_MAX));
    out->namespace_id = static_cast<uint16_t>(ns);
  }
  constexpr uint64_t kMaxMs = 24ull * 3600 * 1000;
  if (auto v = Lookup(params, env, kTimeoutMs)) {
    KVSTASH_ASSIGN_OR_RETURN(uint64_t ms, ParseUnsigned(kTimeoutMs, *v, kMaxMs));
    out->timeout = std::chrono::milliseconds(ms);
  }
  if (auto v = Lookup(params, env, kConnectTimeoutMs)) {
    KVSTASH_ASSIGN_OR_RETURN(uint64_t ms, ParseUnsigned(kConnectTimeoutMs, *v, kMaxMs));
    out->connect_timeout = std::chrono::milliseconds(ms);
  }
  if (auto v = Lookup(params, env, kSendChecksums)) {
    KVSTASH_ASSIGN_OR_RETURN(out->send_checksums, ParseBool(kSendChecksums, *v));
  }
  return Status::Ok();
}

}  // namespace

EnvLookup ProcessEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

EnvLookup NoEnv() {
  return [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
}

Result<BackendConfig> ParseBackendConfig(const std::unordered_map<std::string, std::string>& params,
                                         const EnvLookup& env) {
  BackendConfig cfg;
  KVSTASH_RETURN_IF_ERROR(ApplyAddress(params, env, &cfg.client));
  KVSTASH_RETURN_IF_ERROR(ApplyNumbers(params, env, &cfg.client));
  if (auto v = Lookup(params, env, kToken)) cfg.client.token = *v;
  if (auto v = Lookup(params, env, kOnExisting)) {
    KVSTASH_ASSIGN_OR_RETURN(cfg.on_existing, ParsePolicy(*v));
  }
  KVSTASH_RETURN_IF_ERROR(cfg.client.Validate());
  for (const auto& [key, value] : params) {
    if (!KnownKeys().contains(key)) cfg.ignored_keys.push_back(key);
  }
  std::sort(cfg.ignored_keys.begin(), cfg.ignored_keys.end());
  return cfg;
}

std::unordered_map<std::string, std::string> DefaultBackendParams() {
  ClientOptions d;
  return {
      {kServerAddress, d.server_address},
      {kNamespace, std::to_string(d.namespace_id)},
      {kToken, ""},
      {kTimeoutMs, std::to_string(d.timeout.count())},
      {kConnectTimeoutMs, std::to_string(d.connect_timeout.count())},
      {kSendChecksums, d.send_checksums ? "true" : "false"},
      {kOnExisting, "replace"},
  };
}

}  // namespace kvstash::nixl
