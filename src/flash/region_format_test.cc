#include "flash/region_format.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "common/checksum.h"

namespace kvstash {
namespace {

constexpr uint64_t kRegionBytes = 1 << 20;

std::vector<std::byte> RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::byte> v(n);
  for (auto& b : v) b = std::byte(rng() & 0xff);
  return v;
}

// A region image laid out the way RegionStore does it: values from 4096, each in its own
// 4 KiB-aligned extent, then the sealed entry table.
struct Image {
  std::vector<std::byte> bytes = std::vector<std::byte>(kRegionBytes);
  std::vector<std::string> keys;
  std::vector<std::vector<std::byte>> values;
  std::vector<EntryRecord> records;
  RegionHeader header;
};

Image BuildRegion(const std::vector<size_t>& value_sizes, uint64_t seq) {
  Image im;
  im.keys.reserve(value_sizes.size());  // records point at the keys
  uint64_t off = kFormatBlockBytes;
  for (size_t i = 0; i < value_sizes.size(); ++i) {
    im.keys.push_back("key-" + std::to_string(i));
    im.values.push_back(RandomBytes(value_sizes[i], i + 100 * seq));
    const auto& v = im.values.back();
    if (!v.empty()) std::memcpy(im.bytes.data() + off, v.data(), v.size());
    im.records.push_back(EntryRecord{RegionOffset(static_cast<uint32_t>(off)),
                                     static_cast<uint32_t>(v.size()), 7, im.keys.back(),
                                     ComputeChecksum(v)});
    off += ValueExtentBytes(v.size());
  }
  RegionHeader h;
  h.region = RegionId(2);
  h.sequence = RegionSequence(seq);
  h.region_bytes = kRegionBytes;
  auto sealed = SealRegionImage(h, im.records, off, im.bytes);
  EXPECT_TRUE(sealed.ok()) << sealed.status().ToString();
  im.header = *sealed;
  return im;
}

TEST(RegionFormatTest, ExtentsAreBlockAlignedAndHoldOnlyTheValue) {
  EXPECT_EQ(ValueExtentBytes(0), 4096u);  // every entry owns at least one block
  EXPECT_EQ(ValueExtentBytes(1), 4096u);
  EXPECT_EQ(ValueExtentBytes(4096), 4096u);
  EXPECT_EQ(ValueExtentBytes(4097), 8192u);
  EXPECT_EQ(ValueExtentBytes(128 << 10), 128u << 10);  // no header block per value
  EXPECT_EQ(EntryRecordBytes(10), 34u);
  EXPECT_EQ(EntryTableExtentBytes(0), 0u);
  EXPECT_EQ(EntryTableExtentBytes(1), 4096u);
  EXPECT_EQ(EntryTableExtentBytes(4097), 8192u);
}

TEST(RegionFormatTest, RegionHeaderRoundTrip) {
  RegionHeader h;
  h.region = RegionId(12);
  h.sequence = RegionSequence(0x1122334455667788ull);
  h.entry_count = 3;
  h.table_offset = 4 * 4096;
  h.table_bytes = 3 * EntryRecordBytes(5);
  h.table_checksum = Checksum(0xABCDEF);
  h.used_bytes = 5 * 4096;
  h.region_bytes = kRegionBytes;
  std::vector<std::byte> block(4096, std::byte{0xAA});
  ASSERT_TRUE(EncodeRegionHeader(h, block).ok());
  // Explicit little-endian: the magic's first byte is its low byte.
  EXPECT_EQ(block[0], std::byte{0x53});
  EXPECT_EQ(block[3], std::byte{0x47});
  EXPECT_EQ(block[4], std::byte{0x02});   // version 2
  EXPECT_EQ(block[16], std::byte{0x88});  // sequence, low byte first
  EXPECT_EQ(block[4095], std::byte{0});   // rest of the block zeroed
  auto d = DecodeRegionHeader(block, kRegionBytes);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->region, h.region);
  EXPECT_EQ(d->sequence, h.sequence);
  EXPECT_EQ(d->entry_count, 3u);
  EXPECT_EQ(d->used_bytes, h.used_bytes);
  EXPECT_EQ(d->table_offset, h.table_offset);
  EXPECT_EQ(d->table_bytes, h.table_bytes);
  EXPECT_EQ(d->table_checksum, h.table_checksum);
  EXPECT_EQ(DecodeRegionHeader(block, 2 * kRegionBytes).status().code(), StatusCode::kDataLoss);
}

// A valid header: one value block, then a one-record table.
const RegionHeader kOneEntryHeader{.region = RegionId(1),
                                   .sequence = RegionSequence(9),
                                   .entry_count = 1,
                                   .used_bytes = 3 * 4096,
                                   .region_bytes = kRegionBytes,
                                   .table_offset = 2 * 4096,
                                   .table_bytes = EntryRecordBytes(3)};

