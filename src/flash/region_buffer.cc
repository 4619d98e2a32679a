#include "flash/region_buffer.h"

#include <sys/mman.h>

#include <bit>
#include <cstring>
#include <utility>

namespace kvstash {
namespace {

constexpr uint64_t kPage = 4096;

int SizeClass(uint64_t bytes) {
  uint64_t rounded = std::bit_ceil(bytes < kPage ? kPage : bytes);
  return std::countr_zero(rounded) - std::countr_zero(kPage);
}

}  // namespace

Result<AlignedBuffer> AlignedBuffer::Create(uint64_t bytes) {
  bytes = (bytes + kPage - 1) / kPage * kPage;
  if (bytes == 0) bytes = kPage;
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    return Status::ResourceExhausted("mmap of " + std::to_string(bytes) + " bytes failed");
  }
  // Large buffers (region write buffers) benefit from transparent huge pages; advisory only.
  if (bytes >= (2u << 20)) madvise(p, bytes, MADV_HUGEPAGE);
  // Fault the pages in now (after the huge-page advice), not on the data path.
  std::memset(p, 0, bytes);
  AlignedBuffer b;
  b.data_ = static_cast<std::byte*>(p);
  b.size_ = bytes;
  return b;
}

AlignedBuffer& AlignedBuffer::operator=(AlignedBuffer&& o) noexcept {
  if (this != &o) {
    if (data_ != nullptr) munmap(data_, size_);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
  }
  return *this;
}

AlignedBuffer::~AlignedBuffer() {
  if (data_ != nullptr) munmap(data_, size_);
}

Bounce& Bounce::operator=(Bounce&& o) noexcept {
  if (this != &o) {
    if (pool_ != nullptr) pool_->Release(std::move(buf_));
    pool_ = std::exchange(o.pool_, nullptr);
    buf_ = std::move(o.buf_);
    bytes_ = std::exchange(o.bytes_, 0);
  }
  return *this;
}

Bounce::~Bounce() {
  if (pool_ != nullptr) pool_->Release(std::move(buf_));
}

Result<Bounce> BouncePool::Acquire(uint64_t bytes) {
  int cls = SizeClass(bytes);
  if (cls >= kClasses) return Status::InvalidArgument("bounce buffer too large");
  Bounce b;
  b.pool_ = this;
  b.bytes_ = bytes;
  {
    MutexLock lock(&mu_);
    if (!free_[cls].empty()) {
      b.buf_ = std::move(free_[cls].back());
      free_[cls].pop_back();
      cached_bytes_ -= b.buf_.size();
      return b;
    }
  }
  KVSTASH_ASSIGN_OR_RETURN(b.buf_, AlignedBuffer::Create(kPage << cls));
  return b;
}

void BouncePool::Release(AlignedBuffer buf) {
  if (buf.data() == nullptr) return;
  int cls = SizeClass(buf.size());
  MutexLock lock(&mu_);
  if (cached_bytes_ + buf.size() > max_cached_bytes_) return;  // unmapped by ~AlignedBuffer
  cached_bytes_ += buf.size();
  free_[cls].push_back(std::move(buf));
}

uint64_t BouncePool::cached_bytes() const {
  MutexLock lock(&mu_);
  return cached_bytes_;
}

}  // namespace kvstash
