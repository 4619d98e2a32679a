#include "flash/region_format.h"

#include <array>
#include <cstring>
#include <string>

#include "common/checksum.h"

namespace kvstash {
namespace {

// Field offsets of the region header (docs/FORMAT.md §2).
constexpr size_t kRhMagic = 0, kRhVersion = 4, kRhFlags = 6, kRhRegion = 8, kRhCount = 12,
                 kRhSequence = 16, kRhUsed = 24, kRhRegionBytes = 32, kRhChecksum = 40;
static_assert(kRhChecksum + 8 == kRegionHeaderBytes);

// Field offsets of the entry header (docs/FORMAT.md §3).
constexpr size_t kEhMagic = 0, kEhVersion = 4, kEhFlags = 6, kEhNamespace = 8, kEhKeyLen = 10,
                 kEhReserved = 12, kEhSequence = 16, kEhValueLen = 24, kEhValueChecksum = 32,
                 kEhChecksum = 40;
static_assert(kEhChecksum + 8 == kEntryHeaderBytes);
static_assert(kEntryHeaderBytes + kMaxKeyBytes < kFormatBlockBytes);

// Explicit little-endian stores and loads: the host layout of a struct never reaches flash.
template <typename T>
void Put(std::span<std::byte> b, size_t off, T v) {
  for (size_t i = 0; i < sizeof(T); ++i) b[off + i] = std::byte((v >> (8 * i)) & 0xff);
}
template <typename T>
T Get(std::span<const std::byte> b, size_t off) {
  T v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) v |= T(std::to_integer<uint8_t>(b[off + i])) << (8 * i);
  return v;
}

// Entry header checksum: XXH3-64 of bytes [0, 40) followed by the key bytes.
Checksum EntryHeaderChecksum(std::span<const std::byte> fixed, std::string_view key) {
  std::array<std::byte, kEhChecksum + kMaxKeyBytes> buf;
  std::memcpy(buf.data(), fixed.data(), kEhChecksum);
  std::memcpy(buf.data() + kEhChecksum, key.data(), key.size());
  return ComputeChecksum(buf.data(), kEhChecksum + key.size());
}

std::string Hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

uint64_t EntryExtentBytes(size_t key_bytes, uint64_t value_bytes) {
  uint64_t raw = kEntryHeaderBytes + key_bytes + value_bytes;
  return (raw + kFormatBlockBytes - 1) / kFormatBlockBytes * kFormatBlockBytes;
}

Status EncodeRegionHeader(const RegionHeader& h, std::span<std::byte> block) {
  if (block.size() < kRegionHeaderBytes) {
    return Status::InvalidArgument("region header buffer too small");
  }
  std::memset(block.data(), 0, block.size());
  Put<uint32_t>(block, kRhMagic, kRegionMagic);
  Put<uint16_t>(block, kRhVersion, h.version);
  Put<uint16_t>(block, kRhFlags, 0);
  Put<uint32_t>(block, kRhRegion, h.region.value());
  Put<uint32_t>(block, kRhCount, h.entry_count);
  Put<uint64_t>(block, kRhSequence, h.sequence.value());
  Put<uint64_t>(block, kRhUsed, h.used_bytes);
  Put<uint64_t>(block, kRhRegionBytes, h.region_bytes);
  Put<uint64_t>(block, kRhChecksum, ComputeChecksum(block.first(kRhChecksum)).value());
  return Status::Ok();
}

Result<RegionHeader> DecodeRegionHeader(std::span<const std::byte> block, uint64_t region_bytes) {
  if (block.size() < kRegionHeaderBytes) return Status::DataLoss("region header truncated");
  if (Get<uint32_t>(block, kRhMagic) != kRegionMagic) {
    return Status::DataLoss("region header: bad magic " + Hex(Get<uint32_t>(block, kRhMagic)));
  }
  uint64_t stored = Get<uint64_t>(block, kRhChecksum);
  if (ComputeChecksum(block.first(kRhChecksum)).value() != stored) {
    return Status::DataLoss("region header: checksum mismatch");
  }
  RegionHeader h;
  h.version = Get<uint16_t>(block, kRhVersion);
  if (h.version != kFormatVersion) {
    return Status::DataLoss("region header: unsupported version " + std::to_string(h.version));
  }
  if (Get<uint16_t>(block, kRhFlags) != 0) return Status::DataLoss("region header: bad flags");
  h.region = RegionId(Get<uint32_t>(block, kRhRegion));
  h.entry_count = Get<uint32_t>(block, kRhCount);
  h.sequence = RegionSequence(Get<uint64_t>(block, kRhSequence));
  h.used_bytes = Get<uint64_t>(block, kRhUsed);
  h.region_bytes = Get<uint64_t>(block, kRhRegionBytes);
  if (h.region_bytes != region_bytes) {
    return Status::DataLoss("region header: region size " + std::to_string(h.region_bytes) +
                            " != store's " + std::to_string(region_bytes));
  }
  if (h.used_bytes < kFormatBlockBytes || h.used_bytes > region_bytes ||
      h.used_bytes % kFormatBlockBytes != 0) {
    return Status::DataLoss("region header: bad used_bytes " + std::to_string(h.used_bytes));
  }
  if (h.entry_count > (h.used_bytes - kFormatBlockBytes) / kFormatBlockBytes) {
    return Status::DataLoss("region header: entry_count " + std::to_string(h.entry_count) +
                            " cannot fit in used_bytes");
  }
  return h;
}

Status EncodeEntryHeader(const EntryHeader& h, std::span<std::byte> extent) {
  if (h.key.empty() || h.key.size() > kMaxKeyBytes) {
    return Status::InvalidArgument("entry key must be 1.." + std::to_string(kMaxKeyBytes) +
                                   " bytes, got " + std::to_string(h.key.size()));
  }
  if (extent.size() != EntryExtentBytes(h.key.size(), h.value_bytes)) {
    return Status::InvalidArgument("entry extent size " + std::to_string(extent.size()) +
                                   " does not match header");
  }
  Put<uint32_t>(extent, kEhMagic, kEntryMagic);
  Put<uint16_t>(extent, kEhVersion, h.version);
  Put<uint16_t>(extent, kEhFlags, h.flags);
  Put<uint16_t>(extent, kEhNamespace, h.ns);
  Put<uint16_t>(extent, kEhKeyLen, static_cast<uint16_t>(h.key.size()));
  Put<uint32_t>(extent, kEhReserved, 0);
  Put<uint64_t>(extent, kEhSequence, h.sequence.value());
  Put<uint64_t>(extent, kEhValueLen, h.value_bytes);
  Put<uint64_t>(extent, kEhValueChecksum, h.value_checksum.value());
  Put<uint64_t>(extent, kEhChecksum, EntryHeaderChecksum(extent, h.key).value());
  std::memcpy(extent.data() + kEntryHeaderBytes, h.key.data(), h.key.size());
  size_t end = EntryValueOffset(h.key.size()) + h.value_bytes;
  std::memset(extent.data() + end, 0, extent.size() - end);
  return Status::Ok();
}

Status EncodeEntry(const EntryHeader& h, std::span<const std::byte> value,
                   std::span<std::byte> extent) {
  if (value.size() != h.value_bytes) {
    return Status::InvalidArgument("entry value length does not match header");
  }
  RETURN_IF_ERROR(EncodeEntryHeader(h, extent));
  if (!value.empty()) {
    std::memcpy(extent.data() + EntryValueOffset(h.key.size()), value.data(), value.size());
  }
  return Status::Ok();
}

Result<EntryHeader> DecodeEntryHeader(std::span<const std::byte> extent) {
  if (extent.size() < kEntryHeaderBytes) return Status::DataLoss("entry header truncated");
  if (Get<uint32_t>(extent, kEhMagic) != kEntryMagic) {
    return Status::DataLoss("entry header: bad magic " + Hex(Get<uint32_t>(extent, kEhMagic)));
  }
  uint16_t key_len = Get<uint16_t>(extent, kEhKeyLen);
  if (key_len == 0 || key_len > kMaxKeyBytes) {
    return Status::DataLoss("entry header: bad key length " + std::to_string(key_len));
  }
  if (extent.size() < kEntryHeaderBytes + key_len) return Status::DataLoss("entry key truncated");
  std::string_view key(reinterpret_cast<const char*>(extent.data() + kEntryHeaderBytes), key_len);
  if (EntryHeaderChecksum(extent, key).value() != Get<uint64_t>(extent, kEhChecksum)) {
    return Status::DataLoss("entry header: checksum mismatch");
  }
  EntryHeader h;
  h.version = Get<uint16_t>(extent, kEhVersion);
  if (h.version != kFormatVersion) {
    return Status::DataLoss("entry header: unsupported version " + std::to_string(h.version));
  }
  h.flags = Get<uint16_t>(extent, kEhFlags);
  if (h.flags != 0 || Get<uint32_t>(extent, kEhReserved) != 0) {
    return Status::DataLoss("entry header: nonzero flags or reserved field");
  }
  h.ns = Get<uint16_t>(extent, kEhNamespace);
  h.key = key;
  h.sequence = RegionSequence(Get<uint64_t>(extent, kEhSequence));
  h.value_bytes = Get<uint64_t>(extent, kEhValueLen);
  h.value_checksum = Checksum(Get<uint64_t>(extent, kEhValueChecksum));
  if (h.value_bytes > extent.size() - EntryValueOffset(key_len)) {
    return Status::DataLoss("entry header: value length " + std::to_string(h.value_bytes) +
                            " exceeds extent of " + std::to_string(extent.size()) + " bytes");
  }
  return h;
}

Status VerifyEntryValue(const EntryHeader& h, std::span<const std::byte> extent) {
  size_t off = EntryValueOffset(h.key.size());
  if (off > extent.size() || h.value_bytes > extent.size() - off) {
    return Status::DataLoss("entry value truncated");
  }
  Checksum actual = ComputeChecksum(extent.subspan(off, h.value_bytes));
  if (actual != h.value_checksum) {
    return Status::DataLoss("entry value checksum mismatch: stored " +
                            Hex(h.value_checksum.value()) + ", computed " + Hex(actual.value()));
  }
  return Status::Ok();
}

Result<std::vector<ParsedEntry>> ParseRegion(std::span<const std::byte> image,
                                             uint64_t region_bytes) {
  ASSIGN_OR_RETURN(RegionHeader rh, DecodeRegionHeader(image, region_bytes));
  if (image.size() < rh.used_bytes) {
    return Status::DataLoss("region image shorter than used_bytes " +
                            std::to_string(rh.used_bytes));
  }
  std::vector<ParsedEntry> entries;
  entries.reserve(rh.entry_count);
  uint64_t off = kFormatBlockBytes;
  while (off < rh.used_bytes) {
    if (entries.size() == rh.entry_count) {
      return Status::DataLoss("region: data after the last entry at offset " + std::to_string(off));
    }
    std::span<const std::byte> rest = image.subspan(off, rh.used_bytes - off);
    ASSIGN_OR_RETURN(EntryHeader eh, DecodeEntryHeader(rest));
    if (eh.sequence != rh.sequence) {
      return Status::DataLoss("entry at offset " + std::to_string(off) +
                              " belongs to another region generation");
    }
    uint64_t extent = EntryExtentBytes(eh.key.size(), eh.value_bytes);
    RETURN_IF_ERROR(VerifyEntryValue(eh, rest.first(extent)));
    entries.push_back(
        ParsedEntry{eh, RegionOffset(static_cast<uint32_t>(off)), static_cast<uint32_t>(extent)});
    off += extent;
  }
  if (entries.size() != rh.entry_count) {
    return Status::DataLoss("region: found " + std::to_string(entries.size()) +
                            " entries, header says " + std::to_string(rh.entry_count));
  }
  return entries;
}

}  // namespace kvstash
