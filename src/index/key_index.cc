#include "index/key_index.h"

namespace kvstash {

KeyIndex::KeyIndex(uint32_t shards) : mask_(shards - 1), shards_(new Shard[shards]) {}

KeyIndex::~KeyIndex() {
  // At destruction the owner (BlockStore) has already released region references; what the
  // index still holds it owns.
  for (uint32_t i = 0; i <= mask_; ++i) {
    MutexLock lock(&shards_[i].mu);
    for (BlockRecord* r : shards_[i].set) {
      if (--r->refs == 0) shards_[i].FreeRecord(r);
    }
    shards_[i].set.clear();
  }
}

KeyIndex::MemoryUsage KeyIndex::Measure() {
  MemoryUsage m;
  for (uint32_t i = 0; i <= mask_; ++i) {
    Shard& s = shards_[i];
    MutexLock lock(&s.mu);
    m.entries += s.set.size();
    // flat_hash_set: capacity slots of 8 bytes + capacity + 16 control bytes.
    if (s.set.capacity() > 0) m.table_bytes += s.set.capacity() * (sizeof(void*) + 1) + 16;
    m.key_bytes += s.key_bytes;
    m.slab_bytes += s.slab.mapped_bytes();
    m.live_record_bytes += s.slab.live_bytes();
    m.live_records += s.slab.live_slots();
    m.fixed_bytes += sizeof(Shard) + s.slab.bookkeeping_bytes();
  }
  return m;
}

uint64_t KeyIndex::Size() {
  uint64_t n = 0;
  for (uint32_t i = 0; i <= mask_; ++i) {
    MutexLock lock(&shards_[i].mu);
    n += shards_[i].set.size();
  }
  return n;
}

}  // namespace kvstash
