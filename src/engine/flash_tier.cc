#include "engine/flash_tier.h"

#include <sys/stat.h>

#include <vector>

#include "flash/uring_device.h"

namespace kvstash {
namespace {

constexpr int kSeqBits = 25;
constexpr int kOffsetBits = 19;
constexpr int kRegionBits = 20;
constexpr uint64_t kSeqMask = (uint64_t{1} << kSeqBits) - 1;
constexpr uint64_t kOffsetMask = (uint64_t{1} << kOffsetBits) - 1;
constexpr uint64_t kRegionMask = (uint64_t{1} << kRegionBits) - 1;
static_assert(kSeqBits + kOffsetBits + kRegionBits == 64);

}  // namespace

Result<std::unique_ptr<FlashTier>> FlashTier::Create(const FlashOptions& options, Device* injected,
                                                     Clock* clock, DropCallback on_drop) {
  std::unique_ptr<FlashTier> tier(new FlashTier());
  if (injected != nullptr) {
    tier->device_ = injected;
  } else {
    UringDeviceOptions d;
    d.path = options.path;
    d.size = options.size_bytes;
    struct stat st {};
    bool is_block = stat(options.path.c_str(), &st) == 0 && S_ISBLK(st.st_mode);
    d.create = !is_block;  // a regular file is created (and sized) if absent
    d.queue_depth = options.queue_depth;
    d.direct_io = options.direct_io;
    KVSTASH_ASSIGN_OR_RETURN(tier->owned_device_, UringDevice::Open(d));
    tier->device_ = tier->owned_device_.get();
  }
  AdmissionOptions a = options.admission;
  a.clock = clock;
  KVSTASH_ASSIGN_OR_RETURN(tier->admission_, MakeAdmissionPolicy(a));
  RegionStoreOptions r = options.regions;
  r.on_drop = std::move(on_drop);
  if (r.trim.clock == nullptr) r.trim.clock = clock;
  if (tier->device_->size() / r.region_bytes > kRegionMask + 1) {
    return Status::InvalidArgument("flash device has more than 2^20 regions: raise region size");
  }
  KVSTASH_ASSIGN_OR_RETURN(tier->store_, RegionStore::Create(r, tier->device_));
  return tier;
}

uint64_t FlashTier::Pack(const FlashLocation& loc) const {
  uint64_t block = loc.offset.value() / kFormatBlockBytes;
  return (uint64_t{loc.region.value()} & kRegionMask) << (kSeqBits + kOffsetBits) |
         (block & kOffsetMask) << kSeqBits | (loc.sequence.value() & kSeqMask);
}

Result<FlashLocation> FlashTier::Unpack(uint64_t packed, uint64_t value_bytes) const {
  FlashLocation loc;
  loc.region = RegionId(static_cast<uint32_t>(packed >> (kSeqBits + kOffsetBits)));
  loc.offset =
      RegionOffset(static_cast<uint32_t>(((packed >> kSeqBits) & kOffsetMask) * kFormatBlockBytes));
  loc.extent_bytes = static_cast<uint32_t>(ValueExtentBytes(value_bytes));
  loc.value_bytes = static_cast<uint32_t>(value_bytes);
  RegionSequence current = store_->region_sequence(loc.region);
  if ((current.value() & kSeqMask) != (packed & kSeqMask)) {
    return Status::NotFound("flash location is stale: its region was rewritten");
  }
  loc.sequence = current;
  return loc;
}

Result<uint64_t> FlashTier::Persist(NamespaceId ns, std::string_view key,
                                    std::span<const std::byte> value, Checksum checksum) {
  KVSTASH_ASSIGN_OR_RETURN(FlashLocation loc, store_->Append(ns, key, value, checksum));
  return Pack(loc);
}

Result<RegionPin> FlashTier::Pin(uint64_t packed, uint64_t value_bytes) {
  KVSTASH_ASSIGN_OR_RETURN(FlashLocation loc, Unpack(packed, value_bytes));
  return store_->Pin(loc);
}

void FlashTier::ReadV(std::span<BlockRead> reads) {
  std::vector<FlashRead> batch;
  std::vector<BlockRead*> owners;
  batch.reserve(reads.size());
  owners.reserve(reads.size());
  for (BlockRead& r : reads) {
    Result<FlashLocation> loc = Unpack(r.packed, r.value_bytes);
    if (!loc.ok()) {
      r.result = loc.status();
      continue;
    }
    batch.push_back(FlashRead{*loc, r.ns, r.key, r.dest, Status::Ok()});
    owners.push_back(&r);
  }
  if (batch.empty()) return;
  store_->ReadV(batch).IgnoreError();  // per-element results below
  for (size_t i = 0; i < batch.size(); ++i) owners[i]->result = std::move(batch[i].result);
}

void FlashTier::MarkDead(uint64_t packed, uint64_t value_bytes) {
  auto loc = Unpack(packed, value_bytes);
  if (loc.ok()) store_->MarkDead(*loc);
}

}  // namespace kvstash
