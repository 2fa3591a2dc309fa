// Matchers and selectors: Prometheus' semantics for missing labels, anchored RE2 regexes, and
// the selector syntax with PromQL's strings.
#include "timeseries/matcher.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace meld::ts {
namespace {

Matcher matcher(MatchOp op, std::string name, std::string value) {
  auto m = Matcher::make(op, std::move(name), std::move(value));
  EXPECT_TRUE(m.is_ok()) << m.status().to_string();
  return std::move(m).value();
}

std::vector<Matcher> selector(std::string_view text) {
  auto s = parse_selector(text);
  EXPECT_TRUE(s.is_ok()) << text << ": " << s.status().to_string();
  return s.is_ok() ? *s : std::vector<Matcher>{};
}

std::string selector_error(std::string_view text) {
  auto s = parse_selector(text);
  EXPECT_FALSE(s.is_ok()) << text;
  if (s.is_ok()) return "";
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  return s.status().message();
}

Labels labels(std::vector<Label> l) {
  return std::move(Labels::make(std::move(l))).value();
}

TEST(Matcher, MissingLabelIsTheEmptyValue) {
  const Labels with = labels({{"__name__", "up"}, {"job", "api"}});
  const Labels without = labels({{"__name__", "up"}});
  const Matcher absent = matcher(MatchOp::kEqual, "job", "");
  EXPECT_FALSE(absent.matches(with));
  EXPECT_TRUE(absent.matches(without));
  EXPECT_TRUE(absent.matches_empty());
  const Matcher present = matcher(MatchOp::kNotEqual, "job", "");
  EXPECT_TRUE(present.matches(with));
  EXPECT_FALSE(present.matches(without));
  EXPECT_FALSE(present.matches_empty());
  EXPECT_TRUE(matcher(MatchOp::kNotEqual, "job", "x").matches(without));
  EXPECT_TRUE(matcher(MatchOp::kRegexMatch, "job", "a.*|").matches(without));
  EXPECT_TRUE(matcher(MatchOp::kRegexNoMatch, "job", "a.+").matches(without));
}

TEST(Matcher, RegexesAreFullyAnchored) {
  const Matcher m = matcher(MatchOp::kRegexMatch, "job", "a.c");
  EXPECT_TRUE(m.matches("abc"));
  EXPECT_FALSE(m.matches("xabc"));
  EXPECT_FALSE(m.matches("abcx"));
  // The alternation is grouped before anchoring: ^(?:a|b)$, not ^a|b$.
  const Matcher alt = matcher(MatchOp::kRegexMatch, "job", "a|bc");
  EXPECT_TRUE(alt.matches("bc"));
  EXPECT_FALSE(alt.matches("abc"));
  EXPECT_FALSE(alt.matches("ax"));
  EXPECT_FALSE(matcher(MatchOp::kRegexNoMatch, "job", "a|bc").matches("a"));
  EXPECT_FALSE(alt.matches_empty());
}

TEST(Matcher, ExactValueOnlyForEquality) {
  EXPECT_EQ(matcher(MatchOp::kEqual, "a", "v").exact_value(), "v");
  EXPECT_FALSE(matcher(MatchOp::kNotEqual, "a", "v").exact_value().has_value());
  EXPECT_FALSE(matcher(MatchOp::kRegexMatch, "a", "v").exact_value().has_value());
}

TEST(Matcher, LiteralAlternationsAreValueSets) {
  const Matcher set = matcher(MatchOp::kRegexMatch, "a", R"(x|y\.z|)");
  ASSERT_TRUE(set.literal_values().has_value());
  const std::vector<std::string> values(set.literal_values()->begin(), set.literal_values()->end());
  EXPECT_EQ(values, (std::vector<std::string>{"x", "y.z", ""}));
  // The set is exactly what the regex matches.
  for (std::string_view v : {"x", "y.z", "", "y", "yaz", "x|", "xy"}) {
    const bool in_set = std::find(values.begin(), values.end(), v) != values.end();
    EXPECT_EQ(set.matches(v), in_set) << v;
  }
  EXPECT_TRUE(matcher(MatchOp::kRegexNoMatch, "a", "api").literal_values().has_value());
  for (std::string_view re : {"a.", "a*", "(a|b)", R"(\d)", "[ab]", "a{2}", "(?i)a"}) {
    EXPECT_FALSE(matcher(MatchOp::kRegexMatch, "a", std::string(re)).literal_values()) << re;
  }
  EXPECT_FALSE(matcher(MatchOp::kEqual, "a", "x").literal_values().has_value());
  // An escaped backslash is a literal backslash.
  EXPECT_EQ(matcher(MatchOp::kRegexMatch, "a", R"(a\\)").literal_values()->front(), "a\\");
}

// Law: a regex that literal_values() reads as a set matches exactly the values in the set, and
// every value it matches lies within value_bounds().
RC_GTEST_PROP(MatcherProperty, LiteralSetsAndBoundsAgreeWithTheRegex, ()) {
  const auto gen_text = rc::gen::container<std::string>(rc::gen::element('a', 'b', '.', '|', '\\'));
  const std::string pattern = *gen_text;
  auto m = Matcher::make(MatchOp::kRegexMatch, "l", pattern);
  RC_PRE(m.is_ok());  // a trailing backslash does not compile
  std::string min;
  std::string max;
  const bool bounded = m->value_bounds(&min, &max);
  const auto values = m->literal_values();
  for (int i = 0; i < 20; ++i) {
    const std::string v = *rc::gen::container<std::string>(rc::gen::element('a', 'b', '.', '|'));
    if (values) {
      const bool in_set = std::find(values->begin(), values->end(), v) != values->end();
      RC_ASSERT(m->matches(v) == in_set);
    }
    if (bounded && m->matches(v)) RC_ASSERT(min <= v && v <= max);
  }
  if (values) {
    for (const std::string& v : *values) RC_ASSERT(m->matches(v));
  }
}

TEST(Matcher, ValueBoundsEncloseEveryMatch) {
  const Matcher m = matcher(MatchOp::kRegexMatch, "host", "host_1[0-9]");
  std::string min;
  std::string max;
  ASSERT_TRUE(m.value_bounds(&min, &max));
  EXPECT_LE(min, "host_10");
  EXPECT_GE(max, "host_19");
  EXPECT_GT(min, "host_0");
  EXPECT_LT(max, "host_2");
  // A leading .* leaves no useful bound: whatever RE2 returns must still enclose the matches.
  if (matcher(MatchOp::kRegexMatch, "a", ".*x").value_bounds(&min, &max)) {
    EXPECT_LE(min, "x");
    EXPECT_GE(max, "\xf4\x8f\xbf\xbfx");
  }
  EXPECT_FALSE(matcher(MatchOp::kEqual, "a", "x").value_bounds(&min, &max));
}

TEST(Matcher, BadRegexesAndNamesAreInvalidArgument) {
  auto bad = Matcher::make(MatchOp::kRegexMatch, "a", "(unclosed");
  ASSERT_FALSE(bad.is_ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("bad regex"), std::string::npos);
  auto long_regex = Matcher::make(MatchOp::kRegexMatch, "a", std::string(kRegexBytesMax + 1, 'x'));
  ASSERT_FALSE(long_regex.is_ok());
  EXPECT_NE(long_regex.status().message().find("limit"), std::string::npos);
  // Small text, huge program: nested counted repetition.
  auto big_program = Matcher::make(MatchOp::kRegexMatch, "a", "((a{100}){100}){100}");
  ASSERT_FALSE(big_program.is_ok());
  EXPECT_EQ(big_program.status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(Matcher::make(MatchOp::kEqual, "a-b", "v").is_ok());
  EXPECT_FALSE(Matcher::make(MatchOp::kEqual, "", "v").is_ok());
}

TEST(Selector, MetricNameBecomesTheFirstMatcher) {
  auto m = selector(R"(http_requests_total{job="api", code!~"5.."})");
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0].to_string(), R"(__name__="http_requests_total")");
  EXPECT_EQ(m[1].to_string(), R"(job="api")");
  EXPECT_EQ(m[2].op(), MatchOp::kRegexNoMatch);
  EXPECT_EQ(m[2].value(), "5..");
  EXPECT_EQ(selector("up").size(), 1u);
  EXPECT_EQ(selector("up{}").size(), 1u);
  EXPECT_EQ(selector(R"({__name__=~"node_.*",})").size(), 1u);
}

