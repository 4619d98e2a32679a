#include "index/block_record.h"

#include <malloc.h>

#include <cstdlib>
#include <cstring>
#include <new>

namespace kvstash {

// BlockRecord keeps `state_` private (only Lifecycle may write it), which makes it a
// non-standard-layout type; GCC and Clang still define offsetof for it.
#pragma GCC diagnostic ignored "-Winvalid-offsetof"
constexpr size_t kKeyOffset = offsetof(BlockRecord, key_bytes);
static_assert(kKeyOffset == 36, "BlockRecord fields must stay 36 bytes");

std::string_view BlockStateName(BlockState s) {
  switch (s) {
    case BlockState::kAllocated:
      return "allocated";
    case BlockState::kCommitted:
      return "committed";
    case BlockState::kPersisted:
      return "persisted";
    case BlockState::kEvicted:
      return "evicted";
    case BlockState::kDeleted:
      return "deleted";
  }
  return "unknown";
}

BlockRecord* BlockRecord::New(NamespaceId ns, std::string_view key, uint32_t size) {
  void* mem = std::malloc(kKeyOffset + key.size());
  if (mem == nullptr) throw std::bad_alloc();
  auto* r = static_cast<BlockRecord*>(mem);
  r->dram_loc = kNoLocation;
  r->flash_loc = kNoLocation;
  r->checksum = 0;
  r->size = size;
  r->ns = ns;
  r->refs = 0;
  r->hits = 0;
  r->key_len = static_cast<uint16_t>(key.size());
  r->flags = 0;
  r->state_ = BlockState::kAllocated;
  std::memcpy(r->key_bytes, key.data(), key.size());
  return r;
}

void BlockRecord::Free(BlockRecord* r) { std::free(r); }

size_t BlockRecord::HeapBytes(const BlockRecord* r) {
  // glibc keeps an 8-byte size header before each chunk.
  return malloc_usable_size(const_cast<BlockRecord*>(r)) + sizeof(size_t);
}

}  // namespace kvstash
