#include "client/series_parser.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace meld::client {
namespace {

std::vector<Label> labels(std::initializer_list<std::pair<const char*, const char*>> pairs) {
  std::vector<Label> out;
  for (auto [name, value] : pairs) out.push_back({name, value});
  return out;
}

// The error message parse_series gives for text, or "ok".
std::string series_error(std::string_view text) {
  auto parsed = parse_series(text);
  if (parsed.is_ok()) return "ok";
  EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
  return parsed.status().message();
}

TEST(ParseSeries, BareMetricNameBecomesNameLabel) {
  auto parsed = parse_series("up");
  ASSERT_TRUE(parsed.is_ok()) << parsed.status().to_string();
  EXPECT_EQ(*parsed, labels({{"__name__", "up"}}));
}

TEST(ParseSeries, LabelsComeBackSortedByName) {
  auto parsed = parse_series(R"(cpu_seconds{mode="idle",host="a"})");
  ASSERT_TRUE(parsed.is_ok()) << parsed.status().to_string();
  EXPECT_EQ(*parsed, labels({{"__name__", "cpu_seconds"}, {"host", "a"}, {"mode", "idle"}}));
}

TEST(ParseSeries, MetricNamesMayHoldColonsAndDigits) {
  auto parsed = parse_series("job:http_requests:rate5m2");
  ASSERT_TRUE(parsed.is_ok()) << parsed.status().to_string();
  EXPECT_EQ(*parsed, labels({{"__name__", "job:http_requests:rate5m2"}}));
}

TEST(ParseSeries, AllowsBlanksInsideBracesEmptyBracesAndTrailingComma) {
  auto parsed = parse_series("up{ host = \"a\" ,\tmode=\"b\", }");
  ASSERT_TRUE(parsed.is_ok()) << parsed.status().to_string();
  EXPECT_EQ(*parsed, labels({{"__name__", "up"}, {"host", "a"}, {"mode", "b"}}));
  auto empty = parse_series("up{}");
  ASSERT_TRUE(empty.is_ok()) << empty.status().to_string();
  EXPECT_EQ(*empty, labels({{"__name__", "up"}}));
}

TEST(ParseSeries, UnescapesQuoteBackslashAndNewline) {
  auto parsed = parse_series(R"(up{v="a\"b\\c\nd",w="x,y}{="})");
  ASSERT_TRUE(parsed.is_ok()) << parsed.status().to_string();
  EXPECT_EQ(*parsed, labels({{"__name__", "up"}, {"v", "a\"b\\c\nd"}, {"w", "x,y}{="}}));
}

TEST(ParseSeries, NameMayComeAsALabelInsideBraces) {
  auto parsed = parse_series(R"({__name__="up",job="api"})");
  ASSERT_TRUE(parsed.is_ok()) << parsed.status().to_string();
  EXPECT_EQ(*parsed, labels({{"__name__", "up"}, {"job", "api"}}));
}

TEST(ParseSeries, RejectsEmptyInput) {
  EXPECT_EQ(series_error(""), "column 1: expected a metric name or '{', got end of input");
}

TEST(ParseSeries, RejectsBadMetricNameStart) {
  EXPECT_EQ(series_error("9up"), "column 1: expected a metric name or '{', got '9'");
}

TEST(ParseSeries, RejectsBadLabelName) {
  EXPECT_EQ(series_error(R"(up{1a="x"})"), "column 4: expected a label name or '}', got '1'");
  EXPECT_EQ(series_error(R"(up{a:b="x"})"), "column 5: expected '=' after label name 'a', got ':'");
}

TEST(ParseSeries, RejectsMissingClosingBrace) {
  EXPECT_EQ(series_error("up{"), "column 4: expected a label name or '}', got end of input");
  EXPECT_EQ(series_error(R"(up{a="x")"),
            "column 9: expected ',' or '}' after the value of label 'a', got end of input");
}

