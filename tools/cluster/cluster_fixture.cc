#include "tools/cluster/cluster_fixture.h"

#include <filesystem>

namespace kvstash {

Result<std::unique_ptr<ClusterFixture>> ClusterFixture::Start(ClusterFixtureOptions options) {
  std::filesystem::create_directories(options.dir);
  std::unique_ptr<ClusterFixture> f(new ClusterFixture(std::move(options)));
  KVSTASH_ASSIGN_OR_RETURN(f->etcd_, cluster::EtcdProcess::Start(f->options_.dir + "/etcd"));
  return f;
}

Status ClusterFixture::AddNode(const std::string& name, std::vector<std::string> extra) {
  ClusterNodeProcess n;
  n.name = name;
  KVSTASH_ASSIGN_OR_RETURN(n.port, FreeLoopbackPort());
  std::vector<std::string> args = {"--listen",         n.address(),
                                   "--dram",           options_.dram,
                                   "--region-size",    options_.region,
                                   "--flash",          "",
                                   "--metrics-listen", "",
                                   "--workers",        std::to_string(options_.workers),
                                   "--etcd",           etcd_->endpoint(),
                                   "--cluster",        options_.cluster,
                                   "--node-name",      name,
                                   "--cluster-ttl",    std::to_string(options_.ttl_s)};
  args.insert(args.end(), options_.extra.begin(), options_.extra.end());
  args.insert(args.end(), extra.begin(), extra.end());
  n.proc = std::make_unique<KvstashdProcess>(
      options_.kvstashd, args, options_.dir + "/" + name + "-" + std::to_string(n.port) + ".log");
  KVSTASH_RETURN_IF_ERROR(n.proc->Start());
  nodes_[name] = std::move(n);
  return Status::Ok();
}

ClusterNodeProcess* ClusterFixture::node(const std::string& name) {
  auto it = nodes_.find(name);
  return it == nodes_.end() ? nullptr : &it->second;
}

void ClusterFixture::Forget(const std::string& name) { nodes_.erase(name); }

std::string ClusterFixture::address() const {
  return "etcd://" + etcd_->endpoint() + "/" + options_.cluster;
}

Result<std::unique_ptr<ClusterClient>> ClusterFixture::Connect(ClientOptions node) const {
  KVSTASH_ASSIGN_OR_RETURN(ClusterOptions o, ClusterOptions::Parse(address()));
  o.node = node;
  return ClusterClient::Connect(o);
}

}  // namespace kvstash
