// KeyIndex: the concurrent map (namespace, key) -> BlockRecord*.
//
// Sharded: 2^k shards, each an absl::flat_hash_set of record pointers (1 control byte + one
// 8-byte slot per bucket, load factor 7/16..7/8) behind its own Mutex. The key bytes live
// inline in the record, and each shard allocates its records from its own RecordSlab, so an
// entry costs the record (36 bytes + key, rounded up to 8) plus ~10-20 bytes of table:
// measured exactly by Measure() and reported by the index benchmark.
//
// The shard lock is also the lock of every record in that shard: callers find a record and
// act on it (lifecycle transition, pin) while holding Shard::mu. It also guards the shard's
// RecordSlab: records are created and freed only through Shard::NewRecord/FreeRecord. Lock order: a
// thread holds at most one shard lock, and never takes a shard lock while holding the DRAM
// allocator's.
//
// Thread safety: safe for concurrent use; per-shard locking as described above.
#ifndef KVSTASH_INDEX_KEY_INDEX_H_
#define KVSTASH_INDEX_KEY_INDEX_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "common/checksum.h"
#include "common/mutex.h"
#include "index/block_record.h"
#include "index/record_slab.h"

namespace kvstash {

// A lookup key with its hash computed once.
struct KeyRef {
  KeyRef(NamespaceId n, std::string_view k) : ns(n), key(k), hash(HashKey(n, k)) {}
  NamespaceId ns;
  std::string_view key;
  uint64_t hash;
};

class KeyIndex {
 private:
  struct RecordHash {
    using is_transparent = void;
    size_t operator()(const BlockRecord* r) const { return HashKey(r->ns, r->key()); }
    size_t operator()(const KeyRef& k) const { return k.hash; }
  };
  struct RecordEq {
    using is_transparent = void;
    bool operator()(const BlockRecord* a, const BlockRecord* b) const { return a == b; }
    bool operator()(const BlockRecord* a, const KeyRef& b) const { return Eq(a, b); }
    bool operator()(const KeyRef& a, const BlockRecord* b) const { return Eq(b, a); }
    static bool Eq(const BlockRecord* r, const KeyRef& k) {
      return r->ns == k.ns && r->key() == k.key;
    }
  };

 public:
  struct Shard {
    Mutex mu;

    BlockRecord* Find(const KeyRef& k) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      auto it = set.find(k);
      return it == set.end() ? nullptr : *it;
    }
    // REQUIRES: no record with r's key is present.
    void Insert(BlockRecord* r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      if (set.insert(r).second) key_bytes += r->key_len;
    }
    void Erase(BlockRecord* r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      if (set.erase(r) != 0) key_bytes -= r->key_len;
    }
    size_t size() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return set.size(); }

    // Creates a record for a key that hashes to this shard (BlockRecord::New from this
    // shard's slab); it is not inserted. REQUIRES: ShardFor(KeyRef(ns, key)) is this shard.
    BlockRecord* NewRecord(NamespaceId ns, std::string_view key, uint32_t size)
        ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      return BlockRecord::New(slab, ns, key, size);
    }
    // Frees a record created by this shard's NewRecord, exactly once, after its last
    // reference is gone. REQUIRES: r is not in the set.
    void FreeRecord(BlockRecord* r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      BlockRecord::Free(slab, r);
    }

    absl::flat_hash_set<BlockRecord*, RecordHash, RecordEq> set ABSL_GUARDED_BY(mu);
    RecordSlab slab ABSL_GUARDED_BY(mu);
    uint64_t key_bytes ABSL_GUARDED_BY(mu) = 0;  // of the records in `set`, kept by Insert/Erase
  };

  // `shards` must be a power of two.
  explicit KeyIndex(uint32_t shards);
  // Frees records still referenced only by the index. REQUIRES: every other reference to a
  // record was dropped (and the record freed) first; records still live after that are
  // leaked, not freed under their holders (RecordSlab).
  ~KeyIndex();
  KeyIndex(const KeyIndex&) = delete;
  KeyIndex& operator=(const KeyIndex&) = delete;

  // Looks up keys[i] for every i and calls visit(i, record or nullptr) under that key's shard
  // lock, in order. A random hit costs about three cache misses (control bytes, slot, record);
  // one Find after another pays them in series, this overlaps them across up to kBatch keys:
  // a first pass prefetches each key's table group and slot, a second finds each record and
  // prefetches it, the last visits. Each pass takes the shard lock briefly (the table may be
  // rehashed between passes: a prefetch is only a hint, every result comes from the last).
  static constexpr size_t kBatch = 16;
  template <typename Visit>
  void FindBatch(std::span<const KeyRef> keys, Visit&& visit) {
    for (size_t base = 0; base < keys.size(); base += kBatch) {
      const size_t n = std::min(kBatch, keys.size() - base);
      for (size_t i = 0; i < n; ++i) {
        Shard& s = ShardFor(keys[base + i]);
        MutexLock lock(&s.mu);
        s.set.prefetch(keys[base + i]);
      }
      for (size_t i = 0; i < n; ++i) {
        Shard& s = ShardFor(keys[base + i]);
        MutexLock lock(&s.mu);
        if (BlockRecord* r = s.Find(keys[base + i])) __builtin_prefetch(r);
      }
      for (size_t i = 0; i < n; ++i) {
        Shard& s = ShardFor(keys[base + i]);
        MutexLock lock(&s.mu);
        visit(base + i, s.Find(keys[base + i]));
      }
    }
  }

  Shard& ShardFor(uint64_t hash) { return shards_[(hash >> 48) & mask_]; }
  Shard& ShardFor(const KeyRef& k) { return ShardFor(k.hash); }
  Shard& ShardOf(const BlockRecord* r) { return ShardFor(HashKey(r->ns, r->key())); }

  struct MemoryUsage {
    uint64_t entries = 0;
    uint64_t key_bytes = 0;          // of the entries in the table
    uint64_t slab_bytes = 0;         // heap the shards' record slabs occupy: every slab, whole
    uint64_t live_record_bytes = 0;  // slots in use (includes records not in the table)
    uint64_t live_records = 0;
    uint64_t table_bytes = 0;  // hash table slots and control bytes
    uint64_t fixed_bytes = 0;  // the shard array and slab bookkeeping
    // Bytes per entry beyond the key bytes themselves: everything the index holds in memory
    // (free slots, slab tails and records of blocks no longer in the table included).
    double overhead_per_entry() const {
      return entries ? double(slab_bytes + table_bytes + fixed_bytes - key_bytes) / double(entries)
                     : 0;
    }
  };
  // Visits every shard (takes each lock in turn, briefly): O(shards), so a stats request or a
  // metrics scrape may call it.
  MemoryUsage Measure();
  uint64_t Size();

 private:
  const uint32_t mask_;
  std::unique_ptr<Shard[]> shards_;
};

}  // namespace kvstash

#endif  // KVSTASH_INDEX_KEY_INDEX_H_
