#include "cluster/node_record.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "cluster/placement.h"

namespace kvstash::cluster {
namespace {

constexpr int kConfigVersion = 1;

bool NameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

Status ValidateName(std::string_view what, std::string_view name) {
  if (name.empty() || name.size() > 64 || !std::ranges::all_of(name, NameChar))
    return Status::InvalidArgument(
        fmt::format("{} name '{}' must be 1..64 characters of [A-Za-z0-9._-]", what, name));
  return Status::Ok();
}

std::string ConfigJson() {
  return nlohmann::json{{"placement", Placement::kFunction}, {"version", kConfigVersion}}.dump();
}

}  // namespace

std::string_view NodeStateName(NodeState s) { return s == NodeState::kUp ? "up" : "draining"; }

Status ValidateNodeName(std::string_view name) { return ValidateName("node", name); }
Status ValidateClusterName(std::string_view name) { return ValidateName("cluster", name); }

std::string EncodeNodeRecord(const NodeRecord& r) {
  nlohmann::json j{{"name", r.name},
                   {"address", r.address},
                   {"boot_id", r.boot_id},
                   {"weight", r.weight},
                   {"state", NodeStateName(r.state)},
                   {"dram_bytes", r.dram_bytes},
                   {"flash_bytes", r.flash_bytes},
                   {"metrics_address", r.metrics_address}};
  return j.dump();
}

Result<NodeRecord> DecodeNodeRecord(std::string_view json) {
  auto j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return Status::InvalidArgument("node record is not a JSON object");
  NodeRecord r;
  try {
    r.name = j.at("name").get<std::string>();
    r.address = j.at("address").get<std::string>();
    r.boot_id = j.value("boot_id", "");
    r.weight = j.value("weight", 1.0);
    std::string state = j.value("state", "up");
    if (state != "up" && state != "draining")
      return Status::InvalidArgument("node record: unknown state '" + state + "'");
    r.state = state == "up" ? NodeState::kUp : NodeState::kDraining;
    r.dram_bytes = j.value("dram_bytes", uint64_t{0});
    r.flash_bytes = j.value("flash_bytes", uint64_t{0});
    r.metrics_address = j.value("metrics_address", "");
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(std::string("node record: ") + e.what());
  }
  KVSTASH_RETURN_IF_ERROR(ValidateNodeName(r.name));
  if (!(r.weight > 0) || r.weight > 1e6)
    return Status::InvalidArgument(
        fmt::format("node record {}: weight {} not in (0, 1e6]", r.name, r.weight));
  if (r.address.empty()) return Status::InvalidArgument("node record " + r.name + ": no address");
  return r;
}

Result<NodeRecord> ParseStaticNode(std::string_view spec) {
  size_t eq = spec.find('=');
  if (eq == std::string_view::npos)
    return Status::InvalidArgument(fmt::format("node '{}': expected name=host:port", spec));
  NodeRecord r;
  r.name = std::string(spec.substr(0, eq));
  KVSTASH_RETURN_IF_ERROR(ValidateNodeName(r.name));
  std::string_view rest = spec.substr(eq + 1);
  size_t star = rest.rfind('*');
  if (star != std::string_view::npos) {
    std::string w(rest.substr(star + 1));
    char* end = nullptr;
    r.weight = std::strtod(w.c_str(), &end);
    if (w.empty() || *end != '\0' || !(r.weight > 0) || r.weight > 1e6)
      return Status::InvalidArgument(
          fmt::format("node '{}': weight '{}' not in (0, 1e6]", spec, w));
    rest = rest.substr(0, star);
  }
  if (rest.empty() || rest.find(':') == std::string_view::npos)
    return Status::InvalidArgument(fmt::format("node '{}': expected name=host:port", spec));
  r.address = std::string(rest);
  r.boot_id = "static";
  return r;
}

Status EnsureClusterConfig(EtcdClient& etcd, std::string_view cluster) {
  KVSTASH_RETURN_IF_ERROR(ValidateClusterName(cluster));
  ClusterKeys keys(cluster);
  EtcdKeyValue existing;
  KVSTASH_ASSIGN_OR_RETURN(bool written,
                           etcd.PutIfAbsent(keys.config(), ConfigJson(), 0, &existing));
  if (written) return Status::Ok();
  auto j = nlohmann::json::parse(existing.value, nullptr, false);
  std::string placement = j.is_object() ? j.value("placement", "") : "";
  int version = j.is_object() ? j.value("version", 0) : 0;
  if (placement != Placement::kFunction || version != kConfigVersion)
    return Status::InvalidArgument(fmt::format(
        "cluster '{}' uses placement '{}' (config version {}); this build places keys with "
        "'{}' (version {}): refusing to join, since the two would disagree on key owners",
        cluster, placement, version, Placement::kFunction, kConfigVersion));
  return Status::Ok();
}

}  // namespace kvstash::cluster
