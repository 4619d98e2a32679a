// UcxMemory: RAII registration of memory with UCX (ucp_mem_map), with its packed remote key:
// either caller-owned memory (Map) or memory UCX allocates (Allocate). RemoteKey: RAII
// unpacked remote key of a peer's registration.
//
// Registration pins pages and, on RDMA hardware, costs microseconds to milliseconds: register
// long-lived memory (the server's arena, a client's buffer pool) once.
//
// Memory from Allocate() is, where the context has a shared-memory transport, a System V or
// POSIX shared segment: a peer on the same host can map it (RemoteKey::Map) and copy with
// memcpy, one copy by one CPU. Without the mapping, UCX 1.13 moves a ucp_put_nbx over shared
// memory as software-emulated RMA (fragments through a FIFO that the peer's worker copies
// out: two copies and both CPUs; docs/BENCHMARKS_PEERS.md).
//
// Thread safety: a UcxMemory may be used by any worker of its context concurrently (read-only
// after creation). A RemoteKey belongs to one endpoint (its worker's thread).
#ifndef KVSTASH_NET_UCX_MEMORY_H_
#define KVSTASH_NET_UCX_MEMORY_H_

#include <ucp/api/ucp.h>

#include <cstddef>
#include <memory>
#include <span>
#include <vector>

#include "kvstash/status.h"
#include "net/ucx/ucx_context.h"

namespace kvstash::net {

// True if [p, p+length) lies inside one shared mapping ('s' in /proc/self/maps) of this
// process; `*inode` (optional) gets the mapping's inode (for System V memory, the shmid).
bool InOneSharedMapping(const std::byte* p, size_t length, uint64_t* inode = nullptr);

class UcxMemory {
 public:
  // Registers [addr, addr+length). `addr` stays owned by the caller and must outlive this.
  // `type` UCS_MEMORY_TYPE_UNKNOWN lets UCX detect it (host or CUDA).
  static Result<std::unique_ptr<UcxMemory>> Map(UcxContext& context, void* addr, size_t length,
                                                ucs_memory_type_t type = UCS_MEMORY_TYPE_HOST);
  // Allocates `length` bytes through UCX (UCP_MEM_MAP_ALLOCATE) and registers them; freed by
  // the destructor. `populate`: fault every page in now. Errors: ResourceExhausted.
  static Result<std::unique_ptr<UcxMemory>> Allocate(UcxContext& context, size_t length,
                                                     bool populate = true);
  ~UcxMemory();
  UcxMemory(const UcxMemory&) = delete;
  UcxMemory& operator=(const UcxMemory&) = delete;

  ucp_mem_h get() const { return memh_; }
  std::byte* address() const { return addr_; }
  size_t length() const { return length_; }
  bool Contains(const void* p, size_t n) const;
  // ucp_rkey_pack output: what a peer needs (with address()) to put to/get from this memory.
  std::span<const std::byte> packed_rkey() const { return rkey_; }

 private:
  UcxMemory(UcxContext& ctx, ucp_mem_h memh, std::byte* addr, size_t length)
      : ctx_(ctx), memh_(memh), addr_(addr), length_(length) {}
  Status PackRkey();  // fills rkey_
  UcxContext& ctx_;
  ucp_mem_h memh_;
  std::byte* addr_;
  size_t length_;
  std::vector<std::byte> rkey_;
};

class RemoteKey {
 public:
  // Errors: InvalidArgument if `packed` is not a valid key for this endpoint.
  static Result<std::unique_ptr<RemoteKey>> Unpack(ucp_ep_h ep, std::span<const std::byte> packed);
  ~RemoteKey() { ucp_rkey_destroy(rkey_); }
  RemoteKey(const RemoteKey&) = delete;
  RemoteKey& operator=(const RemoteKey&) = delete;
  ucp_rkey_h get() const { return rkey_; }

  // Where the peer's bytes [remote_address, remote_address+length) are mapped into this
  // process (ucp_rkey_ptr: a shared segment of a peer on the same host), or nullptr when they
  // cannot be (another host, a transport without shared memory, caller-owned memory the peer
  // registered with Map()). `populate`: fault the mapping's pages in now, so that the first
  // copies into it do not take a page fault per 4 KiB.
  // The range must lie inside one shared mapping of this process (checked against
  // /proc/self/maps: UCX's rkey_ptr does no bounds check, and `length` comes from the peer);
  // `*segment` (optional) gets that mapping's inode (the System V shmid).
  std::byte* Map(uint64_t remote_address, uint64_t length, bool populate,
                 uint64_t* segment = nullptr) const;

 private:
  explicit RemoteKey(ucp_rkey_h k) : rkey_(k) {}
  ucp_rkey_h rkey_;
};

}  // namespace kvstash::net

#endif  // KVSTASH_NET_UCX_MEMORY_H_
