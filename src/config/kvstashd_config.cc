#include "config/kvstashd_config.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "common/size.h"
#include "config/host_port.h"

namespace kvstash {
namespace {

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kMaxRegionBytes = 2ull << 30;  // the flash region format's limit
constexpr uint64_t kMaxLeaseMs = 3'600'000;

Status Invalid(std::string_view key, const std::string& value, std::string_view why) {
  return Status::InvalidArgument(std::string(key) + " (" + value + ") " + std::string(why));
}

Status CheckRange(std::string_view key, uint64_t v, uint64_t lo, uint64_t hi) {
  if (v >= lo && v <= hi) return Status::Ok();
  return Invalid(key, std::to_string(v),
                 "must be in " + std::to_string(lo) + ".." + std::to_string(hi));
}

Status ValidateServer(const KvstashdConfig& c) {
  auto listen = ParseHostPort(c.listen);
  if (!listen.ok()) return Status::InvalidArgument("server.listen: " + listen.status().message());
  KVSTASH_RETURN_IF_ERROR(CheckRange("server.workers", c.workers, 1, 256));
  KVSTASH_RETURN_IF_ERROR(CheckRange("server.max_connections", c.max_connections, 1, 1 << 20));
  KVSTASH_RETURN_IF_ERROR(CheckRange("server.max_outstanding", c.max_outstanding, 1, 1 << 16));
  KVSTASH_RETURN_IF_ERROR(CheckRange("server.max_batch", c.max_batch, 1, 4096));
  KVSTASH_RETURN_IF_ERROR(CheckRange("server.lease_ms", c.lease_ms, 1, kMaxLeaseMs));
  KVSTASH_RETURN_IF_ERROR(CheckRange("flash.readers", c.flash_readers, 1, 64));
  KVSTASH_RETURN_IF_ERROR(CheckRange("flash.bounce", c.flash_bounce_bytes, 1 << 20, 64ull << 30));
  if (c.max_value_bytes > c.region_bytes) {
    return Invalid("server.max_value", FormatSize(c.max_value_bytes),
                   "must be at most dram.region_size (" + FormatSize(c.region_bytes) +
                       "); 0 means the region size");
  }
  return Status::Ok();
}

Status ValidateTiers(const KvstashdConfig& c) {
  if (c.region_bytes < kMiB || c.region_bytes > kMaxRegionBytes || c.region_bytes % kMiB != 0) {
    return Invalid("dram.region_size", FormatSize(c.region_bytes),
                   "must be a whole number of MiB in 1MiB..2GiB");
  }
  if (c.dram_bytes < c.region_bytes) {
    return Invalid(
        "dram.size", FormatSize(c.dram_bytes),
        "must be at least one region (dram.region_size = " + FormatSize(c.region_bytes) + ")");
  }
  if (c.flash_bytes != 0 && c.flash_bytes < 2 * c.region_bytes) {
    return Invalid(
        "flash.size", FormatSize(c.flash_bytes),
        "must be 0 (auto) or at least two regions (2 x " + FormatSize(c.region_bytes) + ")");
  }
  return Status::Ok();
}

Status ValidateAddresses(const KvstashdConfig& c) {
  if (c.metrics_listen.empty()) return Status::Ok();
  auto metrics = ParseHostPort(c.metrics_listen);
  if (!metrics.ok()) {
    return Status::InvalidArgument("metrics.listen: " + metrics.status().message());
  }
  auto listen = ParseHostPort(c.listen);
  if (metrics->port != 0 && listen.ok() && listen->port == metrics->port &&
      listen->host == metrics->host) {
    return Invalid("metrics.listen", c.metrics_listen, "must differ from server.listen");
  }
  return Status::Ok();
}

Status ValidateLogLevel(const std::string& level) {
  static const std::set<std::string> kLevels = {"trace", "debug",    "info", "warn",
                                                "error", "critical", "off"};
  if (kLevels.count(level)) return Status::Ok();
  return Invalid("log.level", level, "must be one of trace|debug|info|warn|error|critical|off");
}

Status ValidateTenants(const KvstashdConfig& c) {
  const std::vector<TenantConfig>& tenants = c.tenants;
  std::set<std::string> names, tokens;
  std::set<uint32_t> namespaces;
  for (size_t i = 0; i < tenants.size(); ++i) {
    const TenantConfig& t = tenants[i];
    std::string where = "tenant[" + std::to_string(i) + "]";
    if (t.name.empty()) return Status::InvalidArgument(where + ".name must not be empty");
    where = "tenant '" + t.name + "'";
    if (!names.insert(t.name).second) return Status::InvalidArgument(where + " is defined twice");
    KVSTASH_RETURN_IF_ERROR(CheckRange(where + " namespace", t.namespace_id, 1, 65535));
    if (!namespaces.insert(t.namespace_id).second) {
      return Status::InvalidArgument(where + ": namespace " + std::to_string(t.namespace_id) +
                                     " already belongs to another tenant");
    }
    if (t.token.size() < 16) {
      return Status::InvalidArgument(where + ": token must be at least 16 bytes");
    }
    if (t.token.size() > 256) return Status::InvalidArgument(where + ": token over 256 bytes");
    if (!tokens.insert(t.token).second) {
      return Status::InvalidArgument(where + ": token is shared with another tenant");
    }
    if (c.TenantDramBytes(t) < c.region_bytes) {
      return Invalid(where + " dram", FormatSize(t.dram_bytes),
                     "must be 0 or at least one region (dram.region_size = " +
                         FormatSize(c.region_bytes) + ")");
    }
  }
  return Status::Ok();
}

bool ClusterNameChars(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

Status ValidateCluster(const KvstashdConfig& c) {
  if (c.cluster_etcd.empty()) return Status::Ok();
  if (!ClusterNameChars(c.cluster_name))
    return Invalid("cluster.name", c.cluster_name, "must be 1..64 characters of [A-Za-z0-9._-]");
  if (!c.node_name.empty() && !ClusterNameChars(c.node_name))
    return Invalid("cluster.node_name", c.node_name, "must be 1..64 characters of [A-Za-z0-9._-]");
  if (c.cluster_ttl_s < 1 || c.cluster_ttl_s > 60)
    return Invalid("cluster.ttl_s", std::to_string(c.cluster_ttl_s), "must be in 1..60");
  const std::string& addr = c.advertise.empty() ? c.listen : c.advertise;
  auto hp = ParseHostPort(addr);
  if (!hp.ok()) return Status::InvalidArgument("cluster.advertise: " + hp.status().message());
  if (hp->host == "0.0.0.0" || hp->host == "::" || hp->port == 0)
    return Invalid("cluster.advertise", addr,
                   "clients need a reachable HOST:PORT: set cluster.advertise (--advertise)");
  return Status::Ok();
}

}  // namespace

std::string_view AdmissionKindName(AdmissionKind kind) {
  switch (kind) {
    case AdmissionKind::kAll:
      return "all";
    case AdmissionKind::kPrefix:
      return "prefix";
    case AdmissionKind::kReuse:
      break;
  }
  return "reuse";
}

Result<AdmissionKind> ParseAdmissionKind(std::string_view text) {
  if (text == "reuse") return AdmissionKind::kReuse;
  if (text == "all") return AdmissionKind::kAll;
  if (text == "prefix") return AdmissionKind::kPrefix;
  return Status::InvalidArgument("admission.kind ('" + std::string(text) +
                                 "') must be 'reuse', 'prefix' or 'all'");
}

Result<PeerFailureDetection> ParsePeerFailure(std::string_view text) {
  if (text == "auto") return PeerFailureDetection::kAuto;
  if (text == "on") return PeerFailureDetection::kOn;
  if (text == "off") return PeerFailureDetection::kOff;
  return Status::InvalidArgument("peer failure detection ('" + std::string(text) +
                                 "') must be 'auto', 'on' or 'off'");
}

Status KvstashdConfig::Validate() const {
  KVSTASH_RETURN_IF_ERROR(ValidateCluster(*this));
  KVSTASH_RETURN_IF_ERROR(ValidateTiers(*this));
  KVSTASH_RETURN_IF_ERROR(ValidateServer(*this));
  KVSTASH_RETURN_IF_ERROR(ValidateAddresses(*this));
  KVSTASH_RETURN_IF_ERROR(ValidateLogLevel(log_level));
  return ValidateTenants(*this);
}

}  // namespace kvstash
