#include "async_store.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <map>

namespace kvstash::python {

struct AsyncStore::Batch {
  uint64_t id = 0;
  AsyncOp op = AsyncOp::kGet;
  std::vector<std::string> keys;
  std::vector<std::span<std::byte>> buffers;
  std::vector<uint8_t> results;  // written by disjoint tiles
  std::atomic<size_t> tiles_left{0};
  std::mutex error_mu;
  std::string error;  // first failure of the batch as a whole
  std::atomic<bool> whole_failed{false};

  void Fail(const Status& s) {
    std::lock_guard lock(error_mu);
    whole_failed = true;
    if (error.empty()) error = s.ToString();
  }
  void Note(const Status& s) {  // a per-key failure: named only if nothing worse was
    std::lock_guard lock(error_mu);
    if (error.empty()) error = s.ToString();
  }
};

Result<std::unique_ptr<AsyncStore>> AsyncStore::Create(const ClientOptions& options,
                                                       int num_workers) {
  if (num_workers < 1 || num_workers > 64) {
    return Status::InvalidArgument("num_workers must be in [1, 64]");
  }
  int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) return Status::Internal("eventfd failed");
  std::unique_ptr<AsyncStore> store(new AsyncStore(fd, num_workers));
  for (int i = 0; i < num_workers; ++i) {
    KVSTASH_ASSIGN_OR_RETURN(auto backend, Backend::Connect(options));
    store->backends_.push_back(std::move(backend));
  }
  for (auto& b : store->backends_) {
    store->workers_.emplace_back([s = store.get(), b = b.get()] { s->WorkerLoop(*b); });
  }
  return store;
}

AsyncStore::~AsyncStore() {
  Close();
  ::close(event_fd_);
}

uint64_t AsyncStore::SubmitFailed(AsyncOp op, size_t keys, const Status& why) {
  auto batch = std::make_shared<Batch>();
  batch->id = next_id_.fetch_add(1);
  batch->op = op;
  batch->results.assign(keys, 0);
  batch->Fail(why);
  batches_++;
  keys_ += keys;
  Finish(*batch);
  return batch->id;
}

uint64_t AsyncStore::Submit(AsyncOp op, std::vector<std::string> keys,
                            std::vector<std::span<std::byte>> buffers) {
  auto batch = std::make_shared<Batch>();
  batch->id = next_id_.fetch_add(1);
  batch->op = op;
  batch->keys = std::move(keys);
  batch->buffers = std::move(buffers);
  size_t n = batch->keys.size();
  batch->results.assign(n, 0);
  batches_++;
  keys_ += n;

  size_t bytes = 0;
  for (auto b : batch->buffers) bytes += b.size();
  size_t tiles = 1;
  if (op == AsyncOp::kGet || op == AsyncOp::kSet) {
    tiles = std::clamp<size_t>(bytes / kTileBytes, 1, num_workers_);
    tiles = std::min(tiles, std::max<size_t>(1, n));
  }
  batch->tiles_left = tiles;
  {
    std::lock_guard lock(mu_);
    if (stopping_ || n == 0) {
      if (n == 0) {
        batch->tiles_left = 0;
      } else {
        batch->Fail(Status::Unavailable("the AsyncStore is closed"));
        batch->tiles_left = 0;
      }
    } else {
      for (size_t t = 0; t < tiles; ++t) {
        queue_.push_back({batch, n * t / tiles, n * (t + 1) / tiles});
      }
    }
  }
  if (batch->tiles_left == 0) {
    Finish(*batch);
  } else {
    wake_.notify_all();
  }
  return batch->id;
}

