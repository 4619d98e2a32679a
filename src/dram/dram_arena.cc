#include "dram/dram_arena.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "common/errno.h"
#include "common/populate.h"

namespace kvstash {
namespace {
constexpr uint64_t kHugePage = 2ull << 20;
}  // namespace

Result<std::unique_ptr<DramArena>> DramArena::Create(uint64_t bytes, bool try_hugepages,
                                                     bool prefault) {
  if (bytes == 0) return Status::InvalidArgument("DRAM arena size must be > 0");
  uint64_t size = (bytes + kHugePage - 1) / kHugePage * kHugePage;
  void* p = MAP_FAILED;
  PageBacking backing = PageBacking::kSmall;
  const int populate = prefault ? MAP_POPULATE : 0;
  if (try_hugepages) {
    p = mmap(nullptr, size, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | populate, -1, 0);
    if (p != MAP_FAILED) backing = PageBacking::kHugeTlb;
  }
  if (p == MAP_FAILED) {
    p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
             0);
    if (p == MAP_FAILED) return ErrnoToStatus(errno, "mmap DRAM arena");
    if (try_hugepages && madvise(p, size, MADV_HUGEPAGE) == 0) {
      backing = PageBacking::kTransparentHuge;
    }
    // Populate after the THP advice so the kernel can back the arena with huge pages.
    if (prefault) PopulateWrite(static_cast<std::byte*>(p), size);
  }
  return std::unique_ptr<DramArena>(new DramArena(static_cast<std::byte*>(p), size, backing));
}

Result<std::unique_ptr<DramArena>> DramArena::Adopt(ArenaMemory memory, bool prefault) {
  if (memory.base == nullptr || memory.size == 0 || !memory.release) {
    return Status::InvalidArgument("adopted arena memory is empty or has no release");
  }
  if (prefault) PopulateWrite(memory.base, memory.size);  // keeps every byte
  return std::unique_ptr<DramArena>(
      new DramArena(memory.base, memory.size, memory.backing, std::move(memory.release)));
}

DramArena::~DramArena() {
  if (release_) {
    release_();
  } else {
    munmap(base_, size_);
  }
}

std::span<std::byte> DramArena::At(ArenaOffset offset, uint64_t len) const {
  if (offset.value() > size_ || len > size_ - offset.value()) {
    std::fprintf(stderr, "kvstash: arena access out of range (%llu+%llu > %llu)\n",
                 static_cast<unsigned long long>(offset.value()),
                 static_cast<unsigned long long>(len), static_cast<unsigned long long>(size_));
    std::abort();
  }
  return {base_ + offset.value(), len};
}

}  // namespace kvstash
