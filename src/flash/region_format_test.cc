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

EntryHeader MakeHeader(std::string_view key, std::span<const std::byte> value, uint64_t seq) {
  EntryHeader h;
  h.ns = 7;
  h.key = key;
  h.sequence = RegionSequence(seq);
  h.value_bytes = value.size();
  h.value_checksum = ComputeChecksum(value);
  return h;
}

std::vector<std::byte> EncodeOne(std::string_view key, std::span<const std::byte> value,
                                 uint64_t seq) {
  std::vector<std::byte> extent(EntryExtentBytes(key.size(), value.size()));
  EXPECT_TRUE(EncodeEntry(MakeHeader(key, value, seq), value, extent).ok());
  return extent;
}

TEST(RegionFormatTest, ExtentIsBlockAligned) {
  EXPECT_EQ(EntryExtentBytes(1, 0), 4096u);
  EXPECT_EQ(EntryExtentBytes(1, 4096 - 49), 4096u);
  EXPECT_EQ(EntryExtentBytes(1, 4096 - 48), 8192u);
  EXPECT_EQ(EntryExtentBytes(32, 128 << 10), (128u << 10) + 4096);
  EXPECT_EQ(EntryValueOffset(10), 58u);
}

TEST(RegionFormatTest, RegionHeaderRoundTrip) {
  RegionHeader h;
  h.region = RegionId(12);
  h.sequence = RegionSequence(0x1122334455667788ull);
  h.entry_count = 3;
  h.used_bytes = 5 * 4096;
  h.region_bytes = kRegionBytes;
  std::vector<std::byte> block(4096, std::byte{0xAA});
  ASSERT_TRUE(EncodeRegionHeader(h, block).ok());
  // Explicit little-endian: the magic's first byte is its low byte.
  EXPECT_EQ(block[0], std::byte{0x53});
  EXPECT_EQ(block[3], std::byte{0x47});
  EXPECT_EQ(block[16], std::byte{0x88});  // sequence, low byte first
  EXPECT_EQ(block[4095], std::byte{0});   // rest of the block zeroed
  auto d = DecodeRegionHeader(block, kRegionBytes);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->region, h.region);
  EXPECT_EQ(d->sequence, h.sequence);
  EXPECT_EQ(d->entry_count, 3u);
  EXPECT_EQ(d->used_bytes, h.used_bytes);
  EXPECT_EQ(DecodeRegionHeader(block, 2 * kRegionBytes).status().code(), StatusCode::kDataLoss);
}

TEST(RegionFormatTest, EveryRegionHeaderByteFlipIsRejected) {
  RegionHeader h{.region = RegionId(1),
                 .sequence = RegionSequence(9),
                 .entry_count = 1,
                 .used_bytes = 8192,
                 .region_bytes = kRegionBytes};
  std::vector<std::byte> block(4096);
  ASSERT_TRUE(EncodeRegionHeader(h, block).ok());
  for (size_t i = 0; i < kRegionHeaderBytes; ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      auto copy = block;
      copy[i] ^= std::byte(1 << bit);
      auto d = DecodeRegionHeader(copy, kRegionBytes);
      ASSERT_FALSE(d.ok()) << "byte " << i << " bit " << bit;
      EXPECT_EQ(d.status().code(), StatusCode::kDataLoss);
    }
  }
  EXPECT_FALSE(DecodeRegionHeader(std::span(block).first(47), kRegionBytes).ok());
}

TEST(RegionFormatTest, EntryRoundTripManySizes) {
  std::mt19937_64 rng(42);
  for (size_t vlen : {0ul, 1ul, 47ul, 4000ul, 4048ul, 4096ul, 65537ul, 131072ul}) {
    std::string key(1 + rng() % kMaxKeyBytes, 'k');
    for (auto& c : key) c = static_cast<char>(rng());
    auto value = RandomBytes(vlen, vlen);
    auto extent = EncodeOne(key, value, 77);
    ASSERT_EQ(extent.size() % 4096, 0u);
    auto h = DecodeEntryHeader(extent);
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    EXPECT_EQ(h->key, key);
    EXPECT_EQ(h->ns, 7);
    EXPECT_EQ(h->sequence, RegionSequence(77));
    EXPECT_EQ(h->value_bytes, vlen);
    ASSERT_TRUE(VerifyEntryValue(*h, extent).ok());
    if (vlen > 0) {
      EXPECT_EQ(0, std::memcmp(extent.data() + EntryValueOffset(key.size()), value.data(), vlen));
    }
    for (size_t i = EntryValueOffset(key.size()) + vlen; i < extent.size(); ++i) {
      ASSERT_EQ(extent[i], std::byte{0}) << "padding not zeroed at " << i;
    }
  }
}

TEST(RegionFormatTest, EveryEntryHeaderAndKeyByteFlipIsRejected) {
  std::string key = "model@0@0@deadbeef@bf16";
  auto value = RandomBytes(5000, 1);
  auto extent = EncodeOne(key, value, 3);
  for (size_t i = 0; i < kEntryHeaderBytes + key.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      auto copy = extent;
      copy[i] ^= std::byte(1 << bit);
      auto h = DecodeEntryHeader(copy);
      ASSERT_FALSE(h.ok()) << "byte " << i << " bit " << bit;
      EXPECT_EQ(h.status().code(), StatusCode::kDataLoss);
    }
  }
}

