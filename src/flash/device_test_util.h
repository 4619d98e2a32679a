// Test helpers for flash device tests: aligned buffers with deterministic contents and a
// temporary directory. Included by *_test.cc only.
#ifndef KVSTASH_FLASH_DEVICE_TEST_UTIL_H_
#define KVSTASH_FLASH_DEVICE_TEST_UTIL_H_

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <span>
#include <string>

namespace kvstash::testing {

// An aligned, owned byte buffer (O_DIRECT needs aligned memory).
class AlignedBuffer {
 public:
  explicit AlignedBuffer(size_t size, size_t alignment = 4096)
      : size_(size),
        data_(static_cast<std::byte*>(std::aligned_alloc(alignment, RoundUp(size, alignment)))) {
    std::memset(data_.get(), 0, size_);
  }
  std::byte* data() { return data_.get(); }
  size_t size() const { return size_; }
  std::span<std::byte> span() { return {data_.get(), size_}; }
  std::span<std::byte> subspan(size_t off, size_t len) { return span().subspan(off, len); }
  // Fills with a deterministic pseudo-random pattern derived from `seed`.
  void Fill(uint64_t seed) {
    std::mt19937_64 rng(seed);
    for (size_t i = 0; i < size_; i += 8) {
      uint64_t v = rng();
      std::memcpy(data_.get() + i, &v, std::min<size_t>(8, size_ - i));
    }
  }
  bool IsZero() const {
    for (size_t i = 0; i < size_; ++i) {
      if (data_.get()[i] != std::byte{0}) return false;
    }
    return true;
  }
  bool SameAs(const AlignedBuffer& other) const {
    return size_ == other.size_ && std::memcmp(data_.get(), other.data_.get(), size_) == 0;
  }

 private:
  static size_t RoundUp(size_t n, size_t a) { return n == 0 ? a : (n + a - 1) / a * a; }
  struct Free {
    void operator()(std::byte* p) const { std::free(p); }
  };
  size_t size_;
  std::unique_ptr<std::byte, Free> data_;
};

// A fresh directory on the test machine's disk (not tmpfs, if TMPDIR is unset: O_DIRECT and
// punch hole need a real filesystem), removed with its contents on destruction.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base != nullptr ? base : "/var/tmp") + "/kvstash-flash-XXXXXX";
    path_ = mkdtemp(tmpl.data()) != nullptr ? tmpl : std::string();
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace kvstash::testing

#endif  // KVSTASH_FLASH_DEVICE_TEST_UTIL_H_
