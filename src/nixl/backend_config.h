// BackendConfig: the custom parameters of the KVSTASH NIXL backend, parsed from the
// string -> string map NIXL hands to createBackend() (docs/NIXL.md, "Backend parameters").
//
//   KVSTASH_ASSIGN_OR_RETURN(BackendConfig cfg, ParseBackendConfig(params, GetEnvLookup()));
//   KVSTASH_ASSIGN_OR_RETURN(auto client, Client::Connect(cfg.client));
//
// Precedence for each setting: the explicit parameter, then the KVSTASH_* environment
// variable named in docs/NIXL.md (so a consumer that only knows the OBJ plugin's parameters
// can still be pointed at a server), then the default. Keys that belong to other backends
// (e.g. the OBJ plugin's "bucket") are ignored and listed in `ignored_keys`, never an error:
// the same parameter map is often shared between backends.
//
// This file needs no NIXL header (it is unit-tested without NIXL).
// Thread safety: plain values and free functions.
#ifndef KVSTASH_NIXL_BACKEND_CONFIG_H_
#define KVSTASH_NIXL_BACKEND_CONFIG_H_

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "kvstash/client.h"
#include "kvstash/status.h"

namespace kvstash::nixl {

// What a WRITE does when the key is already stored (kvstash keys are write-once).
enum class ExistingKeyPolicy {
  kReplace,  // delete the stored block and write the new bytes (object-store semantics)
  kKeep,     // keep the stored block and report success (content-addressed keys only)
  kError,    // fail the request (NIXL_ERR_NOT_ALLOWED)
};

struct BackendConfig {
  ClientOptions client;  // server_address, timeout, connect_timeout, namespace_id, token
  ExistingKeyPolicy on_existing = ExistingKeyPolicy::kReplace;
  std::vector<std::string> ignored_keys;  // parameters this backend does not know, sorted
};

// Reads an environment variable; std::nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

// The process environment (getenv).
EnvLookup ProcessEnv();
// An empty environment (tests, or callers that want parameters only).
EnvLookup NoEnv();

// Parses `params`. Errors: InvalidArgument naming the parameter (bad number, out of range,
// unknown policy, empty server address) or whatever ClientOptions::Validate() reports.
Result<BackendConfig> ParseBackendConfig(const std::unordered_map<std::string, std::string>& params,
                                         const EnvLookup& env);

// The parameters this backend understands with their default values, as NIXL's
// getBackendOptions() should list them.
std::unordered_map<std::string, std::string> DefaultBackendParams();

}  // namespace kvstash::nixl

#endif  // KVSTASH_NIXL_BACKEND_CONFIG_H_
