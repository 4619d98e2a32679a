#include "net/server/shared_arenas.h"

#include <spdlog/spdlog.h>
#include <sys/mman.h>

namespace kvstash::net {

Result<std::shared_ptr<SharedArenas>> SharedArenas::Create() {
  KVSTASH_ASSIGN_OR_RETURN(std::unique_ptr<UcxContext> context, UcxContext::Create());
  return std::shared_ptr<SharedArenas>(new SharedArenas(std::move(context)));
}

SharedArenas::~SharedArenas() {
  MutexLock lock(&mu_);
  if (!arenas_.empty()) spdlog::error("SharedArenas: {} arenas outlive it", arenas_.size());
  arenas_.clear();  // unregister before the context goes
}

ArenaAllocator SharedArenas::Allocator() {
  std::shared_ptr<SharedArenas> self = shared_from_this();
  return [self](uint64_t bytes) { return self->Allocate(bytes); };
}

Result<ArenaMemory> SharedArenas::Allocate(uint64_t bytes) {
  KVSTASH_ASSIGN_OR_RETURN(std::unique_ptr<UcxMemory> mem,
                           UcxMemory::Allocate(*context_, bytes, /*populate=*/false));
  std::byte* base = mem->address();
  // Transparent huge pages for the segment where the kernel allows them for shared memory
  // (/sys/kernel/mm/transparent_hugepage/shmem_enabled "advise"; a no-op with "never").
  (void)madvise(base, bytes, MADV_HUGEPAGE);
  {
    MutexLock lock(&mu_);
    arenas_[base] = std::move(mem);
  }
  std::shared_ptr<SharedArenas> self = shared_from_this();
  return ArenaMemory{base, bytes, PageBacking::kShared, [self, base] { self->Release(base); }};
}

void SharedArenas::Release(const std::byte* base) {
  std::unique_ptr<UcxMemory> mem;
  {
    MutexLock lock(&mu_);
    auto it = arenas_.find(base);
    if (it == arenas_.end()) return;
    mem = std::move(it->second);
    arenas_.erase(it);
  }
}

UcxMemory* SharedArenas::Find(const std::byte* base) const {
  MutexLock lock(&mu_);
  auto it = arenas_.find(base);
  return it == arenas_.end() ? nullptr : it->second.get();
}

}  // namespace kvstash::net
