// FlashReader: the reader threads of one server worker. The worker's event loop never blocks
// on flash: it hands each Get's flash hits (a Job: pins and bounce destinations) to these
// threads, which run BlockStore::ReadIntoV and hand the Job back; the worker then writes the
// blocks to the clients (UCX calls stay on the worker's thread).
//
// Why threads doing blocking batched reads (CacheLib Navy's reader threads) rather than an
// io_uring ring polled by the worker itself: the verified read path (entry header, key,
// generation and XXH3 checks, index drop on failure, counters) lives in the engine behind a
// synchronous Device/RegionStore::ReadV, and an I/O that completes on a ring the worker would
// have to poll alongside the UCX event fd would duplicate all of it. A reader's ReadIntoV still
// keeps a whole batch in flight on its own io_uring ring, and several readers run at once, so
// the device sees the queue depth the clients offer.
//
// Batching: an idle reader takes its fair share of the queued Jobs (queued / idle readers,
// rounded up; at most kMaxBatchKeys keys unless a single Job is larger) and reads them with one
// ReadIntoV per store. Single-key Gets of many connections thus reach the device together
// instead of one read per thread.
//
// Thread safety: Submit, TakeDone, has_done and Stop may be called from any thread (in
// practice the owning worker's). `on_done` runs on a reader thread, holding no lock.
#ifndef KVSTASH_NET_SERVER_FLASH_READER_H_
#define KVSTASH_NET_SERVER_FLASH_READER_H_

#include <atomic>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "common/mutex.h"
#include "engine/block_store.h"
#include "kvstash/status.h"

namespace kvstash::net {

class FlashReader {
 public:
  static constexpr size_t kMaxBatchKeys = 128;

  // The flash hits of one Get (or of one chunk of it). The reader releases the pins as soon
  // as their blocks are read: from then on the bytes live in `dests`. A flash region pinned
  // across the write to the client and the flush would hold up the flash appender, and the
  // appender can be the worker thread itself (Allocate reclaims DRAM inline), which would
  // then wait for pins that only it releases. The submitter owns the destination memory and
  // must not touch it until the Job comes back from TakeDone().
  //
  // A submitter derives from Job to carry its own context (the server worker's ChunkRead
  // holds the chunk the Job reads for) and gets the same object back. The reader threads
  // never create, copy or destroy a Job: that happens on the submitter's thread (or in
  // ~FlashReader), so a derived Job may hold references that are not thread-safe.
  struct Job {
    virtual ~Job() = default;
    BlockStore* store = nullptr;
    std::vector<BlockPin> pins;  // empty when the Job comes back
    std::vector<std::span<std::byte>> dests;
    std::vector<Status> results;  // one per dest, set by the reader (Unavailable if stopped)
    size_t size() const { return dests.size(); }
  };

  // Starts `threads` (>= 1) readers. `on_done` is called after Jobs were finished (to wake the
  // owner, e.g. UcxWorker::Signal); it must be thread-safe and must not call back into this.
  FlashReader(uint32_t threads, std::function<void()> on_done);
  // Stop().
  ~FlashReader();
  FlashReader(const FlashReader&) = delete;
  FlashReader& operator=(const FlashReader&) = delete;

  // Queues `job`. After Stop(), the job is finished at once with Unavailable.
  void Submit(std::unique_ptr<Job> job);
  // The finished Jobs, oldest first.
  std::vector<std::unique_ptr<Job>> TakeDone();
  bool has_done() const { return has_done_.load(std::memory_order_acquire); }
  // Jobs submitted and not yet taken back with TakeDone().
  size_t outstanding() const { return outstanding_.load(std::memory_order_relaxed); }

  // Queued Jobs finish with Unavailable at once; reads already running complete; then the
  // threads are joined. Idempotent.
  void Stop();

 private:
  void Loop();
  // Takes this reader's share of the queue into `batch`.
  void TakeShare(std::vector<std::unique_ptr<Job>>* batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static void Read(std::span<const std::unique_ptr<Job>> batch);
  void Finish(std::vector<std::unique_ptr<Job>>* jobs) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::function<void()> on_done_;
  Mutex mu_;
  CondVar cv_;
  std::deque<std::unique_ptr<Job>> queue_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<Job>> done_ ABSL_GUARDED_BY(mu_);
  uint32_t idle_ ABSL_GUARDED_BY(mu_) = 0;     // readers waiting for work
  CondVar started_;                            // a reader became idle, while starting_
  bool starting_ ABSL_GUARDED_BY(mu_) = true;  // the constructor waits for every reader
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<bool> has_done_{false};
  std::atomic<size_t> outstanding_{0};
  std::vector<std::thread> threads_;  // owner's thread only (constructor, Stop)
};

}  // namespace kvstash::net

#endif  // KVSTASH_NET_SERVER_FLASH_READER_H_