TEST(Selector, StringsUsePromqlEscapes) {
  auto m = selector(R"(m{a="q\"\\\n\t\x41\101\u00e9\U0001F600", b='it\'s', c=`raw\n`})");
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[1].value(), "q\"\\\n\tAA\xc3\xa9\xf0\x9f\x98\x80");
  EXPECT_EQ(m[2].value(), "it's");
  EXPECT_EQ(m[3].value(), "raw\\n");
  EXPECT_NE(selector_error(R"(m{a="\q"})").find("unknown escape"), std::string::npos);
  EXPECT_NE(selector_error(R"(m{a="\x4"})").find("hex digits"), std::string::npos);
  EXPECT_NE(selector_error(R"(m{a="\ud800"})").find("code point"), std::string::npos);
  EXPECT_NE(selector_error(R"(m{a='\"'})").find("unknown escape"), std::string::npos);
  EXPECT_NE(selector_error("m{a=\"x\ny\"}").find("unterminated"), std::string::npos);
}

TEST(Selector, ErrorsNameTheColumn) {
  EXPECT_EQ(selector_error(R"(m{a="1" b="2"})"),
            "column 9: expected ',' or '}' after a matcher, found identifier");
  EXPECT_EQ(selector_error(R"(m{a=1})"), "column 5: expected string, found number");
  EXPECT_EQ(selector_error(R"(m{a="1")"),
            "column 8: expected ',' or '}' after a matcher, found "
            "end of input");
  EXPECT_NE(selector_error(R"(m{a=~"("})").find("column 3: bad regex"), std::string::npos);
  EXPECT_NE(selector_error(R"(m x)").find("after the selector"), std::string::npos);
  EXPECT_NE(selector_error("").find("expected a metric name"), std::string::npos);
}

TEST(Selector, NeedsOneMatcherThatRejectsEmpty) {
  EXPECT_NE(selector_error(R"({a=""})").find("at least one matcher"), std::string::npos);
  EXPECT_NE(selector_error(R"({a=~".*", b!="x"})").find("at least one matcher"), std::string::npos);
  EXPECT_EQ(selector(R"({a=~".+"})").size(), 1u);
}

TEST(Selector, MetricNameOnlyOnce) {
  EXPECT_NE(selector_error(R"(m{__name__="x"})").find("given twice"), std::string::npos);
}

TEST(Selector, MatcherCountIsBounded) {
  std::string text = "m{";
  for (size_t i = 0; i < kSelectorMatchersMax; ++i) text += "a" + std::to_string(i) + "=\"v\",";
  EXPECT_NE(selector_error(text + "}").find("more than 64 matchers"), std::string::npos);
}

TEST(Selector, FormatReadsBackToEqualMatchers) {
  for (std::string_view text :
       {R"(up)", R"(up{job="a\"b\\c\n\x01"})", R"({__name__=~"x|y",a!~"",b!="\u00e9"})",
        R"({a="1",__name__="m"})"}) {
    auto m = selector(text);
    auto back = selector(format_selector(m));
    EXPECT_EQ(m, back) << text << " -> " << format_selector(m);
  }
}

}  // namespace
}  // namespace meld::ts
