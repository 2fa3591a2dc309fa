#include "timeseries/matcher.h"

#include <re2/re2.h>

#include <algorithm>
#include <utility>

#include "timeseries/promql_lexer.h"

namespace meld::ts {
namespace {

// RE2's memory budget per compiled regex (program and DFA caches).
constexpr int64_t kRegexMemoryBytesMax = int64_t{4} << 20;

Result<std::shared_ptr<const re2::RE2>> compile_anchored(const std::string& pattern) {
  if (pattern.size() > kRegexBytesMax) {
    return Status::invalid_argument("regex is " + std::to_string(pattern.size()) +
                                    " bytes, limit " + std::to_string(kRegexBytesMax));
  }
  re2::RE2::Options options;
  options.set_log_errors(false);
  options.set_max_mem(kRegexMemoryBytesMax);
  // Prometheus (model/labels/regexp.go) anchors the user's regex the same way.
  auto re = std::make_shared<const re2::RE2>("^(?:" + pattern + ")$", options);
  if (!re->ok()) {
    return Status::invalid_argument("bad regex " + quote_promql_string(pattern) + ": " +
                                    re->error());
  }
  if (re->ProgramSize() > kRegexProgramSizeMax) {
    return Status::invalid_argument(
        "regex " + quote_promql_string(pattern) + " compiles to program size " +
        std::to_string(re->ProgramSize()) + ", limit " + std::to_string(kRegexProgramSizeMax));
  }
  return std::shared_ptr<const re2::RE2>(std::move(re));
}

// The alternatives of a regex made of literals and top-level '|' only; nullopt if it has any
// other regex syntax. A backslash makes the next character literal when that character is
// punctuation (RE2 reads \. as '.', but \d as a class).
std::optional<std::vector<std::string>> literal_alternatives(std::string_view pattern) {
  static constexpr std::string_view kMeta = ".^$*+?()[]{}|\\";
  std::vector<std::string> out(1);
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '|') {
      out.emplace_back();
    } else if (c == '\\') {
      if (i + 1 == pattern.size()) return std::nullopt;
      const char next = pattern[++i];
      const bool punct = (next >= '!' && next <= '/') || (next >= ':' && next <= '@') ||
                         (next >= '[' && next <= '`') || (next >= '{' && next <= '~');
      if (!punct) return std::nullopt;
      out.back() += next;
    } else if (kMeta.find(c) != std::string_view::npos) {
      return std::nullopt;
    } else {
      out.back() += c;
    }
  }
  return out;
}

}  // namespace

std::string_view match_op_text(MatchOp op) {
  switch (op) {
    case MatchOp::kEqual:
      return "=";
    case MatchOp::kNotEqual:
      return "!=";
    case MatchOp::kRegexMatch:
      return "=~";
    case MatchOp::kRegexNoMatch:
      return "!~";
  }
  return "?";
}

Matcher::Matcher(MatchOp op, std::string name, std::string value,
                 std::shared_ptr<const re2::RE2> re)
    : op_(op), name_(std::move(name)), value_(std::move(value)), re_(std::move(re)) {
  matches_empty_ = matches(std::string_view());
  if (re_ != nullptr) {
    if (auto literals = literal_alternatives(value_)) {
      is_literal_set_ = true;
      literal_values_ = std::move(*literals);
    }
  }
}

Result<Matcher> Matcher::make(MatchOp op, std::string name, std::string value) {
  if (name.size() > kLabelNameBytesMax || !is_label_name(name)) {
    return Status::invalid_argument("invalid label name " + quote_promql_string(name) +
                                    " in matcher");
  }
  std::shared_ptr<const re2::RE2> re;
  if (op == MatchOp::kRegexMatch || op == MatchOp::kRegexNoMatch) {
    auto compiled = compile_anchored(value);
    if (!compiled.is_ok()) return compiled.status();
    re = std::move(compiled).value();
  } else if (value.size() > kLabelValueBytesMax) {
    return Status::invalid_argument("matcher value for " + name + " is " +
                                    std::to_string(value.size()) + " bytes, limit " +
                                    std::to_string(kLabelValueBytesMax));
  }
  return Matcher(op, std::move(name), std::move(value), std::move(re));
}

bool Matcher::matches(std::string_view label_value) const {
  switch (op_) {
    case MatchOp::kEqual:
      return label_value == value_;
    case MatchOp::kNotEqual:
      return label_value != value_;
    case MatchOp::kRegexMatch:
      return re2::RE2::FullMatch(label_value, *re_);
    case MatchOp::kRegexNoMatch:
      return !re2::RE2::FullMatch(label_value, *re_);
  }
  return false;
}

std::optional<std::string_view> Matcher::exact_value() const {
  if (op_ != MatchOp::kEqual) return std::nullopt;
  return std::string_view(value_);
}

std::optional<std::span<const std::string>> Matcher::literal_values() const {
  if (!is_literal_set_) return std::nullopt;
  return std::span<const std::string>(literal_values_);
}

bool Matcher::value_bounds(std::string* min, std::string* max) const {
  // Longer bounds are tighter but cost more to compute; label values are short.
  constexpr int kBoundBytesMax = 64;
  if (op_ != MatchOp::kRegexMatch) return false;
  return re_->PossibleMatchRange(min, max, kBoundBytesMax);
}

std::string Matcher::to_string() const {
  return name_ + std::string(match_op_text(op_)) + quote_promql_string(value_);
}

