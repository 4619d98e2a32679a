#include "config/host_port.h"

#include <gtest/gtest.h>

namespace kvstash {
namespace {

TEST(HostPortTest, ParsesV4NameAndV6) {
  auto a = ParseHostPort("127.0.0.1:7400");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 7400);
  EXPECT_EQ(a->ToString(), "127.0.0.1:7400");
  auto b = ParseHostPort("localhost:0");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->port, 0);
  auto c = ParseHostPort("[::1]:9400");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->host, "::1");
  EXPECT_EQ(c->ToString(), "[::1]:9400");
}

TEST(HostPortTest, RejectsWithClearMessages) {
  for (const char* bad : {"", "7400", "127.0.0.1", ":7400", "host:", "host:65536", "host:-1",
                          "host:12x", "::1:7400", "[::1:7400", "[]:1"}) {
    auto r = ParseHostPort(bad);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find("HOST:PORT"), std::string::npos) << bad;
  }
}

}  // namespace
}  // namespace kvstash
