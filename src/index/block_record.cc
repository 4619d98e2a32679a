#include "index/block_record.h"

#include <cstring>

namespace kvstash {

// BlockRecord keeps `state_` private (only Lifecycle may write it), which makes it a
// non-standard-layout type; GCC and Clang still define offsetof for it.
#pragma GCC diagnostic ignored "-Winvalid-offsetof"
constexpr size_t kKeyOffset = offsetof(BlockRecord, key_bytes);
static_assert(kKeyOffset == 36, "BlockRecord fields must stay 36 bytes");
static_assert(offsetof(BlockRecord, dram_loc) == 0 && offsetof(BlockRecord, checksum) == 16,
              "the flash location / lease deadline slot is the 8 bytes after dram_loc");
static_assert(alignof(BlockRecord) <= RecordSlab::kGranularity);
static_assert(kKeyOffset + kMaxKeyBytes <= RecordSlab::kMaxSlotBytes,
              "the largest record must fit the slab's largest size class");

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

BlockRecord* BlockRecord::New(RecordSlab& slab, NamespaceId ns, std::string_view key,
                              uint32_t size) {
  auto* r = static_cast<BlockRecord*>(slab.Allocate(kKeyOffset + key.size()));
  r->dram_loc = kNoLocation;
  r->flash_or_lease_ = kNoLocation;
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

void BlockRecord::Free(RecordSlab& slab, BlockRecord* r) { slab.Free(r, kKeyOffset + r->key_len); }

size_t BlockRecord::SlotBytes(size_t key_len) {
  return RecordSlab::SlotBytes(kKeyOffset + key_len);
}

}  // namespace kvstash
