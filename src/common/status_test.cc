#include "kvstash/status.h"

#include <gtest/gtest.h>

#include "common/errno.h"

namespace kvstash {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return Status::InvalidArgument("odd");
  return x / 2;
}

Result<int> Quarter(int x) {
  KVSTASH_ASSIGN_OR_RETURN(int h, Half(x));
  KVSTASH_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

Status CheckEven(int x) {
  KVSTASH_RETURN_IF_ERROR(Half(x).status());
  return Status::Ok();
}

TEST(StatusTest, OkAndErrors) {
  EXPECT_TRUE(Status().ok());
  EXPECT_EQ(Status().ToString(), "OK");
  Status s = Status::Busy("key held");
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(s.Is(StatusCode::kBusy));
  EXPECT_EQ(s.ToString(), "Busy: key held");
  EXPECT_EQ(StatusCodeName(StatusCode::kLeaseExpired), "LeaseExpired");
}

TEST(StatusTest, ResultPropagates) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_EQ(Quarter(6).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(CheckEven(4).ok());
  EXPECT_FALSE(CheckEven(3).ok());
}

TEST(StatusTest, ResultFromOkStatusIsInternal) {
  Result<int> r{Status::Ok()};
  EXPECT_EQ(r.status().code(), StatusCode::kInternal);
}

TEST(StatusDeathTest, ValueOfErrorAborts) {
  Result<int> r{Status::NotFound("x")};
  EXPECT_DEATH((void)r.value(), "NotFound");
}

TEST(ErrnoTest, Mapping) {
  EXPECT_EQ(ErrnoToStatus(ENOSPC, "w").code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(ErrnoToStatus(EIO, "r").code(), StatusCode::kIOError);
  EXPECT_EQ(ErrnoToStatus(EACCES, "o").code(), StatusCode::kPermissionDenied);
  EXPECT_NE(ErrnoToStatus(EIO, "pread x").message().find("pread x"), std::string::npos);
}

}  // namespace
}  // namespace kvstash
