#include "dram/dram_arena.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

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

TEST(DramArenaTest, AdoptsMemoryKeepsItsBytesAndReleasesItOnce) {
  std::vector<std::byte> memory(64 << 10, std::byte{0x5A});
  int releases = 0;
  ArenaMemory m{memory.data(), memory.size(), PageBacking::kShared, [&] { ++releases; }};
  {
    auto arena = DramArena::Adopt(std::move(m), /*prefault=*/true);
    ASSERT_TRUE(arena.ok()) << arena.status().ToString();
    EXPECT_EQ((*arena)->base(), memory.data());
    EXPECT_EQ((*arena)->size(), memory.size());
    EXPECT_EQ((*arena)->backing(), PageBacking::kShared);
    // Prefaulting an adopted arena never changes a byte (it may hold a peer's data).
    EXPECT_EQ((*arena)->At(ArenaOffset(memory.size() - 1), 1)[0], std::byte{0x5A});
    EXPECT_EQ(releases, 0);
  }
  EXPECT_EQ(releases, 1);
}

TEST(DramArenaTest, AdoptRejectsEmptyMemoryOrNoRelease) {
  std::byte b[16];
  EXPECT_FALSE(DramArena::Adopt(ArenaMemory{nullptr, 16, PageBacking::kShared, [] {}}, false).ok());
  EXPECT_FALSE(DramArena::Adopt(ArenaMemory{b, 0, PageBacking::kShared, [] {}}, false).ok());
  EXPECT_FALSE(DramArena::Adopt(ArenaMemory{b, 16, PageBacking::kShared, nullptr}, false).ok());
}

TEST(DramArenaTest, RejectsZero) { EXPECT_FALSE(DramArena::Create(0, false).ok()); }

TEST(DramArenaDeathTest, OutOfRangeAborts) {
  auto arena = DramArena::Create(2 << 20, false);
  ASSERT_TRUE(arena.ok());
  EXPECT_DEATH((void)(*arena)->At(ArenaOffset((2 << 20) - 10), 11), "out of range");
}

}  // namespace
}  // namespace kvstash
