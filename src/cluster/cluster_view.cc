#include "cluster/cluster_view.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace kvstash::cluster {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

std::unique_ptr<ClusterView> ClusterView::Static(std::vector<NodeRecord> nodes) {
  std::unique_ptr<ClusterView> v(new ClusterView());
  std::lock_guard lock(v->mu_);
  for (NodeRecord& r : nodes) {
    std::string name = r.name;
    v->nodes_[name] = ViewNode{std::move(r), {}};
  }
  v->Publish();
  return v;
}

Result<std::unique_ptr<ClusterView>> ClusterView::FromEtcd(EtcdOptions etcd, std::string cluster) {
  KVSTASH_RETURN_IF_ERROR(ValidateClusterName(cluster));
  std::unique_ptr<ClusterView> v(new ClusterView());
  v->etcd_options_ = std::move(etcd);
  v->cluster_ = std::move(cluster);
  KVSTASH_ASSIGN_OR_RETURN(v->etcd_, EtcdClient::Create(v->etcd_options_));
  KVSTASH_RETURN_IF_ERROR(EnsureClusterConfig(*v->etcd_, v->cluster_));
  KVSTASH_RETURN_IF_ERROR(v->ReadAndWatch());
  v->maintainer_ = std::thread([p = v.get()] { p->MaintainLoop(); });
  return v;
}

ClusterView::~ClusterView() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  changed_.notify_all();
  if (maintainer_.joinable()) maintainer_.join();
  watch_.reset();  // joins the watch thread: no callback after this
}

Status ClusterView::ReadAndWatch() {
  ClusterKeys keys(cluster_);
  std::string prefix = keys.nodes_prefix();
  KVSTASH_ASSIGN_OR_RETURN(EtcdRange range, etcd_->GetPrefix(prefix));
  {
    std::lock_guard lock(mu_);
    bool initial = snapshot_ == nullptr;
    std::map<std::string, ViewNode> read;
    for (const EtcdKeyValue& kv : range.kvs) {
      auto r = DecodeNodeRecord(kv.value);
      if (!r.ok()) {
        bad_records_++;
        continue;
      }
      auto old = nodes_.find(r->name);
      Clock::time_point joined = initial               ? Clock::time_point{}
                                 : old != nodes_.end() ? old->second.joined
                                                       : Clock::now();
      std::string name = r->name;
      read[name] = ViewNode{std::move(*r), joined};
    }
    nodes_ = std::move(read);
    broken_ = false;
    Publish();
  }
  auto watch = EtcdWatch::Start(
      etcd_options_, prefix, range.revision + 1,
      [this](const std::vector<EtcdEvent>& events, int64_t) { OnEvents(events); },
      [this](const Status& cause) {
        watching_ = false;
        spdlog::warn(
            "cluster '{}': the etcd watch broke ({}); keeping the last view of {} "
            "node(s) and re-reading",
            cluster_, cause.ToString(), snapshot()->nodes.size());
        {
          std::lock_guard lock(mu_);
          broken_ = true;
        }
        changed_.notify_all();
      });
  if (!watch.ok()) return watch.status();
  watch_ = std::move(*watch);
  watching_ = true;
  return Status::Ok();
}

void ClusterView::OnEvents(const std::vector<EtcdEvent>& events) {
  std::string prefix = ClusterKeys(cluster_).nodes_prefix();
  std::lock_guard lock(mu_);
  for (const EtcdEvent& e : events) {
    if (!e.kv.key.starts_with(prefix)) continue;
    std::string name = e.kv.key.substr(prefix.size());
    if (e.type == EtcdEvent::Type::kDelete) {
      nodes_.erase(name);
      continue;
    }
    auto r = DecodeNodeRecord(e.kv.value);
    if (!r.ok() || r->name != name) {
      bad_records_++;
      continue;
    }
    auto it = nodes_.find(name);
    Clock::time_point joined = it != nodes_.end() ? it->second.joined : Clock::now();
    nodes_[name] = ViewNode{std::move(*r), joined};
  }
  Publish();
}

void ClusterView::Publish() {
  auto s = std::make_shared<ViewSnapshot>();
  std::vector<PlacementNode> up;
  for (const auto& [name, node] : nodes_) {
    if (node.record.state == NodeState::kUp) {
      up.push_back({name, node.record.weight});
      s->owner_node.push_back(s->nodes.size());
    }
    s->nodes.push_back(node);
  }
  s->placement = Placement(std::move(up));
  s->version = ++version_;
  snapshot_ = std::move(s);
  changed_.notify_all();
}

std::shared_ptr<const ViewSnapshot> ClusterView::snapshot() const {
  std::lock_guard lock(mu_);
  return snapshot_;
}

std::shared_ptr<const ViewSnapshot> ClusterView::WaitForChange(
    uint64_t version, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  changed_.wait_for(lock, timeout, [&] { return snapshot_->version > version; });
  return snapshot_;
}

void ClusterView::MaintainLoop() {
  auto backoff = std::chrono::milliseconds(100);
  std::unique_lock lock(mu_);
  for (;;) {
    changed_.wait(lock, [this] { return stop_ || broken_; });
    if (stop_) return;
    lock.unlock();
    watch_.reset();  // its thread has ended or is ending: joined here, not on itself
    Status s = ReadAndWatch();
    rereads_++;
    lock.lock();
    if (s.ok()) {
      backoff = std::chrono::milliseconds(100);
      spdlog::info("cluster '{}': watching etcd again ({} node(s))", cluster_, nodes_.size());
      continue;
    }
    broken_ = true;
    changed_.wait_for(lock, backoff, [this] { return stop_; });
    backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
  }
}

}  // namespace kvstash::cluster
