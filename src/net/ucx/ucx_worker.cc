#include "net/ucx/ucx_worker.h"

#include <poll.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "net/ucx/ucx_status.h"

namespace kvstash::net {
namespace {

// Frees the parked requests that completed and closes the endpoints left with none.
void ReapParkedEndpoints(std::vector<UcxWorker::Parked>& parked) {
  for (auto it = parked.begin(); it != parked.end();) {
    std::erase_if(it->requests, [](const AbandonedRequest& a) {
      if (ucp_request_check_status(a.request) == UCS_INPROGRESS) return false;
      ucp_request_free(a.request);
      return true;
    });
    if (!it->requests.empty()) {
      ++it;
      continue;
    }
    ucp_request_param_t p{};
    p.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
    p.flags = UCP_EP_CLOSE_FLAG_FORCE;
    ucs_status_ptr_t req = ucp_ep_close_nbx(it->ep, &p);
    if (req != nullptr && !UCS_PTR_IS_ERR(req)) ucp_request_free(req);  // finishes in progress
    it = parked.erase(it);
  }
}

// Takes over the workers whose endpoints are still parked when their owner goes, and the
// contexts they use: one thread progresses them (every few ms, only while it holds any) until
// their requests complete (the peer answers late, or the connection fails), then destroys
// the worker, and a context once it has no worker left. A worker whose peer never answers
// stays until the process exits; the thread is stopped at exit, before UCX's own clean-up.
class Reaper {
 public:
  static Reaper& Get() {
    static Reaper* reaper = [] {
      auto* r = new Reaper();  // never destroyed: its thread is stopped by an atexit handler
      std::atexit([] { Get().Stop(); });
      return r;
    }();
    return *reaper;
  }

  void AdoptWorker(ucp_worker_h worker, ucp_context_h context,
                   std::vector<UcxWorker::Parked> parked) {
    std::lock_guard lock(mu_);
    workers_.push_back({worker, context, std::move(parked)});
    // A child forked after the thread started has none: it starts its own (the parent's
    // std::thread object is left alone, since it names a thread of another process).
    // After Stop (the process is exiting) the worker is only kept.
    if (!stop_ && (thread_ == nullptr || thread_pid_ != ::getpid())) {
      thread_ = new std::thread([this] { Run(); });
      thread_pid_ = ::getpid();
    }
    cv_.notify_one();
  }

  // `context` is cleaned up once no adopted worker uses it (at once if none does).
  void AdoptContext(ucp_context_h context) {
    std::lock_guard lock(mu_);
    contexts_.push_back(context);
    CleanUpIdleContexts();
  }

  size_t workers() {
    std::lock_guard lock(mu_);
    return workers_.size();
  }

 private:
  struct Adopted {
    ucp_worker_h worker;
    ucp_context_h context;
    std::vector<UcxWorker::Parked> parked;
  };

  void Run() {
    std::unique_lock lock(mu_);
    while (!stop_) {
      if (workers_.empty()) {
        cv_.wait(lock, [this] { return stop_ || !workers_.empty(); });
      } else {
        cv_.wait_for(lock, std::chrono::milliseconds(5));
      }
      for (auto it = workers_.begin(); it != workers_.end();) {
        while (ucp_worker_progress(it->worker) != 0) {
        }
        ReapParkedEndpoints(it->parked);
        if (!it->parked.empty()) {
          ++it;
          continue;
        }
        ucp_worker_destroy(it->worker);
        it = workers_.erase(it);
      }
      CleanUpIdleContexts();
    }
  }

  void CleanUpIdleContexts() {  // mu_ held
    std::erase_if(contexts_, [this](ucp_context_h c) {
      if (std::ranges::any_of(workers_, [c](const Adopted& a) { return a.context == c; }))
        return false;
      ucp_cleanup(c);
      return true;
    });
  }

  void Stop() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
      cv_.notify_one();
    }
    if (thread_ != nullptr && thread_pid_ == ::getpid()) thread_->join();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Adopted> workers_;
  std::vector<ucp_context_h> contexts_;
  bool stop_ = false;
  std::thread* thread_ = nullptr;  // never deleted, like the reaper
  pid_t thread_pid_ = 0;           // the process that started it
};

}  // namespace

Result<std::unique_ptr<UcxWorker>> UcxWorker::Create(UcxContext& context) {
  ucp_worker_params_t params{};
  params.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE;
  params.thread_mode = UCS_THREAD_MODE_SERIALIZED;
  ucp_worker_h w = nullptr;
  KVSTASH_RETURN_IF_ERROR(
      UcsToStatus(ucp_worker_create(context.get(), &params, &w), "ucp_worker_create"));
  int efd = -1;
  ucs_status_t s = ucp_worker_get_efd(w, &efd);
  if (s != UCS_OK) {
    ucp_worker_destroy(w);
    return UcsToStatus(s, "ucp_worker_get_efd");
  }
  return std::unique_ptr<UcxWorker>(new UcxWorker(context, w, efd));
}

