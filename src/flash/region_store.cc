// RegionStore: creation, the append path and the region write path. The read path is in
// region_store_read.cc, reclaim and space accounting in region_store_space.cc.
#include "flash/region_store.h"

#include <algorithm>
#include <cstring>
#include <random>
#include <string>

#include "common/checksum.h"
#include "common/logging.h"

namespace kvstash {

Status RegionStoreOptions::Validate() const {
  constexpr uint64_t kMiB = 1ull << 20;
  if (region_bytes == 0 || region_bytes % kMiB != 0 || region_bytes > kMaxRegionBytes) {
    return Status::InvalidArgument("region_bytes must be a non-zero multiple of 1 MiB up to " +
                                   std::to_string(kMaxRegionBytes) + ", got " +
                                   std::to_string(region_bytes));
  }
  if (write_buffers < 1 || write_buffers > 64) {
    return Status::InvalidArgument("write_buffers must be 1..64");
  }
  if (space_wait.count() < 0) return Status::InvalidArgument("space_wait must be >= 0");
  if (write_io_bytes == 0 || write_io_bytes % kFormatBlockBytes != 0 ||
      write_io_bytes > region_bytes) {
    return Status::InvalidArgument(
        "write_io_bytes must be a non-zero multiple of 4096, at "
        "most region_bytes");
  }
  return trim.Validate();
}

double RegionStoreStats::host_write_amplification() const {
  return bytes_appended == 0 ? 0.0 : static_cast<double>(device_bytes_written) / bytes_appended;
}

Result<std::unique_ptr<RegionStore>> RegionStore::Create(const RegionStoreOptions& options,
                                                         Device* device) {
  KVSTASH_RETURN_IF_ERROR(options.Validate());
  if (device == nullptr) return Status::InvalidArgument("region store needs a device");
  if (kFormatBlockBytes % device->io_alignment() != 0) {
    return Status::InvalidArgument("device alignment " + std::to_string(device->io_alignment()) +
                                   " does not divide the 4096-byte entry alignment");
  }
  const uint64_t num = device->size() / options.region_bytes;
  if (num == 0 || num > UINT32_MAX) {
    return Status::InvalidArgument("device of " + std::to_string(device->size()) +
                                   " bytes cannot hold regions of " +
                                   std::to_string(options.region_bytes));
  }
  if (options.discard_on_create) KVSTASH_RETURN_IF_ERROR(DiscardAll(*device));
  std::unique_ptr<RegionStore> store(new RegionStore(options, device, static_cast<uint32_t>(num)));
  KVSTASH_RETURN_IF_ERROR(store->Init());
  return store;
}

RegionStore::RegionStore(const RegionStoreOptions& options, Device* device, uint32_t num_regions)
    : options_(options),
      device_(device),
      num_regions_(num_regions),
      // After a whole-device discard every region is clean; otherwise assume old data.
      states_(num_regions, options.discard_on_create && device->discard_supported()
                               ? RegionTrimState::kFreeClean
                               : RegionTrimState::kFreeDirty),
      bounce_(options.bounce_cache_bytes),
      regions_(num_regions) {}

Status RegionStore::Init() {
  TrimPipelineOptions trim = options_.trim;
  trim.background_thread = options_.background_flush;
  KVSTASH_ASSIGN_OR_RETURN(trim_, TrimPipeline::Create(device_, trim, nullptr, &states_));
  MutexLock lock(&mu_);
  for (uint32_t i = 0; i < options_.write_buffers; ++i) {
    KVSTASH_ASSIGN_OR_RETURN(AlignedBuffer mem, AlignedBuffer::Create(options_.region_bytes));
    buffers_.push_back(std::make_unique<WriteBuffer>());
    buffers_.back()->mem = std::move(mem);
  }
  // Generations of two store incarnations never meet: start at a random multiple of 2^32.
  next_sequence_ = (static_cast<uint64_t>(std::random_device{}()) << 32) | 1;
  if (options_.background_flush) flusher_ = std::thread([this] { FlusherLoop(); });
  return Status::Ok();
}

RegionStore::~RegionStore() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (flusher_.joinable()) flusher_.join();  // writes what was already sealed first
  trim_->Stop();
}

// A value alone in a region: the header block, its extent and its one-record entry table.
uint64_t RegionStore::max_value_bytes(size_t key_bytes) const {
  return options_.region_bytes - kFormatBlockBytes -
         EntryTableExtentBytes(EntryRecordBytes(key_bytes));
}

DeviceOffset RegionStore::RegionOffsetOnDevice(uint32_t index, uint64_t within) const {
  return DeviceOffset(static_cast<uint64_t>(index) * options_.region_bytes + within);
}

