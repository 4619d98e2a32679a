// DramArena: one large mapping holding every DRAM-tier block. Created once and registered once
// with the transport (ucp_mem_map), so the data path never registers memory per I/O. Create():
// an anonymous mapping backed by explicit huge pages (MAP_HUGETLB) when the kernel has them
// reserved, otherwise by transparent huge pages (madvise), otherwise by 4 KiB pages. Adopt():
// memory from an ArenaAllocator (the server's: a shared segment from UCX that clients on the
// same host map and write with memcpy, net/server/shared_arenas.h).
//
// Thread safety: immutable after Create(); the bytes themselves are synchronised by the
// engine's lifecycle (a writer owns an ALLOCATED range; readers hold pins).
#ifndef KVSTASH_DRAM_DRAM_ARENA_H_
#define KVSTASH_DRAM_DRAM_ARENA_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "common/types.h"
#include "kvstash/status.h"

namespace kvstash {

#include <functional>

enum class PageBacking : uint8_t { kHugeTlb, kTransparentHuge, kSmall, kShared };

// Arena memory from elsewhere: [base, base+size), given back by `release` (never null).
struct ArenaMemory {
  std::byte* base = nullptr;
  uint64_t size = 0;
  PageBacking backing = PageBacking::kShared;
  std::function<void()> release;
};
// Returns memory of at least `bytes` bytes. Errors: ResourceExhausted.
using ArenaAllocator = std::function<Result<ArenaMemory>(uint64_t bytes)>;

class DramArena {
 public:
  // Maps `bytes` (rounded up to 2 MiB). `prefault`: touch every page now (MAP_POPULATE), so
  // the first writes into the arena do not pay for page faults and zeroing on the data path
  // (measured: 36-87% of server CPU during the first puts without it). ResourceExhausted if
  // the kernel refuses.
  static Result<std::unique_ptr<DramArena>> Create(uint64_t bytes, bool try_hugepages,
                                                   bool prefault = false);
  // Takes `memory` (released by the destructor). `prefault`: fault every page in now.
  // InvalidArgument if it is empty or has no release.
  static Result<std::unique_ptr<DramArena>> Adopt(ArenaMemory memory, bool prefault);
  ~DramArena();
  DramArena(const DramArena&) = delete;
  DramArena& operator=(const DramArena&) = delete;

  std::byte* base() const { return base_; }
  uint64_t size() const { return size_; }
  PageBacking backing() const { return backing_; }

  // The bytes [offset, offset+len). REQUIRES: in bounds (checked; aborts otherwise: a caller
  // passing an out-of-range offset is an engine bug, never client input).
  std::span<std::byte> At(ArenaOffset offset, uint64_t len) const;

 private:
  DramArena(std::byte* base, uint64_t size, PageBacking backing,
            std::function<void()> release = nullptr)
      : base_(base), size_(size), backing_(backing), release_(std::move(release)) {}
  std::byte* const base_;
  const uint64_t size_;
  const PageBacking backing_;
  std::function<void()> release_;  // null: munmap
};

}  // namespace kvstash

#endif  // KVSTASH_DRAM_DRAM_ARENA_H_