TEST(ParseSeries, RejectsMissingEquals) {
  EXPECT_EQ(series_error("up{host}"), "column 8: expected '=' after label name 'host', got '}'");
}

TEST(ParseSeries, RejectsOtherMatchers) {
  EXPECT_EQ(series_error(R"(up{host!="a"})"),
            "column 8: only '=' matchers are supported, got '!='");
  EXPECT_EQ(series_error(R"(up{host=~"a"})"),
            "column 8: only '=' matchers are supported, got '=~'");
}

TEST(ParseSeries, RejectsUnquotedValue) {
  EXPECT_EQ(series_error("up{host=a}"),
            "column 9: expected '\"' to start the value of label 'host', got 'a'");
}

TEST(ParseSeries, RejectsUnterminatedValueAtItsOpeningQuote) {
  EXPECT_EQ(series_error(R"(up{host="a})"),
            "column 9: unterminated value of label 'host': no closing '\"'");
  EXPECT_EQ(series_error(R"(up{host="a\)"),
            "column 9: unterminated value of label 'host': no closing '\"'");
}

TEST(ParseSeries, RejectsUnknownEscape) {
  EXPECT_EQ(series_error(R"(up{host="a\t"})"),
            "column 11: unknown escape '\\t' in the value of label 'host' (use \\\" \\\\ or \\n)");
}

TEST(ParseSeries, RejectsMissingComma) {
  EXPECT_EQ(series_error(R"(up{host="a" mode="b"})"),
            "column 13: expected ',' or '}' after the value of label 'host', got 'm'");
}

TEST(ParseSeries, RejectsTrailingText) {
  EXPECT_EQ(series_error(R"(up{host="a"}x)"), "column 13: unexpected 'x' after the series");
  EXPECT_EQ(series_error("up x"), "column 3: unexpected ' ' after the series");
}

TEST(ParseSeries, RejectsDuplicateLabelsAtTheSecondOne) {
  EXPECT_EQ(series_error(R"(up{host="a",host="b"})"), "column 13: duplicate label 'host'");
  EXPECT_EQ(series_error(R"(up{__name__="x"})"), "column 4: duplicate label '__name__'");
}

TEST(ParseSeries, RequiresANonEmptyMetricName) {
  EXPECT_EQ(series_error(R"({host="a"})"),
            "column 1: series has no metric name: write NAME{...} or {__name__=\"NAME\",...}");
  EXPECT_EQ(series_error("{}"),
            "column 1: series has no metric name: write NAME{...} or {__name__=\"NAME\",...}");
  EXPECT_EQ(series_error(R"({__name__=""})"), "column 1: the metric name is empty");
}

TEST(ParseSeriesPrefix, StopsAtTheBlankAfterTheSelector) {
  auto parsed = parse_series_prefix(R"(up{host="a b"} 1000 5)");
  ASSERT_TRUE(parsed.is_ok()) << parsed.status().to_string();
  EXPECT_EQ(parsed->length, 14u);
  EXPECT_EQ(parsed->labels, labels({{"__name__", "up"}, {"host", "a b"}}));
  auto bare = parse_series_prefix("up\t1000 5");
  ASSERT_TRUE(bare.is_ok());
  EXPECT_EQ(bare->length, 2u);
}

TEST(ParseSeriesPrefix, RejectsTextGluedToTheSelector) {
  auto parsed = parse_series_prefix(R"(up{a="b"}x 1 2)");
  ASSERT_FALSE(parsed.is_ok());
  EXPECT_EQ(parsed.status().message(), "column 10: unexpected 'x' after the series");
}

TEST(FormatSeries, IsTheInverseOfParse) {
  for (const char* text : {"up", R"(up{host="a"})", R"(cpu{host="a\"b\\c\nd",mode="idle"})"}) {
    auto parsed = parse_series(text);
    ASSERT_TRUE(parsed.is_ok()) << text;
    EXPECT_EQ(format_series(*parsed), text);
  }
}

