#include "server/config.h"

#include <gtest/gtest.h>

namespace meld::server {
namespace {

constexpr int64_t kHourMs = int64_t{3600} * 1000;
constexpr int64_t kDayMs = 24 * kHourMs;

Status parse_error(const std::vector<std::string>& args) {
  auto parsed = parse_args(args);
  EXPECT_FALSE(parsed.is_ok());
  return parsed.status();
}

TEST(Config, TsFlagsDefaultToKeepForeverAndWeekBlocks) {
  auto parsed = parse_args({});
  ASSERT_TRUE(parsed.is_ok());
  EXPECT_EQ(parsed->config.ts_retention_ms, 0);
  EXPECT_EQ(parsed->config.ts_block_ms, 7 * kDayMs);
  EXPECT_EQ(parsed->config.ts_block_ms, storage::kDefaultTsBlockDurationMs);
}

TEST(Config, TsFlagsTakeDurationsInBothSpellings) {
  auto parsed = parse_args({"--ts-retention", "90d", "--ts-block=2h"});
  ASSERT_TRUE(parsed.is_ok()) << parsed.status().to_string();
  EXPECT_EQ(parsed->config.ts_retention_ms, 90 * kDayMs);
  EXPECT_EQ(parsed->config.ts_block_ms, 2 * kHourMs);
  parsed = parse_args({"--ts-retention=1w12h", "--ts-block", "1y", "--ts-retention", "0"});
  ASSERT_TRUE(parsed.is_ok()) << parsed.status().to_string();
  EXPECT_EQ(parsed->config.ts_retention_ms, 0);  // the last one wins
  EXPECT_EQ(parsed->config.ts_block_ms, 365 * kDayMs);
  parsed = parse_args({"--ts-retention", "36h30m", "--ts-block", "1h"});
  ASSERT_TRUE(parsed.is_ok()) << parsed.status().to_string();
  EXPECT_EQ(parsed->config.ts_retention_ms, 36 * kHourMs + 30 * 60 * 1000);
  EXPECT_EQ(parsed->config.ts_block_ms, kHourMs);
}

TEST(Config, BadTsDurationsAreInvalidArgumentsNamingTheFlag) {
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  const Case cases[] = {
      {{"--ts-retention", "90"}, "needs a unit"},
      {{"--ts-retention", "5x"}, "needs a unit"},
      {{"--ts-retention", "-1d"}, "expected a duration"},
      {{"--ts-retention", "1d 2h"}, "after the duration"},
      {{"--ts-retention", "2h1d"}, "out of order"},
      {{"--ts-retention", "99999999999999999y"}, "too long"},
      {{"--ts-retention", ""}, "expected a duration"},
      {{"--ts-block", "0h"}, "positive"},
      {{"--ts-block", "30m"}, "between 1h and 1y"},
      {{"--ts-block", "2y"}, "between 1h and 1y"},
      {{"--ts-block", "1week"}, "bad duration unit"},
  };
  for (const Case& c : cases) {
    Status s = parse_error(c.args);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << c.args[1];
    EXPECT_EQ(s.message().rfind(c.args[0] + " ", 0), 0u) << s.message();
    EXPECT_NE(s.message().find(c.says), std::string::npos) << c.args[1] << ": " << s.message();
  }
  Status missing = parse_error({"--ts-block"});
  EXPECT_NE(missing.message().find("needs a value"), std::string::npos) << missing.message();
}

TEST(Config, UsageDocumentsTheTsFlags) {
  EXPECT_NE(usage().find("--ts-retention DURATION"), std::string::npos);
  EXPECT_NE(usage().find("--ts-block DURATION"), std::string::npos);
}

}  // namespace
}  // namespace meld::server
