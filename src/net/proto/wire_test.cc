#include "net/proto/wire.h"

#include <gtest/gtest.h>

namespace kvstash::net {
namespace {

TEST(WireTest, LittleEndianLayoutIsExplicit) {
  WireWriter w;
  w.U16(0x0102);
  w.U32(0x03040506);
  w.U64(0x0708090A0B0C0D0Eull);
  auto b = w.Take();
  ASSERT_EQ(b.size(), 14u);
  EXPECT_EQ(b[0], std::byte{0x02});
  EXPECT_EQ(b[1], std::byte{0x01});
  EXPECT_EQ(b[2], std::byte{0x06});
  EXPECT_EQ(b[5], std::byte{0x03});
  EXPECT_EQ(b[6], std::byte{0x0E});
  EXPECT_EQ(b[13], std::byte{0x07});
}

TEST(WireTest, RoundTripsAndRejectsTruncation) {
  WireWriter w;
  w.U8(7);
  w.Str16("hello");
  w.U64(~0ull);
  auto b = w.Take();
  WireReader r(b);
  uint8_t u8 = 0;
  std::string_view s;
  uint64_t u64 = 0;
  ASSERT_TRUE(r.U8(&u8).ok());
  ASSERT_TRUE(r.Str16(&s, 1, 16, "s").ok());
  ASSERT_TRUE(r.U64(&u64).ok());
  EXPECT_EQ(u8, 7);
  EXPECT_EQ(s, "hello");
  EXPECT_EQ(u64, ~0ull);
  EXPECT_TRUE(r.ExpectEnd().ok());
  for (size_t cut = 0; cut < b.size(); ++cut) {
    WireReader t(std::span<const std::byte>(b).first(cut));
    Status st = t.U8(&u8);
    if (st.ok()) st = t.Str16(&s, 1, 16, "s");
    if (st.ok()) st = t.U64(&u64);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << "cut=" << cut;
  }
}

TEST(WireTest, StringLengthBoundsAreEnforced) {
  WireWriter w;
  w.Str16("abcdef");
  auto b = w.Take();
  std::string_view s;
  EXPECT_FALSE(WireReader(b).Str16(&s, 1, 5, "key").ok());
  EXPECT_FALSE(WireReader(b).Str16(&s, 7, 10, "key").ok());
  EXPECT_TRUE(WireReader(b).Str16(&s, 6, 6, "key").ok());
}

TEST(WireTest, CountCannotExceedRemainingBytes) {
  WireWriter w;
  w.U32(1000);  // claims 1000 items of >= 10 bytes, but nothing follows
  auto b = w.Take();
  uint32_t n = 0;
  EXPECT_FALSE(WireReader(b).Count(&n, 1, 4096, 10, "items").ok());
  EXPECT_FALSE(WireReader(b).Count(&n, 1, 999, 0, "items").ok());
  EXPECT_TRUE(WireReader(b).Count(&n, 1, 1000, 0, "items").ok());
}

}  // namespace
}  // namespace kvstash::net
