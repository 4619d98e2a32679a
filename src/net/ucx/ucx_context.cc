#include "net/ucx/ucx_context.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>

#include "net/ucx/ucx_status.h"
#include "net/ucx/ucx_worker.h"

namespace kvstash::net {

Result<std::unique_ptr<UcxContext>> UcxContext::Create() {
  // A restarted server must be able to bind its port again while old connections sit in
  // TIME_WAIT. UCX reads this component setting only from the environment (ucp_config_modify
  // rejects it), so it is defaulted there; an explicit UCX_TCP_CM_REUSEADDR wins.
  setenv("UCX_TCP_CM_REUSEADDR", "y", /*overwrite=*/0);
  // UCX 1.13's tcp transport moves a put in TX_SEG_SIZE pieces (8 KiB by default), each a
  // separate send and receive-side event: 1 MiB GETs over loopback reached ~1 GB/s of a
  // ~4 GB/s socket. 256 KiB segments make KV blocks (128 KiB..MiBs) a few sends each
  // (docs/BENCHMARKS.md, "TCP segment size"). Buffers of this size are taken from a pool only
  // while a message is in flight on an endpoint. An explicit setting in the environment wins.
  setenv("UCX_TCP_TX_SEG_SIZE", "256K", /*overwrite=*/0);
  setenv("UCX_TCP_RX_SEG_SIZE", "256K", /*overwrite=*/0);
  ucp_config_t* config = nullptr;
  KVSTASH_RETURN_IF_ERROR(
      UcsToStatus(ucp_config_read(nullptr, nullptr, &config), "ucp_config_read"));
  if (const char* tls = std::getenv("UCX_TLS"); tls != nullptr) {
    std::string fixed = WithHandshakeTransport(tls);
    if (fixed != tls) {
      static std::once_flag logged;
      std::call_once(logged, [&] {
        spdlog::info(
            "UCX_TLS={} has no transport for the connection handshake (UCX 1.13 connects "
            "through a socket connection manager); using UCX_TLS={}: shared memory still "
            "carries the data between processes of one host",
            tls, fixed);
      });
      ucs_status_t s = ucp_config_modify(config, "TLS", fixed.c_str());
      if (s != UCS_OK) {
        ucp_config_release(config);
        return UcsToStatus(s, "ucp_config_modify TLS");
      }
    }
  }
  ucp_params_t params{};
  params.field_mask =
      UCP_PARAM_FIELD_FEATURES | UCP_PARAM_FIELD_MT_WORKERS_SHARED | UCP_PARAM_FIELD_NAME;
  params.features = UCP_FEATURE_RMA | UCP_FEATURE_AM | UCP_FEATURE_WAKEUP;
  params.mt_workers_shared = 1;
  params.name = "kvstash";
  ucp_context_h ctx = nullptr;
  ucs_status_t s = ucp_init(&params, config, &ctx);
  ucp_config_release(config);
  KVSTASH_RETURN_IF_ERROR(UcsToStatus(s, "ucp_init"));
  ucp_context_attr_t attr{};
  attr.field_mask = UCP_ATTR_FIELD_MEMORY_TYPES;
  uint64_t types = 1ull << UCS_MEMORY_TYPE_HOST;
  if (ucp_context_query(ctx, &attr) == UCS_OK) types = attr.memory_types;
  return std::unique_ptr<UcxContext>(new UcxContext(ctx, types));
}

UcxContext::~UcxContext() {
  if (deferred_) {
    CleanUpAfterReaper(ctx_);  // the reaper still drives a worker of this context
  } else {
    ucp_cleanup(ctx_);
  }
}

std::string WithHandshakeTransport(std::string_view tls) {
  if (tls.empty() || tls.front() == '^') return std::string(tls);
  for (size_t at = 0; at <= tls.size();) {
    size_t end = std::min(tls.find(',', at), tls.size());
    std::string_view t = tls.substr(at, end - at);
    if (t == "all" || t == "tcp" || t == "ib" || t.starts_with("rc") || t.starts_with("ud") ||
        t.starts_with("dc")) {
      return std::string(tls);
    }
    at = end + 1;
  }
  return std::string(tls) + ",tcp";
}

bool UcxContext::SupportsMemoryType(ucs_memory_type_t type) const {
  return (memory_types_ >> type) & 1u;
}

}  // namespace kvstash::net
