// RegionStore: the flash tier's log-structured space. The device is cut into equal regions;
// entries (namespace, key, value) are appended into an in-memory write buffer, a full region
// is sealed and written whole and sequentially (host write amplification ~1.0), and space
// comes back a whole region at a time, oldest first (FIFO), through the TRIM pipeline.
// docs/FORMAT.md specifies the bytes; region_format.h encodes them.
//
//   Append ──> OPEN (buffer) ──seal──> WRITING (buffer -> device) ──> SEALED (flash, FIFO)
//                                             │ write failed                │ ReclaimOldest,
//                                             v                             v all entries dead
//                                    entries reported lost ──> FREE ──> TrimPipeline
//                                                                  (FREE_DIRTY -> TRIMMING
//                                                                   -> FREE_CLEAN)
//
// Reads: an entry is served from the write buffer while its region is OPEN or WRITING, from
// flash afterwards: one O_DIRECT read of its 4 KiB-aligned value extent, straight into the
// caller's memory when that is 4 KiB-aligned and holds the extent, else into a bounce buffer.
// Every read checks the location against the region's in-memory entry records (generation,
// offset, length, namespace, key) and the XXH3-64 of the bytes read against the checksum
// recorded at Append: a mismatch is DataLoss and a counted checksum failure, never bytes.
//
// Space: a region is reused only when no pin holds it (Pin/RegionPin; Read pins internally),
// so no read ever sees a region rewritten under it. A FlashLocation carries the region's
// generation; once the region is reclaimed the location is stale and reads say NotFound.
//
// Thread safety:
//   - Append, Flush and ReclaimOldest are serialized by an internal mutex. They are meant to
//     be called from ONE thread (the engine's flusher); other callers just wait.
//   - Read, ReadV, Pin, MarkDead and stats may be called from any number of threads at once,
//     concurrently with the appender. No lock is held while bytes are copied or I/O runs.
//   - The drop callback runs on the thread that triggered it (the appender for reclaims, the
//     background flusher for write failures), holding no lock that readers take (the
//     appender's own mutex is held during reclaims). It may call Read, ReadV, Pin and
//     MarkDead; it must not call Append, Flush or ReclaimOldest (deadlock).
#ifndef KVSTASH_FLASH_REGION_STORE_H_
#define KVSTASH_FLASH_REGION_STORE_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "common/mutex.h"
#include "common/types.h"
#include "flash/device.h"
#include "flash/region_buffer.h"
#include "flash/region_entries.h"
#include "flash/region_format.h"
#include "flash/trim_pipeline.h"
#include "flash/trim_region_states.h"
#include "kvstash/status.h"

namespace kvstash {

enum class DropReason : uint8_t {
  kReclaimed = 0,    // its region was reclaimed (FIFO eviction): the owner drops or reinserts
  kWriteFailed = 1,  // its region's device write failed: the entry never reached flash
};

// A live entry leaving the store. `key` is valid only during the callback.
struct DroppedEntry {
  NamespaceId ns = 0;
  std::string_view key;
  FlashLocation location;
  DropReason reason = DropReason::kReclaimed;
};
using DropCallback = std::function<void(const DroppedEntry&)>;

struct RegionStoreOptions {
  uint64_t region_bytes = 64ull << 20;  // a multiple of 1 MiB, at most 2 GiB
  uint32_t write_buffers = 2;           // region-sized DRAM buffers, 1..64: appends continue
                                        // into the next while earlier ones are written
  uint32_t write_io_bytes = 1u << 20;   // size of each write I/O of a region flush (4 KiB mult.)
  bool background_flush = true;         // false: a sealed region is written inside Append/Flush
                                        // (deterministic tests)
  bool discard_on_create = true;        // ephemeral store: TRIM the whole device at Create
  bool auto_reclaim = true;             // Append reclaims the oldest region when none is free
  // How long Append waits for space that is about to come back (a reclaimed or sealed region
  // still pinned by a read, a region still being written) before ResourceExhausted.
  std::chrono::milliseconds space_wait{500};
  uint64_t bounce_cache_bytes = 64ull << 20;  // read bounce memory kept for reuse
  TrimPipelineOptions trim;                   // background_thread is forced to background_flush
  // Told about every live entry that leaves the store (reclaim, failed write). May be empty:
  // then those entries are only counted.
  DropCallback on_drop;

