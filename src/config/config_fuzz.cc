// libFuzzer target: the TOML config parser and Validate() must never crash, hang or leak on
// any input; every input is either a valid config or an InvalidArgument with a message.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "config/toml_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  kvstash::Result<kvstash::KvstashdConfig> config = kvstash::ParseKvstashdConfigToml(text);
  if (config.ok()) {
    // A config that parsed must also pass Validate() again (idempotent) and carry tenants that
    // were validated.
    if (!config->Validate().ok()) std::abort();
  } else if (config.status().message().empty()) {
    std::abort();  // every rejection must say why
  }
  return 0;
}
