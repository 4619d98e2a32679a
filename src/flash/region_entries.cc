#include "flash/region_entries.h"

#include <algorithm>

namespace kvstash {

void RegionEntries::Add(NamespaceId ns, std::string_view key, RegionOffset offset,
                        uint32_t extent_bytes, uint32_t value_bytes, Checksum checksum) {
  Entry e;
  e.offset = offset;
  e.extent_bytes = extent_bytes;
  e.value_bytes = value_bytes;
  e.key_offset = static_cast<uint32_t>(keys_.size());
  e.key_bytes = static_cast<uint16_t>(key.size());
  e.ns = ns;
  e.checksum = checksum;
  keys_.append(key);
  entries_.push_back(e);
  live_bytes_ += extent_bytes;
  ++live_count_;
}

RegionEntries::Entry* RegionEntries::FindMutable(RegionOffset offset) {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), offset,
                             [](const Entry& e, RegionOffset o) { return e.offset < o; });
  if (it == entries_.end() || it->offset != offset) return nullptr;
  return &*it;
}

const RegionEntries::Entry* RegionEntries::Find(RegionOffset offset) const {
  return const_cast<RegionEntries*>(this)->FindMutable(offset);
}

uint32_t RegionEntries::MarkDead(RegionOffset offset) {
  Entry* e = FindMutable(offset);
  if (e == nullptr || !e->live) return 0;
  e->live = false;
  live_bytes_ -= e->extent_bytes;
  --live_count_;
  return e->extent_bytes;
}

void RegionEntries::Clear() {
  std::vector<Entry>().swap(entries_);
  std::string().swap(keys_);
  live_bytes_ = 0;
  live_count_ = 0;
}

}  // namespace kvstash
