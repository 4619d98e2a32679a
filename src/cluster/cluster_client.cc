// ClusterClient (include/kvstash/cluster_client.h): routing over ClusterView + NodeConn.
#include "kvstash/cluster_client.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <latch>
#include <mutex>

#include "cluster/cluster_view.h"
#include "cluster/node_conn.h"

namespace kvstash {

using cluster::ClusterView;
using cluster::NodeConn;
using cluster::Placement;
using cluster::ViewSnapshot;
using Clock = std::chrono::steady_clock;

namespace {

// The most a call waits to connect to one node: a dead node must not hold a call for long.
constexpr std::chrono::milliseconds kMaxNodeConnect{500};

// The nodes of one view version, each with its connection: what one operation routes over.
struct Route {
  std::shared_ptr<const ViewSnapshot> view;
  std::vector<std::shared_ptr<NodeConn>> conns;  // by placement index
  std::vector<Clock::time_point> joined;         // by placement index
  const Placement& placement() const { return view->placement; }
};

// The items of one operation that go to one node.
struct Group {
  size_t node = 0;  // placement index
  std::vector<size_t> items;
};

}  // namespace

struct ClusterClient::Impl {
  ClusterOptions options;
  std::unique_ptr<ClusterView> view;
  std::mutex mu;
  std::map<std::string, std::shared_ptr<NodeConn>> conns;  // by node name; guarded by mu
  std::shared_ptr<const Route> route;                      // guarded by mu
  std::atomic<uint64_t> quarantine_misses{0}, previous_owner_hits{0}, previous_owner_tries{0},
      view_changes{0};

