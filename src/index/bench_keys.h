// Benchmark-only: the synthetic keys the index and engine benchmarks look up.
#ifndef KVSTASH_INDEX_BENCH_KEYS_H_
#define KVSTASH_INDEX_BENCH_KEYS_H_

#include <cstdint>
#include <cstring>
#include <string>

namespace kvstash::bench {

// LMCache-style key: model@world@worker@<chained hash>@dtype (55 bytes). Written into `out`
// without snprintf so the benchmark measures the index, not the formatter: on a server the
// key arrives in a message that is already in cache.
inline constexpr size_t kKeyLen = 55;
inline void WriteKey(uint64_t i, char* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::memcpy(out, "llama-3.1-70b@8@0@", 18);
  out[16] = static_cast<char>('0' + i % 8);
  uint64_t words[2] = {i * 0x9E3779B97F4A7C15ull, i};
  for (int w = 0; w < 2; ++w) {
    for (int d = 0; d < 16; ++d) out[18 + w * 16 + d] = kHex[(words[w] >> (60 - 4 * d)) & 15];
  }
  std::memcpy(out + 50, "@bf16", 5);
}
inline std::string MakeKey(uint64_t i) {
  std::string s(kKeyLen, '\0');
  WriteKey(i, s.data());
  return s;
}

}  // namespace kvstash::bench

#endif  // KVSTASH_INDEX_BENCH_KEYS_H_
