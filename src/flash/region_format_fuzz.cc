// libFuzzer target for the region format decoders. Two modes, picked by the first byte:
//
//  - raw: the input is decoded as a region image and as a region header. Nothing may crash,
//    read out of bounds or loop; a header the decoder accepts must re-encode to the same bytes
//    (the format has one encoding), and entries ParseRegion accepts must tile the value area.
//  - structured: the input describes entries (key and value lengths and bytes) that are laid
//    out and sealed into a valid region image, which must parse back to exactly those
//    entries; then the rest of the input is applied as byte corruptions (offset, xor) and the
//    image decoded again. Random bytes alone almost never pass an XXH3 check, so this mode is
//    what drives the fuzzer past the checksums into the table walk.
//
//   cmake -DKVSTASH_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ ... && ninja region_format_fuzz
//   ./region_format_fuzz -max_total_time=60
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "common/checksum.h"
#include "flash/region_format.h"

namespace kvstash {
namespace {

constexpr uint64_t kRegionBytes = 1 << 20;
constexpr size_t kMaxImage = 256 << 10;  // structured images stay small: fast iterations

void Require(bool ok) {
  if (!ok) std::abort();
}

void CheckRegionHeaderReencodes(std::span<const std::byte> block) {
  Result<RegionHeader> h = DecodeRegionHeader(block, kRegionBytes);
  if (!h.ok()) return;
  std::vector<std::byte> again(kRegionHeaderBytes);
  Require(EncodeRegionHeader(*h, again).ok());
  Require(std::memcmp(again.data(), block.data(), kRegionHeaderBytes) == 0);
}

void RawMode(std::span<const std::byte> in) {
  CheckRegionHeaderReencodes(in);
  Result<std::vector<ParsedEntry>> parsed = ParseRegion(in, kRegionBytes);
  if (!parsed.ok()) return;
  uint64_t expect = kFormatBlockBytes;
  for (const ParsedEntry& e : *parsed) {
    Require(e.record.offset.value() == expect);
    Require(e.extent_bytes % kFormatBlockBytes == 0 && e.extent_bytes >= e.record.value_bytes);
    expect += e.extent_bytes;
  }
}

// Reads entries from the input: [key_len][value_len lo][value_len hi] then key and value
// bytes (taken from the input, cycling). Stops when the image would exceed kMaxImage.
void StructuredMode(std::span<const std::byte> in) {
  auto byte_at = [&](size_t i) { return std::to_integer<uint8_t>(in[i % in.size()]); };
  std::vector<std::byte> image(kMaxImage);
  std::vector<std::string> keys;
  keys.reserve(32);  // records point at the keys
  std::vector<EntryRecord> records;
  size_t pos = 1, off = kFormatBlockBytes, table = 0;
  while (pos + 3 <= in.size() && keys.size() < 32) {
    size_t key_len = 1 + byte_at(pos) % kMaxKeyBytes;
    size_t value_len = byte_at(pos + 1) | (size_t{byte_at(pos + 2)} << 8);
    pos += 3;
    if (off + ValueExtentBytes(value_len) +
            EntryTableExtentBytes(table + EntryRecordBytes(key_len)) >
        kMaxImage) {
      break;
    }
    std::string key(key_len, '\0');
    for (size_t i = 0; i < key_len; ++i) key[i] = static_cast<char>(byte_at(pos + i));
    std::span<std::byte> value = std::span(image).subspan(off, value_len);
    for (size_t i = 0; i < value_len; ++i) value[i] = std::byte(byte_at(pos + key_len + i));
    pos += key_len;
    keys.push_back(key);
    records.push_back(EntryRecord{RegionOffset(static_cast<uint32_t>(off)),
                                  static_cast<uint32_t>(value_len), 7, keys.back(),
                                  ComputeChecksum(value)});
    off += ValueExtentBytes(value_len);
    table += EntryRecordBytes(key_len);
  }
  RegionHeader rh;
  rh.region = RegionId(3);
  rh.sequence = RegionSequence(0x1234 + byte_at(0));
  rh.region_bytes = kRegionBytes;
  Result<RegionHeader> sealed = SealRegionImage(rh, records, off, image);
  Require(sealed.ok());
  const uint64_t used = sealed->used_bytes;
  Result<std::vector<ParsedEntry>> parsed = ParseRegion(image, kRegionBytes);
  Require(parsed.ok() && parsed->size() == keys.size());
  for (size_t i = 0; i < keys.size(); ++i) Require((*parsed)[i].record.key == keys[i]);
  // Corruptions: (offset lo, offset hi, offset top, xor) from the rest of the input.
  for (; pos + 4 <= in.size(); pos += 4) {
    size_t at =
        (byte_at(pos) | size_t{byte_at(pos + 1)} << 8 | size_t{byte_at(pos + 2)} << 16) % used;
    image[at] ^= std::byte(byte_at(pos + 3) | 1);
  }
  RawMode(std::span(image).first(used));
}

}  // namespace
}  // namespace kvstash

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const std::byte> in(reinterpret_cast<const std::byte*>(data), size);
  if (size > 0 && data[0] % 2 == 1) {
    kvstash::StructuredMode(in);
  } else {
    kvstash::RawMode(in);
  }
  return 0;
}
