// Region format (version 2): the on-flash layout of a flash region, with explicit little-endian
// encoders and bounds-checked decoders. docs/FORMAT.md is the byte-level specification; this
// header and that file change together.
//
//   region (region_bytes, a multiple of 1 MiB)
//   +-----------------+----------------+-----+------------------+---------------+-------------+
//   | region header   | value 0 extent | ... | value n-1 extent | entry table   | unused tail |
//   | (one 4 KiB blk) | (k * 4 KiB)    |     |                  | (4 KiB mult.) | (unwritten) |
//   +-----------------+----------------+-----+------------------+---------------+-------------+
//   4096 ............................................. table_offset ......... used_bytes
//
//   value extent = value bytes | zero padding to 4 KiB (at least one block)
//   entry table  = n entry records back to back | zero padding to 4 KiB
//   entry record = fixed part (24 B: offset, value_len, namespace, key_len, value checksum) | key
//
// Values are 4 KiB-aligned and carry nothing but the value: a value is read with one O_DIRECT
// read of exactly its extent, straight into the caller's memory when that is aligned, and a
// 128 KiB value costs 128 KiB of flash (format version 1 put a 48-byte header and the key in
// front of every value, which cost a whole extra 4 KiB block per 128 KiB value). The entry
// records are written once per region, at the end, when the region is sealed; the region
// header (block 0) points at them and checksums them. Decoders never trust a length before
// checking it against the buffer they were given, and return DataLoss (corruption) or
// InvalidArgument (caller error) with a message naming the field.
//
// Thread safety: pure functions on caller-owned memory.
#ifndef KVSTASH_FLASH_REGION_FORMAT_H_
#define KVSTASH_FLASH_REGION_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "common/strong_type.h"
#include "common/types.h"
#include "kvstash/status.h"

namespace kvstash {

struct RegionOffsetTag {};
// Byte offset of a value extent within its region (not within the device).
using RegionOffset = StrongType<RegionOffsetTag, uint32_t>;

// Generation of a region: a store-wide counter bumped every time a region is opened for
// writing. A location from an older generation of the same region never matches.
struct RegionSequenceTag {};
using RegionSequence = StrongType<RegionSequenceTag, uint64_t>;

inline constexpr uint32_t kFormatBlockBytes = 4096;   // extent alignment (O_DIRECT)
inline constexpr uint32_t kRegionMagic = 0x47525653;  // "SVRG" in LE bytes: 53 56 52 47
inline constexpr uint16_t kFormatVersion = 2;
inline constexpr size_t kRegionHeaderBytes = 72;  // encoded size, padded to one block on flash
inline constexpr size_t kEntryRecordBytes = 24;   // fixed part; the key follows it
// Largest region the format can address (RegionOffset and extent lengths are 32-bit).
inline constexpr uint64_t kMaxRegionBytes = 1ull << 31;

// Where one value lives on flash. Returned by RegionStore::Append; the owner keeps it in its
// index and hands it back to Read/MarkDead. 24 bytes, trivially copyable.
struct FlashLocation {
  RegionId region;
  RegionOffset offset;        // start of the value extent within the region
  uint32_t extent_bytes = 0;  // ValueExtentBytes(value_bytes)
  uint32_t value_bytes = 0;   // payload length
  RegionSequence sequence;    // generation of the region when the entry was written

  friend bool operator==(const FlashLocation&, const FlashLocation&) = default;
};
static_assert(sizeof(FlashLocation) == 24);

// Decoded region header (first block of a written region).
struct RegionHeader {
  uint16_t version = kFormatVersion;
  RegionId region;
  RegionSequence sequence;
  uint32_t entry_count = 0;
  uint64_t used_bytes = 0;    // header block + value extents + padded entry table
  uint64_t region_bytes = 0;  // geometry of the store that wrote it
  uint64_t table_offset = 0;  // where the entry table starts: the end of the value extents
  uint64_t table_bytes = 0;   // encoded entry records, without the padding
  Checksum table_checksum;    // XXH3-64 of the table_bytes record bytes
};

// One entry as its record in the entry table describes it. `key` points into the memory the
// record was decoded from (or, for encoding, the caller's key).
struct EntryRecord {
  RegionOffset offset;  // of the value extent
  uint32_t value_bytes = 0;
  NamespaceId ns = 0;
  std::string_view key;
  Checksum value_checksum;  // XXH3-64 of the value bytes
};

// 4 KiB-aligned length of the extent of a value of this length (at least one block, so every
// entry has an offset of its own).
uint64_t ValueExtentBytes(uint64_t value_bytes);
// Encoded length of one entry record with a key of this length.
constexpr size_t EntryRecordBytes(size_t key_bytes) { return kEntryRecordBytes + key_bytes; }
// 4 KiB-aligned space the entry table takes on flash.
uint64_t EntryTableExtentBytes(uint64_t table_bytes);

// Writes the region header into the first kRegionHeaderBytes of `block` and zeroes the rest of
// it. InvalidArgument if `block` is smaller than kRegionHeaderBytes.
Status EncodeRegionHeader(const RegionHeader& header, std::span<std::byte> block);
// Decodes and checks (magic, checksum, version, flags, geometry: the table lies between the
// first value and used_bytes, and entry_count fits both). DataLoss on any mismatch.
Result<RegionHeader> DecodeRegionHeader(std::span<const std::byte> block, uint64_t region_bytes);

// Seals a region image: writes the entry table of `records` at image[table_offset...] (zero
// padded to 4 KiB) and then the region header (block 0) that describes it. `header` gives the
// region, sequence and region_bytes; the rest is filled in and returned. `table_offset` is the
// end of the value extents (4 KiB aligned, >= 4096); `image` must hold the padded table.
// InvalidArgument on a bad key, a table that does not fit, or a misaligned offset.
Result<RegionHeader> SealRegionImage(RegionHeader header, std::span<const EntryRecord> records,
                                     uint64_t table_offset, std::span<std::byte> image);

// Checks a value read from flash against the checksum its record (or the owner) holds.
// DataLoss naming both checksums on mismatch.
Status VerifyValue(std::span<const std::byte> value, Checksum expected);

// One entry found by ParseRegion.
struct ParsedEntry {
  EntryRecord record;
  uint32_t extent_bytes = 0;
};

// Decodes a whole written region image (`image` holds at least the used prefix): the header,
// the entry table (its checksum, then every record), and checks that the value extents tile
// [4096, table_offset) exactly, in order, and that every value matches its checksum. Used by
// tests, the fuzzer and a future warm restart; the read path verifies single values against
// the in-memory records instead.
Result<std::vector<ParsedEntry>> ParseRegion(std::span<const std::byte> image,
                                             uint64_t region_bytes);

}  // namespace kvstash

#endif  // KVSTASH_FLASH_REGION_FORMAT_H_
