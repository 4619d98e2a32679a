// SharedArenas: DRAM arenas allocated by UCX (UcxMemory::Allocate), so that a client on the
// same host can map the arena it was granted (ucp_rkey_ptr) and put a block with one memcpy,
// where UCX 1.13 would otherwise emulate the one-sided put over shared memory (fragments
// through a FIFO that the server's worker copies out: two copies, both CPUs). Over RDMA the
// same memory is registered with the NIC as any arena is; nothing else changes.
//
// Use: create one, pass Allocator() as StoreOptions::arena_allocator of every store the server
// serves, and the SharedArenas itself as ServerOptions::shared_arenas: the server then uses
// its UCX context and the registration made at allocation instead of registering the arena
// again. It must outlive those stores (the allocator's releases keep it alive).
//
// Thread safety: Allocator() and Find() may be called from any thread.
#ifndef KVSTASH_NET_SHARED_ARENAS_H_
#define KVSTASH_NET_SHARED_ARENAS_H_

#include <map>
#include <memory>

#include "common/mutex.h"
#include "dram/dram_arena.h"
#include "kvstash/status.h"
#include "net/ucx/ucx_context.h"
#include "net/ucx/ucx_memory.h"

namespace kvstash::net {

class SharedArenas : public std::enable_shared_from_this<SharedArenas> {
 public:
  // Creates the UCX context the server will use. Errors: those of UcxContext::Create.
  static Result<std::shared_ptr<SharedArenas>> Create();
  ~SharedArenas();
  SharedArenas(const SharedArenas&) = delete;
  SharedArenas& operator=(const SharedArenas&) = delete;

  const std::shared_ptr<UcxContext>& context() const { return context_; }

  // An allocator for StoreOptions::arena_allocator (no page is touched: the store prefaults).
  ArenaAllocator Allocator();

  // The registration of the arena starting at `base`, or nullptr if none came from here.
  UcxMemory* Find(const std::byte* base) const;

 private:
  explicit SharedArenas(std::shared_ptr<UcxContext> context) : context_(std::move(context)) {}
  Result<ArenaMemory> Allocate(uint64_t bytes);
  void Release(const std::byte* base);

  std::shared_ptr<UcxContext> context_;
  mutable Mutex mu_;
  std::map<const std::byte*, std::unique_ptr<UcxMemory>> arenas_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kvstash::net

#endif  // KVSTASH_NET_SHARED_ARENAS_H_
