#include "tools/bench/cli_progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace kvstash {

ProgressBar::ProgressBar(std::string label, uint64_t total, uint64_t unit_bytes)
    : label_(std::move(label)), total_(total), unit_bytes_(unit_bytes) {
  if (Enabled()) thread_ = std::thread([this] { Loop(); });
}

bool ProgressBar::Enabled() { return ::isatty(STDERR_FILENO) == 1; }

void ProgressBar::Finish() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  Draw(true);
}

void ProgressBar::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!cv_.wait_for(lock, std::chrono::milliseconds(100), [this] { return stop_; })) {
    Draw(false);
  }
}

void ProgressBar::Draw(bool final) const {
  constexpr int kWidth = 30;
  uint64_t done = std::min(done_.load(std::memory_order_relaxed), total_);
  double fraction = total_ == 0 ? 1.0 : static_cast<double>(done) / static_cast<double>(total_);
  int filled = static_cast<int>(fraction * kWidth);
  std::string bar(filled, '#');
  bar.resize(kWidth, ' ');
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double rate = secs > 0 ? static_cast<double>(done) / secs : 0;
  char speed[48];
  if (unit_bytes_ > 0) {
    std::snprintf(speed, sizeof(speed), "%.2f GB/s", rate * static_cast<double>(unit_bytes_) / 1e9);
  } else {
    std::snprintf(speed, sizeof(speed), "%.0f/s", rate);
  }
  std::fprintf(stderr, "\r%-8s [%s] %3.0f%% %llu/%llu %s%s", label_.c_str(), bar.c_str(),
               fraction * 100, static_cast<unsigned long long>(done),
               static_cast<unsigned long long>(total_), speed, final ? "\n" : "");
  std::fflush(stderr);
}

}  // namespace kvstash
