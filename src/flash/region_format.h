// Region format: the on-flash layout of a flash region and of the entries inside it, with
// explicit little-endian encoders and bounds-checked decoders. docs/FORMAT.md is the byte-level
// specification; this header and that file change together.
//
//   region (region_bytes, a multiple of 1 MiB)
//   +--------------------+--------------------+-----+--------------------+--------------+
//   | region header      | entry 0 extent     | ... | entry n-1 extent   | unused tail  |
//   | (one 4 KiB block)  | (k * 4 KiB)        |     |                    | (not written)|
//   +--------------------+--------------------+-----+--------------------+--------------+
//
//   entry extent = entry header (48 B) | key (key_len B) | value (value_len B) | zero padding
//
// Every entry extent starts on a 4 KiB boundary and is a multiple of 4 KiB long, so one entry
// is read with a single O_DIRECT read. Decoders never trust a length before checking it against
// the buffer they were given, and return DataLoss (corruption) or InvalidArgument (caller error)
// with a message naming the field.
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
// Byte offset of an entry extent within its region (not within the device).
using RegionOffset = StrongType<RegionOffsetTag, uint32_t>;

// Generation of a region: a store-wide counter bumped every time a region is opened for
// writing. A location from an older generation of the same region never matches.
struct RegionSequenceTag {};
using RegionSequence = StrongType<RegionSequenceTag, uint64_t>;

inline constexpr uint32_t kFormatBlockBytes = 4096;   // extent alignment (O_DIRECT)
inline constexpr uint32_t kRegionMagic = 0x47525653;  // "SVRG" in LE bytes: 53 56 52 47
inline constexpr uint32_t kEntryMagic = 0x4E455653;   // "SVEN" in LE bytes: 53 56 45 4E
inline constexpr uint16_t kFormatVersion = 1;
inline constexpr size_t kRegionHeaderBytes = 48;  // encoded size, padded to one block on flash
inline constexpr size_t kEntryHeaderBytes = 48;   // fixed part; the key follows it
// Largest region the format can address (RegionOffset and extent lengths are 32-bit).
inline constexpr uint64_t kMaxRegionBytes = 1ull << 31;

// Where one entry lives on flash. Returned by RegionStore::Append; the owner keeps it in its
// index and hands it back to Read/MarkDead. 24 bytes, trivially copyable.
struct FlashLocation {
  RegionId region;
  RegionOffset offset;        // start of the entry extent within the region
  uint32_t extent_bytes = 0;  // 4 KiB multiple: header + key + value + padding
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
  uint64_t used_bytes = 0;    // header block + all entry extents (4 KiB multiple)
  uint64_t region_bytes = 0;  // geometry of the store that wrote it
};

// Decoded fixed part of an entry header. `key` points into the decoded buffer.
struct EntryHeader {
  uint16_t version = kFormatVersion;
  uint16_t flags = 0;  // reserved, must be 0 in version 1
  NamespaceId ns = 0;
  std::string_view key;
  RegionSequence sequence;
  uint64_t value_bytes = 0;
  Checksum value_checksum;
};

// 4 KiB-aligned length of an entry extent with this key and value length.
uint64_t EntryExtentBytes(size_t key_bytes, uint64_t value_bytes);
// Offset of the value within the extent.
inline size_t EntryValueOffset(size_t key_bytes) { return kEntryHeaderBytes + key_bytes; }

// Writes the region header into the first kRegionHeaderBytes of `block` and zeroes the rest of
// it. InvalidArgument if `block` is smaller than kRegionHeaderBytes.
Status EncodeRegionHeader(const RegionHeader& header, std::span<std::byte> block);
// Decodes and checks (magic, version, checksum, used_bytes within `region_bytes` and 4 KiB
// aligned). DataLoss on any mismatch.
Result<RegionHeader> DecodeRegionHeader(std::span<const std::byte> block, uint64_t region_bytes);

// Writes header + key + value + zero padding into `extent`, which must be exactly
// EntryExtentBytes(key.size(), value.size()) long. `value_checksum` is stored as given; the
// caller computed it (RegionStore verifies it against the value first).
Status EncodeEntry(const EntryHeader& header, std::span<const std::byte> value,
                   std::span<std::byte> extent);
// Writes only the header and key at the start of `extent` (the value is copied by the caller
// to extent[EntryValueOffset(key)...]) and zeroes the padding after value_bytes.
Status EncodeEntryHeader(const EntryHeader& header, std::span<std::byte> extent);
// Decodes the header and key at the start of `extent` and checks magic, version, flags, key
// length, header checksum and that header + key + value fit in `extent`. Does not hash the
// value (see VerifyEntryValue).
Result<EntryHeader> DecodeEntryHeader(std::span<const std::byte> extent);
// XXH3-64 of the value in `extent` against header.value_checksum. DataLoss on mismatch.
Status VerifyEntryValue(const EntryHeader& header, std::span<const std::byte> extent);

// One entry found by ParseRegion.
struct ParsedEntry {
  EntryHeader header;
  RegionOffset offset;
  uint32_t extent_bytes = 0;
};

// Decodes a whole written region image (`image` holds at least the used prefix): the header,
// then each entry in order, checking every header and value checksum and that the entries tile
// [4096, used_bytes) exactly with entry_count entries of the region's sequence. Used by tests,
// the fuzzer and a future warm restart; the read path decodes single extents instead.
Result<std::vector<ParsedEntry>> ParseRegion(std::span<const std::byte> image,
                                             uint64_t region_bytes);

}  // namespace kvstash

#endif  // KVSTASH_FLASH_REGION_FORMAT_H_
