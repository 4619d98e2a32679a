// Mutex, MutexLock and CondVar: std::mutex with Clang thread-safety annotations.
//
// Why not absl::Mutex: Debian's libabsl is not built with ThreadSanitizer instrumentation, so
// TSan cannot see its synchronisation and reports false races on every guarded field. A
// pthread mutex is intercepted by TSan. The API mirrors absl's (MutexLock(&mu_), GUARDED_BY),
// so -Wthread-safety checks the same contracts.
#ifndef KVSTASH_COMMON_MUTEX_H_
#define KVSTASH_COMMON_MUTEX_H_

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <type_traits>

#include "absl/base/thread_annotations.h"

namespace kvstash {

// A predicate for Mutex::Await: a pointer to a bool, or to a callable returning bool (as
// absl::Condition). The pointee must outlive the wait.
class Condition {
 public:
  explicit Condition(const bool* flag)
      : arg_(flag), eval_([](const void* a) { return *static_cast<const bool*>(a); }) {}
  template <typename F, typename = std::enable_if_t<std::is_invocable_r_v<bool, F&>>>
  explicit Condition(F* fn)
      : arg_(fn), eval_([](const void* a) { return (*static_cast<F*>(const_cast<void*>(a)))(); }) {}
  bool Eval() const { return eval_(arg_); }

 private:
  const void* arg_;
  bool (*eval_)(const void*);
};

class ABSL_LOCKABLE Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  // Wakes Await()ers (only if there are any) so they re-check their conditions.
  void Unlock() ABSL_UNLOCK_FUNCTION() {
    bool wake = waiters_ > 0;
    mu_.unlock();
    if (wake) cv_.notify_all();
  }
  // Blocks until cond is true; the lock is released while waiting and held on return.
  void Await(const Condition& cond) ABSL_EXCLUSIVE_LOCKS_REQUIRED(this) {
    while (!cond.Eval()) WaitOnce(nullptr);
  }
  // As Await for at most `timeout`. Returns the condition's value on return.
  bool AwaitWithTimeout(const Condition& cond, std::chrono::nanoseconds timeout)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(this) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!cond.Eval()) {
      if (!WaitOnce(&deadline)) return cond.Eval();
    }
    return true;
  }
  bool TryLock() ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true) { return mu_.try_lock(); }
  // Documents (and tells the analysis) that the caller holds the lock.
  void AssertHeld() const ABSL_ASSERT_EXCLUSIVE_LOCK() {}

 private:
  friend class CondVar;
  // Returns false on timeout.
  bool WaitOnce(const std::chrono::steady_clock::time_point* deadline) {
    ++waiters_;
    std::unique_lock<std::mutex> lk(mu_, std::adopt_lock);
    bool ok = true;
    if (deadline == nullptr)
      cv_.wait(lk);
    else
      ok = cv_.wait_until(lk, *deadline) == std::cv_status::no_timeout;
    lk.release();
    --waiters_;
    return ok;
  }

  std::mutex mu_;
  std::condition_variable cv_;  // signalled by Unlock() when waiters_ > 0
  int waiters_ = 0;             // guarded by mu_
};

class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

class CondVar {
 public:
  // Atomically releases *mu and waits; re-acquires before returning. Spurious wakeups happen:
  // wait in a loop on the condition.
  void Wait(Mutex* mu) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::unique_lock<std::mutex> lk(mu->mu_, std::adopt_lock);
    cv_.wait(lk);
    lk.release();
  }
  // As Wait, for at most `timeout`. Returns true on timeout.
  bool WaitWithTimeout(Mutex* mu, std::chrono::nanoseconds timeout)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::unique_lock<std::mutex> lk(mu->mu_, std::adopt_lock);
    bool timed_out = cv_.wait_for(lk, timeout) == std::cv_status::timeout;
    lk.release();
    return timed_out;
  }
  void Signal() { cv_.notify_one(); }
  void SignalAll() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

}  // namespace kvstash

#endif  // KVSTASH_COMMON_MUTEX_H_
