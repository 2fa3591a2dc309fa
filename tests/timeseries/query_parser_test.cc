// The PromQL subset's parser: accepted forms, canonical text, and errors that name the column.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <string>

#include "timeseries/query.h"

namespace meld::ts {
namespace {

Expr parse_ok(std::string_view text) {
  auto e = parse_query(text);
  EXPECT_TRUE(e.is_ok()) << text << ": " << e.status().to_string();
  return e.is_ok() ? std::move(e).value() : Expr{};
}

std::string parse_error(std::string_view text) {
  auto e = parse_query(text);
  EXPECT_FALSE(e.is_ok()) << text << " parsed as " << (e.is_ok() ? format_query(*e) : "");
  if (e.is_ok()) return "";
  EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument);
  return e.status().message();
}

TEST(QueryParser, SelectorsAndRangeFunctions) {
  Expr sel = parse_ok(R"(up{job="api"})");
  ASSERT_TRUE(std::holds_alternative<SelectorExpr>(sel.node));
  EXPECT_EQ(std::get<SelectorExpr>(sel.node).matchers.size(), 2u);

  Expr rate = parse_ok(R"(rate(http_requests_total{code=~"5.."}[5m]))");
  const auto& call = std::get<RangeFunctionExpr>(rate.node);
  EXPECT_EQ(call.function, RangeFunction::kRate);
  EXPECT_EQ(call.range_ms, 300'000);
  EXPECT_EQ(call.matchers.size(), 2u);

  Expr q = parse_ok("quantile_over_time(0.9, latency[1h30m])");
  const auto& qcall = std::get<RangeFunctionExpr>(q.node);
  EXPECT_EQ(qcall.parameter, 0.9);
  EXPECT_EQ(qcall.range_ms, 5'400'000);
  EXPECT_EQ(std::get<RangeFunctionExpr>(parse_ok("count_over_time(m[1500ms])").node).range_ms,
            1500);
}

TEST(QueryParser, AggregationGroupingBeforeOrAfter) {
  Expr prefix = parse_ok("sum by (job, instance) (rate(m[1m]))");
  Expr suffix = parse_ok("sum(rate(m[1m])) by (job, instance)");
  EXPECT_TRUE(prefix == suffix);
  const auto& agg = std::get<AggregateExpr>(prefix.node);
  EXPECT_EQ(agg.op, AggregateOp::kSum);
  EXPECT_FALSE(agg.without);
  EXPECT_EQ(agg.grouping, (std::vector<std::string>{"job", "instance"}));
  EXPECT_TRUE(std::get<AggregateExpr>(parse_ok("max without (cpu) (m)").node).without);

  Expr quant = parse_ok("quantile(0.5, avg by (a) (m))");
  const auto& qa = std::get<AggregateExpr>(quant.node);
  EXPECT_EQ(qa.parameter, 0.5);
  EXPECT_TRUE(std::holds_alternative<AggregateExpr>(qa.inner->node));
  EXPECT_TRUE(parse_ok("((sum(m)))") == parse_ok("sum(m)"));
}

TEST(QueryParser, TypicalDashboardQueries) {
  for (std::string_view text : {
           R"(node_memory_MemAvailable_bytes)",
           R"(rate(node_cpu_seconds_total{mode!="idle"}[1m]))",
           R"(sum by (mode) (rate(node_cpu_seconds_total[5m])))",
           R"(increase(node_network_receive_bytes_total{device=~"e.*"}[5m]))",
           R"(quantile_over_time(0.9, scrape_duration_seconds[5m]))",
           R"(count without (collector) (node_scrape_collector_success))",
           R"(quantile by (mode) (0.5, rate(node_cpu_seconds_total[1m])))",
           R"q(max by (hostname) ({__name__=~"cpu_usage_(user|system)",hostname=~"host_1[0-9]"}))q",
           R"(sum without (hostname, rack) (avg_over_time(cpu_usage_guest[1m])))",
           "sum(\n  rate(http_requests_total[5m])  # per second\n) by (job)",
       }) {
    parse_ok(text);
  }
}

TEST(QueryParser, NumbersForParameters) {
  auto param = [](std::string_view text) {
    return std::get<AggregateExpr>(parse_ok(text).node).parameter;
  };
  EXPECT_EQ(param("quantile(-0.5, m)"), -0.5);
  EXPECT_EQ(param("quantile(+.25, m)"), 0.25);
  EXPECT_EQ(param("quantile(1e-1, m)"), 0.1);
  EXPECT_EQ(param("quantile(0x10, m)"), 16);
  EXPECT_EQ(param("quantile(-Inf, m)"), -INFINITY);
  EXPECT_TRUE(std::isnan(param("quantile(nan, m)")));
}

TEST(QueryParser, FormatReadsBackEqual) {
  for (std::string_view text : {
           R"(up)",
           R"({__name__=~"a|b", job!=""})",
           R"(rate(m{a="x\"y"}[90s]))",
           R"(increase(m[1h]))",
           R"(quantile_over_time(0.99, m[250ms]))",
           R"(sum without (cpu, mode) (rate(node_cpu_seconds_total[5m])))",
           R"(quantile by (job) (0.1, max(m) by (job, x)))",
           R"(count by () (m))",
           R"(avg(min_over_time(m[2m])))",
           R"(quantile(-0, m))",
       }) {
    Expr e = parse_ok(text);
    const std::string formatted = format_query(e);
    Expr back = parse_ok(formatted);
    EXPECT_TRUE(e == back) << text << " -> " << formatted;
    EXPECT_EQ(format_query(back), formatted);
  }
}

