// ClusterOptions (include/kvstash/cluster_client.h): parsing and validation.
#include <fmt/format.h>

#include "cluster/etcd_client.h"
#include "cluster/node_record.h"
#include "kvstash/cluster_client.h"

namespace kvstash {
namespace {

constexpr std::string_view kEtcdScheme = "etcd://";
constexpr std::string_view kNodesScheme = "nodes://";

std::vector<std::string> SplitCommas(std::string_view s) {
  std::vector<std::string> parts;
  while (!s.empty()) {
    size_t comma = s.find(',');
    parts.emplace_back(s.substr(0, comma));
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return parts;
}

}  // namespace

bool IsClusterAddress(std::string_view address) {
  return address.starts_with(kEtcdScheme) || address.starts_with(kNodesScheme);
}

Result<ClusterOptions> ClusterOptions::Parse(std::string_view address) {
  ClusterOptions o;
  if (address.starts_with(kEtcdScheme)) {
    std::string_view rest = address.substr(kEtcdScheme.size());
    size_t slash = rest.find('/');
    o.etcd = std::string(rest.substr(0, slash));
    if (slash != std::string_view::npos && slash + 1 < rest.size())
      o.cluster = std::string(rest.substr(slash + 1));
  } else if (address.starts_with(kNodesScheme)) {
    o.nodes = SplitCommas(address.substr(kNodesScheme.size()));
  } else {
    return Status::InvalidArgument(
        fmt::format("cluster address '{}': expected etcd://host:port[,host:port]/cluster or "
                    "nodes://name=host:port,...",
                    address));
  }
  KVSTASH_RETURN_IF_ERROR(o.Validate());
  return o;
}

Status ClusterOptions::Validate() const {
  if (etcd.empty() == nodes.empty())
    return Status::InvalidArgument("cluster: give either etcd endpoints or a static node list");
  if (!etcd.empty()) {
    KVSTASH_RETURN_IF_ERROR(cluster::EtcdOptions::Parse(etcd).status());
    KVSTASH_RETURN_IF_ERROR(cluster::ValidateClusterName(cluster));
  }
  for (const std::string& n : nodes) KVSTASH_RETURN_IF_ERROR(cluster::ParseStaticNode(n).status());
  if (quarantine.count() <= 0 || max_quarantine < quarantine)
    return Status::InvalidArgument("cluster: quarantine must be > 0 and <= max_quarantine");
  if (etcd_timeout.count() <= 0) return Status::InvalidArgument("cluster: etcd_timeout <= 0");
  return node.Validate();
}

}  // namespace kvstash