  Status Validate() const;
};

struct RegionStoreStats {
  uint64_t appends = 0;
  uint64_t bytes_appended = 0;         // value bytes accepted by Append
  uint64_t extent_bytes_appended = 0;  // the same entries as laid out (headers, padding)
  uint64_t device_bytes_written = 0;   // region bytes written, region header blocks included
  uint64_t regions_written = 0;
  uint64_t regions_reclaimed = 0;       // by ReclaimOldest (FIFO)
  uint64_t regions_reclaimed_dead = 0;  // at once, because every entry was dead
  uint64_t regions_dropped = 0;         // their write failed
  uint64_t entries_reclaimed = 0;       // live entries reported with kReclaimed
  uint64_t entries_lost = 0;            // live entries reported with kWriteFailed
  uint64_t append_buffer_waits = 0;     // Append waited for a write buffer to be written
  uint64_t reads = 0;                   // successful reads
  uint64_t read_bytes = 0;              // value bytes returned
  uint64_t buffer_reads = 0;            // of those, served from a write buffer
  uint64_t device_read_bytes = 0;       // extent bytes read from the device
  uint64_t stale_reads = 0;             // NotFound: the location's region was reclaimed
  uint64_t checksum_failures = 0;       // header or value check failed on read (DataLoss)
  uint64_t read_io_errors = 0;          // device read failures
  uint64_t write_io_errors = 0;         // device write failures (regions dropped)
  uint32_t regions_total = 0, regions_sealed = 0, regions_pinned = 0;
  RegionStateCounts region_states;  // free-space states (TRIM pipeline view)
  TrimStats trim;

  uint64_t io_errors() const { return read_io_errors + write_io_errors; }
  // device_bytes_written / bytes_appended (0 before the first write).
  double host_write_amplification() const;
};

class RegionStore;

// Keeps one region from being reclaimed or rewritten (RAII, move-only). Must not outlive its
// store.
class RegionPin {
 public:
  RegionPin() = default;
  RegionPin(RegionPin&& o) noexcept { *this = std::move(o); }
  RegionPin& operator=(RegionPin&& o) noexcept;
  ~RegionPin() { Release(); }
  bool valid() const { return store_ != nullptr; }
  RegionId region() const { return region_; }
  void Release();

 private:
  friend class RegionStore;
  RegionStore* store_ = nullptr;
  RegionId region_;
};

// One element of ReadV. `dest` must hold at least location.value_bytes bytes.
struct FlashRead {
  FlashLocation location;
  NamespaceId ns = 0;
  std::string_view key;
  std::span<std::byte> dest;
  Status result;  // set by ReadV
};

class RegionStore {
 public:
  // `device` must outlive the store (not owned); its io_alignment must divide 4096 and hold
  // at least one region. Discards the whole device first if options.discard_on_create.
  // Errors: InvalidArgument (options, geometry), the device's discard error, ResourceExhausted
  // (buffer memory).
  static Result<std::unique_ptr<RegionStore>> Create(const RegionStoreOptions& options,
                                                     Device* device);
  // Writes regions already sealed, then stops the flusher and the TRIM worker. Does not seal
  // the open region: call Flush() first to keep it.
  ~RegionStore();
  RegionStore(const RegionStore&) = delete;
  RegionStore& operator=(const RegionStore&) = delete;

  // Copies one entry into the open region and returns where it will live. `checksum` is the
  // XXH3-64 of `value` as the owner knows it; it is verified on the copy (DataLoss if the
  // value does not match: a corrupt block is never persisted). The store does not index keys:
  // appending a key twice stores it twice (the owner's index decides). May block: for a free
  // write buffer while earlier regions are written, and up to space_wait for pinned or
  // in-flight space. Errors: InvalidArgument (key not 1..256 bytes, entry larger than a
  // region), ResourceExhausted (no free region and none reclaimable in time), and in
  // synchronous mode the write error of the region this append sealed (its entries were
  // reported lost; this entry was not appended).
  Result<FlashLocation> Append(NamespaceId ns, std::string_view key,
                               std::span<const std::byte> value, Checksum checksum);
  // Seals the open region (its used prefix is written) and waits until every sealed region is
  // on the device. Returns the first write error since the previous Flush (such a region's
  // entries were already reported lost).
  Status Flush();
  // Reclaims the oldest sealed region that no pin holds: reports each live entry to on_drop
  // (kReclaimed), then hands the region to the TRIM pipeline. Reads of the region still work
  // during the callbacks. Errors: NotFound (no sealed region), Busy (all of them pinned).
  Status ReclaimOldest();