bool matches_all(std::span<const Matcher> matchers, const Labels& labels) {
  for (const Matcher& m : matchers) {
    if (!m.matches(labels)) return false;
  }
  return true;
}

Result<std::vector<Matcher>> parse_selector(Lexer& lexer) {
  std::vector<Matcher> matchers;
  Result<Token> first = lexer.next();
  if (!first.is_ok()) return first.status();
  const size_t start = first->offset;
  bool has_metric_name = false;
  if (first->kind == TokenKind::kIdentifier) {
    if (!is_metric_name(first->text)) {
      return lexer.error_at(start, "invalid metric name '" + first->text + "'");
    }
    auto m = Matcher::make(MatchOp::kEqual, std::string(kMetricNameLabel), first->text);
    if (!m.is_ok()) return lexer.error_at(start, m.status().message());
    matchers.push_back(std::move(m).value());
    has_metric_name = true;
    Result<Token> brace = lexer.peek();
    if (!brace.is_ok()) return brace.status();
    if (brace->kind != TokenKind::kLeftBrace) return matchers;
    lexer.next().status().ignore();  // the peeked '{'
  } else if (first->kind != TokenKind::kLeftBrace) {
    return lexer.error_at(
        start, "expected a metric name or '{', found " + std::string(token_kind_name(first->kind)));
  }
  while (true) {
    Result<Token> t = lexer.next();
    if (!t.is_ok()) return t.status();
    if (t->kind == TokenKind::kRightBrace) break;
    if (t->kind != TokenKind::kIdentifier) {
      return lexer.error_at(t->offset, "expected a label name or '}', found " +
                                           std::string(token_kind_name(t->kind)));
    }
    Result<Token> op_token = lexer.next();
    if (!op_token.is_ok()) return op_token.status();
    MatchOp op;
    switch (op_token->kind) {
      case TokenKind::kEqual:
        op = MatchOp::kEqual;
        break;
      case TokenKind::kNotEqual:
        op = MatchOp::kNotEqual;
        break;
      case TokenKind::kRegexMatch:
        op = MatchOp::kRegexMatch;
        break;
      case TokenKind::kRegexNoMatch:
        op = MatchOp::kRegexNoMatch;
        break;
      default:
        return lexer.error_at(op_token->offset, "expected =, !=, =~ or !~ after label " + t->text +
                                                    ", found " +
                                                    std::string(token_kind_name(op_token->kind)));
    }
    Result<Token> value = lexer.expect(TokenKind::kString);
    if (!value.is_ok()) return value.status();
    if (has_metric_name && t->text == kMetricNameLabel) {
      return lexer.error_at(t->offset, "metric name given twice (before the braces and as " +
                                           std::string(kMetricNameLabel) + ")");
    }
    if (matchers.size() == kSelectorMatchersMax) {
      return lexer.error_at(t->offset, "more than " + std::to_string(kSelectorMatchersMax) +
                                           " matchers in a selector");
    }
    auto m = Matcher::make(op, t->text, value->text);
    if (!m.is_ok()) return lexer.error_at(t->offset, m.status().message());
    matchers.push_back(std::move(m).value());
    Result<Token> sep = lexer.next();
    if (!sep.is_ok()) return sep.status();
    if (sep->kind == TokenKind::kRightBrace) break;
    if (sep->kind != TokenKind::kComma) {
      return lexer.error_at(sep->offset, "expected ',' or '}' after a matcher, found " +
                                             std::string(token_kind_name(sep->kind)));
    }
  }
  bool any_non_empty = false;
  for (const Matcher& m : matchers) any_non_empty |= !m.matches_empty();
  if (!any_non_empty) {
    return lexer.error_at(start,
                          "selector needs at least one matcher that does not match the empty "
                          "value (e.g. a metric name)");
  }
  return matchers;
}

Result<std::vector<Matcher>> parse_selector(std::string_view text) {
  if (text.size() > kSelectorBytesMax) {
    return Status::invalid_argument("selector is " + std::to_string(text.size()) +
                                    " bytes, limit " + std::to_string(kSelectorBytesMax));
  }
  Lexer lexer(text);
  auto matchers = parse_selector(lexer);
  if (!matchers.is_ok()) return matchers;
  Result<Token> end = lexer.next();
  if (!end.is_ok()) return end.status();
  if (end->kind != TokenKind::kEnd) {
    return lexer.error_at(end->offset, "unexpected " + std::string(token_kind_name(end->kind)) +
                                           " after the selector");
  }
  return matchers;
}

std::string format_selector(std::span<const Matcher> matchers) {
  // `m{...}` when the first matcher is the only one on the metric name and an exact name.
  const auto names_metric = [](const Matcher& m) { return m.name() == kMetricNameLabel; };
  const bool name_first = !matchers.empty() && names_metric(matchers[0]) &&
                          matchers[0].op() == MatchOp::kEqual &&
                          is_metric_name(matchers[0].value()) &&
                          std::none_of(matchers.begin() + 1, matchers.end(), names_metric);
  std::string out = name_first ? matchers[0].value() : "";
  const size_t first = name_first ? 1 : 0;
  if (name_first && matchers.size() == 1) return out;
  out += '{';
  for (size_t k = first; k < matchers.size(); ++k) {
    if (k > first) out += ',';
    out += matchers[k].to_string();
  }
  return out + '}';
}

std::string quote_promql_string(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (u < 0x20 || u == 0x7f) {
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    } else {
      out += c;
    }
  }
  return out + '"';
}

}  // namespace meld::ts
