// Gets of blocks that live on flash: the server reads them with BlockStore::ReadInto into its
// registered bounce buffer and puts them from there (DESIGN.md §4). In-memory flash device,
// no background threads: the test decides when blocks move to flash.
#include <gtest/gtest.h>

#include "flash/memory_device.h"
#include "net/net_test_util.h"

namespace kvstash::testing {
namespace {

TEST(NetFlashTest, FlashHitsAreServedThroughTheBounceBuffer) {
  auto mem = MemoryDevice::Create(16 << 20);
  ASSERT_TRUE(mem.ok()) << mem.status().ToString();
  StoreOptions o;
  o.dram_bytes = 4 * (256 << 10);
  o.dram_region_bytes = 256 << 10;
  o.max_value_bytes = 256 << 10;
  o.try_hugepages = false;
  o.background = false;
  o.flash_device = mem->get();
  o.flash.regions.region_bytes = 1 << 20;
  o.flash.regions.background_flush = false;
  o.flash.regions.trim.background_thread = false;
  o.flash.admission.kind = "all";
  ServerOptions so;
  so.max_value_bytes = 256 << 10;
  auto ts = StartServer(0, 1, o, so);
  ASSERT_NE(ts, nullptr);
  auto c = Client::Connect(TestClientOptions(*ts));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  constexpr int kN = 30;
  const size_t kSize = (64 << 10) + 123;
  for (int i = 0; i < kN; ++i) {
    ASSERT_TRUE((*c)->Put("f" + std::to_string(i), Pattern(i, kSize)).ok()) << i;
  }
  ASSERT_TRUE(ts->store->FlushFlash().ok());
  ASSERT_GT(ts->store->Stats().dram_copies_dropped, 0u) << "nothing moved to flash";
  std::vector<std::byte> pool(kSize);
  auto reg = (*c)->RegisterBuffer(pool.data(), pool.size());
  ASSERT_TRUE(reg.ok());
  for (int i = 0; i < kN; ++i) {
    auto got = (*c)->Get("f" + std::to_string(i), pool);
    ASSERT_TRUE(got.ok()) << i << " " << got.status().ToString();
    ASSERT_EQ(*got, kSize);
    ASSERT_EQ(pool, Pattern(i, kSize)) << i;
  }
  ServerStats st = ts->server->Stats();
  EXPECT_GT(st.get_bytes_flash, 0u);
  EXPECT_GT(ts->store->Stats().hits_flash, 0u);
  EXPECT_EQ(st.flash_reads_unavailable, 0u);
  EXPECT_EQ(st.dram_payload_memcpy_bytes, 0u);
}

}  // namespace
}  // namespace kvstash::testing
