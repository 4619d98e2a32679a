#include "net/server/server_flash_reader.h"

#include <algorithm>

namespace kvstash::net {
namespace {

void Cancel(FlashReader::Job& job) {
  job.results.assign(job.size(), Status::Unavailable("server is stopping"));
  job.pins.clear();
}

}  // namespace

FlashReader::FlashReader(uint32_t threads, std::function<void()> on_done)
    : on_done_(std::move(on_done)) {
  const uint32_t n = std::max<uint32_t>(threads, 1);
  for (uint32_t i = 0; i < n; ++i) threads_.emplace_back([this] { Loop(); });
  // Every reader waits for work before the first Submit: TakeShare splits the queue among the
  // idle readers, so a reader that started alone would otherwise take all of it.
  MutexLock lock(&mu_);
  while (idle_ < n) started_.Wait(&mu_);
  starting_ = false;
}

FlashReader::~FlashReader() { Stop(); }

void FlashReader::Submit(std::unique_ptr<Job> job) {
  outstanding_.fetch_add(1, std::memory_order_relaxed);
  bool stopped;
  {
    MutexLock lock(&mu_);
    stopped = stopping_;
    if (stopped) {
      Cancel(*job);
      std::vector<std::unique_ptr<Job>> one;
      one.push_back(std::move(job));
      Finish(&one);
    } else {
      queue_.push_back(std::move(job));
      if (idle_ > 0) cv_.Signal();
    }
  }
  if (stopped) on_done_();
}

std::vector<std::unique_ptr<FlashReader::Job>> FlashReader::TakeDone() {
  std::vector<std::unique_ptr<Job>> out;
  MutexLock lock(&mu_);
  out.swap(done_);
  has_done_.store(false, std::memory_order_release);
  outstanding_.fetch_sub(out.size(), std::memory_order_relaxed);
  return out;
}

void FlashReader::Stop() {
  {
    MutexLock lock(&mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
    std::vector<std::unique_ptr<Job>> cancelled;
    for (auto& job : queue_) {
      Cancel(*job);
      cancelled.push_back(std::move(job));
    }
    queue_.clear();
    Finish(&cancelled);
    cv_.SignalAll();
  }
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  on_done_();
}

void FlashReader::Loop() {
  std::vector<std::unique_ptr<Job>> batch;
  while (true) {
    {
      MutexLock lock(&mu_);
      ++idle_;
      if (starting_) started_.Signal();
      while (queue_.empty() && !stopping_) cv_.Wait(&mu_);
      --idle_;
      if (queue_.empty()) return;  // stopping, nothing left to read
      TakeShare(&batch);
    }
    Read(batch);
    {
      MutexLock lock(&mu_);
      Finish(&batch);
    }
    on_done_();
  }
}

void FlashReader::TakeShare(std::vector<std::unique_ptr<Job>>* batch) {
  // ceil(queued / (idle + me)): the other idle readers get the rest.
  size_t share = (queue_.size() + idle_) / (idle_ + 1);
  size_t keys = 0;
  while (!queue_.empty() && batch->size() < share) {
    size_t n = queue_.front()->size();
    if (!batch->empty() && keys + n > kMaxBatchKeys) break;
    keys += n;
    batch->push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  if (!queue_.empty() && idle_ > 0) cv_.Signal();
}

// One ReadIntoV per store in the batch (jobs of different tenants may share a reader).
void FlashReader::Read(std::span<const std::unique_ptr<Job>> batch) {
  std::vector<bool> read(batch.size(), false);
  std::vector<const BlockPin*> pins;
  std::vector<std::span<std::byte>> dests;
  std::vector<Status> results;
  for (size_t first = 0; first < batch.size(); ++first) {
    if (read[first]) continue;
    BlockStore* store = batch[first]->store;
    pins.clear();
    dests.clear();
    for (size_t i = first; i < batch.size(); ++i) {
      if (read[i] || batch[i]->store != store) continue;
      for (const BlockPin& pin : batch[i]->pins) pins.push_back(&pin);
      dests.insert(dests.end(), batch[i]->dests.begin(), batch[i]->dests.end());
    }
    results.assign(pins.size(), Status::Ok());
    (void)store->ReadIntoV(pins, dests, results);  // per-item results below
    size_t at = 0;
    for (size_t i = first; i < batch.size(); ++i) {
      if (read[i] || batch[i]->store != store) continue;
      Job& job = *batch[i];
      job.results.assign(results.begin() + at, results.begin() + at + job.size());
      at += job.size();
      job.pins.clear();  // read: the bytes are in dests now
      read[i] = true;
    }
  }
}

void FlashReader::Finish(std::vector<std::unique_ptr<Job>>* jobs) {
  for (auto& job : *jobs) done_.push_back(std::move(job));
  jobs->clear();
  if (!done_.empty()) has_done_.store(true, std::memory_order_release);
}

}  // namespace kvstash::net
