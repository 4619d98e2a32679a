#include "common/checksum.h"

#include <gtest/gtest.h>

#include <string>

namespace kvstash {
namespace {

TEST(ChecksumTest, DetectsFlips) {
  std::string a(4096, 'x');
  Checksum c = ComputeChecksum(a.data(), a.size());
  a[1000] ^= 1;
  EXPECT_NE(c, ComputeChecksum(a.data(), a.size()));
  a[1000] ^= 1;
  EXPECT_EQ(c, ComputeChecksum(a.data(), a.size()));
}

TEST(ChecksumTest, KeyHashSeparatesNamespaces) {
  EXPECT_NE(HashKey(0, "k"), HashKey(1, "k"));
  EXPECT_EQ(HashKey(3, "abc"), HashKey(3, "abc"));
}

}  // namespace
}  // namespace kvstash