TEST(ParseSampleToken, ParsesTimestampAndValue) {
  auto sample = parse_sample_token("1700000000000=0.25");
  ASSERT_TRUE(sample.is_ok()) << sample.status().to_string();
  EXPECT_EQ(sample->timestamp_ms, 1700000000000);
  EXPECT_EQ(sample->value, 0.25);
  auto negative = parse_sample_token("-5=-1e3");
  ASSERT_TRUE(negative.is_ok());
  EXPECT_EQ(negative->timestamp_ms, -5);
  EXPECT_EQ(negative->value, -1000);
}

TEST(ParseSampleToken, AcceptsNaNAndInfinities) {
  EXPECT_TRUE(std::isnan(parse_sample_token("1=NaN")->value));
  EXPECT_TRUE(std::isnan(parse_sample_token("1=nan")->value));
  EXPECT_EQ(parse_sample_token("1=+Inf")->value, std::numeric_limits<double>::infinity());
  EXPECT_EQ(parse_sample_token("1=Inf")->value, std::numeric_limits<double>::infinity());
  EXPECT_EQ(parse_sample_token("1=-Inf")->value, -std::numeric_limits<double>::infinity());
  EXPECT_EQ(parse_sample_token("1=+2.5")->value, 2.5);
}

TEST(ParseSampleToken, RejectsNonIntegerTimestamps) {
  for (const char* token : {"1.5=3", "NaN=3", "=3", "abc=3", "1e3=3", " 1=3", "+Inf=1"}) {
    auto sample = parse_sample_token(token);
    ASSERT_FALSE(sample.is_ok()) << token;
    EXPECT_EQ(sample.status().code(), StatusCode::kInvalidArgument);
    std::string ts(std::string_view(token).substr(0, std::string_view(token).find('=')));
    EXPECT_EQ(sample.status().message(), "sample '" + std::string(token) + "': timestamp '" + ts +
                                             "' is not an integer number of milliseconds");
  }
}

TEST(ParseSampleToken, RejectsOutOfRangeTimestamp) {
  auto sample = parse_sample_token("99999999999999999999=1");
  ASSERT_FALSE(sample.is_ok());
  EXPECT_EQ(sample.status().message(),
            "sample '99999999999999999999=1': timestamp '99999999999999999999' is out of range");
}

TEST(ParseSampleToken, RejectsBadValues) {
  for (const char* token : {"1=", "1=abc", "1=+-5", "1=0x10", "1=1,5", "1=5 "}) {
    auto sample = parse_sample_token(token);
    ASSERT_FALSE(sample.is_ok()) << token;
    std::string value(std::string_view(token).substr(2));
    EXPECT_EQ(sample.status().message(),
              "sample '" + std::string(token) + "': value '" + value + "' is not a number");
  }
  auto huge = parse_sample_token("1=1e999");
  ASSERT_FALSE(huge.is_ok());
  EXPECT_EQ(huge.status().message(),
            "sample '1=1e999': value '1e999' is out of range for a float64");
}

TEST(ParseSampleToken, RejectsTokensWithoutEquals) {
  auto sample = parse_sample_token("1000");
  ASSERT_FALSE(sample.is_ok());
  EXPECT_EQ(sample.status().message(), "sample '1000' is not TS=VALUE");
}

TEST(FormatSampleValue, NamesNonFiniteValuesAndRoundTripsFiniteOnes) {
  EXPECT_EQ(format_sample_value(std::nan("")), "NaN");
  EXPECT_EQ(format_sample_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_sample_value(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(format_sample_value(0.1), "0.1");
  for (double v : {0.1, 1e300, -2.5e-310, 123456789.123}) {
    EXPECT_EQ(*parse_sample_value(format_sample_value(v)), v);
  }
}

}  // namespace
}  // namespace meld::client
