#include "flash/io_probe.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "flash/device_test_util.h"

namespace kvstash {
namespace {

using testing::TempDir;

TEST(IoProbeTest, PrepareWritesTheWholeFile) {
  TempDir dir;
  const std::string path = dir.File("probe.dat");
  ASSERT_TRUE(PrepareProbeFile(path, 8 << 20).ok());
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 8 << 20);
  EXPECT_GE(static_cast<uint64_t>(st.st_blocks) * 512, 8u << 20);  // no holes left
  Result<ProbeTarget> t = DescribeProbeTarget(path);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_FALSE(t->is_block_device);
  EXPECT_EQ(t->size_bytes, 8u << 20);
  EXPECT_FALSE(t->filesystem.empty());
  EXPECT_NE(t->filesystem, "unknown");
}

TEST(IoProbeTest, MeasuresRandomReadsAndSequentialWrites) {
  TempDir dir;
  const std::string path = dir.File("probe.dat");
  ASSERT_TRUE(PrepareProbeFile(path, 8 << 20).ok());
  for (IoPattern pattern : {IoPattern::kRandomRead, IoPattern::kSequentialWrite}) {
    IoProbeOptions o;
    o.path = path;
    o.bytes = 8 << 20;
    o.block_bytes = 16 << 10;
    o.queue_depth = 4;
    o.pattern = pattern;
    o.seconds = 0.05;
    Result<IoProbeResult> r = ProbeIo(o);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_GT(r->ops, 4u) << IoPatternName(pattern);
    EXPECT_EQ(r->bytes, r->ops * o.block_bytes);
    EXPECT_GE(r->seconds, 0.05);
    EXPECT_GT(r->bytes_per_sec(), 0);
    EXPECT_GT(r->latency.p50_us, 0);
    EXPECT_LE(r->latency.p50_us, r->latency.p99_us);
    EXPECT_LE(r->latency.p99_us, r->latency.max_us);
  }
}

TEST(IoProbeTest, RejectsBadOptions) {
  IoProbeOptions o;
  o.path = "/nonexistent/kvstash-probe";
  EXPECT_TRUE(ProbeIo(o).status().Is(StatusCode::kNotFound));
  o.block_bytes = 1000;
  EXPECT_TRUE(ProbeIo(o).status().Is(StatusCode::kInvalidArgument));
  o.block_bytes = 4096;
  o.queue_depth = 0;
  EXPECT_TRUE(ProbeIo(o).status().Is(StatusCode::kInvalidArgument));
}

TEST(IoProbeTest, MemcpyBandwidth) {
  MemcpyResult m = ProbeMemcpy(4 << 20, 0.02);
  EXPECT_GE(m.bytes, 4u << 20);
  EXPECT_GT(m.bytes_per_sec(), 1e8);  // any machine copies faster than 100 MB/s
}

}  // namespace
}  // namespace kvstash
