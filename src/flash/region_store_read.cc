// RegionStore: pins and the read path. Every read pins its region for its whole duration (so
// the region cannot be reclaimed, trimmed or rewritten under it) and verifies the entry it got
// before a single value byte reaches the caller.
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

Status RegionStore::CheckLocationLocked(const FlashLocation& loc) {
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
  return Status::Ok();
}

Result<RegionPin> RegionStore::Pin(const FlashLocation& location) {
  MutexLock lock(&mu_);
  RETURN_IF_ERROR(CheckLocationLocked(location));
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

Status RegionStore::BeginRead(const FlashLocation& loc, ReadTicket* ticket) {
  MutexLock lock(&mu_);
  Status s = CheckLocationLocked(loc);
  if (!s.ok()) {
    if (s.Is(StatusCode::kNotFound)) counters_.stale_reads.fetch_add(1, std::memory_order_relaxed);
    return s;
  }
  Region& r = regions_[loc.region.value()];
  ++r.pins;
  ticket->region = loc.region.value();
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

// The entry must be exactly the one the location and the caller name: same key, namespace,
// generation and length, and its value must hash to the stored checksum.
Status RegionStore::VerifyAndCopy(std::span<const std::byte> extent, const FlashLocation& loc,
                                  NamespaceId ns, std::string_view key, std::span<std::byte> dest) {
  auto where = [&] {
    return " (region " + std::to_string(loc.region.value()) + " offset " +
           std::to_string(loc.offset.value()) + ")";
  };
  Result<EntryHeader> h = DecodeEntryHeader(extent);
  Status s = h.status();
  if (s.ok() && (h->ns != ns || h->key != key)) {
    s = Status::DataLoss("entry holds another key");
  } else if (s.ok() && h->sequence != loc.sequence) {
    s = Status::DataLoss("entry is from another region generation");
  } else if (s.ok() && h->value_bytes != loc.value_bytes) {
    s = Status::DataLoss("entry value length " + std::to_string(h->value_bytes) +
                         " != " + std::to_string(loc.value_bytes));
  } else if (s.ok()) {
    s = VerifyEntryValue(*h, extent);
  }
  if (!s.ok()) {
    counters_.checksum_failures.fetch_add(1, std::memory_order_relaxed);
    KVSTASH_LOG_EVERY_N_SEC(warn, 5, "flash entry rejected: {}{}", s.message(), where());
    return Status::DataLoss(s.message() + where());
  }
  if (loc.value_bytes > 0) {
    std::memcpy(dest.data(), extent.data() + EntryValueOffset(key.size()), loc.value_bytes);
  }
  return Status::Ok();
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
// the rest go to the device in one batch (all in flight up to the device's queue depth).
Status RegionStore::ReadV(std::span<FlashRead> reads) {
  struct Pending {
    FlashRead* read;
    ReadTicket ticket;
    Bounce bounce;
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
    rd.result = BeginRead(loc, &t);
    if (!rd.result.ok()) continue;
    if (t.buffer != nullptr) {
      auto extent = t.buffer->mem.span().subspan(loc.offset.value(), loc.extent_bytes);
      rd.result = VerifyAndCopy(extent, loc, rd.ns, rd.key, rd.dest);
      EndRead(t);
      CountRead(rd.result, loc, /*from_buffer=*/true);
      continue;
    }
    Result<Bounce> b = bounce_.Acquire(loc.extent_bytes);
    if (!b.ok()) {
      rd.result = b.status();
      EndRead(t);
      continue;
    }
    pending.push_back(Pending{&rd, t, std::move(b).value()});
  }
  for (Pending& p : pending) {
    const FlashLocation& loc = p.read->location;
    io.push_back(IoRequest{RegionOffsetOnDevice(loc.region.value(), loc.offset.value()),
                           p.bounce.span(), Status::Ok()});
  }
  if (!io.empty()) device_->ReadV(io).IgnoreError();  // per-request results below
  for (size_t i = 0; i < pending.size(); ++i) {
    FlashRead& rd = *pending[i].read;
    if (io[i].result.ok()) {
      counters_.device_read_bytes.fetch_add(io[i].buffer.size(), std::memory_order_relaxed);
      rd.result = VerifyAndCopy(pending[i].bounce.span(), rd.location, rd.ns, rd.key, rd.dest);
    } else {
      counters_.read_io_errors.fetch_add(1, std::memory_order_relaxed);
      rd.result = io[i].result;
    }
    EndRead(pending[i].ticket);
    CountRead(rd.result, rd.location, /*from_buffer=*/false);
  }
  for (const FlashRead& rd : reads) {
    if (!rd.result.ok()) return rd.result;
  }
  return Status::Ok();
}

}  // namespace kvstash
