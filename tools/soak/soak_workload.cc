#include "tools/soak/soak_workload.h"

#include <functional>
#include <random>
#include <thread>

namespace kvstash {
namespace {

uint64_t Mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  return x ^ (x >> 33);
}

std::string Name(uint32_t slot, uint32_t version) {
  return "soak/" + std::to_string(slot) + "/" + std::to_string(version);
}

}  // namespace

Status SoakOptions::Validate() const {
  if (clients == 0 || clients > 1024) return Status::InvalidArgument("--clients must be 1..1024");
  if (duration.count() <= 0) return Status::InvalidArgument("--seconds must be > 0");
  if (slots == 0) return Status::InvalidArgument("--slots must be > 0");
  if (min_value_bytes == 0 || min_value_bytes > max_value_bytes) {
    return Status::InvalidArgument("value sizes: need 0 < min <= max");
  }
  return client.Validate();
}

std::vector<std::byte> SoakValue(const std::string& name, uint64_t min_bytes, uint64_t max_bytes) {
  uint64_t h = std::hash<std::string>()(name);
  uint64_t size = min_bytes + Mix(h) % (max_bytes - min_bytes + 1);
  std::vector<std::byte> out(size);
  uint64_t x = Mix(h + 1);
  for (size_t i = 0; i < size; i += 8) {
    x = Mix(x + i);
    for (size_t b = 0; b < 8 && i + b < size; ++b) out[i + b] = std::byte(x >> (8 * b));
  }
  return out;
}

SoakWorkload::SoakWorkload(SoakOptions options)
    : options_(std::move(options)), versions_(options_.slots) {}

bool SoakWorkload::Done() const {
  if (stop_.load(std::memory_order_relaxed)) return true;
  return options_.max_ops != 0 && counters_.ops.load(std::memory_order_relaxed) >= options_.max_ops;
}

void SoakWorkload::Run(const std::function<void()>& tick) {
  std::vector<std::thread> threads;
  for (uint32_t i = 0; i < options_.clients; ++i) threads.emplace_back([this, i] { Worker(i); });
  auto end = std::chrono::steady_clock::now() + options_.duration;
  while (std::chrono::steady_clock::now() < end && !Done()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    if (tick) tick();
  }
  stop_ = true;
  for (auto& t : threads) t.join();
}

void SoakWorkload::Worker(uint32_t id) {
  std::unique_ptr<Client> client;
  for (int attempt = 0; attempt < 50 && client == nullptr && !Done(); ++attempt) {
    auto c = Client::Connect(options_.client);
    if (c.ok()) {
      client = std::move(c).value();
    } else {
      counters_.connect_failures++;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  if (client == nullptr) return;
  std::mt19937_64 rng(Mix(options_.seed * 1000003 + id));
  std::vector<std::byte> buf(options_.max_value_bytes);
  auto reg = client->RegisterBuffer(buf.data(), buf.size());  // zero-copy Gets
  while (!Done()) OneOp(*client, rng(), buf);
}

void SoakWorkload::OneOp(Client& c, uint64_t rnd, std::vector<std::byte>& buf) {
  uint32_t slot = static_cast<uint32_t>((rnd >> 8) % options_.slots);
  uint32_t kind = rnd % 100;
  uint32_t newest = versions_[slot].load(std::memory_order_acquire);
  Status s;
  if (kind < 25) {  // put the next version
    uint32_t v = versions_[slot].fetch_add(1, std::memory_order_acq_rel) + 1;
    std::string name = Name(slot, v);
    s = c.Put(name, SoakValue(name, options_.min_value_bytes, options_.max_value_bytes));
    counters_.puts++;
  } else if (kind < 65) {  // get the newest version and verify every byte
    std::string name = Name(slot, newest);
    auto got = c.Get(name, buf);
    s = got.status();
    if (got.ok()) {
      auto want = SoakValue(name, options_.min_value_bytes, options_.max_value_bytes);
      bool same = *got == want.size() && std::equal(want.begin(), want.end(), buf.begin());
      if (!same) counters_.wrong_data++;
      counters_.verified_bytes += *got;
    }
    counters_.gets++;
  } else if (kind < 85) {
    s = c.Exists(Name(slot, newest)).status();
    counters_.exists++;
  } else {  // delete an older version (or the newest when it is the first)
    uint32_t v = newest > 1 ? newest - 1 - (rnd >> 40) % std::min<uint32_t>(newest - 1, 4) : newest;
    s = c.Delete(Name(slot, v));
    counters_.deletes++;
  }
  counters_.ops++;
  auto code = static_cast<size_t>(s.code());
  if (code < SoakCounters::kCodes) counters_.by_code[code]++;
  if (s.code() == StatusCode::kUnavailable || s.code() == StatusCode::kTimeout) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // reconnects lazily
  }
}

}  // namespace kvstash
