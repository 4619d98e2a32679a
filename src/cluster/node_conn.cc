#include "cluster/node_conn.h"

#include <fmt/format.h>

#include <algorithm>

namespace kvstash::cluster {
namespace {

using Clock = std::chrono::steady_clock;

bool NodeIsFailing(const Status& s) {
  return s.code() == StatusCode::kUnavailable || s.code() == StatusCode::kTimeout;
}

}  // namespace

NodeConn::~NodeConn() {
  {
    std::lock_guard lock(lane_mu_);
    lane_stop_ = true;
  }
  lane_cv_.notify_all();
  if (lane_.joinable()) lane_.join();
}

Status NodeConn::Call(const std::function<Status(Client&)>& call) {
  std::lock_guard lock(mu_);
  if (Clock::now() < quarantined_until_) {
    skips_++;
    return Status::Unavailable(
        fmt::format("node '{}' ({}) is quarantined after: {}", name_, address(), last_error_));
  }
  if (client_ == nullptr) {
    auto c = Client::Connect(options_);
    if (!c.ok()) {
      Report(c.status());
      return Status::Unavailable(
          fmt::format("node '{}' ({}): {}", name_, address(), c.status().ToString()));
    }
    client_ = std::move(*c);
  }
  Status s = call(*client_);
  Report(s);
  return s;
}

void NodeConn::Report(const Status& s) {
  if (!NodeIsFailing(s)) {
    backoff_ = std::chrono::milliseconds(0);
    return;
  }
  failures_++;
  backoff_ = backoff_.count() == 0 ? policy_.first : std::min(backoff_ * 2, policy_.max);
  quarantined_until_ = Clock::now() + backoff_;
  last_error_ = s.ToString();
}

bool NodeConn::quarantined() const {
  std::unique_lock lock(mu_, std::try_to_lock);
  // A call in progress holds the lock: the node is not known to be failing yet.
  return lock.owns_lock() && Clock::now() < quarantined_until_;
}

bool NodeConn::connected() const {
  std::unique_lock lock(mu_, std::try_to_lock);
  if (!lock.owns_lock()) return true;  // a call is running on the connection
  return client_ != nullptr && client_->connected();
}

void NodeConn::Submit(std::function<void()> task) {
  {
    std::lock_guard lock(lane_mu_);
    lane_tasks_.push_back(std::move(task));
    if (!lane_.joinable()) lane_ = std::thread([this] { LaneLoop(); });
  }
  lane_cv_.notify_one();
}

void NodeConn::LaneLoop() {
  std::unique_lock lock(lane_mu_);
  for (;;) {
    lane_cv_.wait(lock, [this] { return lane_stop_ || !lane_tasks_.empty(); });
    if (lane_tasks_.empty()) return;  // stopping, and nothing left
    auto task = std::move(lane_tasks_.front());
    lane_tasks_.pop_front();
    lock.unlock();
    task();
    lock.lock();
  }
}

}  // namespace kvstash::cluster
