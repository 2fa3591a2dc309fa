// Label matchers and series selectors, with Prometheus' semantics.
//
// A matcher tests one label's value: `=` equal, `!=` not equal, `=~` the value matches the
// regular expression, `!~` it does not. A missing label has the empty value, so `job=""` selects
// series without a job label and `job!=""` those with one. Regexes are RE2 (linear time, no
// backtracking on user input) and fully anchored like Prometheus' (`^(?:re)$`): `a.*` matches
// "abc" but not "xabc". A regex is bounded by kRegexBytesMax and kRegexProgramSizeMax.
//
// Selector text: `metric`, `metric{l="v", l2!~"x.*"}` or `{__name__=~"m.*", l="v"}`, with
// PromQL's strings (see promql_lexer.h for the escapes). As in Prometheus, a selector needs at
// least one matcher that does not match the empty value (so that it never means "every series"),
// and names the metric once at most.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "timeseries/labels.h"

namespace re2 {
class RE2;
}

namespace meld::ts {

class Lexer;

inline constexpr size_t kRegexBytesMax = 4096;
// RE2's program size (its compiled instruction count); bounds the memory and time of a match.
inline constexpr int kRegexProgramSizeMax = 10'000;
inline constexpr size_t kSelectorMatchersMax = 64;
inline constexpr size_t kSelectorBytesMax = 64 * 1024;

enum class MatchOp { kEqual, kNotEqual, kRegexMatch, kRegexNoMatch };

// "=", "!=", "=~", "!~".
std::string_view match_op_text(MatchOp op);

// One matcher. A plain value: copies share the compiled regex (immutable, thread-safe), so a
// Matcher may be used from several threads at once.
class Matcher {
 public:
  // Errors (invalid_argument): a name that is not a label name, a regex that does not compile or
  // exceeds the bounds above (the message carries RE2's reason).
  static Result<Matcher> make(MatchOp op, std::string name, std::string value);

  MatchOp op() const { return op_; }
  const std::string& name() const { return name_; }
  // The value compared with (for = and !=) or the regex as written (for =~ and !~).
  const std::string& value() const { return value_; }

  // Whether a label value matches; "" stands for a missing label.
  bool matches(std::string_view label_value) const;
  // Whether the label set matches (its value for name(), "" when absent).
  bool matches(const Labels& labels) const { return matches(labels.get(name_)); }

  // Whether the empty value matches, i.e. whether series WITHOUT the label are selected. An
  // index can serve a matcher that does not match "" from the postings of its label name alone.
  bool matches_empty() const { return matches_empty_; }
  // For `=`, the one value that matches (a single postings lookup); nullopt for other ops.
  std::optional<std::string_view> exact_value() const;
  // For `=~` and `!~` whose regex is an alternation of literals (`a|b\.c|`: no metacharacters
  // but escaped ones and top-level '|'), the values it matches exactly, in the order written
  // ("" among them when an alternative is empty); nullopt otherwise. `=~` with a set is a few
  // postings lookups instead of a scan of the label's values.
  std::optional<std::span<const std::string>> literal_values() const;
  // For `=~`: bounds such that every matching value v has *min <= v <= *max (RE2's
  // PossibleMatchRange), so an index can scan only that range of a label's values. False when
  // RE2 finds no bound, and for other ops; a leading `.*` gives loose bounds ("" to "\xff...").
  bool value_bounds(std::string* min, std::string* max) const;

  // `name="value"` with the value quoted as PromQL reads it back.
  std::string to_string() const;

  friend bool operator==(const Matcher& a, const Matcher& b) {
    return a.op_ == b.op_ && a.name_ == b.name_ && a.value_ == b.value_;
  }

 private:
  Matcher(MatchOp op, std::string name, std::string value, std::shared_ptr<const re2::RE2> re);

  MatchOp op_ = MatchOp::kEqual;
  std::string name_;
  std::string value_;
  std::shared_ptr<const re2::RE2> re_;  // for =~ and !~
  bool matches_empty_ = false;
  bool is_literal_set_ = false;
  std::vector<std::string> literal_values_;  // when is_literal_set_
};

// Whether every matcher matches the labels.
bool matches_all(std::span<const Matcher> matchers, const Labels& labels);

// Parses a whole selector (see the top of this file). Errors: invalid_argument("column N: ...")
// for bad syntax, a bad matcher, a selector that only has empty-matching matchers, a metric name
// given twice, more than kSelectorMatchersMax matchers or kSelectorBytesMax bytes. The metric
// name becomes the first matcher, `__name__="metric"`.
Result<std::vector<Matcher>> parse_selector(std::string_view text);

// Parses a selector starting at the lexer's next token (the query parser's entry point).
Result<std::vector<Matcher>> parse_selector(Lexer& lexer);

// PromQL text for a selector: `metric{l="v"}` or `{l=~"x"}`; parse_selector() reads it back to
// equal matchers.
std::string format_selector(std::span<const Matcher> matchers);

// A double-quoted PromQL string for s (escaping ", \ and control bytes).
std::string quote_promql_string(std::string_view s);

}  // namespace meld::ts
