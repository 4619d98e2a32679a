// ClientRegistry: the client's registered memory ranges (user RegisterBuffer() calls and the
// internal staging buffer), each mapped with UCX once, plus the id the current server
// connection knows it by (re-announced after every reconnect).
//
// Thread safety: none; the Client serializes access under its lock.
#ifndef KVSTASH_NET_CLIENT_REGISTRY_H_
#define KVSTASH_NET_CLIENT_REGISTRY_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>

#include "kvstash/status.h"
#include "net/ucx/ucx_context.h"
#include "net/ucx/ucx_memory.h"

namespace kvstash::net {

struct Registration {
  uint64_t id = 0;  // local, stable across reconnects
  std::unique_ptr<UcxMemory> memory;
  uint32_t server_id = 0;  // id on the server for `epoch`
  uint64_t epoch = 0;      // connection generation the server id belongs to
  bool allocated = false;  // from Allocate(): shared memory a server on this host can map
};

class ClientRegistry {
 public:
  // Maps [data, data+size). Overlapping an existing registration is InvalidArgument (a
  // lookup must be unambiguous).
  Result<Registration*> Add(UcxContext& context, void* data, size_t size);
  // Allocates `size` bytes through UCX (UcxMemory::Allocate; freed by Remove) and maps them.
  Result<Registration*> Allocate(UcxContext& context, size_t size);
  void Remove(uint64_t id);
  Registration* Get(uint64_t id);
  // The registration containing [p, p+n), or nullptr.
  Registration* Find(const void* p, size_t n);

  template <typename F>
  void ForEach(F&& f) {
    for (auto& [addr, reg] : by_addr_) f(*reg);
  }

 private:
  // InvalidArgument if [data, data+size) wraps or overlaps a registration.
  Status CheckFree(void* data, size_t size) const;
  Registration* Insert(std::unique_ptr<UcxMemory> mem);

  uint64_t next_id_ = 1;
  std::map<uintptr_t, std::unique_ptr<Registration>> by_addr_;  // keyed by start address
};

}  // namespace kvstash::net

#endif  // KVSTASH_NET_CLIENT_REGISTRY_H_
