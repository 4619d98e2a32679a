#include "flash/region_format.h"

#include <array>
#include <cstring>
#include <string>

#include "common/checksum.h"

namespace kvstash {
namespace {

// Field offsets of the region header (docs/FORMAT.md §2).
constexpr size_t kRhMagic = 0, kRhVersion = 4, kRhFlags = 6, kRhRegion = 8, kRhCount = 12,
                 kRhSequence = 16, kRhUsed = 24, kRhRegionBytes = 32, kRhTableOffset = 40,
                 kRhTableBytes = 48, kRhTableChecksum = 56, kRhChecksum = 64;
static_assert(kRhChecksum + 8 == kRegionHeaderBytes);
static_assert(kRegionHeaderBytes <= kFormatBlockBytes);

// Field offsets of an entry record (docs/FORMAT.md §3).
constexpr size_t kErOffset = 0, kErValueLen = 4, kErNamespace = 8, kErKeyLen = 10, kErReserved = 12,
                 kErValueChecksum = 16;
static_assert(kErValueChecksum + 8 == kEntryRecordBytes);

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

std::string Hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

uint64_t ValueExtentBytes(uint64_t value_bytes) {
  if (value_bytes == 0) return kFormatBlockBytes;
  return (value_bytes + kFormatBlockBytes - 1) / kFormatBlockBytes * kFormatBlockBytes;
}

uint64_t EntryTableExtentBytes(uint64_t table_bytes) {
  return (table_bytes + kFormatBlockBytes - 1) / kFormatBlockBytes * kFormatBlockBytes;
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
  Put<uint64_t>(block, kRhTableOffset, h.table_offset);
  Put<uint64_t>(block, kRhTableBytes, h.table_bytes);
  Put<uint64_t>(block, kRhTableChecksum, h.table_checksum.value());
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
  h.table_offset = Get<uint64_t>(block, kRhTableOffset);
  h.table_bytes = Get<uint64_t>(block, kRhTableBytes);
  h.table_checksum = Checksum(Get<uint64_t>(block, kRhTableChecksum));
  if (h.region_bytes != region_bytes) {
    return Status::DataLoss("region header: region size " + std::to_string(h.region_bytes) +
                            " != store's " + std::to_string(region_bytes));
  }
  if (h.used_bytes < kFormatBlockBytes || h.used_bytes > region_bytes ||
      h.used_bytes % kFormatBlockBytes != 0) {
    return Status::DataLoss("region header: bad used_bytes " + std::to_string(h.used_bytes));
  }
  // The table lies between the values and used_bytes, exactly (each term checked before it is
  // added, so no overflow).
  if (h.table_offset < kFormatBlockBytes || h.table_offset % kFormatBlockBytes != 0 ||
      h.table_offset > h.used_bytes || h.table_bytes > h.used_bytes - h.table_offset ||
      h.table_offset + EntryTableExtentBytes(h.table_bytes) != h.used_bytes) {
    return Status::DataLoss("region header: entry table [" + std::to_string(h.table_offset) +
                            ", +" + std::to_string(h.table_bytes) +
                            ") does not end at used_bytes " + std::to_string(h.used_bytes));
  }
  if (h.entry_count > (h.table_offset - kFormatBlockBytes) / kFormatBlockBytes ||
      h.entry_count > h.table_bytes / EntryRecordBytes(1)) {
    return Status::DataLoss("region header: entry_count " + std::to_string(h.entry_count) +
                            " cannot fit in the region");
  }
  return h;
}

Result<RegionHeader> SealRegionImage(RegionHeader h, std::span<const EntryRecord> records,
                                     uint64_t table_offset, std::span<std::byte> image) {
  if (table_offset < kFormatBlockBytes || table_offset % kFormatBlockBytes != 0 ||
      table_offset > image.size()) {
    return Status::InvalidArgument("entry table offset " + std::to_string(table_offset) +
                                   " is not a 4 KiB-aligned offset inside the image");
  }
  uint64_t table_bytes = 0;
  for (const EntryRecord& r : records) {
    if (r.key.empty() || r.key.size() > kMaxKeyBytes) {
      return Status::InvalidArgument("entry key must be 1.." + std::to_string(kMaxKeyBytes) +
                                     " bytes, got " + std::to_string(r.key.size()));
    }
    table_bytes += EntryRecordBytes(r.key.size());
  }
  const uint64_t padded = EntryTableExtentBytes(table_bytes);
  if (padded > image.size() - table_offset) {
    return Status::InvalidArgument("entry table of " + std::to_string(table_bytes) +
                                   " bytes does not fit after offset " +
                                   std::to_string(table_offset));
  }
  std::span<std::byte> table = image.subspan(table_offset, padded);
  size_t at = 0;
  for (const EntryRecord& r : records) {
    Put<uint32_t>(table, at + kErOffset, r.offset.value());
    Put<uint32_t>(table, at + kErValueLen, r.value_bytes);
    Put<uint16_t>(table, at + kErNamespace, r.ns);
    Put<uint16_t>(table, at + kErKeyLen, static_cast<uint16_t>(r.key.size()));
    Put<uint32_t>(table, at + kErReserved, 0);
    Put<uint64_t>(table, at + kErValueChecksum, r.value_checksum.value());
    std::memcpy(table.data() + at + kEntryRecordBytes, r.key.data(), r.key.size());
    at += EntryRecordBytes(r.key.size());
  }
  std::memset(table.data() + at, 0, padded - at);
  h.version = kFormatVersion;
  h.entry_count = static_cast<uint32_t>(records.size());
  h.table_offset = table_offset;
  h.table_bytes = table_bytes;
  h.table_checksum = ComputeChecksum(table.first(table_bytes));
  h.used_bytes = table_offset + padded;
  KVSTASH_RETURN_IF_ERROR(EncodeRegionHeader(h, image.first(kFormatBlockBytes)));
  return h;
}

Status VerifyValue(std::span<const std::byte> value, Checksum expected) {
  Checksum actual = ComputeChecksum(value);
  if (actual != expected) {
    return Status::DataLoss("value checksum mismatch: expected " + Hex(expected.value()) +
                            ", computed " + Hex(actual.value()));
  }
  return Status::Ok();
}

Result<std::vector<ParsedEntry>> ParseRegion(std::span<const std::byte> image,
                                             uint64_t region_bytes) {
  KVSTASH_ASSIGN_OR_RETURN(RegionHeader rh, DecodeRegionHeader(image, region_bytes));
  if (image.size() < rh.used_bytes) {
    return Status::DataLoss("region image shorter than used_bytes " +
                            std::to_string(rh.used_bytes));
  }
  std::span<const std::byte> table = image.subspan(rh.table_offset, rh.table_bytes);
  if (ComputeChecksum(table) != rh.table_checksum) {
    return Status::DataLoss("region entry table: checksum mismatch");
  }
  std::vector<ParsedEntry> entries;
  entries.reserve(rh.entry_count);
  uint64_t value_cursor = kFormatBlockBytes;
  size_t at = 0;
  while (at < table.size()) {
    auto where = [&] { return "entry record " + std::to_string(entries.size()) + ": "; };
    if (entries.size() == rh.entry_count) {
      return Status::DataLoss("region entry table: bytes after the last record");
    }
    if (table.size() - at < kEntryRecordBytes) return Status::DataLoss(where() + "truncated");
    EntryRecord r;
    r.offset = RegionOffset(Get<uint32_t>(table, at + kErOffset));
    r.value_bytes = Get<uint32_t>(table, at + kErValueLen);
    r.ns = Get<uint16_t>(table, at + kErNamespace);
    const uint16_t key_len = Get<uint16_t>(table, at + kErKeyLen);
    r.value_checksum = Checksum(Get<uint64_t>(table, at + kErValueChecksum));
    if (Get<uint32_t>(table, at + kErReserved) != 0) {
      return Status::DataLoss(where() + "nonzero reserved field");
    }
    if (key_len == 0 || key_len > kMaxKeyBytes || key_len > table.size() - at - kEntryRecordBytes) {
      return Status::DataLoss(where() + "bad key length " + std::to_string(key_len));
    }
    r.key = std::string_view(reinterpret_cast<const char*>(table.data() + at + kEntryRecordBytes),
                             key_len);
    const uint64_t extent = ValueExtentBytes(r.value_bytes);
    if (r.offset.value() != value_cursor || extent > rh.table_offset - value_cursor) {
      return Status::DataLoss(where() + "value extent at " + std::to_string(r.offset.value()) +
                              " of " + std::to_string(extent) + " bytes does not follow the " +
                              "previous one at " + std::to_string(value_cursor));
    }
    Status s = VerifyValue(image.subspan(value_cursor, r.value_bytes), r.value_checksum);
    if (!s.ok()) return Status::DataLoss(where() + s.message());
    entries.push_back(ParsedEntry{r, static_cast<uint32_t>(extent)});
    value_cursor += extent;
    at += EntryRecordBytes(key_len);
  }
  if (entries.size() != rh.entry_count || value_cursor != rh.table_offset) {
    return Status::DataLoss("region: found " + std::to_string(entries.size()) +
                            " entries ending at " + std::to_string(value_cursor) +
                            ", header says " + std::to_string(rh.entry_count) + " ending at " +
                            std::to_string(rh.table_offset));
  }
  return entries;
}

}  // namespace kvstash
