// XferRequest: runs one XferPlan on a kvstash Client, non-blocking, NIXL style.
//
//   auto req = std::make_unique<XferRequest>(client, std::move(plan), policy);
//   XferCode c = req->Post();             // kInProgress: the batch call is queued
//   while ((c = req->Poll()) == XferCode::kInProgress) { /* other work */ }
//
// Post() queues ONE PutBatchAsync or GetBatchAsync for the whole plan (the client's executor
// thread runs it) and returns at once. Poll() never blocks: it checks the future and, when it
// is ready, computes the request's status (XferPlan::Summarize*). With
// ExistingKeyPolicy::kReplace, WRITE items answered AlreadyExists get a second stage
// (DeleteBatch + PutBatch of just those items) on a helper thread; Poll() reports kInProgress
// until it is done too. A request may be posted again once it is no longer in progress.
//
// Lifetime: the destructor waits for work in flight (at most the client's timeout per stage:
// the client cannot cancel a call), because that work reads or writes the caller's buffers.
// Thread safety: all methods may be called from any thread; they are serialized internally.
#ifndef KVSTASH_NIXL_XFER_REQUEST_H_
#define KVSTASH_NIXL_XFER_REQUEST_H_

#include <future>
#include <mutex>
#include <vector>

#include "kvstash/client.h"
#include "nixl/backend_config.h"
#include "nixl/xfer_plan.h"
#include "nixl/xfer_status.h"

namespace kvstash::nixl {

class XferRequest {
 public:
  // `client` is not owned and must outlive the request.
  XferRequest(Client* client, XferPlan plan, ExistingKeyPolicy policy);
  ~XferRequest();
  XferRequest(const XferRequest&) = delete;
  XferRequest& operator=(const XferRequest&) = delete;

  // Starts the transfer. kInProgress on success; kNotAllowed if it is still in progress.
  XferCode Post();
  // kInProgress while running; then the final status (sticky until the next Post()).
  XferCode Poll();
  // Blocks until the request is no longer in progress; returns Poll()'s final status.
  XferCode Wait();
  // The outcome of the last finished run (message names the failing descriptor).
  XferOutcome outcome() const;
  const XferPlan& plan() const { return plan_; }

 private:
  enum class Stage { kIdle, kFirst, kReplace, kDone };
  using PutResults = Result<std::vector<Status>>;
  using GetResults = Result<std::vector<Result<size_t>>>;

  XferCode PollLocked();
  XferCode FinishPuts(PutResults results);
  void StartReplace(std::vector<Status> first, std::vector<size_t> indices);
  XferCode FinishReplace(PutResults second);

  Client* const client_;
  const XferPlan plan_;
  const ExistingKeyPolicy policy_;

  mutable std::mutex mu_;
  Stage stage_ = Stage::kIdle;
  std::future<PutResults> put_future_;
  std::future<GetResults> get_future_;
  std::future<PutResults> replace_future_;
  std::vector<Status> first_results_;    // stage 1 results while stage 2 runs
  std::vector<size_t> replace_indices_;  // items answered AlreadyExists in stage 1
  XferOutcome outcome_;
};

}  // namespace kvstash::nixl

#endif  // KVSTASH_NIXL_XFER_REQUEST_H_