TEST(RegionFormatTest, EveryRegionHeaderByteFlipIsRejected) {
  const RegionHeader h = kOneEntryHeader;
  std::vector<std::byte> block(4096);
  ASSERT_TRUE(EncodeRegionHeader(h, block).ok());
  ASSERT_TRUE(DecodeRegionHeader(block, kRegionBytes).ok());
  for (size_t i = 0; i < kRegionHeaderBytes; ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      auto copy = block;
      copy[i] ^= std::byte(1 << bit);
      auto d = DecodeRegionHeader(copy, kRegionBytes);
      ASSERT_FALSE(d.ok()) << "byte " << i << " bit " << bit;
      EXPECT_EQ(d.status().code(), StatusCode::kDataLoss);
    }
  }
  EXPECT_FALSE(
      DecodeRegionHeader(std::span(block).first(kRegionHeaderBytes - 1), kRegionBytes).ok());
}

TEST(RegionFormatTest, HeaderGeometryIsChecked) {
  const RegionHeader good = kOneEntryHeader;
  auto decode = [](const RegionHeader& h) {
    std::vector<std::byte> block(4096);
    EXPECT_TRUE(EncodeRegionHeader(h, block).ok());  // checksummed: only the checks stop it
    return DecodeRegionHeader(block, kRegionBytes).status().code();
  };
  EXPECT_EQ(decode(good), StatusCode::kOk);
  RegionHeader h = good;
  h.table_offset = 4096 + 1;  // misaligned
  EXPECT_EQ(decode(h), StatusCode::kDataLoss);
  h = good;
  h.table_offset = 0;  // over the header block
  EXPECT_EQ(decode(h), StatusCode::kDataLoss);
  h = good;
  h.table_bytes = 4097;  // padded table would end past used_bytes
  EXPECT_EQ(decode(h), StatusCode::kDataLoss);
  h = good;
  h.used_bytes = 4 * 4096;  // a gap after the table
  EXPECT_EQ(decode(h), StatusCode::kDataLoss);
  h = good;
  h.entry_count = 2;  // two values cannot fit in one block
  EXPECT_EQ(decode(h), StatusCode::kDataLoss);
  h = good;
  h.used_bytes = kRegionBytes + 4096;
  EXPECT_EQ(decode(h), StatusCode::kDataLoss);
  h = good;
  h.table_bytes = ~uint64_t{0};  // no overflow in the checks
  EXPECT_EQ(decode(h), StatusCode::kDataLoss);
}

TEST(RegionFormatTest, ParseRegionFindsEveryEntry) {
  std::vector<size_t> sizes;
  for (size_t i = 0; i < 20; ++i) sizes.push_back(1000 * i + 1);
  sizes.push_back(0);
  sizes.push_back(4096);
  sizes.push_back(128 << 10);
  Image im = BuildRegion(sizes, 5);
  auto entries = ParseRegion(im.bytes, kRegionBytes);
  ASSERT_TRUE(entries.ok()) << entries.status().ToString();
  ASSERT_EQ(entries->size(), sizes.size());
  uint32_t expect_off = 4096;
  for (size_t i = 0; i < sizes.size(); ++i) {
    const EntryRecord& r = (*entries)[i].record;
    EXPECT_EQ(r.key, im.keys[i]);
    EXPECT_EQ(r.ns, 7);
    EXPECT_EQ(r.offset, RegionOffset(expect_off));
    EXPECT_EQ(r.value_bytes, sizes[i]);
    EXPECT_EQ(r.value_checksum, ComputeChecksum(im.values[i]));
    expect_off += (*entries)[i].extent_bytes;
  }
  EXPECT_EQ(im.header.table_offset, expect_off);
  EXPECT_EQ(im.header.entry_count, sizes.size());
  // The table follows the values and its padding is zero.
  const uint64_t table_end = im.header.table_offset + im.header.table_bytes;
  for (uint64_t i = table_end; i < im.header.used_bytes; ++i) {
    ASSERT_EQ(im.bytes[i], std::byte{0}) << "table padding not zeroed at " << i;
  }
}

TEST(RegionFormatTest, WriteAmplificationOf128KiBValuesIsAboutOne) {
  // 64 MiB regions of 128 KiB values with 48-byte keys: what a KV-cache block looks like.
  constexpr uint64_t kRegion = 64ull << 20, kValue = 128 << 10;
  const uint64_t record = EntryRecordBytes(48);
  uint64_t n = 0;
  while (4096 + (n + 1) * kValue + EntryTableExtentBytes((n + 1) * record) <= kRegion) ++n;
  const uint64_t used = 4096 + n * kValue + EntryTableExtentBytes(n * record);
  const double wa = static_cast<double>(used) / static_cast<double>(n * kValue);
  EXPECT_EQ(n, 511u);
  EXPECT_LT(wa, 1.003);
}