  // Reads the value at `location` into dest[0, value_bytes). If dest is 4 KiB-aligned and at
  // least location.extent_bytes long, the device reads into it directly (and may write the
  // padding after the value); after an error its contents are then unspecified, otherwise dest
  // is untouched on error. Errors: InvalidArgument (dest too small, location not an entry),
  // NotFound (stale location), DataLoss (the location holds another key, or the bytes read
  // fail the value checksum), IOError (device read failed).
  Status Read(const FlashLocation& location, NamespaceId ns, std::string_view key,
              std::span<std::byte> dest);
  // Many reads with all device reads in flight together (the device's queue depth). Every
  // element's `result` is set; returns the first failure in order, or OK.
  Status ReadV(std::span<FlashRead> reads);
  // Pins the region of `location` (NotFound if stale).
  Result<RegionPin> Pin(const FlashLocation& location);
  // The owner no longer needs this entry. Idempotent; a stale location is ignored. When the
  // last live entry of a written region dies, the region is reclaimed at once (once unpinned).
  void MarkDead(const FlashLocation& location);

  // The current generation of `region` while it holds entries (open, being written, sealed or
  // being reclaimed); RegionSequence(0) when it is free or out of range. Lets an owner that
  // stores truncated locations rebuild the full FlashLocation and detect a stale one
  // (engine/flash_tier.h).
  RegionSequence region_sequence(RegionId region) const;

  RegionStoreStats stats() const;
  uint32_t num_regions() const { return num_regions_; }
  uint64_t region_bytes() const { return options_.region_bytes; }
  // Largest value Append accepts for a key of `key_bytes` bytes.
  uint64_t max_value_bytes(size_t key_bytes) const;
  // The TRIM pipeline, for the owner's maintenance loop and tests (RunOnce in synchronous
  // mode, WaitIdle).
  TrimPipeline& trim_pipeline() { return *trim_; }

 private:
  enum class State : uint8_t { kFree, kOpen, kWriting, kSealed, kReclaiming };
  struct WriteBuffer {
    AlignedBuffer mem;
    bool attached = false;  // owned by an OPEN or WRITING region
    uint32_t readers = 0;   // reads copying out of it right now
  };
  struct Region {
    State state = State::kFree;
    RegionSequence sequence;
    WriteBuffer* buffer = nullptr;  // OPEN / WRITING
    uint64_t used_bytes = 0;        // published prefix: header block + values (+ table once sealed)
    RegionEntries entries;
    uint32_t pins = 0;
    bool release_when_unpinned = false;
  };
  // What a read pinned: the region and, when in memory, the buffer.
  struct ReadTicket {
    uint32_t region = 0;
    WriteBuffer* buffer = nullptr;
    Checksum checksum;  // the value's, recorded at Append
  };
  // A live entry about to be reported to on_drop; its key is in a side arena.
  struct DroppedRecord {
    NamespaceId ns = 0;
    uint32_t key_offset = 0;
    uint16_t key_bytes = 0;
    FlashLocation location;
  };

  RegionStore(const RegionStoreOptions& options, Device* device, uint32_t num_regions);
  Status Init();

