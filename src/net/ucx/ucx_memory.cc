#include "net/ucx/ucx_memory.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>

#include "common/populate.h"
#include "net/ucx/ucx_status.h"

namespace kvstash::net {

Result<std::unique_ptr<UcxMemory>> UcxMemory::Map(UcxContext& context, void* addr, size_t length,
                                                  ucs_memory_type_t type) {
  if (addr == nullptr || length == 0) return Status::InvalidArgument("empty registration");
  ucp_mem_map_params_t params{};
  params.field_mask = UCP_MEM_MAP_PARAM_FIELD_ADDRESS | UCP_MEM_MAP_PARAM_FIELD_LENGTH |
                      UCP_MEM_MAP_PARAM_FIELD_MEMORY_TYPE;
  params.address = addr;
  params.length = length;
  params.memory_type = type;
  ucp_mem_h memh = nullptr;
  KVSTASH_RETURN_IF_ERROR(UcsToStatus(ucp_mem_map(context.get(), &params, &memh), "ucp_mem_map"));
  std::unique_ptr<UcxMemory> m(new UcxMemory(context, memh, static_cast<std::byte*>(addr), length));
  KVSTASH_RETURN_IF_ERROR(m->PackRkey());
  return m;
}

Result<std::unique_ptr<UcxMemory>> UcxMemory::Allocate(UcxContext& context, size_t length,
                                                       bool populate) {
  if (length == 0) return Status::InvalidArgument("empty allocation");
  ucp_mem_map_params_t params{};
  params.field_mask = UCP_MEM_MAP_PARAM_FIELD_ADDRESS | UCP_MEM_MAP_PARAM_FIELD_LENGTH |
                      UCP_MEM_MAP_PARAM_FIELD_FLAGS | UCP_MEM_MAP_PARAM_FIELD_MEMORY_TYPE;
  params.address = nullptr;
  params.length = length;
  params.flags = UCP_MEM_MAP_ALLOCATE;
  params.memory_type = UCS_MEMORY_TYPE_HOST;
  ucp_mem_h memh = nullptr;
  if (ucs_status_t s = ucp_mem_map(context.get(), &params, &memh); s != UCS_OK) {
    return Status::ResourceExhausted(std::string("ucp_mem_map(ALLOCATE) of ") +
                                     std::to_string(length) + " bytes: " + ucs_status_string(s));
  }
  ucp_mem_attr_t attr{};
  attr.field_mask = UCP_MEM_ATTR_FIELD_ADDRESS | UCP_MEM_ATTR_FIELD_LENGTH;
  if (ucs_status_t s = ucp_mem_query(memh, &attr); s != UCS_OK || attr.length < length) {
    (void)ucp_mem_unmap(context.get(), memh);
    return Status::Internal("ucp_mem_query of an allocation failed");
  }
  auto* base = static_cast<std::byte*>(attr.address);
  std::unique_ptr<UcxMemory> m(new UcxMemory(context, memh, base, length));
  if (populate) PopulateWrite(base, length);
  KVSTASH_RETURN_IF_ERROR(m->PackRkey());
  return m;
}

Status UcxMemory::PackRkey() {
  void* packed = nullptr;
  size_t packed_size = 0;
  KVSTASH_RETURN_IF_ERROR(
      UcsToStatus(ucp_rkey_pack(ctx_.get(), memh_, &packed, &packed_size), "ucp_rkey_pack"));
  const auto* p = static_cast<const std::byte*>(packed);
  rkey_.assign(p, p + packed_size);
  ucp_rkey_buffer_release(packed);
  return Status::Ok();
}

UcxMemory::~UcxMemory() { (void)ucp_mem_unmap(ctx_.get(), memh_); }

bool UcxMemory::Contains(const void* p, size_t n) const {
  auto* b = static_cast<const std::byte*>(p);
  return b >= addr_ && n <= length_ && static_cast<size_t>(b - addr_) <= length_ - n;
}

Result<std::unique_ptr<RemoteKey>> RemoteKey::Unpack(ucp_ep_h ep,
                                                     std::span<const std::byte> packed) {
  // ucp_ep_rkey_unpack takes no length: a short or lying key from the wire could make it read
  // past the received bytes. Unpack from a copy padded with zeros beyond the largest layout
  // UCX can describe (64 memory domains x (1 size byte + 255 bytes) + header).
  std::vector<std::byte> padded(packed.size() + 64 * 256 + 64);
  std::copy(packed.begin(), packed.end(), padded.begin());
  ucp_rkey_h k = nullptr;
  ucs_status_t s = ucp_ep_rkey_unpack(ep, padded.data(), &k);
  if (s != UCS_OK) return Status::InvalidArgument("bad remote key");
  return std::unique_ptr<RemoteKey>(new RemoteKey(k));
}

bool InOneSharedMapping(const std::byte* p, size_t length, uint64_t* inode) {
  auto start = reinterpret_cast<uintptr_t>(p);
  if (length == 0 || start + length < start) return false;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    // "lo-hi perms offset dev inode [path]"
    unsigned long long lo = 0, hi = 0, ino = 0;
    char perms[8] = {};
    if (std::sscanf(line.c_str(), "%llx-%llx %7s %*s %*s %llu", &lo, &hi, perms, &ino) != 4) {
      continue;
    }
    if (start < lo || start >= hi) continue;
    if (perms[3] != 's' || start + length > hi) return false;
    if (inode != nullptr) *inode = ino;
    return true;
  }
  return false;
}

std::byte* RemoteKey::Map(uint64_t remote_address, uint64_t length, bool populate,
                          uint64_t* segment) const {
  if (length == 0 || remote_address + length < remote_address) return nullptr;
  void* first = nullptr;
  void* last = nullptr;
  if (ucp_rkey_ptr(rkey_, remote_address, &first) != UCS_OK ||
      ucp_rkey_ptr(rkey_, remote_address + length - 1, &last) != UCS_OK) {
    return nullptr;
  }
  // One mapping covers a whole registration; check it covers this range contiguously.
  auto* p = static_cast<std::byte*>(first);
  if (static_cast<std::byte*>(last) != p + (length - 1)) return nullptr;
  if (!InOneSharedMapping(p, length, segment)) return nullptr;
  if (populate) PopulateWrite(p, length);
  return p;
}

}  // namespace kvstash::net
