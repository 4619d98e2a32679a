// BlockStore reads: Lookup (pin a committed block in DRAM or on flash), ReadInto/ReadIntoV
// (copy pinned blocks out: memcpy from DRAM, verified batched reads from flash), and BlockPin,
// the RAII read pin that keeps a block's bytes from reuse.
#include <cstring>

#include "common/logging.h"
#include "engine/block_store_internal.h"

namespace kvstash {

using engine_internal::Readable;
using engine_internal::Shard;
using engine_internal::ValidateKey;

Result<BlockPin> BlockStore::Lookup(NamespaceId ns, std::string_view key) {
  KVSTASH_RETURN_IF_ERROR(ValidateKey(key));
  Impl& m = *impl_;
  m.lookups.fetch_add(1, std::memory_order_relaxed);
  KeyRef k(ns, key);
  if (m.flash) m.flash->admission().RecordAccess(k.hash);
  Shard& shard = m.index.ShardFor(k);
  MutexLock lock(&shard.mu);
  BlockRecord* r = shard.Find(k);
  if (Readable(r) && r->in_dram()) {
    if (r->hits < 255) r->hits++;
    BlockPin pin;
    pin.store_ = this;
    pin.tier_ = Tier::kDram;
    pin.offset_ = ArenaOffset(r->dram_loc);
    pin.region_ = m.regions.RegionOf(pin.offset_);
    pin.size_ = r->size;
    pin.checksum_ = Checksum(r->checksum);
    m.regions.Pin(pin.region_);
    m.hits_dram.fetch_add(1, std::memory_order_relaxed);
    return pin;
  }
  if (Readable(r) && r->in_flash() && m.flash) {
    auto region_pin = m.flash->Pin(r->flash_location(), r->size);
    if (region_pin.ok()) {
      if (r->hits < 255) r->hits++;
      BlockPin pin;
      pin.store_ = this;
      pin.tier_ = Tier::kFlash;
      pin.size_ = r->size;
      pin.checksum_ = Checksum(r->checksum);
      pin.flash_loc_ = r->flash_location();
      pin.ns_ = ns;
      pin.key_ = std::string(key);
      pin.flash_pin_ = std::move(*region_pin);
      m.hits_flash.fetch_add(1, std::memory_order_relaxed);
      return pin;
    }
  }
  m.misses.fetch_add(1, std::memory_order_relaxed);
  return Status::NotFound("key not found");
}

Status BlockStore::ReadInto(const BlockPin& pin, std::span<std::byte> dest) {
  const BlockPin* p = &pin;
  Status result;
  (void)ReadIntoV({&p, 1}, {&dest, 1}, {&result, 1});
  return result;
}

Status BlockStore::ReadIntoV(std::span<const BlockPin* const> pins,
                             std::span<const std::span<std::byte>> dests,
                             std::span<Status> results) {
  if (pins.size() != dests.size() || pins.size() != results.size()) {
    return Status::InvalidArgument("ReadIntoV: pins, dests and results differ in size");
  }
  std::vector<FlashTier::BlockRead> flash;
  std::vector<size_t> flash_items;  // flash[j] is item flash_items[j]
  for (size_t i = 0; i < pins.size(); ++i) {
    const BlockPin* pin = pins[i];
    if (pin == nullptr || !pin->valid() || pin->store_ != this) {
      results[i] = Status::InvalidArgument("invalid pin");
    } else if (dests[i].size() < pin->size()) {
      results[i] = Status::InvalidArgument("destination too small");
    } else if (pin->tier() == Tier::kDram) {
      std::memcpy(dests[i].data(), pin->data().data(), pin->size());
      impl_->dram_memcpy_bytes.fetch_add(pin->size(), std::memory_order_relaxed);
      results[i] = Status::Ok();
    } else {
      flash.push_back({pin->flash_loc_, pin->ns_, pin->key_, pin->size(), dests[i], {}});
      flash_items.push_back(i);
    }
  }
  if (!flash.empty()) impl_->flash->ReadV(flash);
  for (size_t j = 0; j < flash.size(); ++j) {
    const FlashTier::BlockRead& r = flash[j];
    if (r.result.Is(StatusCode::kDataLoss) || r.result.Is(StatusCode::kIOError) ||
        r.result.Is(StatusCode::kNotFound)) {
      KVSTASH_LOG_EVERY_N_SEC(warn, 5, "flash read failed, block dropped: {}", r.result.ToString());
      impl_->DropBadFlashCopy(r.ns, r.key, r.packed);
    }
    results[flash_items[j]] = r.result;
  }
  for (const Status& s : results) {
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

void BlockStore::Unpin(BlockPin& pin) {
  if (pin.tier_ == Tier::kDram) {
    impl_->regions.Unpin(pin.region_);
  } else {
    pin.flash_pin_.Release();
  }
}

// ---- BlockPin ------------------------------------------------------------------------------

BlockPin& BlockPin::operator=(BlockPin&& o) noexcept {
  if (this != &o) {
    Release();
    store_ = o.store_;
    tier_ = o.tier_;
    region_ = o.region_;
    offset_ = o.offset_;
    size_ = o.size_;
    checksum_ = o.checksum_;
    flash_loc_ = o.flash_loc_;
    ns_ = o.ns_;
    key_ = std::move(o.key_);
    flash_pin_ = std::move(o.flash_pin_);
    o.store_ = nullptr;
  }
  return *this;
}

void BlockPin::Release() {
  if (store_ != nullptr) {
    store_->Unpin(*this);
    store_ = nullptr;
  }
}

std::span<const std::byte> BlockPin::data() const {
  return store_->impl_->arena->At(offset_, size_);
}

}  // namespace kvstash