TEST(QueryParser, ErrorsNameTheProblemAndColumn) {
  EXPECT_EQ(parse_error("rate(m)"),
            "column 7: rate takes a range selector like m[5m]: expected '[', found ')'");
  EXPECT_EQ(parse_error("rate(m[5m]"), "column 11: expected ')' to close rate, found end of input");
  EXPECT_EQ(parse_error("m[5m]"),
            "column 2: a range selector is only allowed as a range function's argument");
  EXPECT_EQ(parse_error("irate(m[5m])"),
            "column 1: unknown function 'irate' (supported: rate, increase, *_over_time)");
  EXPECT_EQ(parse_error(R"({a="b"} (m))"),
            "column 9: unexpected '(' after the end of the expression");
  EXPECT_EQ(parse_error("quantile(m)"), "column 10: expected a number, found identifier 'm'");
  EXPECT_EQ(parse_error("sum(0.5, m)"), "column 5: expected a metric name or '{', found number");
  EXPECT_EQ(parse_error("sum(m, n)"), "column 6: sum takes one argument(s)");
  EXPECT_EQ(parse_error("sum by (a) (m) by (b)"),
            "column 16: grouping given twice (before and after the arguments)");
  EXPECT_EQ(parse_error("sum by (a-b) (m)"),
            "column 10: expected ',' or ')' in the grouping, found '-'");
  EXPECT_EQ(parse_error("sum"), "column 4: expected '(' after sum, found end of input");
  EXPECT_EQ(parse_error("rate(m[0s])"), "column 8: duration must be positive");
  EXPECT_EQ(parse_error("rate(m[5x])"), "column 9: duration needs a unit (ms, s, m, h, d, w, y)");
  EXPECT_EQ(parse_error("rate(m[5s1m])"), "column 10: duration units out of order or repeated");
  EXPECT_EQ(parse_error("rate(m[99999999999999999y])"), "column 8: duration is too long");
  EXPECT_EQ(parse_error("m offset 5m"),
            "column 3: unexpected identifier 'offset' after the end of the expression");
  EXPECT_EQ(parse_error(R"({a=""})"),
            "column 1: selector needs at least one matcher that does not match the empty value "
            "(e.g. a metric name)");
  EXPECT_EQ(parse_error("quantile(1e999, m)"),
            "column 10: number '1e999' is out of the float64 range");
  EXPECT_EQ(parse_error(""), "column 1: expected a metric name or '{', found end of input");
}

TEST(QueryParser, SizeAndDepthAreBounded) {
  EXPECT_NE(parse_error(std::string(kQueryBytesMax + 1, ' ') + "m").find("limit 16384"),
            std::string::npos);
  std::string deep;
  for (size_t i = 0; i < kQueryDepthMax; ++i) deep += "sum(";
  deep += "m";
  for (size_t i = 0; i < kQueryDepthMax; ++i) deep += ")";
  EXPECT_NE(parse_error(deep).find("nests deeper than 32"), std::string::npos);
  EXPECT_NE(parse_error(std::string(100000, '(')).find("limit"), std::string::npos);
  std::string ok_depth;
  for (size_t i = 0; i + 1 < kQueryDepthMax; ++i) ok_depth += "(";
  ok_depth += "m";
  for (size_t i = 0; i + 1 < kQueryDepthMax; ++i) ok_depth += ")";
  parse_ok(ok_depth);
}

}  // namespace
}  // namespace meld::ts
