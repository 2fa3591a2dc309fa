// Series identity: validation, canonical form, canonical encoding and series ids.
#include "timeseries/labels.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace meld::ts {
namespace {

Labels make_ok(std::vector<Label> labels) {
  auto made = Labels::make(std::move(labels));
  EXPECT_TRUE(made.is_ok()) << made.status().to_string();
  return made.is_ok() ? *made : Labels();
}

std::string error_of(std::vector<Label> labels) {
  auto made = Labels::make_series(std::move(labels));
  EXPECT_FALSE(made.is_ok());
  EXPECT_EQ(made.status().code(), StatusCode::kInvalidArgument);
  return made.status().message();
}

TEST(Labels, CanonicalFormIsSortedAndDropsEmptyValues) {
  Labels l = make_ok({{"zone", "b"}, {"__name__", "up"}, {"gone", ""}, {"job", "api"}});
  ASSERT_EQ(l.size(), 3u);
  EXPECT_EQ(l.labels()[0], (Label{"__name__", "up"}));
  EXPECT_EQ(l.labels()[1], (Label{"job", "api"}));
  EXPECT_EQ(l.labels()[2], (Label{"zone", "b"}));
  EXPECT_EQ(l.get("gone"), "");
  EXPECT_EQ(l.metric_name(), "up");
  EXPECT_EQ(l.to_string(), "up{job=\"api\", zone=\"b\"}");
}

TEST(Labels, SeriesIdDoesNotDependOnInputOrder) {
  Labels a = make_ok({{"__name__", "up"}, {"a", "1"}, {"b", "2"}});
  Labels b = make_ok({{"b", "2"}, {"a", "1"}, {"__name__", "up"}});
  EXPECT_EQ(a.encode(), b.encode());
  EXPECT_EQ(a.series_id(), b.series_id());
  EXPECT_NE(a.series_id(), make_ok({{"__name__", "up"}, {"a", "1"}}).series_id());
}

TEST(Labels, EncodingIsLengthPrefixedBigEndian) {
  Labels l = make_ok({{"__name__", "m"}, {"a", "xy"}});
  const std::string expected =
      std::string("\0\0\0\x08__name__\0\0\0\x01m", 17) + std::string(
                                                             "\0\0\0\x01"
                                                             "a\0\0\0\x02xy",
                                                             11);
  EXPECT_EQ(l.encode(), expected);
  // The id is XXH64 (seed 0) of that encoding: a frozen value, persisted by stores.
  EXPECT_EQ(l.series_id(), series_id_of_encoding(expected));
}

TEST(Labels, DecodeRoundTripsAndRejectsCorruption) {
  Labels l = make_ok({{"__name__", "m"}, {"a", "é"}, {"b", "2"}});
  auto back = Labels::decode(l.encode());
  ASSERT_TRUE(back.is_ok());
  EXPECT_EQ(*back, l);
  const std::string enc = l.encode();
  for (size_t cut = 1; cut < enc.size(); ++cut) {
    auto r = Labels::decode(enc.substr(0, cut));
    if (r.is_ok()) continue;  // a cut at a label boundary is a valid shorter set
    EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  }
  Labels swapped = make_ok({{"b", "2"}});
  EXPECT_FALSE(Labels::decode(swapped.encode() + make_ok({{"a", "1"}}).encode()).is_ok());
  EXPECT_FALSE(Labels::decode(std::string("\0\0\0\x01"
                                          "a\0\0\0\0",
                                          9))
                   .is_ok());
}

TEST(Labels, NamingRulesFollowPrometheus) {
  EXPECT_TRUE(is_metric_name("node_cpu:rate5m"));
  EXPECT_FALSE(is_metric_name("1abc"));
  EXPECT_FALSE(is_metric_name("a-b"));
  EXPECT_TRUE(is_label_name("_a1"));
  EXPECT_FALSE(is_label_name("a:b"));
  EXPECT_FALSE(is_label_name(""));
  EXPECT_NE(error_of({{"__name__", "9x"}}).find("invalid metric name"), std::string::npos);
  EXPECT_NE(error_of({{"__name__", "m"}, {"a-b", "1"}}).find("invalid label name"),
            std::string::npos);
  EXPECT_NE(error_of({{"__name__", "m"}, {"__meta", "1"}}).find("reserved"), std::string::npos);
  EXPECT_NE(error_of({{"__name__", "m"}, {"a", "\xff"}}).find("UTF-8"), std::string::npos);
  EXPECT_NE(error_of({{"__name__", "m"}, {"a", "1"}, {"a", "2"}}).find("given twice"),
            std::string::npos);
  EXPECT_NE(error_of({{"a", "1"}}).find("no metric name"), std::string::npos);
}

TEST(Labels, LimitsAreEnforcedAtTheBoundary) {
  std::vector<Label> labels{{"__name__", "m"}};
  for (uint32_t i = 1; i < kLabelsMax; ++i) labels.push_back({"l" + std::to_string(i), "v"});
  EXPECT_TRUE(Labels::make_series(labels).is_ok());
  labels.push_back({"one_more", "v"});
  EXPECT_NE(error_of(labels).find("limit 32"), std::string::npos);

  EXPECT_TRUE(Labels::make({{std::string(kLabelNameBytesMax, 'n'), "v"}}).is_ok());
  EXPECT_NE(error_of({{std::string(kLabelNameBytesMax + 1, 'n'), "v"}}).find("limit 128"),
            std::string::npos);
  EXPECT_TRUE(Labels::make({{"a", std::string(kLabelValueBytesMax, 'v')}}).is_ok());
  EXPECT_NE(error_of({{"a", std::string(kLabelValueBytesMax + 1, 'v')}}).find("limit 2048"),
            std::string::npos);
}

TEST(Labels, Utf8ValidationRejectsOverlongAndSurrogates) {
  EXPECT_TRUE(is_valid_utf8("h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));      // surrogate U+D800
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xe2\x82"));          // truncated
}

TEST(Labels, ByAndWithoutKeepTheRightLabels) {
  Labels l = make_ok({{"__name__", "m"}, {"a", "1"}, {"b", "2"}, {"c", "3"}});
  const std::vector<std::string> ab{"b", "a", "zz"};
  EXPECT_EQ(l.keep_only(ab), make_ok({{"a", "1"}, {"b", "2"}}));
  EXPECT_EQ(l.drop(ab), make_ok({{"c", "3"}}));
  EXPECT_EQ(l.without_metric_name(), make_ok({{"a", "1"}, {"b", "2"}, {"c", "3"}}));
}

RC_GTEST_PROP(LabelsProperty, DecodeInvertsEncodeAndIdIsOrderFree, ()) {
  const auto n = *rc::gen::inRange<size_t>(0, 10);
  std::vector<Label> labels;
  for (size_t i = 0; i < n; ++i) {
    labels.push_back({"l" + std::to_string(*rc::gen::inRange(0, 20)),
                      *rc::gen::container<std::string>(rc::gen::inRange('a', 'z'))});
  }
  auto made = Labels::make(labels);
  std::sort(labels.begin(), labels.end());
  const bool duplicate = std::adjacent_find(labels.begin(), labels.end(), [](auto& a, auto& b) {
                           return a.name == b.name && !a.value.empty() && !b.value.empty();
                         }) != labels.end();
  if (!made.is_ok()) {
    RC_ASSERT(made.status().message().find("given twice") != std::string::npos);
    return;
  }
  RC_ASSERT(!duplicate);
  std::reverse(labels.begin(), labels.end());
  auto reversed = Labels::make(labels);
  RC_ASSERT(reversed.is_ok());
  RC_ASSERT(reversed->series_id() == made->series_id());
  auto back = Labels::decode(made->encode());
  RC_ASSERT(back.is_ok());
  RC_ASSERT(*back == *made);
}

}  // namespace
}  // namespace meld::ts
