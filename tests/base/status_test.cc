#include "base/status.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

namespace meld {
namespace {

TEST(Status, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.is_ok());
  EXPECT_EQ(s.to_string(), "ok");
}

TEST(Status, ToStringNamesTheCode) {
  EXPECT_EQ(Status::not_found("key 'a'").to_string(), "not_found: key 'a'");
  EXPECT_EQ(Status::resource_exhausted("queue full").to_string(), "resource_exhausted: queue full");
}

TEST(Status, CodeNamesRoundTrip) {
  for (int i = 0; i <= static_cast<int>(StatusCode::kInternal); ++i) {
    auto code = static_cast<StatusCode>(i);
    EXPECT_EQ(status_code_from_name(status_code_name(code)), code);
  }
  EXPECT_EQ(status_code_from_name("no_such_code"), StatusCode::kInternal);
}

TEST(Result, HoldsValueOrError) {
  Result<int> good(42);
  ASSERT_TRUE(good.is_ok());
  EXPECT_EQ(*good, 42);
  EXPECT_TRUE(good.status().is_ok());

  Result<int> bad(Status::io_error("disk"));
  EXPECT_FALSE(bad.is_ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kIoError);
}

Status fails_then_returns() {
  MELD_RETURN_IF_ERROR(Status::busy("locked"));
  return Status::internal("not reached");
}

TEST(Status, ReturnIfErrorPropagates) {
  EXPECT_EQ(fails_then_returns().code(), StatusCode::kBusy);
}

TEST(ResultDeathTest, ValueOfErrorAborts) {
  Result<int> bad(Status::io_error("disk"));
  EXPECT_DEATH((void)bad.value(), "value\\(\\) on error Result");
}

}  // namespace
}  // namespace meld
