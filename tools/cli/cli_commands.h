// The data and admin commands of `kvstash`:
//
//   put KEY [FILE|-]        store FILE (default stdin) under KEY
//   get KEY [FILE|-]        write the block to FILE (default stdout); exit 3 on a miss
//   exists KEY...           "KEY<TAB>yes|no" per key; exit 0 if all present, 3 otherwise
//   delete KEY...           "KEY<TAB>deleted|absent" per key; exit 3 if any was absent
//   stat [--json]           the server's counters: a table, or ONE flat JSON object
//
// Thread safety: single-threaded.
#ifndef KVSTASH_TOOLS_CLI_COMMANDS_H_
#define KVSTASH_TOOLS_CLI_COMMANDS_H_

#include "tools/cli/cli_common.h"

namespace kvstash {

// Adds the subcommands to `app`; when one of them is parsed, sets *runner to it. `runner`
// must outlive parsing.
void AddDataCommands(CLI::App* app, CommandRunner* runner);

}  // namespace kvstash

#endif  // KVSTASH_TOOLS_CLI_COMMANDS_H_