  std::shared_ptr<const Route> CurrentRoute();
  std::shared_ptr<NodeConn> ConnFor(const cluster::ViewNode& n);  // mu held
  bool RecentlyJoined(const Route& r, size_t node) const {
    return Clock::now() - r.joined[node] < options.previous_owner_window;
  }
  // The key's second-ranked node if its owner joined recently (its owner before the join).
  std::optional<size_t> PreviousOwner(const Route& r, uint64_t h) const;
  std::vector<Group> GroupByOwner(const Route& r, size_t n,
                                  const std::function<std::string_view(size_t)>& key) const;
  // Runs `part` for each group, in parallel on the nodes' lanes (the first inline).
  void FanOut(const Route& r, const std::vector<Group>& groups,
              const std::function<void(NodeConn&, const Group&)>& part) const;
  // Puts and deletes: one Status per item; a failed call gives each of its items the error.
  Result<std::vector<Status>> WriteFanOut(
      size_t n, const std::function<std::string_view(size_t)>& key,
      const std::function<Result<std::vector<Status>>(Client&, const Group&)>& call);
};

std::shared_ptr<NodeConn> ClusterClient::Impl::ConnFor(const cluster::ViewNode& n) {
  auto it = conns.find(n.record.name);
  if (it != conns.end() && it->second->address() == n.record.address) return it->second;
  ClientOptions o = options.node;
  o.server_address = n.record.address;
  o.connect_timeout = std::min(o.connect_timeout, kMaxNodeConnect);
  auto conn = std::make_shared<NodeConn>(
      n.record.name, o, cluster::QuarantinePolicy{options.quarantine, options.max_quarantine});
  conns[n.record.name] = conn;
  return conn;
}

std::shared_ptr<const Route> ClusterClient::Impl::CurrentRoute() {
  auto snap = view->snapshot();
  std::lock_guard lock(mu);
  if (route != nullptr && route->view->version == snap->version) return route;
  auto r = std::make_shared<Route>();
  r->view = snap;
  std::map<std::string, std::shared_ptr<NodeConn>> kept;
  for (size_t i = 0; i < snap->placement.size(); ++i) {
    const cluster::ViewNode& n = snap->nodes[snap->owner_node[i]];
    r->conns.push_back(ConnFor(n));
    r->joined.push_back(n.joined);
    kept[n.record.name] = r->conns.back();
  }
  conns = std::move(kept);  // a node that left goes once no operation uses its connection
  if (route != nullptr) view_changes++;
  route = r;
  return r;
}

std::optional<size_t> ClusterClient::Impl::PreviousOwner(const Route& r, uint64_t h) const {
  if (r.placement().size() < 2) return std::nullopt;
  std::vector<size_t> ranked;
  r.placement().Rank(h, 2, &ranked);
  if (!RecentlyJoined(r, ranked[0])) return std::nullopt;
  return ranked[1];
}

std::vector<Group> ClusterClient::Impl::GroupByOwner(
    const Route& r, size_t n, const std::function<std::string_view(size_t)>& key) const {
  std::vector<Group> groups;
  std::vector<int> group_of(r.placement().size(), -1);
  for (size_t i = 0; i < n; ++i) {
    size_t owner = r.placement().Owner(key(i));
    if (group_of[owner] < 0) {
      group_of[owner] = static_cast<int>(groups.size());
      groups.push_back({owner, {}});
    }
    groups[group_of[owner]].items.push_back(i);
  }
  return groups;
}

void ClusterClient::Impl::FanOut(const Route& r, const std::vector<Group>& groups,
                                 const std::function<void(NodeConn&, const Group&)>& part) const {
  if (groups.empty()) return;
  std::latch done(static_cast<ptrdiff_t>(groups.size() - 1));
  for (size_t g = 1; g < groups.size(); ++g) {
    r.conns[groups[g].node]->Submit([&, g] {
      part(*r.conns[groups[g].node], groups[g]);
      done.count_down();
    });
  }
  part(*r.conns[groups[0].node], groups[0]);
  done.wait();
}

ClusterClient::ClusterClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ClusterClient::~ClusterClient() = default;

Result<std::unique_ptr<ClusterClient>> ClusterClient::Connect(ClusterOptions options) {
  KVSTASH_RETURN_IF_ERROR(options.Validate());
  auto impl = std::make_unique<Impl>();
  if (options.etcd.empty()) {
    std::vector<cluster::NodeRecord> nodes;
    for (const std::string& spec : options.nodes) {
      KVSTASH_ASSIGN_OR_RETURN(auto n, cluster::ParseStaticNode(spec));
      nodes.push_back(std::move(n));
    }
    impl->view = ClusterView::Static(std::move(nodes));
  } else {
    KVSTASH_ASSIGN_OR_RETURN(auto etcd, cluster::EtcdOptions::Parse(options.etcd));
    etcd.timeout = options.etcd_timeout;
    KVSTASH_ASSIGN_OR_RETURN(impl->view, ClusterView::FromEtcd(std::move(etcd), options.cluster));
  }
  impl->options = std::move(options);
  return std::unique_ptr<ClusterClient>(new ClusterClient(std::move(impl)));
}

namespace {

Status NoNodeUp(const ClusterOptions& o) {
  return Status::Unavailable(
      o.etcd.empty() ? std::string("cluster: no node is up")
                     : fmt::format("cluster '{}': no node is up (none registered in etcd at {})",
                                   o.cluster, o.etcd));
}

template <typename T>
std::vector<T> Pick(std::span<const T> items, const std::vector<size_t>& idx) {
  std::vector<T> sub;
  sub.reserve(idx.size());
  for (size_t i : idx) sub.push_back(items[i]);
  return sub;
}

}  // namespace

// Groups the `missed` items by their previous owner (those whose owner joined recently).
static std::vector<Group> PreviousOwnerGroups(
    const std::vector<size_t>& missed, const std::function<std::string_view(size_t)>& key,
    const std::function<std::optional<size_t>(uint64_t)>& previous) {
  std::vector<Group> groups;
  for (size_t i : missed) {
    auto prev = previous(Placement::KeyHash(key(i)));
    if (!prev) continue;
    auto g = std::ranges::find(groups, *prev, &Group::node);
    if (g == groups.end()) g = groups.insert(groups.end(), Group{*prev, {}});
    g->items.push_back(i);
  }
  return groups;
}

Result<std::vector<Result<size_t>>> ClusterClient::GetBatch(std::span<const GetItem> items) {
  auto r = impl_->CurrentRoute();
  if (r->placement().empty()) return NoNodeUp(impl_->options);
  std::vector<Result<size_t>> out(items.size(), Result<size_t>(Status::NotFound()));
  auto key = [&](size_t i) { return items[i].key; };
  auto part = [&](NodeConn& c, const Group& g) {
    auto sub = Pick(items, g.items);
    Status s = c.Call([&](Client& cl) {
      auto res = cl.GetBatch(sub);
      if (!res.ok()) return res.status();
      for (size_t k = 0; k < g.items.size(); ++k) out[g.items[k]] = std::move((*res)[k]);
      return Status::Ok();
    });
    if (s.ok()) return;
    impl_->quarantine_misses += g.items.size();
    for (size_t i : g.items) out[i] = Status::NotFound("miss: " + s.ToString());
  };
  impl_->FanOut(*r, impl_->GroupByOwner(*r, items.size(), key), part);
  std::vector<size_t> missed;
  for (size_t i = 0; i < out.size(); ++i)
    if (!out[i].ok() && out[i].status().code() == StatusCode::kNotFound) missed.push_back(i);
  auto prev =
      PreviousOwnerGroups(missed, key, [&](uint64_t h) { return impl_->PreviousOwner(*r, h); });
  if (prev.empty()) return out;
  for (const Group& g : prev) impl_->previous_owner_tries += g.items.size();
  impl_->FanOut(*r, prev, part);
  for (const Group& g : prev)
    for (size_t i : g.items) impl_->previous_owner_hits += out[i].ok() ? 1 : 0;
  return out;
}

Result<std::vector<bool>> ClusterClient::ExistsBatch(std::span<const std::string_view> keys) {
  auto r = impl_->CurrentRoute();
  if (r->placement().empty()) return NoNodeUp(impl_->options);
  std::vector<char> found(keys.size(), 0);  // not vector<bool>: lanes write concurrently
  auto key = [&](size_t i) { return keys[i]; };
  auto part = [&](NodeConn& c, const Group& g) {
    auto sub = Pick(keys, g.items);
    Status s = c.Call([&](Client& cl) {
      auto res = cl.ExistsBatch(sub);
      if (!res.ok()) return res.status();
      for (size_t k = 0; k < g.items.size(); ++k) found[g.items[k]] = (*res)[k] ? 1 : 0;
      return Status::Ok();
    });
    if (!s.ok()) {
      impl_->quarantine_misses += g.items.size();
    }
  };
  impl_->FanOut(*r, impl_->GroupByOwner(*r, keys.size(), key), part);
  std::vector<size_t> missed;
  for (size_t i = 0; i < found.size(); ++i)
    if (!found[i]) missed.push_back(i);
  auto prev =
      PreviousOwnerGroups(missed, key, [&](uint64_t h) { return impl_->PreviousOwner(*r, h); });
  if (!prev.empty()) impl_->FanOut(*r, prev, part);
  return std::vector<bool>(found.begin(), found.end());
}

Result<std::vector<Status>> ClusterClient::Impl::WriteFanOut(
    size_t n, const std::function<std::string_view(size_t)>& key,
    const std::function<Result<std::vector<Status>>(Client&, const Group&)>& call) {
  Impl& impl = *this;
  auto r = impl.CurrentRoute();
  if (r->placement().empty()) return NoNodeUp(impl.options);
  std::vector<Status> out(n);
  impl.FanOut(*r, impl.GroupByOwner(*r, n, key), [&](NodeConn& c, const Group& g) {
    Status s = c.Call([&](Client& cl) {
      auto res = call(cl, g);
      if (!res.ok()) return res.status();
      for (size_t k = 0; k < g.items.size(); ++k) out[g.items[k]] = std::move((*res)[k]);
      return Status::Ok();
    });
    if (s.ok()) return;
    for (size_t i : g.items) out[i] = s;
  });
  return out;
}

Result<std::vector<Status>> ClusterClient::PutBatch(std::span<const PutItem> items) {
  return impl_->WriteFanOut(
      items.size(), [&](size_t i) { return items[i].key; },
      [&](Client& c, const Group& g) { return c.PutBatch(Pick(items, g.items)); });
}

Result<std::vector<Status>> ClusterClient::DeleteBatch(std::span<const std::string_view> keys) {
  return impl_->WriteFanOut(
      keys.size(), [&](size_t i) { return keys[i]; },
      [&](Client& c, const Group& g) { return c.DeleteBatch(Pick(keys, g.items)); });
}

Status ClusterClient::Put(std::string_view key, std::span<const std::byte> value) {
  PutItem item{key, value};
  KVSTASH_ASSIGN_OR_RETURN(auto out, PutBatch(std::span(&item, 1)));
  return out[0];
}

Result<size_t> ClusterClient::Get(std::string_view key, std::span<std::byte> dest) {
  GetItem item{key, dest};
  KVSTASH_ASSIGN_OR_RETURN(auto out, GetBatch(std::span(&item, 1)));
  return std::move(out[0]);
}

Result<bool> ClusterClient::Exists(std::string_view key) {
  KVSTASH_ASSIGN_OR_RETURN(auto out, ExistsBatch(std::span(&key, 1)));
  return static_cast<bool>(out[0]);
}

Status ClusterClient::Delete(std::string_view key) {
  KVSTASH_ASSIGN_OR_RETURN(auto out, DeleteBatch(std::span(&key, 1)));
  return out[0];
}

Result<size_t> ClusterClient::LongestPrefix(std::span<const std::string_view> keys) {
  KVSTASH_ASSIGN_OR_RETURN(auto found, ExistsBatch(keys));  // one parallel round trip
  return static_cast<size_t>(std::ranges::find(found, false) - found.begin());
}

std::string ClusterClient::OwnerOf(std::string_view key) {
  auto r = impl_->CurrentRoute();
  if (r->placement().empty()) return "";
  return r->placement().node(r->placement().Owner(key)).name;
}

std::vector<ClusterNodeStatus> ClusterClient::Nodes() {
  auto r = impl_->CurrentRoute();
  std::map<std::string, std::shared_ptr<NodeConn>> conns;
  for (const auto& c : r->conns) conns[c->name()] = c;
  std::vector<ClusterNodeStatus> out;
  for (const cluster::ViewNode& n : r->view->nodes) {
    ClusterNodeStatus s{.name = n.record.name,
                        .address = n.record.address,
                        .state = std::string(cluster::NodeStateName(n.record.state)),
                        .boot_id = n.record.boot_id,
                        .weight = n.record.weight,
                        .dram_bytes = n.record.dram_bytes,
                        .flash_bytes = n.record.flash_bytes,
                        .metrics_address = n.record.metrics_address};
    if (auto c = conns.find(n.record.name); c != conns.end()) {
      s.connected = c->second->connected();
      s.failures = c->second->failures();
      if (c->second->quarantined()) s.state = "quarantined";
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::map<std::string, uint64_t> ClusterClient::Stats() {
  auto r = impl_->CurrentRoute();
  std::map<std::string, uint64_t> out{
      {"cluster.nodes", r->view->nodes.size()},
      {"cluster.nodes_up", r->placement().size()},
      {"cluster.node_failures", 0},
      {"cluster.quarantine_misses", impl_->quarantine_misses.load()},
      {"cluster.previous_owner_tries", impl_->previous_owner_tries.load()},
      {"cluster.previous_owner_hits", impl_->previous_owner_hits.load()},
      {"cluster.view_changes", impl_->view_changes.load()},
      {"cluster.view_version", r->view->version}};
  for (const auto& c : r->conns) {
    out["cluster.node_failures"] += c->failures();
    out["cluster.quarantine_skips"] += c->skips();
    (void)c->Call([&](Client& cl) {
      auto s = cl.Stats();
      if (!s.ok()) return s.status();
      for (const auto& [k, v] : *s) out[c->name() + "/" + k] = v;
      return Status::Ok();
    });
  }
  return out;
}

}  // namespace kvstash
