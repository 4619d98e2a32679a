#include "net/server/server_bounce_arena.h"

#include <sys/mman.h>

#include <cerrno>
#include <iterator>
#include <string>

#include "common/errno.h"

namespace kvstash::net {

Result<std::unique_ptr<BounceArena>> BounceArena::Create(UcxContext& context, uint64_t bytes) {
  if (bytes == 0) return Status::InvalidArgument("empty bounce arena");
  std::unique_ptr<BounceArena> a(new BounceArena());
  uint64_t size = RoundUp(bytes);
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    return ErrnoToStatus(errno, "mmap of " + std::to_string(size) + " bounce bytes");
  }
  a->base_ = static_cast<std::byte*>(p);
  a->size_ = size;
  KVSTASH_ASSIGN_OR_RETURN(a->registration_, UcxMemory::Map(context, a->base_, a->size_));
  a->free_[0] = a->size_;
  a->free_bytes_ = a->size_;
  return a;
}

BounceArena::~BounceArena() {
  registration_.reset();  // before the memory goes
  if (base_ != nullptr) munmap(base_, size_);
}

std::optional<BounceArena::Slice> BounceArena::Allocate(uint64_t bytes) {
  bytes = RoundUp(bytes == 0 ? 1 : bytes);
  if (bytes > free_bytes_) return std::nullopt;
  for (auto it = free_.begin(); it != free_.end(); ++it) {
    if (it->second < bytes) continue;
    Slice s{it->first, bytes};
    uint64_t rest = it->second - bytes;
    free_.erase(it);
    if (rest > 0) free_[s.offset + bytes] = rest;
    free_bytes_ -= bytes;
    return s;
  }
  return std::nullopt;
}

void BounceArena::Free(Slice slice) {
  if (slice.bytes == 0) return;
  free_bytes_ += slice.bytes;
  auto next = free_.lower_bound(slice.offset);
  uint64_t offset = slice.offset, length = slice.bytes;
  if (next != free_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second == offset) {  // merge with the range before
      offset = prev->first;
      length += prev->second;
      free_.erase(prev);
    }
  }
  if (next != free_.end() && slice.offset + slice.bytes == next->first) {  // and after
    length += next->second;
    free_.erase(next);
  }
  free_[offset] = length;
}

}  // namespace kvstash::net
