// SoakWorkload: the client side of `kvstash-soak`. N client threads (each with its own Client,
// i.e. its own connection) run a mixed put/get/exists/delete load for a bounded time and op
// count, and verify every byte they read.
//
// Verifiability: a block's name is "soak/<slot>/<version>" and its size and bytes are a pure
// function of that name (SoakValue), so any reader can check any block it gets without
// coordination. Writers bump a slot's version and write the new name (keys are write-once);
// readers pick a slot and read its newest version; deleters remove an older version.
//
// Thread safety: Run() from one thread; it starts and joins its own workers.
#ifndef KVSTASH_TOOLS_SOAK_WORKLOAD_H_
#define KVSTASH_TOOLS_SOAK_WORKLOAD_H_

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "kvstash/client.h"
#include "kvstash/status.h"

namespace kvstash {

struct SoakOptions {
  ClientOptions client;                // server address, timeout, namespace, token
  uint32_t clients = 64;               // threads, one connection each
  std::chrono::seconds duration{30};   // stop after this...
  uint64_t max_ops = 0;                // ...or after this many ops in total (0: no cap)
  uint32_t slots = 4096;               // distinct logical keys
  uint64_t min_value_bytes = 4 << 10;  // value sizes are drawn from [min, max] per name
  uint64_t max_value_bytes = 256 << 10;
  uint64_t seed = 1;

  Status Validate() const;
};

// The deterministic value of a block name: size in [min, max] and content both derived from
// the name.
std::vector<std::byte> SoakValue(const std::string& name, uint64_t min_bytes, uint64_t max_bytes);

struct SoakCounters {
  static constexpr int kCodes = 13;  // StatusCode values 0..12
  std::atomic<uint64_t> ops{0}, puts{0}, gets{0}, exists{0}, deletes{0};
  std::atomic<uint64_t> verified_bytes{0};
  std::atomic<uint64_t> wrong_data{0};  // a Get that returned OK with bytes not of its name
  std::atomic<uint64_t> connect_failures{0};
  std::array<std::atomic<uint64_t>, kCodes> by_code{};  // outcome of every op, by status code
};

class SoakWorkload {
 public:
  explicit SoakWorkload(SoakOptions options);
  // Runs the load; returns when the time or op budget is spent. `tick` (may be empty) is
  // called about every 500 ms from this thread (e.g. to sample the server's RSS).
  void Run(const std::function<void()>& tick);
  const SoakCounters& counters() const { return counters_; }

 private:
  void Worker(uint32_t id);
  void OneOp(Client& c, uint64_t rnd, std::vector<std::byte>& buf);
  bool Done() const;

  const SoakOptions options_;
  SoakCounters counters_;
  std::vector<std::atomic<uint32_t>> versions_;  // newest written version per slot
  std::atomic<bool> stop_{false};
};

}  // namespace kvstash

#endif  // KVSTASH_TOOLS_SOAK_WORKLOAD_H_
