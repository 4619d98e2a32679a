// ProgressBar: a one-line progress display on stderr, redrawn every 100 ms by its own thread,
// only when stderr is a terminal (so logs and CI output stay clean).
//
//   ProgressBar bar("get", total_blocks, block_bytes);
//   bar.Add(n);   // from any thread
//   bar.Finish(); // or destroy it
//
// Thread safety: Add() from any thread; constructor/Finish/destructor from the owner.
#ifndef KVSTASH_TOOLS_CLI_PROGRESS_H_
#define KVSTASH_TOOLS_CLI_PROGRESS_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace kvstash {

class ProgressBar {
 public:
  // `unit_bytes` (bytes per unit of progress) turns the rate into GB/s; 0 shows units/s.
  ProgressBar(std::string label, uint64_t total, uint64_t unit_bytes);
  ~ProgressBar() { Finish(); }
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  void Add(uint64_t n) { done_.fetch_add(n, std::memory_order_relaxed); }
  // Draws the final state, ends the line and stops the thread. Idempotent.
  void Finish();

  // True when stderr is a terminal (the bar draws nothing otherwise).
  static bool Enabled();

 private:
  void Draw(bool final) const;
  void Loop();

  const std::string label_;
  const uint64_t total_;
  const uint64_t unit_bytes_;
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::atomic<uint64_t> done_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace kvstash

#endif  // KVSTASH_TOOLS_CLI_PROGRESS_H_