TEST(RegionFormatTest, EveryValueByteFlipFailsVerification) {
  std::string key = "k";
  auto value = RandomBytes(600, 2);
  auto extent = EncodeOne(key, value, 3);
  for (size_t i = EntryValueOffset(1); i < EntryValueOffset(1) + value.size(); ++i) {
    auto copy = extent;
    copy[i] ^= std::byte{0x10};
    auto h = DecodeEntryHeader(copy);
    ASSERT_TRUE(h.ok());
    EXPECT_EQ(VerifyEntryValue(*h, copy).code(), StatusCode::kDataLoss) << "byte " << i;
  }
}

TEST(RegionFormatTest, TruncatedExtentIsRejected) {
  std::string key(100, 'x');
  auto value = RandomBytes(10000, 3);
  auto extent = EncodeOne(key, value, 3);
  for (size_t len : {0ul, 47ul, 48ul, 147ul, 148ul, 4096ul, 8192ul}) {
    auto h = DecodeEntryHeader(std::span(extent).first(len));
    EXPECT_EQ(h.status().code(), StatusCode::kDataLoss) << len;
  }
  EXPECT_TRUE(DecodeEntryHeader(std::span(extent).first(148 + 10000)).ok());
}

TEST(RegionFormatTest, EncoderRejectsBadArguments) {
  auto value = RandomBytes(10, 4);
  std::vector<std::byte> extent(4096);
  EXPECT_EQ(EncodeEntry(MakeHeader("", value, 1), value, extent).code(),
            StatusCode::kInvalidArgument);
  std::string long_key(kMaxKeyBytes + 1, 'k');
  EXPECT_EQ(EncodeEntry(MakeHeader(long_key, value, 1), value, extent).code(),
            StatusCode::kInvalidArgument);
  std::vector<std::byte> small(2048);
  EXPECT_EQ(EncodeEntry(MakeHeader("k", value, 1), value, small).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(EncodeEntry(MakeHeader("k", value, 1), std::span(value).first(5), extent).code(),
            StatusCode::kInvalidArgument);
  std::vector<std::byte> tiny(10);
  EXPECT_EQ(EncodeRegionHeader(RegionHeader{}, tiny).code(), StatusCode::kInvalidArgument);
}

// Builds a region image with `n` entries the way RegionStore lays it out.
std::vector<std::byte> BuildRegion(int n, uint64_t seq, std::vector<std::string>* keys) {
  std::vector<std::byte> image(kRegionBytes);
  size_t off = 4096;
  for (int i = 0; i < n; ++i) {
    keys->push_back("key-" + std::to_string(i));
    auto value = RandomBytes(1000 * i + 1, i);
    auto extent = EncodeOne(keys->back(), value, seq);
    std::memcpy(image.data() + off, extent.data(), extent.size());
    off += extent.size();
  }
  RegionHeader h{.region = RegionId(2),
                 .sequence = RegionSequence(seq),
                 .entry_count = static_cast<uint32_t>(n),
                 .used_bytes = off,
                 .region_bytes = kRegionBytes};
  EXPECT_TRUE(EncodeRegionHeader(h, std::span(image).first(4096)).ok());
  return image;
}

TEST(RegionFormatTest, ParseRegionFindsEveryEntry) {
  std::vector<std::string> keys;
  auto image = BuildRegion(20, 5, &keys);
  auto entries = ParseRegion(image, kRegionBytes);
  ASSERT_TRUE(entries.ok()) << entries.status().ToString();
  ASSERT_EQ(entries->size(), 20u);
  uint32_t expect_off = 4096;
  for (size_t i = 0; i < keys.size(); ++i) {
    EXPECT_EQ((*entries)[i].header.key, keys[i]);
    EXPECT_EQ((*entries)[i].offset, RegionOffset(expect_off));
    expect_off += (*entries)[i].extent_bytes;
  }
}

TEST(RegionFormatTest, ParseRegionRejectsCorruption) {
  std::vector<std::string> keys;
  auto image = BuildRegion(4, 5, &keys);
  // Entry count too high / too low.
  for (uint32_t count : {3u, 5u}) {
    auto copy = image;
    RegionHeader h = *DecodeRegionHeader(copy, kRegionBytes);
    h.entry_count = count;
    ASSERT_TRUE(EncodeRegionHeader(h, std::span(copy).first(4096)).ok());
    EXPECT_EQ(ParseRegion(copy, kRegionBytes).status().code(), StatusCode::kDataLoss) << count;
  }
  // An entry of another generation (a stale extent left by a torn write).
  auto stale = EncodeOne("key-1", RandomBytes(1001, 1), 4);
  auto copy = image;
  std::memcpy(copy.data() + 8192, stale.data(), stale.size());
  EXPECT_EQ(ParseRegion(copy, kRegionBytes).status().code(), StatusCode::kDataLoss);
  // A zeroed block inside the used prefix (a torn region write).
  copy = image;
  std::memset(copy.data() + 8192, 0, 4096);
  EXPECT_EQ(ParseRegion(copy, kRegionBytes).status().code(), StatusCode::kDataLoss);
  // Image shorter than used_bytes.
  EXPECT_EQ(ParseRegion(std::span(image).first(8192), kRegionBytes).status().code(),
            StatusCode::kDataLoss);
}

}  // namespace
}  // namespace kvstash