TEST(RegionFormatTest, EveryTableByteFlipIsRejected) {
  Image im = BuildRegion({5000, 100}, 3);
  const uint64_t start = im.header.table_offset;
  for (uint64_t i = start; i < start + im.header.table_bytes; ++i) {
    auto copy = im.bytes;
    copy[i] ^= std::byte{0x20};
    EXPECT_EQ(ParseRegion(copy, kRegionBytes).status().code(), StatusCode::kDataLoss) << i;
  }
}

TEST(RegionFormatTest, EveryValueByteFlipFailsVerification) {
  auto value = RandomBytes(600, 2);
  const Checksum sum = ComputeChecksum(value);
  ASSERT_TRUE(VerifyValue(value, sum).ok());
  for (size_t i = 0; i < value.size(); ++i) {
    auto copy = value;
    copy[i] ^= std::byte{0x10};
    EXPECT_EQ(VerifyValue(copy, sum).code(), StatusCode::kDataLoss) << "byte " << i;
  }
  // A value read short (or long) does not verify either.
  EXPECT_EQ(VerifyValue(std::span(value).first(599), sum).code(), StatusCode::kDataLoss);
}

TEST(RegionFormatTest, SealRejectsBadArguments) {
  std::vector<std::byte> image(16 * 4096);
  RegionHeader h{.region = RegionId(0), .sequence = RegionSequence(1), .region_bytes = 16 * 4096};
  std::string long_key(kMaxKeyBytes + 1, 'k');
  EntryRecord bad_key{RegionOffset(4096), 10, 0, "", Checksum(1)};
  EXPECT_EQ(SealRegionImage(h, std::span(&bad_key, 1), 8192, image).status().code(),
            StatusCode::kInvalidArgument);
  bad_key.key = long_key;
  EXPECT_EQ(SealRegionImage(h, std::span(&bad_key, 1), 8192, image).status().code(),
            StatusCode::kInvalidArgument);
  EntryRecord ok{RegionOffset(4096), 10, 0, "k", Checksum(1)};
  EXPECT_EQ(SealRegionImage(h, std::span(&ok, 1), 8193, image).status().code(),
            StatusCode::kInvalidArgument);  // misaligned
  EXPECT_EQ(SealRegionImage(h, std::span(&ok, 1), 0, image).status().code(),
            StatusCode::kInvalidArgument);  // over the header
  EXPECT_EQ(SealRegionImage(h, std::span(&ok, 1), image.size(), image).status().code(),
            StatusCode::kInvalidArgument);  // no room for the table
  std::vector<std::byte> tiny(10);
  EXPECT_EQ(EncodeRegionHeader(RegionHeader{}, tiny).code(), StatusCode::kInvalidArgument);
}

TEST(RegionFormatTest, ParseRegionRejectsCorruption) {
  Image im = BuildRegion({1, 1001, 2001, 3001}, 5);
  // Entry count too high / too low.
  for (uint32_t count : {3u, 5u}) {
    auto copy = im.bytes;
    RegionHeader h = *DecodeRegionHeader(copy, kRegionBytes);
    h.entry_count = count;
    ASSERT_TRUE(EncodeRegionHeader(h, std::span(copy).first(4096)).ok());
    EXPECT_EQ(ParseRegion(copy, kRegionBytes).status().code(), StatusCode::kDataLoss) << count;
  }
  // A value of another generation left in place (a torn write): its checksum is not the
  // record's.
  Image stale = BuildRegion({1, 1001, 2001, 3001}, 4);
  auto copy = im.bytes;
  std::memcpy(copy.data() + 8192, stale.bytes.data() + 8192, 4096);
  EXPECT_EQ(ParseRegion(copy, kRegionBytes).status().code(), StatusCode::kDataLoss);
  // A zeroed block inside the values or the table (a torn region write).
  for (uint64_t at : {uint64_t{8192}, im.header.table_offset}) {
    copy = im.bytes;
    std::memset(copy.data() + at, 0, 4096);
    EXPECT_EQ(ParseRegion(copy, kRegionBytes).status().code(), StatusCode::kDataLoss) << at;
  }
  // Records that do not tile the value area: a consistent table (checksum recomputed) whose
  // second record claims the wrong offset.
  auto records = im.records;
  records[1].offset = RegionOffset(records[1].offset.value() + 4096);
  copy = im.bytes;
  ASSERT_TRUE(SealRegionImage(im.header, records, im.header.table_offset, copy).ok());
  EXPECT_EQ(ParseRegion(copy, kRegionBytes).status().code(), StatusCode::kDataLoss);
  // Image shorter than used_bytes.
  EXPECT_EQ(ParseRegion(std::span(im.bytes).first(8192), kRegionBytes).status().code(),
            StatusCode::kDataLoss);
}

}  // namespace
}  // namespace kvstash
