// The TOML form of KvstashdConfig (docs/CONFIG.md). Every key is known: a misspelt or unknown
// key, a wrong type or a bad value is an error that names the file, line and key, never a
// silently ignored setting.
//
// Parsing never throws: toml++ is compiled header-only in no-exceptions mode inside
// toml_config.cc (the only translation unit that includes it).
//
// Thread safety: pure functions.
#ifndef KVSTASH_CONFIG_TOML_CONFIG_H_
#define KVSTASH_CONFIG_TOML_CONFIG_H_

#include <string>
#include <string_view>

#include "config/kvstashd_config.h"
#include "kvstash/status.h"

namespace kvstash {

// Overlays the TOML document `text` on *config: keys present in the text replace the values
// in *config, absent keys keep them; [[tenant]] entries are appended. `source_name` (a file
// name) prefixes error messages. Does not call Validate(). On error *config may be partly
// updated. Errors: InvalidArgument "<source>:<line>:<col>: <key>: <why>".
Status ApplyTomlConfig(std::string_view text, std::string_view source_name, KvstashdConfig* config);

// Reads `path` and applies it as above. Errors: NotFound / PermissionDenied / IOError reading
// the file (naming it), or the parse errors of ApplyTomlConfig.
Status ApplyTomlConfigFile(const std::string& path, KvstashdConfig* config);

// Defaults overlaid with `text`, then validated. For tests and tools.
Result<KvstashdConfig> ParseKvstashdConfigToml(std::string_view text);

}  // namespace kvstash

#endif  // KVSTASH_CONFIG_TOML_CONFIG_H_
