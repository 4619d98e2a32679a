// kvstashd's command line:
//
//   kvstashd [--config FILE] [--listen HOST:PORT] [--dram SIZE] [--flash PATH]
//            [--flash-size SIZE] [--region-size SIZE] [--workers N] [--admission reuse|prefix|all]
//            [--lease-ms N] [--metrics-listen HOST:PORT] [--log-level LEVEL]
//            [--trim-rate SIZE] [--admission-budget SIZE]
//
// SIZE is a byte count or a binary size ("1048576", "64MiB", "8GiB"; common/size.h).
// Precedence: embedded defaults < the --config file < flags. The result is validated.
//
// CLI11 throws; every exception is caught inside ParseKvstashdArgs and becomes a Status.
// Thread safety: pure function.
#ifndef KVSTASH_CONFIG_KVSTASHD_FLAGS_H_
#define KVSTASH_CONFIG_KVSTASHD_FLAGS_H_

#include <optional>
#include <string>

#include "config/kvstashd_config.h"
#include "kvstash/status.h"

namespace kvstash {

struct KvstashdArgs {
  KvstashdConfig config;            // merged and validated (unless help is set)
  std::string config_file;          // --config, or "" when none was given
  std::optional<std::string> help;  // --help was given: print this and exit 0
};

// Errors: InvalidArgument for an unknown flag, a bad value or a config that fails Validate();
// the file errors of ApplyTomlConfigFile.
Result<KvstashdArgs> ParseKvstashdArgs(int argc, const char* const* argv);

}  // namespace kvstash

#endif  // KVSTASH_CONFIG_KVSTASHD_FLAGS_H_
