#include "tools/kvstashd/kvstashd_node.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <system_error>

#include "admission/admission_options.h"
#include "common/size.h"
#include "config/flash_sizing.h"
#include "config/host_port.h"
#include "metrics/stats_samples.h"

namespace kvstash {
namespace {

AdmissionOptions MakeAdmissionOptions(const KvstashdConfig& config) {
  AdmissionOptions o;
  o.kind = std::string(AdmissionKindName(config.admission));
  o.budget_bytes_per_sec = config.admission_bytes_per_s;
  return o;
}

}  // namespace

StoreOptions MakeStoreOptions(const KvstashdConfig& config, const FlashPlan& flash) {
  StoreOptions o;
  o.dram_bytes = config.dram_bytes;
  o.dram_region_bytes = config.region_bytes;
  o.max_value_bytes = config.EffectiveMaxValueBytes();
  o.lease = std::chrono::milliseconds(config.lease_ms);
  if (!config.flash_path.empty() && flash.bytes > 0) {
    o.flash.path = config.flash_path;
    o.flash.size_bytes = flash.bytes;
    o.flash.direct_io = flash.direct_io;
    o.flash.regions.region_bytes = config.region_bytes;
    o.flash.regions.trim.rate_bytes_per_sec = static_cast<double>(config.trim_bytes_per_s);
    o.flash.admission = MakeAdmissionOptions(config);
  }
  return o;
}

StoreOptions MakeTenantStoreOptions(const KvstashdConfig& config, const TenantConfig& tenant) {
  StoreOptions o;
  o.dram_bytes = config.TenantDramBytes(tenant);
  o.dram_region_bytes = config.region_bytes;
  o.max_value_bytes = config.EffectiveMaxValueBytes();
  o.lease = std::chrono::milliseconds(config.lease_ms);
  return o;
}

Result<ServerOptions> MakeServerOptions(const KvstashdConfig& config) {
  KVSTASH_ASSIGN_OR_RETURN(HostPort listen, ParseHostPort(config.listen));
  ServerOptions o;
  o.listen_host = listen.host;
  o.listen_port = listen.port;
  o.workers = config.workers;
  o.max_value_bytes = config.EffectiveMaxValueBytes();
  o.max_batch_keys = config.max_batch;
  o.max_outstanding_per_connection = config.max_outstanding;
  o.idle_poll = std::chrono::microseconds(config.idle_poll_us);
  o.max_connections = config.max_connections;
  o.peer_failure = config.peer_failure;
  o.flash_readers = config.flash_readers;
  o.flash_bounce_bytes = config.flash_bounce_bytes;
  for (const TenantConfig& t : config.tenants) {
    o.tenants.push_back(
        {.name = t.name, .namespace_id = static_cast<uint16_t>(t.namespace_id), .token = t.token});
  }
  // Sweep often enough that an expired lease is reclaimed within ~1/4 of its length.
  o.lease_sweep_interval =
      std::chrono::milliseconds(std::clamp<uint64_t>(config.lease_ms / 4, 10, 1000));
  return o;
}

Status KvstashdNode::PrepareFlash() {
  if (config_.flash_path.empty()) return Status::Ok();
  std::filesystem::path dir = std::filesystem::path(config_.flash_path).parent_path();
  std::error_code ec;
  if (!dir.empty()) std::filesystem::create_directories(dir, ec);
  if (ec) {
    return Status::IOError("cannot create flash directory " + dir.string() + ": " + ec.message());
  }
  KVSTASH_ASSIGN_OR_RETURN(flash_.bytes, ResolveFlashBytes(config_));
  KVSTASH_ASSIGN_OR_RETURN(flash_.direct_io, SupportsDirectIo(config_.flash_path));
  if (!flash_.direct_io) {
    spdlog::warn("{}: the filesystem refuses O_DIRECT; the flash tier uses buffered I/O",
                 config_.flash_path);
  }
  return Status::Ok();
}

Result<std::unique_ptr<BlockStore>> KvstashdNode::CreateStore(StoreOptions options) {
  if (shared_arenas_ != nullptr) {
    options.arena_allocator = SharedArenaAllocator(shared_arenas_);
    auto store = BlockStore::Create(options);
    if (store.ok() || store.status().code() != StatusCode::kResourceExhausted) return store;
    spdlog::warn("no shared-memory arena ({}); this store uses a private one",
                 store.status().message());
    options.arena_allocator = nullptr;
  }
  return BlockStore::Create(options);
}

Status KvstashdNode::StartParts() {
  if (config_.shared_arena) {
    auto arenas = CreateSharedArenas();
    if (arenas.ok()) {
      shared_arenas_ = std::move(arenas).value();
      std::ifstream thp("/sys/kernel/mm/transparent_hugepage/shmem_enabled");
      std::string modes;
      std::getline(thp, modes);
      if (modes.find("[never]") != std::string::npos || modes.find("[deny]") != std::string::npos) {
        spdlog::info(
            "shared arenas use 4 KiB pages: 'advise' in "
            "/sys/kernel/mm/transparent_hugepage/shmem_enabled gives them transparent huge "
            "pages (same-host gets measured 1.3-1.5x faster, docs/CONFIG.md)");
      }
    } else {
      spdlog::warn("shared arenas unavailable ({}); using private arenas",
                   arenas.status().message());
    }
  }
  Result<std::unique_ptr<BlockStore>> store = CreateStore(MakeStoreOptions(config_, flash_));
  if (!store.ok()) return Status(store.status().code(), "store: " + store.status().message());
  store_ = std::move(store).value();
  KVSTASH_ASSIGN_OR_RETURN(ServerOptions server_options, MakeServerOptions(config_));
  server_options.shared_arenas = shared_arenas_;
  for (size_t i = 0; i < config_.tenants.size(); ++i) {
    const TenantConfig& t = config_.tenants[i];
    auto ts = CreateStore(MakeTenantStoreOptions(config_, t));
    if (!ts.ok())
      return Status(ts.status().code(), "tenant " + t.name + ": " + ts.status().message());
    tenant_stores_.push_back(std::move(ts).value());
    server_options.tenants[i].store = tenant_stores_.back().get();
  }
  Result<std::unique_ptr<Server>> server = Server::Create(server_options, store_.get());
  if (!server.ok()) return Status(server.status().code(), "server: " + server.status().message());
  server_ = std::move(server).value();
  Status started = server_->Start();
  if (!started.ok()) return Status(started.code(), "server: " + started.message());
  if (!config_.cluster_etcd.empty())
    node_name_ = ClusterNodeName();  // before the exporter reads it
  if (config_.metrics_listen.empty()) return Status::Ok();
  Result<std::unique_ptr<MetricsExporter>> exporter = MetricsExporter::Start(
      {.listen = config_.metrics_listen}, [this] { return Samples(); },
      [this] { return healthy(); });
  if (!exporter.ok()) {
    return Status(exporter.status().code(), "metrics: " + exporter.status().message());
  }
  exporter_ = std::move(exporter).value();
  return Status::Ok();
}

Result<std::unique_ptr<KvstashdNode>> KvstashdNode::Start(const KvstashdConfig& config) {
  KVSTASH_RETURN_IF_ERROR(config.Validate());
  KVSTASH_RETURN_IF_ERROR(MakeAdmissionOptions(config).Validate());
  std::unique_ptr<KvstashdNode> node(new KvstashdNode(config));
  KVSTASH_RETURN_IF_ERROR(node->PrepareFlash());
  KVSTASH_RETURN_IF_ERROR(node->StartParts());  // on error the destructor stops what did start
  node->serving_.store(true, std::memory_order_release);
  KVSTASH_RETURN_IF_ERROR(node->JoinCluster());  // last: clients may send as soon as it is listed
  return node;
}

KvstashdNode::~KvstashdNode() { Stop(); }

std::string KvstashdNode::AdvertisedAddress() const {
  auto hp = ParseHostPort(config_.advertise.empty() ? config_.listen : config_.advertise);
  if (!hp.ok()) return config_.listen;
  if (config_.advertise.empty() && server_) hp->port = server_->port();
  return hp->ToString();
}

std::string KvstashdNode::ClusterNodeName() const {
  if (!config_.node_name.empty()) return config_.node_name;
  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  auto hp = ParseHostPort(AdvertisedAddress());
  return std::string(host) + "-" + std::to_string(hp.ok() ? hp->port : 0);
}

cluster::NodeRecord KvstashdNode::MakeNodeRecord() const {
  cluster::NodeRecord r;
  r.address = AdvertisedAddress();
  r.name = node_name_;
  std::random_device rd;
  r.boot_id = fmt::format("{:08x}{:08x}", rd(), rd());
  r.dram_bytes = config_.dram_bytes;
  r.flash_bytes = flash_.bytes;
  uint64_t gib = (r.dram_bytes + r.flash_bytes) >> 30;
  r.weight = config_.node_weight != 0 ? config_.node_weight : std::max<uint64_t>(gib, 1);
  r.metrics_address = exporter_ ? exporter_->address() : "";
  return r;
}

Status KvstashdNode::JoinCluster() {
  if (config_.cluster_etcd.empty()) return Status::Ok();
  auto etcd = cluster::EtcdOptions::Parse(config_.cluster_etcd);
  if (!etcd.ok()) return Status(etcd.status().code(), "cluster.etcd: " + etcd.status().message());
  cluster::RegistrationOptions o{.etcd = *etcd,
                                 .cluster = config_.cluster_name,
                                 .ttl = std::chrono::seconds(config_.cluster_ttl_s)};
  auto reg = cluster::NodeRegistration::Start(std::move(o), MakeNodeRecord());
  if (!reg.ok()) return Status(reg.status().code(), "cluster: " + reg.status().message());
  registration_ = std::move(*reg);
  return Status::Ok();
}

void KvstashdNode::Stop() {
  if (registration_) registration_->Withdraw();  // clients stop sending here first
  serving_.store(false, std::memory_order_release);
  if (exporter_) exporter_->Stop();
  if (server_) server_->Stop();
  exporter_.reset();
  server_.reset();
  registration_.reset();
  tenant_stores_.clear();
  store_.reset();
}

std::string KvstashdNode::StartupLine() const {
  std::string listen = config_.listen;
  if (auto hp = ParseHostPort(config_.listen); hp.ok() && server_) {
    hp->port = server_->port();
    listen = hp->ToString();
  }
  std::string flash = config_.flash_path.empty()
                          ? "off"
                          : config_.flash_path + " " + FormatSize(flash_.bytes) +
                                (flash_.direct_io ? "" : " (buffered)");
  std::string metrics = exporter_ ? "http://" + exporter_->address() + "/metrics" : "off";
  return "kvstashd listening on " + listen + " dram=" + FormatSize(config_.dram_bytes) +
         " region=" + FormatSize(config_.region_bytes) + " flash=" + flash +
         " workers=" + std::to_string(config_.workers) +
         " admission=" + std::string(AdmissionKindName(config_.admission)) +
         " tenants=" + std::to_string(config_.tenants.size()) + " metrics=" + metrics;
}

std::vector<MetricSample> KvstashdNode::Samples() const {
  std::vector<MetricSample> samples;
  double uptime =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  samples.push_back({"kvstash_up",
                     {},
                     healthy() ? 1.0 : 0.0,
                     MetricType::kGauge,
                     "1 while the node serves requests."});
  samples.push_back({"kvstash_uptime_seconds",
                     {},
                     uptime,
                     MetricType::kGauge,
                     "Seconds since kvstashd started."});
  if (server_) {
    std::vector<StatPair> stats = server_->StatsPairs();
    std::vector<MetricSample> mapped = SamplesFromStats(stats);
    samples.insert(samples.end(), mapped.begin(), mapped.end());
  }
  if (!node_name_.empty()) {  // a cluster node: every series says which node it is
    for (MetricSample& s : samples) s.labels.emplace_back("node", node_name_);
  }
  return samples;
}

}  // namespace kvstash