  // Append path (append_mu_ held).
  Status EnsureOpenRegion(uint64_t extent_bytes, uint64_t record_bytes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(append_mu_);
  Status OpenRegion() ABSL_EXCLUSIVE_LOCKS_REQUIRED(append_mu_);
  Result<RegionId> AcquireFreeRegion() ABSL_EXCLUSIVE_LOCKS_REQUIRED(append_mu_);
  void DrainTrim();
  // Waits until space_events_ moves past `seen` or `deadline`; false on timeout.
  bool WaitForSpaceEvent(uint64_t seen, std::chrono::steady_clock::time_point deadline)
      ABSL_LOCKS_EXCLUDED(mu_);
  WriteBuffer* AcquireBuffer() ABSL_EXCLUSIVE_LOCKS_REQUIRED(append_mu_);
  Status SealOpen() ABSL_EXCLUSIVE_LOCKS_REQUIRED(append_mu_);
  Status ReclaimOldestLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(append_mu_);
  // Write path (append_mu_ in synchronous mode, the flusher thread otherwise).
  Status WriteRegion(uint32_t index);
  void FinishWrite(uint32_t index, uint64_t used, const Status& status);
  void FlusherLoop();

  // Region bookkeeping (mu_ held).
  void ReleaseRegionLocked(uint32_t index) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FreeRegionLocked(uint32_t index) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MaybeReclaimDeadLocked(uint32_t index) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Status CheckLocationLocked(const FlashLocation& loc, const RegionEntries::Entry** entry = nullptr)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UnpinLocked(uint32_t index) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CollectLiveLocked(uint32_t index, std::vector<DroppedRecord>* out, std::string* keys)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Calls on_drop for each record (no lock held).
  void Report(const std::vector<DroppedRecord>& records, const std::string& keys,
              DropReason reason);

  // Read path.
  Status BeginRead(const FlashLocation& loc, NamespaceId ns, std::string_view key,
                   ReadTicket* ticket);
  void EndRead(const ReadTicket& ticket);
  void Unpin(RegionId region);
  Status Verify(std::span<const std::byte> value, const FlashLocation& loc, Checksum expected);
  void CountRead(const Status& s, const FlashLocation& loc, bool from_buffer);
  DeviceOffset RegionOffsetOnDevice(uint32_t index, uint64_t within = 0) const;

  const RegionStoreOptions options_;
  Device* const device_;
  const uint32_t num_regions_;
  RegionStates states_;
  std::unique_ptr<TrimPipeline> trim_;
  BouncePool bounce_;

  Mutex append_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  int64_t open_ ABSL_GUARDED_BY(append_mu_) = -1;         // index of the OPEN region, -1 if none
  uint64_t open_cursor_ ABSL_GUARDED_BY(append_mu_) = 0;  // end of the value extents
  uint64_t open_table_bytes_ ABSL_GUARDED_BY(append_mu_) = 0;  // entry records so far
  WriteBuffer* open_buffer_ ABSL_GUARDED_BY(append_mu_) = nullptr;
  RegionSequence open_sequence_ ABSL_GUARDED_BY(append_mu_);

  mutable Mutex mu_;
  std::vector<Region> regions_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<WriteBuffer>> buffers_ ABSL_GUARDED_BY(mu_);
  std::deque<uint32_t> fifo_ ABSL_GUARDED_BY(mu_);         // SEALED regions, oldest first
  std::deque<uint32_t> write_queue_ ABSL_GUARDED_BY(mu_);  // sealed, waiting for the flusher
  bool writing_ ABSL_GUARDED_BY(mu_) = false;              // the flusher is in a write
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t next_sequence_ ABSL_GUARDED_BY(mu_) = 0;
  Status deferred_write_error_ ABSL_GUARDED_BY(mu_);
  uint32_t pending_releases_ ABSL_GUARDED_BY(mu_) = 0;  // freed regions waiting for unpin
  uint64_t space_events_ ABSL_GUARDED_BY(mu_) = 0;      // bumped on last unpin, write done, free
  std::thread flusher_;

  struct Counters {
    std::atomic<uint64_t> appends{0}, bytes_appended{0}, extent_bytes_appended{0};
    std::atomic<uint64_t> device_bytes_written{0}, regions_written{0};
    std::atomic<uint64_t> regions_reclaimed{0}, regions_reclaimed_dead{0}, regions_dropped{0};
    std::atomic<uint64_t> entries_reclaimed{0}, entries_lost{0}, append_buffer_waits{0};
    std::atomic<uint64_t> reads{0}, read_bytes{0}, buffer_reads{0}, device_read_bytes{0};
    std::atomic<uint64_t> stale_reads{0}, checksum_failures{0};
    std::atomic<uint64_t> read_io_errors{0}, write_io_errors{0};
  } counters_;

  friend class RegionPin;
};

}  // namespace kvstash

#endif  // KVSTASH_FLASH_REGION_STORE_H_
