#include "dram/dram_regions.h"

#include <gtest/gtest.h>

#include <vector>

namespace kvstash {
namespace {

class DramRegionsTest : public ::testing::Test {
 protected:
  ~DramRegionsTest() override {
    for (BlockRecord* r : records_) BlockRecord::Free(slab_, r);
  }
  BlockRecord* Rec() {
    records_.push_back(BlockRecord::New(slab_, 0, "k", 1));
    return records_.back();
  }
  RecordSlab slab_;
  std::vector<BlockRecord*> records_;
};

TEST_F(DramRegionsTest, BumpAllocatesWithinCapacity) {
  DramRegions regions(4 * 65536 + 100, 65536);  // rounds down to 4 regions
  EXPECT_EQ(regions.num_regions(), 4u);
  EXPECT_EQ(regions.capacity(), 4u * 65536);
  uint64_t handed_out = 0;
  for (;;) {
    auto g = regions.Allocate(10000, Rec());
    if (!g.ok()) {
      EXPECT_EQ(g.status().code(), StatusCode::kResourceExhausted);
      break;
    }
    EXPECT_EQ(g->offset.value() % 4096, 0u) << "page-size blocks are page aligned";
    EXPECT_LE(g->offset.value() + 10000, regions.capacity());
    handed_out += 10000;
  }
  // Blocks of 10000 start every 12288 bytes: 5 fit in each 64 KiB region, 20 in all.
  EXPECT_EQ(handed_out, 20u * 10000);
  EXPECT_LE(regions.GetStats().used_bytes, regions.capacity());
}

TEST_F(DramRegionsTest, SmallBlocksAreCacheLineAligned) {
  DramRegions regions(65536, 65536);
  auto a = regions.Allocate(1, Rec());
  auto b = regions.Allocate(1, Rec());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(b->offset.value() - a->offset.value(), 64u);
}

TEST_F(DramRegionsTest, ReclaimSkipsOpenAllocationsAndPrefersDeadRegions) {
  DramRegions regions(3 * 65536, 65536);
  std::vector<DramRegions::Grant> g;
  for (int i = 0; i < 12; ++i) {  // 4 x 16 KiB per region: fills all three
    auto r = regions.Allocate(16384, Rec());
    ASSERT_TRUE(r.ok());
    g.push_back(*r);
  }
  // Close region 0's and region 1's allocations; region 1's all dead.
  for (int i = 0; i < 4; ++i) regions.CloseAllocation(g[i].region, true, 16384);
  for (int i = 4; i < 8; ++i) regions.CloseAllocation(g[i].region, false, 16384);
  ASSERT_FALSE(regions.Allocate(16384, Rec()).ok());  // seals region 2
  RegionId victim;
  std::vector<BlockRecord*> recs;
  ASSERT_TRUE(regions.BeginReclaim(&victim, &recs));
  EXPECT_EQ(victim, g[4].region) << "the fully dead region goes first";
  EXPECT_EQ(recs.size(), 4u);
  EXPECT_TRUE(regions.FinishReclaim(victim));
  ASSERT_TRUE(regions.BeginReclaim(&victim, &recs));
  EXPECT_EQ(victim, g[0].region);
  for (int i = 0; i < 4; ++i) regions.RemoveLive(victim, 16384);
  EXPECT_TRUE(regions.FinishReclaim(victim));
  // Region 2 still has open allocations: not a victim.
  EXPECT_FALSE(regions.BeginReclaim(&victim, &recs));
  EXPECT_EQ(regions.GetStats().recycles, 2u);
}

TEST_F(DramRegionsTest, PinnedRegionDrainsBeforeReuse) {
  DramRegions regions(2 * 65536, 65536);
  auto a = regions.Allocate(65536, Rec());
  ASSERT_TRUE(a.ok());
  regions.CloseAllocation(a->region, true, 65536);
  regions.Pin(a->region);
  auto b = regions.Allocate(65536, Rec());  // seals region of a
  ASSERT_TRUE(b.ok());
  regions.CloseAllocation(b->region, true, 65536);
  RegionId victim;
  std::vector<BlockRecord*> recs;
  ASSERT_TRUE(regions.BeginReclaim(&victim, &recs));
  EXPECT_EQ(victim, a->region);
  regions.RemoveLive(victim, 65536);
  EXPECT_FALSE(regions.FinishReclaim(victim));
  EXPECT_EQ(regions.state(victim), DramRegions::State::kDraining);
  EXPECT_FALSE(regions.Allocate(65536, Rec()).ok()) << "no reuse under a pin";
  regions.Unpin(a->region);
  EXPECT_EQ(regions.state(victim), DramRegions::State::kFree);
  EXPECT_TRUE(regions.Allocate(65536, Rec()).ok());
}

}  // namespace
}  // namespace kvstash