Result<FlashLocation> RegionStore::Append(NamespaceId ns, std::string_view key,
                                          std::span<const std::byte> value, Checksum checksum) {
  if (key.empty() || key.size() > kMaxKeyBytes) {
    return Status::InvalidArgument("key must be 1.." + std::to_string(kMaxKeyBytes) + " bytes");
  }
  if (value.size() > max_value_bytes(key.size())) {
    return Status::InvalidArgument("value of " + std::to_string(value.size()) +
                                   " bytes does not fit in a region");
  }
  const uint64_t extent = ValueExtentBytes(value.size());
  MutexLock lock(&append_mu_);
  KVSTASH_RETURN_IF_ERROR(EnsureOpenRegion(extent, EntryRecordBytes(key.size())));
  std::span<std::byte> dst = open_buffer_->mem.span().subspan(open_cursor_, extent);
  if (!value.empty()) std::memcpy(dst.data(), value.data(), value.size());
  std::memset(dst.data() + value.size(), 0, extent - value.size());
  // Verify on the copy: whatever reaches flash matches the checksum the owner vouches for.
  if (ComputeChecksum(dst.first(value.size())) != checksum) {
    return Status::DataLoss("value of key does not match its checksum; not appended");
  }
  const FlashLocation loc{
      RegionId(static_cast<uint32_t>(open_)), RegionOffset(static_cast<uint32_t>(open_cursor_)),
      static_cast<uint32_t>(extent), static_cast<uint32_t>(value.size()), open_sequence_};
  {
    MutexLock l(&mu_);
    Region& r = regions_[open_];
    r.entries.Add(ns, key, loc.offset, loc.extent_bytes, loc.value_bytes, checksum);
    r.used_bytes = open_cursor_ + extent;  // publishes the entry to readers
  }
  open_cursor_ += extent;
  open_table_bytes_ += EntryRecordBytes(key.size());
  counters_.appends.fetch_add(1, std::memory_order_relaxed);
  counters_.bytes_appended.fetch_add(value.size(), std::memory_order_relaxed);
  counters_.extent_bytes_appended.fetch_add(extent, std::memory_order_relaxed);
  return loc;
}

// The open region takes the entry if its value extent and the entry table, grown by its record,
// both still fit.
Status RegionStore::EnsureOpenRegion(uint64_t extent_bytes, uint64_t record_bytes) {
  if (open_ >= 0 &&
      open_cursor_ + extent_bytes + EntryTableExtentBytes(open_table_bytes_ + record_bytes) <=
          options_.region_bytes) {
    return Status::Ok();
  }
  if (open_ >= 0) KVSTASH_RETURN_IF_ERROR(SealOpen());
  return OpenRegion();
}

Status RegionStore::OpenRegion() {
  WriteBuffer* buf = AcquireBuffer();
  KVSTASH_ASSIGN_OR_RETURN(RegionId id, AcquireFreeRegion());
  MutexLock lock(&mu_);
  Region& r = regions_[id.value()];
  r.state = State::kOpen;
  r.sequence = RegionSequence(next_sequence_++);
  r.buffer = buf;
  r.used_bytes = kFormatBlockBytes;
  r.entries.Clear();
  r.release_when_unpinned = false;
  buf->attached = true;
  open_ = id.value();
  open_cursor_ = kFormatBlockBytes;
  open_table_bytes_ = 0;
  open_buffer_ = buf;
  open_sequence_ = r.sequence;
  return Status::Ok();
}

// A buffer is reusable once no region owns it and no reader is still copying out of it.
RegionStore::WriteBuffer* RegionStore::AcquireBuffer() {
  MutexLock lock(&mu_);
  WriteBuffer* found = nullptr;
  auto free_buffer = [this, &found]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (auto& b : buffers_) {
      if (!b->attached && b->readers == 0) {
        found = b.get();
        return true;
      }
    }
    return false;
  };
  if (!free_buffer()) {
    counters_.append_buffer_waits.fetch_add(1, std::memory_order_relaxed);
    mu_.Await(Condition(&free_buffer));
  }
  return found;
}

// Order of preference: a clean region, a dirty one, one whose TRIM is finishing, then (with
// auto_reclaim) the oldest sealed region. A reclaimed region still pinned by a read, or a
// region still being written, is about to become usable: wait for it (up to space_wait)
// rather than reclaim more than needed. Never more regions than the device holds.
Result<RegionId> RegionStore::AcquireFreeRegion() {
  const auto deadline = std::chrono::steady_clock::now() + options_.space_wait;
  for (;;) {
    if (std::optional<RegionId> id = states_.AllocateForWrite()) return *id;
    if (states_.counts().trimming > 0) {
      DrainTrim();
      continue;
    }
    uint64_t seen;
    uint32_t releases;
    bool writes;
    {
      MutexLock lock(&mu_);
      seen = space_events_;
      releases = pending_releases_;
      writes = writing_ || !write_queue_.empty();
    }
    bool can_wait = releases > 0;
    if (releases == 0 && options_.auto_reclaim) {
      Status s = ReclaimOldestLocked();
      if (s.ok()) continue;
      can_wait = s.Is(StatusCode::kBusy) || writes;  // pins end; written regions join the FIFO
    }
    if (!can_wait || !WaitForSpaceEvent(seen, deadline)) break;
  }
  return Status::ResourceExhausted("no free flash region: all " + std::to_string(num_regions()) +
                                   " regions are open, being written, pinned or trimming");
}

