#include "nixl/xfer_request.h"

#include <chrono>
#include <string_view>
#include <utility>

namespace kvstash::nixl {
namespace {

template <typename T>
bool Ready(const std::future<T>& f) {
  return f.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
}

}  // namespace

XferRequest::XferRequest(Client* client, XferPlan plan, ExistingKeyPolicy policy)
    : client_(client), plan_(std::move(plan)), policy_(policy) {}

XferRequest::~XferRequest() {
  // The queued work reads/writes the caller's buffers and our keys: let it finish.
  if (put_future_.valid()) put_future_.wait();
  if (get_future_.valid()) get_future_.wait();
  if (replace_future_.valid()) replace_future_.wait();
}

XferCode XferRequest::Post() {
  std::lock_guard<std::mutex> lock(mu_);
  if (stage_ == Stage::kFirst || stage_ == Stage::kReplace) {
    if (PollLocked() == XferCode::kInProgress) return XferCode::kNotAllowed;
  }
  outcome_ = XferOutcome{XferCode::kInProgress, 0, false, {}};
  if (plan_.op() == XferOp::kWrite) {
    put_future_ = client_->PutBatchAsync(plan_.puts());
  } else {
    get_future_ = client_->GetBatchAsync(plan_.gets());
  }
  stage_ = Stage::kFirst;
  return XferCode::kInProgress;
}

XferCode XferRequest::Poll() {
  std::lock_guard<std::mutex> lock(mu_);
  return PollLocked();
}

XferCode XferRequest::Wait() {
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      XferCode c = PollLocked();
      if (c != XferCode::kInProgress) return c;
      // Waiting under mu_ is safe: the client's executor never takes mu_.
      if (stage_ == Stage::kFirst && put_future_.valid()) put_future_.wait();
      if (stage_ == Stage::kFirst && get_future_.valid()) get_future_.wait();
      if (stage_ == Stage::kReplace && replace_future_.valid()) replace_future_.wait();
    }
  }
}

XferOutcome XferRequest::outcome() const {
  std::lock_guard<std::mutex> lock(mu_);
  return outcome_;
}

XferCode XferRequest::PollLocked() {
  switch (stage_) {
    case Stage::kIdle:
      return XferCode::kInvalidParam;  // never posted
    case Stage::kDone:
      return outcome_.code;
    case Stage::kFirst:
      if (plan_.op() == XferOp::kRead) {
        if (!Ready(get_future_)) return XferCode::kInProgress;
        outcome_ = plan_.SummarizeGets(get_future_.get());
        stage_ = Stage::kDone;
        return outcome_.code;
      }
      if (!Ready(put_future_)) return XferCode::kInProgress;
      return FinishPuts(put_future_.get());
    case Stage::kReplace:
      if (!Ready(replace_future_)) return XferCode::kInProgress;
      return FinishReplace(replace_future_.get());
  }
  return XferCode::kBackend;
}

XferCode XferRequest::FinishPuts(PutResults results) {
  if (policy_ == ExistingKeyPolicy::kReplace && results.ok()) {
    std::vector<size_t> existing;
    for (size_t i = 0; i < results->size(); ++i) {
      if ((*results)[i].Is(StatusCode::kAlreadyExists)) existing.push_back(i);
    }
    if (!existing.empty()) {
      StartReplace(std::move(results).value(), std::move(existing));
      return XferCode::kInProgress;
    }
  }
  outcome_ = plan_.SummarizePuts(results, policy_ == ExistingKeyPolicy::kKeep);
  stage_ = Stage::kDone;
  return outcome_.code;
}

void XferRequest::StartReplace(std::vector<Status> first, std::vector<size_t> indices) {
  first_results_ = std::move(first);
  replace_indices_ = std::move(indices);
  std::vector<PutItem> items;
  std::vector<std::string_view> keys;
  for (size_t i : replace_indices_) {
    items.push_back(plan_.puts()[i]);
    keys.push_back(plan_.puts()[i].key);
  }
  // Rare path (a key is rewritten): one helper thread for the two round trips.
  replace_future_ = std::async(
      std::launch::async,
      [client = client_, items = std::move(items), keys = std::move(keys)]() -> PutResults {
        // Per-key delete results do not matter: the second Put decides (NotFound = gone already).
        Result<std::vector<Status>> deleted = client->DeleteBatch(keys);
        if (!deleted.ok()) return deleted.status();
        return client->PutBatch(items);
      });
  stage_ = Stage::kReplace;
}

XferCode XferRequest::FinishReplace(PutResults second) {
  if (second.ok() && second->size() == replace_indices_.size()) {
    for (size_t j = 0; j < replace_indices_.size(); ++j) {
      first_results_[replace_indices_[j]] = (*second)[j];
    }
    outcome_ = plan_.SummarizePuts(PutResults(std::move(first_results_)), false);
  } else {
    Status s = second.ok() ? Status::Internal("replace: result count mismatch") : second.status();
    outcome_ = XferOutcome{ToXferCode(s), 0, false, "replacing existing keys: " + s.ToString()};
  }
  first_results_.clear();
  replace_indices_.clear();
  stage_ = Stage::kDone;
  return outcome_.code;
}

}  // namespace kvstash::nixl
