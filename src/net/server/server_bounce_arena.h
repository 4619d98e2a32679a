// BounceArena: a worker's registered bounce memory for flash hits. One anonymous, page-aligned
// mapping registered with UCX once (ucp_mem_map; no registration per I/O, docs/ARCHITECTURE.md §4), cut
// into slices on demand: a Get's flash blocks are read into a slice by the reader threads and
// written to the client from it; the slice is freed when the endpoint flush has completed.
//
// The pages are not touched up front: slices are handed out lowest offset first, so the
// resident size follows the most bounce memory in use at once, not the arena's size (on
// transports that pin registered memory, RDMA without on-demand paging, all of it is
// resident).
//
// Allocation is first fit over 4 KiB units with coalescing on free. Slices of different
// requests are freed in any order (each connection's flush completes on its own), which is
// why this is not a ring.
//
// Thread safety: Allocate/Free/free_bytes on the owning worker's thread only. The bytes of an
// allocated slice may be written by another thread (a reader) while the worker does not
// touch them; the hand-off (a mutex) orders the accesses.
#ifndef KVSTASH_NET_SERVER_BOUNCE_ARENA_H_
#define KVSTASH_NET_SERVER_BOUNCE_ARENA_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>

#include "kvstash/status.h"
#include "net/ucx/ucx_context.h"
#include "net/ucx/ucx_memory.h"

namespace kvstash::net {

class BounceArena {
 public:
  static constexpr uint64_t kUnit = 4096;

  // A range of the arena; bytes == 0 is "none".
  struct Slice {
    uint64_t offset = 0;
    uint64_t bytes = 0;
  };

  // Maps `bytes` (rounded up to 4 KiB) and registers it with `context`, which must outlive
  // the arena. Errors: ResourceExhausted (mmap), Unavailable/Internal (ucp_mem_map).
  static Result<std::unique_ptr<BounceArena>> Create(UcxContext& context, uint64_t bytes);
  ~BounceArena();
  BounceArena(const BounceArena&) = delete;
  BounceArena& operator=(const BounceArena&) = delete;

  // A slice of at least `bytes` (rounded up to 4 KiB; > 0), or nullopt when no free range is
  // that large right now (the caller waits for a Free). Never more than capacity().
  std::optional<Slice> Allocate(uint64_t bytes);
  // Returns `slice` (from Allocate, not freed yet); a "none" slice is ignored.
  void Free(Slice slice);

  std::span<std::byte> bytes(Slice slice) const { return {base_ + slice.offset, slice.bytes}; }
  ucp_mem_h memh() const { return registration_->get(); }
  uint64_t capacity() const { return size_; }
  uint64_t free_bytes() const { return free_bytes_; }

  static uint64_t RoundUp(uint64_t n) { return (n + kUnit - 1) / kUnit * kUnit; }

 private:
  BounceArena() = default;
  std::byte* base_ = nullptr;  // mmap'ed; unmapped by the destructor after the registration
  uint64_t size_ = 0;
  std::unique_ptr<UcxMemory> registration_;
  std::map<uint64_t, uint64_t> free_;  // offset -> length, disjoint, never adjacent
  uint64_t free_bytes_ = 0;
};

}  // namespace kvstash::net

#endif  // KVSTASH_NET_SERVER_BOUNCE_ARENA_H_
