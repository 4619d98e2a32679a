// `kvstash model`: the break-even model (src/model, docs/MODEL.md) from the command line.
#ifndef KVSTASH_TOOLS_CLI_MODEL_H_
#define KVSTASH_TOOLS_CLI_MODEL_H_

#include <CLI/CLI.hpp>

#include "tools/cli/cli_common.h"

namespace kvstash {

// Adds the `model` subcommand; when it is chosen, *runner is set to run it.
void AddModelCommand(CLI::App* app, CommandRunner* runner);

}  // namespace kvstash

#endif  // KVSTASH_TOOLS_CLI_MODEL_H_