void RegionStore::DrainTrim() {
  if (options_.background_flush) {
    trim_->WaitIdle();
  } else {
    while (trim_->RunOnce() > 0) {
    }
  }
}

bool RegionStore::WaitForSpaceEvent(uint64_t seen, std::chrono::steady_clock::time_point deadline) {
  auto now = std::chrono::steady_clock::now();
  if (now >= deadline) return false;
  MutexLock lock(&mu_);
  auto changed = [this, seen]()
                     ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return space_events_ != seen; };
  return mu_.AwaitWithTimeout(Condition(&changed), deadline - now);
}

Status RegionStore::SealOpen() {
  const uint32_t index = static_cast<uint32_t>(open_);
  open_ = -1;
  open_buffer_ = nullptr;
  {
    MutexLock lock(&mu_);
    Region& r = regions_[index];
    // The entry table goes right after the last value; the region header points at it.
    std::vector<EntryRecord> records;
    records.reserve(r.entries.size());
    for (const RegionEntries::Entry& e : r.entries.entries()) {
      records.push_back(EntryRecord{e.offset, e.value_bytes, e.ns, r.entries.key(e), e.checksum});
    }
    RegionHeader h;
    h.region = RegionId(index);
    h.sequence = r.sequence;
    h.region_bytes = options_.region_bytes;
    KVSTASH_ASSIGN_OR_RETURN(h, SealRegionImage(h, records, r.used_bytes, r.buffer->mem.span()));
    r.used_bytes = h.used_bytes;
    r.state = State::kWriting;
    if (options_.background_flush) {
      write_queue_.push_back(index);
      return Status::Ok();
    }
  }
  return WriteRegion(index);
}

Status RegionStore::Flush() {
  MutexLock lock(&append_mu_);
  Status s;
  if (open_ >= 0 && open_cursor_ > kFormatBlockBytes) s = SealOpen();
  if (!options_.background_flush) return s;
  MutexLock l(&mu_);
  auto drained = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return write_queue_.empty() && !writing_;
  };
  mu_.Await(Condition(&drained));
  if (s.ok()) s = deferred_write_error_;
  deferred_write_error_ = Status::Ok();
  return s;
}

// Writes the used prefix of a sealed region from its buffer, in write_io_bytes requests that
// are all in flight together. The buffer is immutable while WRITING, so no lock is needed.
Status RegionStore::WriteRegion(uint32_t index) {
  WriteBuffer* buf;
  uint64_t used;
  {
    MutexLock lock(&mu_);
    buf = regions_[index].buffer;
    used = regions_[index].used_bytes;
  }
  std::vector<IoRequest> requests;
  for (uint64_t off = 0; off < used; off += options_.write_io_bytes) {
    uint64_t len = std::min<uint64_t>(options_.write_io_bytes, used - off);
    requests.push_back(IoRequest{RegionOffsetOnDevice(index, off),
                                 buf->mem.span().subspan(off, len), Status::Ok()});
  }
  Status s = device_->WriteV(requests);
  if (!s.ok()) {
    s = Status(s.code(), "writing region " + std::to_string(index) + ": " + s.message());
    KVSTASH_LOG_EVERY_N_SEC(warn, 5, "flash region write failed: {}", s.ToString());
  }
  FinishWrite(index, used, s);
  return s;
}

// Settles a finished region write: on success the region joins the FIFO; on failure it is
// dropped and each live entry is reported lost (outside the lock).
void RegionStore::FinishWrite(uint32_t index, uint64_t used, const Status& status) {
  std::vector<DroppedRecord> lost;
  std::string keys;
  {
    MutexLock lock(&mu_);
    Region& r = regions_[index];
    r.buffer->attached = false;
    r.buffer = nullptr;
    ++space_events_;
    if (status.ok()) {
      r.state = State::kSealed;
      fifo_.push_back(index);
      counters_.device_bytes_written.fetch_add(used, std::memory_order_relaxed);
      counters_.regions_written.fetch_add(1, std::memory_order_relaxed);
      if (r.pins == 0) MaybeReclaimDeadLocked(index);
      return;
    }
    counters_.write_io_errors.fetch_add(1, std::memory_order_relaxed);
    counters_.regions_dropped.fetch_add(1, std::memory_order_relaxed);
    CollectLiveLocked(index, &lost, &keys);
    r.state = State::kFree;
    ReleaseRegionLocked(index);
  }
  counters_.entries_lost.fetch_add(lost.size(), std::memory_order_relaxed);
  Report(lost, keys, DropReason::kWriteFailed);
}

void RegionStore::FlusherLoop() {
  auto work_or_stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || !write_queue_.empty();
  };
  for (;;) {
    uint32_t index;
    {
      MutexLock lock(&mu_);
      mu_.Await(Condition(&work_or_stop));
      if (write_queue_.empty()) return;  // stopping, and everything sealed is written
      index = write_queue_.front();
      write_queue_.pop_front();
      writing_ = true;
    }
    Status s = WriteRegion(index);
    MutexLock lock(&mu_);
    writing_ = false;
    if (!s.ok() && deferred_write_error_.ok()) deferred_write_error_ = s;
  }
}

}  // namespace kvstash
