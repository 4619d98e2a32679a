// libFuzzer target for the region format decoders. Two modes, picked by the first byte:
//
//  - raw: the input is decoded as a region image, a region header and a single entry extent.
//    Nothing may crash, read out of bounds or loop; any header a decoder accepts must
//    re-encode to the same bytes (the format has one encoding).
//  - structured: the input describes entries (key and value lengths and bytes) that are
//    encoded into a valid region image, which must parse back to exactly those entries; then
//    the rest of the input is applied as byte corruptions (offset, xor) and the image decoded
//    again. Random bytes alone almost never pass an XXH3 check, so this mode is what drives
//    the fuzzer past the checksums into the entry walk.
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

void CheckEntryReencodes(std::span<const std::byte> extent) {
  Result<EntryHeader> h = DecodeEntryHeader(extent);
  if (!h.ok()) return;
  uint64_t len = EntryExtentBytes(h->key.size(), h->value_bytes);
  if (len > extent.size()) return;  // a valid header whose extent runs past the input
  std::vector<std::byte> again(len);
  Require(EncodeEntryHeader(*h, again).ok());
  Require(std::memcmp(again.data(), extent.data(), EntryValueOffset(h->key.size())) == 0);
  (void)VerifyEntryValue(*h, extent.first(len));
}

void CheckRegionHeaderReencodes(std::span<const std::byte> block) {
  Result<RegionHeader> h = DecodeRegionHeader(block, kRegionBytes);
  if (!h.ok()) return;
  std::vector<std::byte> again(kRegionHeaderBytes);
  Require(EncodeRegionHeader(*h, again).ok());
  Require(std::memcmp(again.data(), block.data(), kRegionHeaderBytes) == 0);
}

void RawMode(std::span<const std::byte> in) {
  CheckEntryReencodes(in);
  CheckRegionHeaderReencodes(in);
  Result<std::vector<ParsedEntry>> parsed = ParseRegion(in, kRegionBytes);
  if (!parsed.ok()) return;
  for (const ParsedEntry& e : *parsed) {
    Require(e.offset.value() % kFormatBlockBytes == 0);
    Require(e.extent_bytes % kFormatBlockBytes == 0);
  }
}

// Reads entries from the input: [key_len][value_len lo][value_len hi] then key and value
// bytes (taken from the input, cycling). Stops when the image would exceed kMaxImage.
void StructuredMode(std::span<const std::byte> in) {
  auto byte_at = [&](size_t i) { return std::to_integer<uint8_t>(in[i % in.size()]); };
  std::vector<std::byte> image(kMaxImage);
  std::vector<std::string> keys;
  size_t pos = 1, off = kFormatBlockBytes;
  const RegionSequence seq(0x1234 + byte_at(0));
  while (pos + 3 <= in.size() && keys.size() < 32) {
    size_t key_len = 1 + byte_at(pos) % kMaxKeyBytes;
    size_t value_len = byte_at(pos + 1) | (size_t{byte_at(pos + 2)} << 8);
    pos += 3;
    if (off + EntryExtentBytes(key_len, value_len) > kMaxImage) break;
    std::string key(key_len, '\0');
    for (size_t i = 0; i < key_len; ++i) key[i] = static_cast<char>(byte_at(pos + i));
    std::vector<std::byte> value(value_len);
    for (size_t i = 0; i < value_len; ++i) value[i] = std::byte(byte_at(pos + key_len + i));
    pos += key_len;
    keys.push_back(key);
    EntryHeader h{kFormatVersion, 0, 7, keys.back(), seq, value_len, ComputeChecksum(value)};
    auto extent = std::span(image).subspan(off, EntryExtentBytes(key_len, value_len));
    Require(EncodeEntry(h, value, extent).ok());
    off += extent.size();
  }
  RegionHeader rh{kFormatVersion, RegionId(3), seq, static_cast<uint32_t>(keys.size()), off,
                  kRegionBytes};
  Require(EncodeRegionHeader(rh, std::span(image).first(kFormatBlockBytes)).ok());
  Result<std::vector<ParsedEntry>> parsed = ParseRegion(image, kRegionBytes);
  Require(parsed.ok() && parsed->size() == keys.size());
  for (size_t i = 0; i < keys.size(); ++i) Require((*parsed)[i].header.key == keys[i]);
  // Corruptions: (offset lo, offset hi, offset top, xor) from the rest of the input.
  for (; pos + 4 <= in.size(); pos += 4) {
    size_t at =
        (byte_at(pos) | size_t{byte_at(pos + 1)} << 8 | size_t{byte_at(pos + 2)} << 16) % off;
    image[at] ^= std::byte(byte_at(pos + 3) | 1);
  }
  RawMode(std::span(image).first(off));
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
