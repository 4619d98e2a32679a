#include "common/size.h"

#include <gtest/gtest.h>

namespace kvstash {
namespace {

TEST(SizeTest, Parses) {
  EXPECT_EQ(*ParseSize("1048576"), 1048576u);
  EXPECT_EQ(*ParseSize("64MiB"), 64ull << 20);
  EXPECT_EQ(*ParseSize("8GiB"), 8ull << 30);
  EXPECT_EQ(*ParseSize("4k"), 4096u);
  EXPECT_EQ(*ParseSize("1.5KiB"), 1536u);
  EXPECT_EQ(*ParseSize(" 2G "), 2ull << 30);
  EXPECT_EQ(*ParseSize("16MB"), 16ull << 20);
}

TEST(SizeTest, Rejects) {
  EXPECT_FALSE(ParseSize("").ok());
  EXPECT_FALSE(ParseSize("MiB").ok());
  EXPECT_FALSE(ParseSize("12XB").ok());
  EXPECT_FALSE(ParseSize("1.2.3").ok());
  EXPECT_FALSE(ParseSize("-5").ok());
  EXPECT_FALSE(ParseSize("99999999999T").ok());
}

TEST(SizeTest, Formats) {
  EXPECT_EQ(FormatSize(1048576), "1MiB");
  EXPECT_EQ(FormatSize(1536), "1.50KiB");
  EXPECT_EQ(FormatSize(17), "17B");
}

}  // namespace
}  // namespace kvstash
