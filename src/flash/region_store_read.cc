// RegionStore: pins and the read path. Every read pins its region for its whole duration (so
// the region cannot be reclaimed, trimmed or rewritten under it), checks the location against
// the region's in-memory entry records (generation, offset, length, namespace, key) and hashes
// the bytes it read against the value checksum recorded at Append before it reports success.
#include <cstring>
#include <string>

#include "common/logging.h"
#include "flash/region_store.h"

namespace kvstash {

RegionPin& RegionPin::operator=(RegionPin&& o) noexcept {
  if (this != &o) {
    Release();
    store_ = std::exchange(o.store_, nullptr);
    region_ = o.region_;
  }
  return *this;
}

void RegionPin::Release() {
  if (store_ != nullptr) std::exchange(store_, nullptr)->Unpin(region_);
}

Status RegionStore::CheckLocationLocked(const FlashLocation& loc,
                                        const RegionEntries::Entry** entry) {
  const uint32_t index = loc.region.value();
  if (index >= regions_.size()) {
    return Status::InvalidArgument("flash location names region " + std::to_string(index) + " of " +
                                   std::to_string(regions_.size()));
  }
  const Region& r = regions_[index];
  if (r.state == State::kFree || r.sequence != loc.sequence) {
    return Status::NotFound("flash location is stale: region " + std::to_string(index) +
                            " was reclaimed");
  }
  const RegionEntries::Entry* e = r.entries.Find(loc.offset);
  if (e == nullptr || e->extent_bytes != loc.extent_bytes || e->value_bytes != loc.value_bytes) {
    return Status::InvalidArgument("no entry at region " + std::to_string(index) + " offset " +
                                   std::to_string(loc.offset.value()));
  }
  if (entry != nullptr) *entry = e;
  return Status::Ok();
}

Result<RegionPin> RegionStore::Pin(const FlashLocation& location) {
  MutexLock lock(&mu_);
  KVSTASH_RETURN_IF_ERROR(CheckLocationLocked(location));
  ++regions_[location.region.value()].pins;
  RegionPin pin;
  pin.store_ = this;
  pin.region_ = location.region;
  return pin;
}

void RegionStore::Unpin(RegionId region) {
  MutexLock lock(&mu_);
  UnpinLocked(region.value());
}

// The last pin lets a pending release (reclaimed or dropped region) or an all-dead reclaim
// proceed.
void RegionStore::UnpinLocked(uint32_t index) {
  Region& r = regions_[index];
  if (--r.pins > 0) return;
  ++space_events_;
  if (r.release_when_unpinned) {
    FreeRegionLocked(index);
  } else {
    MaybeReclaimDeadLocked(index);
  }
}

Status RegionStore::BeginRead(const FlashLocation& loc, NamespaceId ns, std::string_view key,
                              ReadTicket* ticket) {
  MutexLock lock(&mu_);
  const RegionEntries::Entry* e = nullptr;
  Status s = CheckLocationLocked(loc, &e);
  if (!s.ok()) {
    if (s.Is(StatusCode::kNotFound)) counters_.stale_reads.fetch_add(1, std::memory_order_relaxed);
    return s;
  }
  Region& r = regions_[loc.region.value()];
  if (e->ns != ns || r.entries.key(*e) != key) {
    counters_.checksum_failures.fetch_add(1, std::memory_order_relaxed);
    return Status::DataLoss("flash location holds another key (region " +
                            std::to_string(loc.region.value()) + " offset " +
                            std::to_string(loc.offset.value()) + ")");
  }
  ++r.pins;
  ticket->region = loc.region.value();
  ticket->checksum = e->checksum;
  ticket->buffer = nullptr;
  if (r.state == State::kOpen || r.state == State::kWriting) {
    ticket->buffer = r.buffer;
    ++r.buffer->readers;
  }
  return Status::Ok();
}

void RegionStore::EndRead(const ReadTicket& ticket) {
  MutexLock lock(&mu_);
  if (ticket.buffer != nullptr) --ticket.buffer->readers;
  UnpinLocked(ticket.region);
}

// `value` holds the bytes read for `loc`; they must hash to the checksum recorded at Append.
Status RegionStore::Verify(std::span<const std::byte> value, const FlashLocation& loc,
                           Checksum expected) {
  Status s = VerifyValue(value, expected);
  if (s.ok()) return s;
  counters_.checksum_failures.fetch_add(1, std::memory_order_relaxed);
  std::string where = " (region " + std::to_string(loc.region.value()) + " offset " +
                      std::to_string(loc.offset.value()) + ")";
  KVSTASH_LOG_EVERY_N_SEC(warn, 5, "flash entry rejected: {}{}", s.message(), where);
  return Status::DataLoss(s.message() + where);
}

void RegionStore::CountRead(const Status& s, const FlashLocation& loc, bool from_buffer) {
  if (!s.ok()) return;
  counters_.reads.fetch_add(1, std::memory_order_relaxed);
  counters_.read_bytes.fetch_add(loc.value_bytes, std::memory_order_relaxed);
  if (from_buffer) counters_.buffer_reads.fetch_add(1, std::memory_order_relaxed);
}

Status RegionStore::Read(const FlashLocation& location, NamespaceId ns, std::string_view key,
                         std::span<std::byte> dest) {
  FlashRead one{location, ns, key, dest, Status::Ok()};
  return ReadV(std::span<FlashRead>(&one, 1));
}

// Pins every region first; entries still in a write buffer are served from memory at once,
// the rest go to the device in one batch (all in flight up to the device's queue depth). A
// destination that is 4 KiB-aligned and holds the whole extent is read into directly (no
// bounce buffer, no copy); any other goes through a bounce buffer and one copy.
Status RegionStore::ReadV(std::span<FlashRead> reads) {
  struct Pending {
    FlashRead* read;
    ReadTicket ticket;
    Bounce bounce;  // empty for a direct read
  };
  std::vector<Pending> pending;
  std::vector<IoRequest> io;
  for (FlashRead& rd : reads) {
    const FlashLocation& loc = rd.location;
    if (rd.dest.size() < loc.value_bytes) {
      rd.result = Status::InvalidArgument("destination smaller than the value");
      continue;
    }
    ReadTicket t;
    rd.result = BeginRead(loc, rd.ns, rd.key, &t);
    if (!rd.result.ok()) continue;
    std::span<std::byte> dest = rd.dest.first(loc.value_bytes);
    if (t.buffer != nullptr) {
      if (!dest.empty())
        std::memcpy(dest.data(), t.buffer->mem.data() + loc.offset.value(), dest.size());
      rd.result = Verify(dest, loc, t.checksum);
      EndRead(t);
      CountRead(rd.result, loc, /*from_buffer=*/true);
      continue;
    }
    const bool direct = reinterpret_cast<uintptr_t>(rd.dest.data()) % kFormatBlockBytes == 0 &&
                        rd.dest.size() >= loc.extent_bytes;
    Bounce bounce;
    if (!direct) {
      Result<Bounce> b = bounce_.Acquire(loc.extent_bytes);
      if (!b.ok()) {
        rd.result = b.status();
        EndRead(t);
        continue;
      }
      bounce = std::move(b).value();
    }
    pending.push_back(Pending{&rd, t, std::move(bounce)});
  }
  for (Pending& p : pending) {
    const FlashLocation& loc = p.read->location;
    std::span<std::byte> target =
        p.bounce.span().empty() ? p.read->dest.first(loc.extent_bytes) : p.bounce.span();
    io.push_back(IoRequest{RegionOffsetOnDevice(loc.region.value(), loc.offset.value()), target,
                           Status::Ok()});
  }
  if (!io.empty()) device_->ReadV(io).IgnoreError();  // per-request results below
  for (size_t i = 0; i < pending.size(); ++i) {
    FlashRead& rd = *pending[i].read;
    const FlashLocation& loc = rd.location;
    if (io[i].result.ok()) {
      counters_.device_read_bytes.fetch_add(io[i].buffer.size(), std::memory_order_relaxed);
      std::span<const std::byte> got = io[i].buffer.first(loc.value_bytes);
      rd.result = Verify(got, loc, pending[i].ticket.checksum);
      if (rd.result.ok() && !pending[i].bounce.span().empty() && !got.empty()) {
        std::memcpy(rd.dest.data(), got.data(), got.size());
      }
    } else {
      counters_.read_io_errors.fetch_add(1, std::memory_order_relaxed);
      rd.result = io[i].result;
    }
    EndRead(pending[i].ticket);
    CountRead(rd.result, loc, /*from_buffer=*/false);
  }
  for (const FlashRead& rd : reads) {
    if (!rd.result.ok()) return rd.result;
  }
  return Status::Ok();
}

}  // namespace kvstash
