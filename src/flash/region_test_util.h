// Test helpers for the region store tests: deterministic values and a recorder for the drop
// callback. Included by region_*_test.cc only.
#ifndef KVSTASH_FLASH_REGION_TEST_UTIL_H_
#define KVSTASH_FLASH_REGION_TEST_UTIL_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "common/checksum.h"
#include "common/mutex.h"
#include "flash/region_store.h"

namespace kvstash::testing {

inline std::vector<std::byte> MakeValue(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::byte> v(n);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t x = rng();
    std::memcpy(v.data() + i, &x, 8);
  }
  for (; i < n; ++i) v[i] = std::byte(rng() & 0xff);
  return v;
}

inline std::string KeyOf(int i) { return "model@0@0@" + std::to_string(i) + "@bf16"; }

// One entry the test appended and expects to read back.
struct Stored {
  std::string key;
  NamespaceId ns = 0;
  std::vector<std::byte> value;
  FlashLocation loc;
};

// Thread-safe record of every on_drop call.
class DropRecorder {
 public:
  struct Drop {
    NamespaceId ns;
    std::string key;
    FlashLocation loc;
    DropReason reason;
  };
  DropCallback Callback() {
    return [this](const DroppedEntry& e) {
      MutexLock lock(&mu_);
      drops_.push_back(Drop{e.ns, std::string(e.key), e.location, e.reason});
    };
  }
  std::vector<Drop> drops() const {
    MutexLock lock(&mu_);
    return drops_;
  }
  void clear() {
    MutexLock lock(&mu_);
    drops_.clear();
  }

 private:
  mutable Mutex mu_;
  std::vector<Drop> drops_;
};

// Appends `value` under `key`, computing the checksum as the owner would.
inline Result<FlashLocation> AppendValue(RegionStore& store, NamespaceId ns, const std::string& key,
                                         const std::vector<std::byte>& value) {
  return store.Append(ns, key, value, ComputeChecksum(value));
}

// Reads `s` back and compares every byte. Returns the read status (OK only if equal).
inline Status ReadBack(RegionStore& store, const Stored& s) {
  std::vector<std::byte> out(s.value.size() + 7, std::byte{0xEE});
  Status st = store.Read(s.loc, s.ns, s.key, out);
  if (!st.ok()) return st;
  if (std::memcmp(out.data(), s.value.data(), s.value.size()) != 0) {
    return Status::Internal("read returned different bytes");
  }
  return Status::Ok();
}

}  // namespace kvstash::testing

#endif  // KVSTASH_FLASH_REGION_TEST_UTIL_H_