UcxWorker::~UcxWorker() {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
  while (!parked_.empty() && std::chrono::steady_clock::now() < deadline) {
    ProgressAll();
    if (!parked_.empty()) Wait(std::chrono::milliseconds(10));
  }
  if (!parked_.empty()) {
    spdlog::warn(
        "UCX worker handed to the background reaper: {} endpoint(s) without peer-failure "
        "handling still have requests queued to a peer that is not answering (UCX 1.13 aborts "
        "the process when such an endpoint is destroyed); it is destroyed once they complete",
        parked_.size());
    Reaper::Get().AdoptWorker(worker_, context_.get(), std::move(parked_));
    context_.DeferCleanupToReaper();
    return;
  }
  ucp_worker_destroy(worker_);
}

unsigned UcxWorker::ProgressAll() {
  unsigned total = 0;
  while (unsigned n = ucp_worker_progress(worker_)) total += n;
  if (!parked_.empty()) ReapParked();
  return total;
}

void UcxWorker::Park(ucp_ep_h ep, std::vector<AbandonedRequest> requests,
                     std::shared_ptr<void> keep) {
  parked_.push_back({ep, std::move(requests), std::move(keep)});
}

void UcxWorker::ReapParked() { ReapParkedEndpoints(parked_); }

size_t UcxWorker::HandedToReaper() { return Reaper::Get().workers(); }

void CleanUpAfterReaper(ucp_context_h context) { Reaper::Get().AdoptContext(context); }

void UcxWorker::Wait(std::chrono::milliseconds timeout, std::chrono::microseconds spin) {
  auto spin_end = std::chrono::steady_clock::now() + spin;
  do {
    if (ProgressAll() > 0) return;
    // On an idle CPU this returns at once; on a busy one it lets the thread we are waiting
    // for (the peer of a shared-memory transfer is often on this very CPU) run instead of
    // burning our slice: without it, 128 KiB sm GETs took 1.7 ms at p50 with two CPU hogs.
    sched_yield();
  } while (std::chrono::steady_clock::now() < spin_end);
  ucs_status_t s = ucp_worker_arm(worker_);
  if (s == UCS_ERR_BUSY) return;  // events arrived meanwhile: the caller progresses
  pollfd pfd{efd_, POLLIN, 0};
  int ms = static_cast<int>(std::max<int64_t>(0, timeout.count()));
  (void)poll(&pfd, 1, ms);
}

void UcxWorker::Signal() { (void)ucp_worker_signal(worker_); }

Status UcxWorker::SetAmHandler(unsigned id, ucp_am_recv_callback_t cb, void* arg) {
  ucp_am_handler_param_t p{};
  p.field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID | UCP_AM_HANDLER_PARAM_FIELD_FLAGS |
                 UCP_AM_HANDLER_PARAM_FIELD_CB | UCP_AM_HANDLER_PARAM_FIELD_ARG;
  p.id = id;
  p.flags = UCP_AM_FLAG_WHOLE_MSG;
  p.cb = cb;
  p.arg = arg;
  return UcsToStatus(ucp_worker_set_am_recv_handler(worker_, &p), "set_am_recv_handler");
}

Status UcxWorker::WaitRequest(ucs_status_ptr_t req, SteadyTime deadline, std::string_view what,
                              const std::function<bool()>& abort,
                              const std::function<void(ucs_status_ptr_t)>& give_up) {
  if (req == nullptr) return Status::Ok();
  if (UCS_PTR_IS_ERR(req)) return UcsToStatus(UCS_PTR_STATUS(req), what);
  Status result;
  while (true) {
    ProgressAll();
    ucs_status_t s = ucp_request_check_status(req);
    if (s != UCS_INPROGRESS) {
      result = UcsToStatus(s, what);
      break;
    }
    if (abort && abort()) {
      result = Status::Unavailable(std::string(what) + ": connection lost");
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      result = Status::Timeout(std::string(what) + ": deadline passed");
      break;
    }
    Wait(TimeLeft(deadline, std::chrono::milliseconds(50)));
  }
  if (give_up) {
    give_up(req);
    return result;
  }
  if (ucp_request_check_status(req) == UCS_INPROGRESS) ucp_request_cancel(worker_, req);
  ucp_request_free(req);
  return result;
}

std::chrono::milliseconds TimeLeft(SteadyTime deadline, std::chrono::milliseconds cap) {
  auto left =
      std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  return std::clamp(left, std::chrono::milliseconds(0), cap);
}

}  // namespace kvstash::net
