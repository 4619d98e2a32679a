#include "net/client/client_registry.h"

namespace kvstash::net {

Result<Registration*> ClientRegistry::Add(UcxContext& context, void* data, size_t size) {
  if (data == nullptr || size == 0) return Status::InvalidArgument("empty buffer");
  KVSTASH_RETURN_IF_ERROR(CheckFree(data, size));
  // UNKNOWN lets UCX detect device memory (CUDA-aware builds register VRAM directly).
  KVSTASH_ASSIGN_OR_RETURN(auto mem, UcxMemory::Map(context, data, size, UCS_MEMORY_TYPE_UNKNOWN));
  return Insert(std::move(mem));
}

Result<Registration*> ClientRegistry::Allocate(UcxContext& context, size_t size) {
  if (size == 0) return Status::InvalidArgument("empty buffer");
  KVSTASH_ASSIGN_OR_RETURN(auto mem, UcxMemory::Allocate(context, size));
  // Fresh memory cannot overlap a live registration; checked anyway (a UCX bug would be silent).
  KVSTASH_RETURN_IF_ERROR(CheckFree(mem->address(), size));
  Registration* reg = Insert(std::move(mem));
  reg->allocated = true;
  return reg;
}

Status ClientRegistry::CheckFree(void* data, size_t size) const {
  auto start = reinterpret_cast<uintptr_t>(data);
  if (start + size < start) return Status::InvalidArgument("buffer wraps");
  auto next = by_addr_.lower_bound(start);
  if (next != by_addr_.end() && next->first < start + size) {
    return Status::InvalidArgument("buffer overlaps a registered buffer");
  }
  if (next != by_addr_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second->memory->length() > start) {
      return Status::InvalidArgument("buffer overlaps a registered buffer");
    }
  }
  return Status::Ok();
}

Registration* ClientRegistry::Insert(std::unique_ptr<UcxMemory> mem) {
  auto start = reinterpret_cast<uintptr_t>(mem->address());
  auto reg = std::make_unique<Registration>();
  reg->id = next_id_++;
  reg->memory = std::move(mem);
  Registration* raw = reg.get();
  by_addr_[start] = std::move(reg);
  return raw;
}

void ClientRegistry::Remove(uint64_t id) {
  for (auto it = by_addr_.begin(); it != by_addr_.end(); ++it) {
    if (it->second->id == id) {
      by_addr_.erase(it);
      return;
    }
  }
}

Registration* ClientRegistry::Get(uint64_t id) {
  for (auto& [addr, reg] : by_addr_) {
    if (reg->id == id) return reg.get();
  }
  return nullptr;
}

Registration* ClientRegistry::Find(const void* p, size_t n) {
  auto addr = reinterpret_cast<uintptr_t>(p);
  auto it = by_addr_.upper_bound(addr);
  if (it == by_addr_.begin()) return nullptr;
  --it;
  return it->second->memory->Contains(p, n) ? it->second.get() : nullptr;
}

}  // namespace kvstash::net
