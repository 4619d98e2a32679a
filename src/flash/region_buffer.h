// Aligned I/O memory for the region store: AlignedBuffer (one mmap'ed, 4 KiB-aligned block, as
// O_DIRECT needs) and BouncePool (reusable read bounce buffers, so the read path does not map
// and fault in fresh pages per read).
//
// The memory is long-lived by design: it is what a transport would register once (docs/ARCHITECTURE.md
// §4: "registered bounce memory"); buffers are recycled, never freed per I/O.
//
// Thread safety: AlignedBuffer is a plain owned value (not synchronized). BouncePool is safe for
// concurrent use; a Bounce handle is owned by one thread at a time.
#ifndef KVSTASH_FLASH_REGION_BUFFER_H_
#define KVSTASH_FLASH_REGION_BUFFER_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "common/mutex.h"
#include "kvstash/status.h"

namespace kvstash {

// Page-aligned anonymous memory, zero-filled at creation, unmapped on destruction. Move-only.
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  // ResourceExhausted if the memory cannot be mapped. `bytes` is rounded up to 4 KiB.
  static Result<AlignedBuffer> Create(uint64_t bytes);
  AlignedBuffer(AlignedBuffer&& o) noexcept { *this = std::move(o); }
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept;
  ~AlignedBuffer();

  std::byte* data() const { return data_; }
  uint64_t size() const { return size_; }
  std::span<std::byte> span() const { return {data_, size_}; }

 private:
  std::byte* data_ = nullptr;
  uint64_t size_ = 0;
};

class BouncePool;

// A bounce buffer lent by a BouncePool; returned to it on destruction. Move-only. Must not
// outlive the pool.
class Bounce {
 public:
  Bounce() = default;
  Bounce(Bounce&& o) noexcept { *this = std::move(o); }
  Bounce& operator=(Bounce&& o) noexcept;
  ~Bounce();
  // The first `bytes` asked for (4 KiB aligned start; the capacity may be larger).
  std::span<std::byte> span() const { return {buf_.data(), bytes_}; }

 private:
  friend class BouncePool;
  BouncePool* pool_ = nullptr;
  AlignedBuffer buf_;
  uint64_t bytes_ = 0;
};

// Size-classed cache of AlignedBuffers (powers of two from 4 KiB). Acquire reuses a cached
// buffer of the right class or maps a new one; release keeps at most `max_cached_bytes` in the
// cache and unmaps the rest.
class BouncePool {
 public:
  explicit BouncePool(uint64_t max_cached_bytes) : max_cached_bytes_(max_cached_bytes) {}
  BouncePool(const BouncePool&) = delete;
  BouncePool& operator=(const BouncePool&) = delete;

  // ResourceExhausted if memory cannot be mapped.
  Result<Bounce> Acquire(uint64_t bytes);
  uint64_t cached_bytes() const;

 private:
  friend class Bounce;
  static constexpr int kClasses = 40;
  void Release(AlignedBuffer buf);

  const uint64_t max_cached_bytes_;
  mutable Mutex mu_;
  std::vector<AlignedBuffer> free_[kClasses] ABSL_GUARDED_BY(mu_);
  uint64_t cached_bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace kvstash

#endif  // KVSTASH_FLASH_REGION_BUFFER_H_
