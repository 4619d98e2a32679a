#include "net/ucx_memory.h"

#include <algorithm>

#include "net/ucx_status.h"

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
  RETURN_IF_ERROR(UcsToStatus(ucp_mem_map(context.get(), &params, &memh), "ucp_mem_map"));
  std::unique_ptr<UcxMemory> m(new UcxMemory(context, memh, static_cast<std::byte*>(addr), length));
  void* packed = nullptr;
  size_t packed_size = 0;
  RETURN_IF_ERROR(
      UcsToStatus(ucp_rkey_pack(context.get(), memh, &packed, &packed_size), "ucp_rkey_pack"));
  const auto* p = static_cast<const std::byte*>(packed);
  m->rkey_.assign(p, p + packed_size);
  ucp_rkey_buffer_release(packed);
  return m;
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

}  // namespace kvstash::net