void AsyncStore::WorkerLoop(Backend& backend) {
  for (;;) {
    Tile tile;
    {
      std::unique_lock lock(mu_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and nothing left to run
      tile = std::move(queue_.front());
      queue_.pop_front();
      if (stopping_) {
        tile.batch->Fail(Status::Unavailable("the AsyncStore closed before this batch ran"));
      }
    }
    if (!tile.batch->whole_failed) Run(backend, tile);
    if (tile.batch->tiles_left.fetch_sub(1) == 1) Finish(*tile.batch);
  }
}

void AsyncStore::Run(Backend& backend, const Tile& tile) {
  Batch& b = *tile.batch;
  size_t n = tile.end - tile.begin;
  std::vector<std::string_view> keys(b.keys.begin() + tile.begin, b.keys.begin() + tile.end);
  auto per_key = [&](size_t j, const Status& s, bool value) {
    b.results[tile.begin + j] = value ? 1 : 0;
    if (!s.ok() && s.code() != StatusCode::kNotFound) b.Note(s);
  };
  switch (b.op) {
    case AsyncOp::kGet: {
      std::vector<GetItem> items(n);
      for (size_t j = 0; j < n; ++j) items[j] = {keys[j], b.buffers[tile.begin + j]};
      auto r = backend.GetBatch(items);
      if (!r.ok()) return b.Fail(r.status());
      for (size_t j = 0; j < n; ++j) {
        const Result<size_t>& g = (*r)[j];
        bool whole = g.ok() && *g == items[j].dest.size();
        if (whole) bytes_ += *g;
        per_key(j,
                g.ok() && !whole ? Status::DataLoss("block size differs from the buffer's")
                                 : (g.ok() ? Status() : g.status()),
                whole);
      }
      return;
    }
    case AsyncOp::kSet: {
      std::vector<PutItem> items(n);
      for (size_t j = 0; j < n; ++j) items[j] = {keys[j], b.buffers[tile.begin + j]};
      auto r = backend.PutBatch(items);
      if (!r.ok()) return b.Fail(r.status());
      for (size_t j = 0; j < n; ++j) {
        const Status& s = (*r)[j];
        bool stored = s.ok() || s.code() == StatusCode::kAlreadyExists;
        if (s.ok()) bytes_ += items[j].value.size();
        per_key(j, stored ? Status() : s, stored);
      }
      return;
    }
    case AsyncOp::kExists: {
      auto r = backend.ExistsBatch(keys);
      if (!r.ok()) return b.Fail(r.status());
      for (size_t j = 0; j < n; ++j) per_key(j, Status(), (*r)[j]);
      return;
    }
    case AsyncOp::kDelete: {
      auto r = backend.DeleteBatch(keys);
      if (!r.ok()) return b.Fail(r.status());
      for (size_t j = 0; j < n; ++j) per_key(j, (*r)[j], (*r)[j].ok());
      return;
    }
  }
}

void AsyncStore::Finish(Batch& b) {
  Completion c;
  c.future_id = b.id;
  c.results = std::move(b.results);
  {
    std::lock_guard lock(b.error_mu);
    c.ok = !b.whole_failed;
    c.error = b.error;
  }
  if (b.op == AsyncOp::kSet && c.ok) {
    c.ok = std::all_of(c.results.begin(), c.results.end(), [](uint8_t v) { return v != 0; });
  }
  for (uint8_t v : c.results) failed_keys_ += v ? 0 : 1;
  {
    std::lock_guard lock(mu_);
    done_.push_back(std::move(c));
  }
  uint64_t one = 1;
  // The counter only saturates after 2^64-2 undrained completions: the write cannot fail.
  [[maybe_unused]] ssize_t w = ::write(event_fd_, &one, sizeof(one));
}

std::vector<Completion> AsyncStore::Drain() {
  uint64_t count = 0;
  [[maybe_unused]] ssize_t r = ::read(event_fd_, &count, sizeof(count));  // EAGAIN: none
  std::lock_guard lock(mu_);
  std::vector<Completion> out;
  out.swap(done_);
  return out;
}

Result<std::map<std::string, uint64_t>> AsyncStore::Stats() {
  std::map<std::string, uint64_t> out;
  std::lock_guard backends_lock(backends_mu_);
  if (backends_.empty()) return Status::Unavailable("the AsyncStore is closed");
  for (size_t i = 0; i < backends_.size(); ++i) {
    KVSTASH_ASSIGN_OR_RETURN(auto s, backends_[i]->Stats());
    for (auto& [k, v] : s) {
      if (k.starts_with("client.") || k.find("/client.") != std::string::npos) {
        out[k] += v;
      } else if (i == 0) {
        out[k] = v;
      }
    }
  }
  out["async.batches"] = batches_;
  out["async.keys"] = keys_;
  out["async.failed_keys"] = failed_keys_;
  out["async.bytes"] = bytes_;
  return out;
}

void AsyncStore::Close() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && workers_.empty()) return;
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
  std::lock_guard backends_lock(backends_mu_);
  backends_.clear();
}

}  // namespace kvstash::python
