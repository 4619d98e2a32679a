// The entry points of libplugin_KVSTASH.so, and nothing else (the engine is KvstashEngine).
//
// NIXL's plugin manager dlopen()s libplugin_<NAME>.so from NIXL_PLUGIN_DIR (else
// <libnixl dir>/plugins), calls nixl_plugin_init(), checks api_version against its own
// NIXL_PLUGIN_API_VERSION, and creates engines through the returned table. The table's
// layout and the engine's vtable are NIXL's C++ ABI: build this plugin against the NIXL
// release it is loaded into. The backend name is "KVSTASH" (the file name decides: install a
// copy or symlink as libplugin_OBJ.so to appear as "OBJ"; docs/NIXL.md).
//
// No exception leaves these functions: engine construction failures become nullptr (or
// initErr, which the agent checks).
#include <exception>

#include "backend/backend_plugin.h"
#include "nixl/backend_config.h"
#include "nixl/kvstash_backend.h"

namespace {

nixlBackendEngine* CreateEngine(const nixlBackendInitParams* init_params) {
  try {
    return new kvstash::nixl::KvstashEngine(init_params);
  } catch (...) {
    return nullptr;
  }
}

void DestroyEngine(nixlBackendEngine* engine) { delete engine; }

const char* PluginName() { return "KVSTASH"; }

const char* PluginVersion() { return "0.1.0"; }

nixl_b_params_t BackendOptions() {
  try {
    return kvstash::nixl::DefaultBackendParams();
  } catch (...) {
    return {};
  }
}

nixl_mem_list_t BackendMems() {
  try {
    return kvstash::nixl::KvstashEngine::SupportedMems();
  } catch (...) {
    return {};
  }
}

}  // namespace

extern "C" NIXL_PLUGIN_EXPORT nixlBackendPlugin* nixl_plugin_init() {
  static nixlBackendPlugin plugin = {
      .api_version = NIXL_PLUGIN_API_VERSION,
      .create_engine = CreateEngine,
      .destroy_engine = DestroyEngine,
      .get_plugin_name = PluginName,
      .get_plugin_version = PluginVersion,
      .get_backend_options = BackendOptions,
      .get_backend_mems = BackendMems,
  };
  return &plugin;
}

extern "C" NIXL_PLUGIN_EXPORT void nixl_plugin_fini() {}
