#include "config/flash_sizing.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

namespace kvstash {
namespace {

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kGiB = 1ull << 30;

TEST(FlashSizingTest, AutoCapsAtEightGiB) {
  FsSpace big{.available_bytes = 500 * kGiB, .total_bytes = 1000 * kGiB};
  EXPECT_EQ(AutoFlashBytes(big, 64 * kMiB), kAutoFlashMaxBytes);
}

TEST(FlashSizingTest, AutoLeavesHeadroomAndRoundsToRegions) {
  // 5% of 20 GiB = 1 GiB headroom; 3 GiB + 100 MiB free -> 2 GiB + 100 MiB -> 2 GiB + 64 MiB.
  FsSpace fs{.available_bytes = 3 * kGiB + 100 * kMiB, .total_bytes = 20 * kGiB};
  EXPECT_EQ(AutoFlashBytes(fs, 64 * kMiB), 2 * kGiB + 64 * kMiB);
  // Small filesystem: the 256 MiB minimum headroom applies.
  FsSpace small{.available_bytes = 300 * kMiB, .total_bytes = 1 * kGiB};
  EXPECT_EQ(AutoFlashBytes(small, 16 * kMiB), 32 * kMiB);
  // An existing file's blocks count as available (it will be reused).
  small.existing_file_bytes = 64 * kMiB;
  EXPECT_EQ(AutoFlashBytes(small, 16 * kMiB), 96 * kMiB);
  FsSpace full{.available_bytes = 100 * kMiB, .total_bytes = 1 * kGiB};
  EXPECT_EQ(AutoFlashBytes(full, 16 * kMiB), 0u);
}

TEST(FlashSizingTest, ExplicitSizeRoundsDownToRegions) {
  KvstashdConfig c;
  c.flash_path = ::testing::TempDir() + "flash_sizing_test.flash";
  c.region_bytes = 8 * kMiB;
  c.flash_bytes = 100 * kMiB;
  auto r = ResolveFlashBytes(c);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, 96 * kMiB);
}

TEST(FlashSizingTest, AutoOnRealFilesystemIsBoundedOrExplains) {
  KvstashdConfig c;
  c.flash_path = ::testing::TempDir() + "flash_sizing_test.flash";
  auto r = ResolveFlashBytes(c);
  if (r.ok()) {
    EXPECT_LE(*r, kAutoFlashMaxBytes);
    EXPECT_GE(*r, 2 * c.region_bytes);
    EXPECT_EQ(*r % c.region_bytes, 0u);
  } else {
    EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
    EXPECT_NE(r.status().message().find("--flash-size"), std::string::npos);
  }
}

TEST(FlashSizingTest, MissingDirectoryIsAnError) {
  KvstashdConfig c;
  c.flash_path = "/nonexistent-dir-kvstash/x.flash";
  EXPECT_FALSE(ResolveFlashBytes(c).ok());
  c.flash_path = "";
  EXPECT_FALSE(ResolveFlashBytes(c).ok());
}

TEST(FlashSizingTest, DirectIoProbe) {
  std::string path = ::testing::TempDir() + "flash_sizing_direct.flash";
  auto r = SupportsDirectIo(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << "the probe creates the file";
  ::unlink(path.c_str());
  EXPECT_FALSE(SupportsDirectIo("/nonexistent-dir-kvstash/x.flash").ok());
  // (tmpfs refuses O_DIRECT only on kernels before 6.6, so no expectation on the value there.)
}

}  // namespace
}  // namespace kvstash
