#include "cluster/node_registration.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace kvstash::cluster {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

Status RegistrationOptions::Validate() const {
  KVSTASH_RETURN_IF_ERROR(etcd.Validate());
  KVSTASH_RETURN_IF_ERROR(ValidateClusterName(cluster));
  if (ttl < std::chrono::seconds(1) || ttl > std::chrono::seconds(60))
    return Status::InvalidArgument(fmt::format("cluster TTL {} s not in 1..60", ttl.count()));
  return Status::Ok();
}

Result<std::unique_ptr<NodeRegistration>> NodeRegistration::Start(RegistrationOptions options,
                                                                  NodeRecord record) {
  KVSTASH_RETURN_IF_ERROR(options.Validate());
  KVSTASH_RETURN_IF_ERROR(ValidateNodeName(record.name));
  KVSTASH_ASSIGN_OR_RETURN(auto etcd, EtcdClient::Create(options.etcd));
  KVSTASH_RETURN_IF_ERROR(EnsureClusterConfig(*etcd, options.cluster));
  std::unique_ptr<NodeRegistration> r(
      new NodeRegistration(std::move(options), std::move(record), std::move(etcd)));
  KVSTASH_RETURN_IF_ERROR(r->Register(/*wait_for_predecessor=*/true));
  r->renewer_ = std::thread([p = r.get()] { p->RenewLoop(); });
  return r;
}

Status NodeRegistration::Register(bool wait_for_predecessor) {
  ClusterKeys keys(options_.cluster);
  KVSTASH_ASSIGN_OR_RETURN(int64_t lease, etcd_->LeaseGrant(options_.ttl));
  // etcd raises a short TTL to its minimum (2 s by default): a predecessor's lease, granted
  // the same way, may last that long. The first renewal says what etcd granted.
  std::chrono::seconds granted = options_.ttl;
  if (auto ttl = etcd_->LeaseKeepAlive(lease); ttl.ok()) granted = std::max(granted, *ttl);
  auto deadline = Clock::now() + (wait_for_predecessor ? granted + std::chrono::seconds(1)
                                                       : Clock::duration::zero());
  std::string value = EncodeNodeRecord(record_);
  for (;;) {
    EtcdKeyValue existing;
    auto written = etcd_->PutIfAbsent(keys.node(record_.name), value, lease, &existing);
    if (!written.ok()) {
      (void)etcd_->LeaseRevoke(lease);
      return written.status();
    }
    if (*written) break;
    auto holder = DecodeNodeRecord(existing.value);
    // A PutIfAbsent retried on another endpoint after its reply was lost finds our own record.
    if (holder.ok() && holder->boot_id == record_.boot_id && existing.lease == lease) break;
    if (Clock::now() >= deadline) {
      (void)etcd_->LeaseRevoke(lease);
      const auto& other = holder;
      return Status::AlreadyExists(fmt::format(
          "node name '{}' is already registered in cluster '{}' by a live node at {} (boot id "
          "{}): two kvstashd processes were given the same --node-name",
          record_.name, options_.cluster, other.ok() ? other->address : "?",
          other.ok() ? other->boot_id : "?"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // a predecessor's lease
    // Our own lease must outlive the wait, which is longer than its TTL.
    if (auto kept = etcd_->LeaseKeepAlive(lease); !kept.ok()) {
      (void)etcd_->LeaseRevoke(lease);
      return kept.status();
    }
  }
  lease_ = lease;
  registered_ = true;
  spdlog::info("cluster '{}': registered node '{}' at {} (lease ttl {} s)", options_.cluster,
               record_.name, record_.address, options_.ttl.count());
  return Status::Ok();
}

void NodeRegistration::RenewLoop() {
  auto period = std::chrono::duration_cast<Clock::duration>(options_.ttl) / 3;
  std::unique_lock lock(mu_);
  while (!stop_cv_.wait_for(lock, period, [this] { return stop_; })) {
    lock.unlock();
    RenewOnce();
    lock.lock();
  }
}

void NodeRegistration::RenewOnce() {
  if (registered_) {
    auto renewed = etcd_->LeaseKeepAlive(lease_);
    if (renewed.ok()) {
      renewals_++;
      return;
    }
    if (renewed.status().code() != StatusCode::kNotFound) {
      if (etcd_errors_++ % 10 == 0)  // every 10th: etcd may be away for a while
        spdlog::warn("cluster: renewing the lease failed ({}); serving on, retrying",
                     renewed.status().ToString());
      return;
    }
    registered_ = false;
    spdlog::warn(
        "cluster: node '{}' lost its lease (etcd away longer than {} s?); "
        "registering again",
        record_.name, options_.ttl.count());
  }
  // A node of our name may briefly remain from the lost lease only if etcd kept it; do not
  // wait here (the renewal thread retries every period).
  Status s = Register(/*wait_for_predecessor=*/false);
  if (s.ok()) {
    reregistrations_++;
  } else if (etcd_errors_++ % 10 == 0) {
    spdlog::warn("cluster: registering again failed: {}", s.ToString());
  }
}

void NodeRegistration::Withdraw() {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (renewer_.joinable()) renewer_.join();
  if (!registered_) return;
  NodeRecord draining = record_;
  draining.state = NodeState::kDraining;
  ClusterKeys keys(options_.cluster);
  // The draining mark first: a client that misses the delete still stops placing keys here.
  Status s = etcd_->Put(keys.node(record_.name), EncodeNodeRecord(draining), lease_);
  Status r = etcd_->LeaseRevoke(lease_);
  registered_ = false;
  if (!s.ok() || !r.ok())
    spdlog::warn("cluster: withdrawing node '{}': {} / {} (its record expires with the lease)",
                 record_.name, s.ToString(), r.ToString());
  else
    spdlog::info("cluster: node '{}' withdrawn (draining)", record_.name);
}

NodeRegistration::~NodeRegistration() { Withdraw(); }

}  // namespace kvstash::cluster
