#include "dram/dram_arena.h"

#include <gtest/gtest.h>

#include <cstring>

namespace kvstash {
namespace {

TEST(DramArenaTest, MapsAndFallsBackCleanly) {
  for (bool huge : {true, false}) {
    auto arena = DramArena::Create(3 << 20, huge);
    ASSERT_TRUE(arena.ok()) << arena.status().ToString();
    EXPECT_EQ((*arena)->size(), 4u << 20);  // rounded up to 2 MiB
    if (!huge) {
      EXPECT_EQ((*arena)->backing(), PageBacking::kSmall);
    }
    auto span = (*arena)->At(ArenaOffset(4096), 100);
    std::memset(span.data(), 0xAB, span.size());
    EXPECT_EQ(static_cast<unsigned char>((*arena)->base()[4096 + 99]), 0xAB);
  }
}

TEST(DramArenaTest, RejectsZero) { EXPECT_FALSE(DramArena::Create(0, false).ok()); }

TEST(DramArenaDeathTest, OutOfRangeAborts) {
  auto arena = DramArena::Create(2 << 20, false);
  ASSERT_TRUE(arena.ok());
  EXPECT_DEATH((void)(*arena)->At(ArenaOffset((2 << 20) - 10), 11), "out of range");
}

}  // namespace
}  // namespace kvstash
