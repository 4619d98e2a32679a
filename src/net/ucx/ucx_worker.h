// UcxWorker: RAII owner of a ucp_worker_h, plus the progress/wait discipline.
//
// A worker is serialized (UCS_THREAD_MODE_SERIALIZED): one thread at a time drives it (the
// server's worker thread; the client thread holding the client's lock); only Signal() may be
// called concurrently. Blocking waits use the worker's event fd (ucp_worker_arm +
// poll), so an idle worker sleeps instead of spinning.
//
// Request helpers: UCX non-blocking calls return NULL (done), an error pointer, or a request
// that completes during Progress(). WaitRequest() drives progress until the request is done,
// the deadline passes, or `abort` says to stop (e.g. the endpoint failed).
#ifndef KVSTASH_NET_UCX_WORKER_H_
#define KVSTASH_NET_UCX_WORKER_H_

#include <ucp/api/ucp.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "kvstash/status.h"
#include "net/ucx/ucx_context.h"

namespace kvstash::net {

using SteadyTime = std::chrono::steady_clock::time_point;

// A request given up on while still in progress (UcxEndpoint::Abandon), with whatever memory
// it may still read: UCX reads a send's buffers until the send completes, which for a send
// queued behind an unfinished connection set-up can be long after its caller returned.
struct AbandonedRequest {
  ucs_status_ptr_t request;
  std::shared_ptr<const void> keep;  // freed only once the request has completed
};

class UcxWorker {
 public:
  static Result<std::unique_ptr<UcxWorker>> Create(UcxContext& context);
  ~UcxWorker();
  UcxWorker(const UcxWorker&) = delete;
  UcxWorker& operator=(const UcxWorker&) = delete;

  ucp_worker_h get() const { return worker_; }

  // Progresses until no more events are pending; returns how many were processed.
  unsigned ProgressAll();
  // Waits for a UCX event or Signal(), at most `timeout`: first polls for up to `spin`
  // (completions of in-flight transfers usually land within microseconds, and a sleeping
  // thread pays a wakeup on every step of a request), then sleeps on the event fd. Returns as
  // soon as anything progressed.
  void Wait(std::chrono::milliseconds timeout,
            std::chrono::microseconds spin = std::chrono::microseconds(200));
  // Wakes a Wait() from any thread.
  void Signal();

  // Installs the active-message handler `id` (whole messages only).
  Status SetAmHandler(unsigned id, ucp_am_recv_callback_t cb, void* arg);

  // Completes `req` (the return value of a ucp_*_nbx call made without a callback). Errors:
  // the request's own status mapped by UcsToStatus, Timeout at `deadline` (the request is
  // then cancelled), Unavailable when `abort()` becomes true.
  // `give_up`: called with `req` instead of cancelling and freeing it when it is still in
  // progress at the deadline or abort (UcxEndpoint::Abandon for a request on an endpoint).
  Status WaitRequest(ucs_status_ptr_t req, SteadyTime deadline, std::string_view what,
                     const std::function<bool()>& abort = {},
                     const std::function<void(ucs_status_ptr_t)>& give_up = {});

  // Takes an endpoint without peer-failure handling that still has `requests` in progress
  // (UcxEndpoint::Close): it is closed once they complete, checked at every ProgressAll().
  // `keep` stays alive as long as the endpoint (its error handler's argument). An endpoint
  // still parked when the worker goes cannot be destroyed (UCX 1.13 would abort the process):
  // the worker, with its parked endpoints and the memory they read, is handed to a background
  // reaper (logged) that keeps progressing it and destroys it, and then its context, once the
  // requests complete. Against a peer that never answers, that is at process exit.
  void Park(ucp_ep_h ep, std::vector<AbandonedRequest> requests, std::shared_ptr<void> keep);
  size_t parked() const { return parked_.size(); }
  // Workers the reaper holds now, in this process (for tests and diagnostics).
  static size_t HandedToReaper();

  struct Parked {
    ucp_ep_h ep;
    std::vector<AbandonedRequest> requests;
    std::shared_ptr<void> keep;
  };

 private:
  explicit UcxWorker(UcxContext& context, ucp_worker_h w, int efd)
      : context_(context), worker_(w), efd_(efd) {}
  void ReapParked();
  UcxContext& context_;
  ucp_worker_h worker_;
  int efd_;
  std::vector<Parked> parked_;
};

// Cleans up a context whose worker went to the reaper (UcxContext::DeferCleanupToReaper) once the
// reaper no longer uses it.
void CleanUpAfterReaper(ucp_context_h context);

// Milliseconds left until `deadline` (0 if passed), capped at `cap`.
std::chrono::milliseconds TimeLeft(SteadyTime deadline, std::chrono::milliseconds cap);

}  // namespace kvstash::net

#endif  // KVSTASH_NET_UCX_WORKER_H_
