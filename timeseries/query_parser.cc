// parse_query(), format_query() and Expr equality (query.h).
#include <array>
#include <bit>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>
#include <utility>

#include "timeseries/promql_lexer.h"
#include "timeseries/query.h"

namespace meld::ts {
namespace {

constexpr std::array<std::pair<std::string_view, RangeFunction>, 8> kRangeFunctions = {{
    {"rate", RangeFunction::kRate},
    {"increase", RangeFunction::kIncrease},
    {"min_over_time", RangeFunction::kMinOverTime},
    {"max_over_time", RangeFunction::kMaxOverTime},
    {"sum_over_time", RangeFunction::kSumOverTime},
    {"count_over_time", RangeFunction::kCountOverTime},
    {"avg_over_time", RangeFunction::kAvgOverTime},
    {"quantile_over_time", RangeFunction::kQuantileOverTime},
}};

constexpr std::array<std::pair<std::string_view, AggregateOp>, 6> kAggregateOps = {{
    {"sum", AggregateOp::kSum},
    {"min", AggregateOp::kMin},
    {"max", AggregateOp::kMax},
    {"avg", AggregateOp::kAvg},
    {"count", AggregateOp::kCount},
    {"quantile", AggregateOp::kQuantile},
}};

template <typename T, size_t N>
std::optional<T> lookup(const std::array<std::pair<std::string_view, T>, N>& table,
                        std::string_view name) {
  for (const auto& [n, v] : table) {
    if (n == name) return v;
  }
  return std::nullopt;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

class Parser {
 public:
  explicit Parser(std::string_view text) : lexer_(text) {}

  Result<Expr> parse() {
    auto e = parse_expr(0);
    if (!e.is_ok()) return e;
    auto end = lexer_.next();
    if (!end.is_ok()) return end.status();
    if (end->kind != TokenKind::kEnd) {
      return lexer_.error_at(end->offset,
                             "unexpected " + describe(*end) + " after the end of the expression");
    }
    return e;
  }

 private:
  static std::string describe(const Token& t) {
    if (t.kind == TokenKind::kIdentifier) return "identifier '" + t.text + "'";
    return std::string(token_kind_name(t.kind));
  }

  Result<Expr> parse_expr(size_t depth) {
    auto t = lexer_.peek();
    if (!t.is_ok()) return t.status();
    if (depth >= kQueryDepthMax) {
      return lexer_.error_at(
          t->offset, "expression nests deeper than " + std::to_string(kQueryDepthMax) + " levels");
    }
    if (t->kind == TokenKind::kLeftParen) {
      lexer_.next().status().ignore();  // the peeked '('
      auto inner = parse_expr(depth + 1);
      if (!inner.is_ok()) return inner;
      MELD_RETURN_IF_ERROR(lexer_.expect(TokenKind::kRightParen).status());
      return inner;
    }
    if (t->kind == TokenKind::kIdentifier) {
      if (auto op = lookup(kAggregateOps, t->text)) {
        lexer_.next().status().ignore();  // the peeked operator
        return parse_aggregate(*op, depth);
      }
      if (auto fn = lookup(kRangeFunctions, t->text)) {
        lexer_.next().status().ignore();  // the peeked name
        return parse_range_function(*fn);
      }
    }
    const Token first = *t;
    auto matchers = parse_selector(lexer_);
    if (!matchers.is_ok()) return matchers.status();
    auto after = lexer_.peek();
    if (!after.is_ok()) return after.status();
    if (after->kind == TokenKind::kLeftParen && first.kind == TokenKind::kIdentifier &&
        matchers->size() == 1) {
      return lexer_.error_at(first.offset, "unknown function '" + first.text +
                                               "' (supported: rate, increase, *_over_time)");
    }
    if (after->kind == TokenKind::kLeftBracket) {
      return lexer_.error_at(after->offset,
                             "a range selector is only allowed as a range function's argument");
    }
    return Expr{SelectorExpr{std::move(matchers).value()}};
  }

  Result<double> parse_number() {
    auto t = lexer_.next();
    if (!t.is_ok()) return t.status();
    double sign = 1;
    const size_t start = t->offset;
    if (t->kind == TokenKind::kPlus || t->kind == TokenKind::kMinus) {
      sign = t->kind == TokenKind::kMinus ? -1 : 1;
      t = lexer_.next();
      if (!t.is_ok()) return t.status();
    }
    if (t->kind == TokenKind::kIdentifier && iequals(t->text, "inf")) {
      return sign * std::numeric_limits<double>::infinity();
    }
    if (t->kind == TokenKind::kIdentifier && iequals(t->text, "nan")) {
      return std::numeric_limits<double>::quiet_NaN();
    }
    if (t->kind != TokenKind::kNumber) {
      return lexer_.error_at(start, "expected a number, found " + describe(*t));
    }
    const std::string& s = t->text;
    double v = 0;
    if (s.size() > 2 && (s[1] == 'x' || s[1] == 'X')) {
      uint64_t n = 0;
      auto [p, ec] = std::from_chars(s.data() + 2, s.data() + s.size(), n, 16);
      if (ec != std::errc() || p != s.data() + s.size()) {
        return lexer_.error_at(start, "bad hexadecimal number '" + s + "'");
      }
      v = static_cast<double>(n);
    } else {
      auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      if (ec == std::errc::result_out_of_range) {
        return lexer_.error_at(start, "number '" + s + "' is out of the float64 range");
      }
      if (ec != std::errc() || p != s.data() + s.size()) {
        return lexer_.error_at(start, "bad number '" + s + "'");
      }
    }
    return sign * v;
  }

  // `(labels)` after by/without.
  Status parse_grouping(AggregateExpr* agg) {
    MELD_RETURN_IF_ERROR(lexer_.expect(TokenKind::kLeftParen).status());
    while (true) {
      auto t = lexer_.next();
      if (!t.is_ok()) return t.status();
      if (t->kind == TokenKind::kRightParen) return Status::ok();
      if (t->kind != TokenKind::kIdentifier || !is_label_name(t->text)) {
        return lexer_.error_at(t->offset,
                               "expected a label name in the grouping, found " + describe(*t));
      }
      if (agg->grouping.size() == kGroupingLabelsMax) {
        return lexer_.error_at(
            t->offset, "more than " + std::to_string(kGroupingLabelsMax) + " grouping labels");
      }
      agg->grouping.push_back(t->text);
      auto sep = lexer_.next();
      if (!sep.is_ok()) return sep.status();
      if (sep->kind == TokenKind::kRightParen) return Status::ok();
      if (sep->kind != TokenKind::kComma) {
        return lexer_.error_at(sep->offset,
                               "expected ',' or ')' in the grouping, found " + describe(*sep));
      }
    }
  }

  // Consumes `by (...)` or `without (...)` if next; true if it did.
  Result<bool> maybe_grouping(AggregateExpr* agg) {
    auto t = lexer_.peek();
    if (!t.is_ok()) return t.status();
    if (t->kind != TokenKind::kIdentifier || (t->text != "by" && t->text != "without")) {
      return false;
    }
    lexer_.next().status().ignore();  // the peeked keyword
    agg->without = t->text == "without";
    MELD_RETURN_IF_ERROR(parse_grouping(agg));
    return true;
  }

  Result<Expr> parse_aggregate(AggregateOp op, size_t depth) {
    AggregateExpr agg;
    agg.op = op;
    auto prefix = maybe_grouping(&agg);
    if (!prefix.is_ok()) return prefix.status();
    auto open = lexer_.next();
    if (!open.is_ok()) return open.status();
    if (open->kind != TokenKind::kLeftParen) {
      return lexer_.error_at(open->offset, "expected '(' after " +
                                               std::string(aggregate_op_name(op)) + ", found " +
                                               describe(*open));
    }
    if (op == AggregateOp::kQuantile) {
      auto q = parse_number();
      if (!q.is_ok()) return q.status();
      agg.parameter = *q;
      MELD_RETURN_IF_ERROR(lexer_.expect(TokenKind::kComma).status());
    }
    auto inner = parse_expr(depth + 1);
    if (!inner.is_ok()) return inner;
    auto close = lexer_.next();
    if (!close.is_ok()) return close.status();
    if (close->kind == TokenKind::kComma) {
      return lexer_.error_at(close->offset, std::string(aggregate_op_name(op)) + " takes " +
                                                (op == AggregateOp::kQuantile ? "two" : "one") +
                                                " argument(s)");
    }
    if (close->kind != TokenKind::kRightParen) {
      return lexer_.error_at(close->offset, "expected ')', found " + describe(*close));
    }
    agg.inner = std::make_unique<Expr>(std::move(inner).value());
    auto grouping_at = lexer_.peek();
    if (!grouping_at.is_ok()) return grouping_at.status();
    AggregateExpr suffix_probe;
    auto suffix = maybe_grouping(&suffix_probe);
    if (!suffix.is_ok()) return suffix.status();
    if (*suffix) {
      if (*prefix) {
        return lexer_.error_at(grouping_at->offset,
                               "grouping given twice (before and after the arguments)");
      }
      agg.without = suffix_probe.without;
      agg.grouping = std::move(suffix_probe.grouping);
    }
    return Expr{std::move(agg)};
  }

  Result<Expr> parse_range_function(RangeFunction fn) {
    RangeFunctionExpr call;
    call.function = fn;
    const std::string name(range_function_name(fn));
    auto open = lexer_.next();
    if (!open.is_ok()) return open.status();
    if (open->kind != TokenKind::kLeftParen) {
      return lexer_.error_at(open->offset, "expected '(' after " + name);
    }
    if (fn == RangeFunction::kQuantileOverTime) {
      auto q = parse_number();
      if (!q.is_ok()) return q.status();
      call.parameter = *q;
      MELD_RETURN_IF_ERROR(lexer_.expect(TokenKind::kComma).status());
    }
    auto arg_at = lexer_.peek();
    if (!arg_at.is_ok()) return arg_at.status();
    if (arg_at->kind != TokenKind::kIdentifier && arg_at->kind != TokenKind::kLeftBrace) {
      return lexer_.error_at(
          arg_at->offset, name + " takes a range selector like m[5m], found " + describe(*arg_at));
    }
    auto matchers = parse_selector(lexer_);
    if (!matchers.is_ok()) return matchers.status();
    call.matchers = std::move(matchers).value();
    auto bracket = lexer_.next();
    if (!bracket.is_ok()) return bracket.status();
    if (bracket->kind != TokenKind::kLeftBracket) {
      return lexer_.error_at(bracket->offset, name + " takes a range selector like m[5m]: " +
                                                  "expected '[', found " + describe(*bracket));
    }
    auto range = lexer_.read_duration_ms();
    if (!range.is_ok()) return range.status();
    call.range_ms = *range;
    MELD_RETURN_IF_ERROR(lexer_.expect(TokenKind::kRightBracket).status());
    auto close = lexer_.next();
    if (!close.is_ok()) return close.status();
    if (close->kind != TokenKind::kRightParen) {
      return lexer_.error_at(close->offset,
                             "expected ')' to close " + name + ", found " + describe(*close));
    }
    return Expr{std::move(call)};
  }

  Lexer lexer_;
};

std::string format_number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Inf" : "-Inf";
  std::array<char, 64> buf;
  auto [p, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  MELD_ASSERT(ec == std::errc(), "to_chars of a double");
  return std::string(buf.data(), p);
}

std::string format_duration(int64_t ms) {
  if (ms % 1000 != 0) return std::to_string(ms) + "ms";
  if (ms % 60'000 != 0) return std::to_string(ms / 1000) + "s";
  if (ms % 3'600'000 != 0) return std::to_string(ms / 60'000) + "m";
  return std::to_string(ms / 3'600'000) + "h";
}

bool same_bits(double a, double b) {
  return std::bit_cast<uint64_t>(a) == std::bit_cast<uint64_t>(b) ||
         (std::isnan(a) && std::isnan(b));
}

}  // namespace

std::string_view range_function_name(RangeFunction f) {
  for (const auto& [n, v] : kRangeFunctions) {
    if (v == f) return n;
  }
  return "?";
}

std::string_view aggregate_op_name(AggregateOp op) {
  for (const auto& [n, v] : kAggregateOps) {
    if (v == op) return n;
  }
  return "?";
}

Result<Expr> parse_query(std::string_view text) {
  if (text.size() > kQueryBytesMax) {
    return Status::invalid_argument("query is " + std::to_string(text.size()) + " bytes, limit " +
                                    std::to_string(kQueryBytesMax));
  }
  return Parser(text).parse();
}

std::string format_query(const Expr& expr) {
  if (const auto* s = std::get_if<SelectorExpr>(&expr.node)) return format_selector(s->matchers);
  if (const auto* f = std::get_if<RangeFunctionExpr>(&expr.node)) {
    std::string out(range_function_name(f->function));
    out += '(';
    if (f->function == RangeFunction::kQuantileOverTime) out += format_number(f->parameter) + ", ";
    return out + format_selector(f->matchers) + "[" + format_duration(f->range_ms) + "])";
  }
  const auto& a = std::get<AggregateExpr>(expr.node);
  std::string out(aggregate_op_name(a.op));
  if (!a.grouping.empty() || a.without) {
    out += a.without ? " without (" : " by (";
    for (size_t i = 0; i < a.grouping.size(); ++i) {
      if (i > 0) out += ", ";
      out += a.grouping[i];
    }
    out += ')';
  }
  out += " (";
  if (a.op == AggregateOp::kQuantile) out += format_number(a.parameter) + ", ";
  return out + format_query(*a.inner) + ')';
}

bool operator==(const Expr& a, const Expr& b) {
  if (a.node.index() != b.node.index()) return false;
  if (const auto* s = std::get_if<SelectorExpr>(&a.node)) {
    return s->matchers == std::get<SelectorExpr>(b.node).matchers;
  }
  if (const auto* f = std::get_if<RangeFunctionExpr>(&a.node)) {
    const auto& g = std::get<RangeFunctionExpr>(b.node);
    return f->function == g.function && same_bits(f->parameter, g.parameter) &&
           f->matchers == g.matchers && f->range_ms == g.range_ms;
  }
  const auto& x = std::get<AggregateExpr>(a.node);
  const auto& y = std::get<AggregateExpr>(b.node);
  return x.op == y.op && same_bits(x.parameter, y.parameter) && x.without == y.without &&
         x.grouping == y.grouping && *x.inner == *y.inner;
}

}  // namespace meld::ts
