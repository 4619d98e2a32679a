// RegionEntries: the compact in-memory list of the entries of one flash region, kept so that a
// reclaim can tell the owner which (namespace, key, location) it drops without reading the
// region back from flash, and so that MarkDead can keep per-region live bytes.
//
// Why in memory and not read back: a reclaim happens on the write path (Append needs a free
// region). Reading the headers back would cost one dependent 4 KiB read per entry (512 reads
// for a 64 MiB region of 128 KiB blocks) on the foreground path. The list costs ~20 bytes
// plus the key per entry (and the value checksum every read is verified against), with no per-entry
// heap allocation (keys live in one arena), about 0.05% of flash capacity for 128 KiB blocks with
// 48-byte keys. Rationale in docs/FORMAT.md §6.
//
// Thread safety: none; RegionStore guards each instance with its mutex.
#ifndef KVSTASH_FLASH_REGION_ENTRIES_H_
#define KVSTASH_FLASH_REGION_ENTRIES_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/types.h"
#include "flash/region_format.h"

namespace kvstash {

class RegionEntries {
 public:
  struct Entry {
    RegionOffset offset;
    uint32_t extent_bytes = 0;
    uint32_t value_bytes = 0;
    uint32_t key_offset = 0;  // into the key arena
    uint16_t key_bytes = 0;
    NamespaceId ns = 0;
    bool live = true;
    Checksum checksum;  // XXH3-64 of the value: what a read must hash to
  };

  // Appends an entry; offsets must increase (entries are appended in region order).
  void Add(NamespaceId ns, std::string_view key, RegionOffset offset, uint32_t extent_bytes,
           uint32_t value_bytes, Checksum checksum);
  // Marks the entry at `offset` dead. Returns its extent bytes, or 0 if there is no live
  // entry at exactly that offset (unknown or already dead: MarkDead is idempotent).
  uint32_t MarkDead(RegionOffset offset);
  // Finds the entry starting at `offset` (nullptr if none).
  const Entry* Find(RegionOffset offset) const;
  std::string_view key(const Entry& e) const { return {keys_.data() + e.key_offset, e.key_bytes}; }

  const std::vector<Entry>& entries() const { return entries_; }
  size_t size() const { return entries_.size(); }
  uint64_t live_bytes() const { return live_bytes_; }
  size_t live_count() const { return live_count_; }
  // Forgets everything and releases the memory (the region is being reused).
  void Clear();

 private:
  Entry* FindMutable(RegionOffset offset);

  std::vector<Entry> entries_;
  std::string keys_;
  uint64_t live_bytes_ = 0;
  size_t live_count_ = 0;
};

}  // namespace kvstash

#endif  // KVSTASH_FLASH_REGION_ENTRIES_H_
