// kvstash_client.AsyncStore: LMCache's native connector contract (IStorageConnector) over
// kvstash clients (one kvstashd or a cluster: Backend), so that LMCache's `native_plugin` L2
// adapter loads it as it is.
//
//   id = submit_batch_get/set/exists/delete(...)   returns at once
//   event_fd() becomes readable when completions are ready
//   drain_completions() -> [(id, ok, error, per-key bools)]
//
// Work runs on `num_workers` threads, each with its own Backend, so its own connection to
// each server (a kvstash::Client serializes calls on one). A get/set batch larger than
// kTileBytes is cut into up to one tile per worker, so a large batch moves over all
// connections at once; exists and delete go whole. With a cluster, each worker's
// ClusterClient splits its tile by owner again, and a down node's keys are misses.
// Per-key results: get = the block was read whole into its buffer (a miss, an error or a
// size other than the buffer's is false); set = stored, or already present (blocks are
// write-once, so the bytes are there); exists = present; delete = deleted.
// `ok` is false when the batch failed as a whole (connection lost, closed) or, for set,
// when any key was not stored; `error` then names the first cause.
//
// Thread safety: submissions and drains may come from any threads. close() fails what has
// not run, waits for what runs, and is idempotent. Buffers must stay valid until their
// completion is drained (the Python layer holds them).
#ifndef KVSTASH_PYTHON_ASYNC_STORE_H_
#define KVSTASH_PYTHON_ASYNC_STORE_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "backend.h"
#include "kvstash/client.h"

namespace kvstash::python {

enum class AsyncOp { kGet, kSet, kExists, kDelete };

struct Completion {
  uint64_t future_id = 0;
  bool ok = true;
  std::string error;
  std::vector<uint8_t> results;  // one 0/1 per key
};

class AsyncStore {
 public:
  static constexpr size_t kTileBytes = 4ull << 20;

  // Connects every worker's backend. Errors: those of Backend::Connect.
  static Result<std::unique_ptr<AsyncStore>> Create(const ClientOptions& options, int num_workers);
  ~AsyncStore();

  int event_fd() const { return event_fd_; }
  // `buffers` is empty for exists and delete; else one per key. Never blocks on the network.
  uint64_t Submit(AsyncOp op, std::vector<std::string> keys,
                  std::vector<std::span<std::byte>> buffers);
  // A batch that failed before it could be submitted (a buffer that did not resolve): its
  // completion, not ok and with `why`, is ready at once.
  uint64_t SubmitFailed(AsyncOp op, size_t keys, const Status& why);
  // Everything completed since the last drain; resets the eventfd.
  std::vector<Completion> Drain();
  // Counters of the workers' clients, summed ("client.*", and a cluster's per node
  // "<node>/client.*"), the others (server, store, cluster) from the first worker, and this
  // layer's ("async.*").
  Result<std::map<std::string, uint64_t>> Stats();
  void Close();

 private:
  struct Batch;
  struct Tile {
    std::shared_ptr<Batch> batch;
    size_t begin = 0, end = 0;
  };
  AsyncStore(int event_fd, int num_workers) : event_fd_(event_fd), num_workers_(num_workers) {}
  void WorkerLoop(Backend& backend);
  void Run(Backend& backend, const Tile& tile);
  void Finish(Batch& batch);

  const int event_fd_;
  const size_t num_workers_;                        // tiles per batch at most
  std::mutex backends_mu_;                          // Stats() against Close()
  std::vector<std::unique_ptr<Backend>> backends_;  // under backends_mu_ once workers run
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Tile> queue_;            // under mu_
  std::vector<Completion> done_;      // under mu_
  bool stopping_ = false;             // under mu_
  std::atomic<uint64_t> next_id_{1};  // 0 is never a future id
  std::atomic<uint64_t> batches_{0}, keys_{0}, failed_keys_{0}, bytes_{0};
};

}  // namespace kvstash::python

#endif  // KVSTASH_PYTHON_ASYNC_STORE_H_
