// The query evaluator on hand-checked cases that follow Prometheus' documented semantics
// (lookback, staleness, extrapolated rate, aggregation labels, limits). Values are our own.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "timeseries/query.h"

namespace meld::ts {
namespace {

constexpr int64_t kS = 1000;
constexpr int64_t kM = 60 * kS;
const double kStale = std::bit_cast<double>(kStaleNaNBits);
const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

Labels labels(std::vector<Label> l) {
  return std::move(Labels::make(std::move(l))).value();
}

class QueryEngine : public ::testing::Test {
 protected:
  void add(std::vector<Label> l, std::vector<Sample> samples) {
    ASSERT_TRUE(source_.add(labels(std::move(l)), std::move(samples)).is_ok());
  }

  QueryResult run(std::string_view query, int64_t start, int64_t end, int64_t step,
                  const QueryLimits& limits = {}) {
    auto r = query_range(query, source_, start, end, step, limits);
    EXPECT_TRUE(r.is_ok()) << query << ": " << r.status().to_string();
    return r.is_ok() ? std::move(r).value() : QueryResult{};
  }

  // The single result series' points of an instant evaluation at t.
  std::vector<Sample> points(std::string_view query, int64_t start, int64_t end, int64_t step) {
    QueryResult r = run(query, start, end, step);
    EXPECT_EQ(r.series.size(), 1u) << query;
    return r.series.empty() ? std::vector<Sample>{} : r.series[0].points;
  }

  double value_at(std::string_view query, int64_t t) {
    auto p = points(query, t, t, 1);
    EXPECT_EQ(p.size(), 1u) << query;
    return p.empty() ? kNaN : p[0].value;
  }

  Status error_of(std::string_view query, int64_t start, int64_t end, int64_t step,
                  const QueryLimits& limits = {}) {
    auto r = query_range(query, source_, start, end, step, limits);
    EXPECT_FALSE(r.is_ok()) << query;
    return r.is_ok() ? Status::ok() : r.status();
  }

  MemorySeriesSource source_;
};

std::vector<int64_t> times(const std::vector<Sample>& p) {
  std::vector<int64_t> out;
  for (const Sample& s : p) out.push_back(s.timestamp_ms);
  return out;
}

TEST_F(QueryEngine, InstantSelectorTakesTheLatestSampleWithinTheLookback) {
  add({{"__name__", "g"}}, {{0, 1}, {90 * kS, 2}});
  auto p = points("g", 0, 10 * kM, kM);
  // [t - 5m, t] is closed (Prometheus 2.42): the sample at 90s is still seen at 6m30s > 6m.
  EXPECT_EQ(times(p), (std::vector<int64_t>{0, kM, 2 * kM, 3 * kM, 4 * kM, 5 * kM, 6 * kM}));
  EXPECT_EQ(p[0].value, 1);
  EXPECT_EQ(p[1].value, 1);
  EXPECT_EQ(p[2].value, 2);
  EXPECT_EQ(p[6].value, 2);
  QueryLimits short_lookback;
  short_lookback.lookback_ms = 30 * kS;
  auto r = run("g", 0, 3 * kM, kM, short_lookback);
  ASSERT_EQ(r.series.size(), 1u);
  EXPECT_EQ(times(r.series[0].points), (std::vector<int64_t>{0, 2 * kM}));
}

TEST_F(QueryEngine, StaleMarkerEndsASeriesAtOnce) {
  add({{"__name__", "g"}}, {{0, 1}, {kM, kStale}, {3 * kM, 4}});
  auto p = points("g", 0, 4 * kM, kM);
  EXPECT_EQ(times(p), (std::vector<int64_t>{0, 3 * kM, 4 * kM}));
  // Range functions drop stale markers instead.
  EXPECT_EQ(value_at("count_over_time(g[5m])", 4 * kM), 2);
}

TEST_F(QueryEngine, RateOfASteadyCounterIsItsSlope) {
  std::vector<Sample> counter;
  for (int64_t t = 0; t <= 10 * kM; t += 10 * kS) counter.push_back({t, t / 1000.0});
  add({{"__name__", "c"}}, counter);
  EXPECT_EQ(value_at("rate(c[1m])", 5 * kM), 1.0);
  EXPECT_EQ(value_at("increase(c[1m])", 5 * kM), 60.0);
}

TEST_F(QueryEngine, IncreaseAddsTheValueBeforeACounterReset) {
  add({{"__name__", "c"}}, {{0, 0}, {10 * kS, 10}, {20 * kS, 20}, {30 * kS, 5}, {40 * kS, 15}});
  // 15 - 0 + 20 (lost at the reset); samples sit on both window edges: no extrapolation.
  EXPECT_EQ(value_at("increase(c[40s])", 40 * kS), 35.0);
}

TEST_F(QueryEngine, RateExtrapolatesToTheWindowEdges) {
  add({{"__name__", "c"}}, {{5 * kS, 105}, {15 * kS, 115}, {25 * kS, 125}});
  // Window [0s, 32s]: the 5s and 7s gaps at the edges are below 1.1 x the 10s interval, so the
  // 20 seen over 20s is extrapolated to the whole 32s window.
  EXPECT_EQ(value_at("increase(c[32s])", 32 * kS), 32.0);
  EXPECT_EQ(value_at("rate(c[32s])", 32 * kS), 1.0);
  // Window [-30s, 30s]: the 35s gap before the first sample is past the threshold, so the
  // series is taken to start half an interval (5s) before it: 20 * (5 + 20 + 5) / 20.
  EXPECT_EQ(value_at("increase(c[1m])", 30 * kS), 30.0);
  EXPECT_EQ(value_at("rate(c[1m])", 30 * kS), 0.5);
  // Window [0s, 60s]: the 35s gap is after the last sample this time.
  EXPECT_EQ(value_at("increase(c[1m])", 60 * kS), 30.0);
}

TEST_F(QueryEngine, IncreaseDoesNotExtrapolateBelowZero) {
  add({{"__name__", "c"}}, {{5 * kS, 1}, {15 * kS, 11}, {25 * kS, 21}});
  // The counter would hit zero 1s before the first sample: extrapolate 1s, not 5s, at the start.
  EXPECT_DOUBLE_EQ(value_at("increase(c[30s])", 30 * kS), 20.0 * (20 + 1 + 5) / 20);
}

TEST_F(QueryEngine, RateNeedsTwoSamples) {
  add({{"__name__", "c"}}, {{0, 1}, {kM, 2}});
  QueryResult r = run("rate(c[30s])", 0, 2 * kM, 30 * kS);
  EXPECT_TRUE(r.series.empty());
}

TEST_F(QueryEngine, OverTimeFunctions) {
  add({{"__name__", "g"}}, {{10 * kS, kNaN}, {20 * kS, 3}, {30 * kS, 1}, {40 * kS, 4}});
  EXPECT_EQ(value_at("min_over_time(g[1m])", 40 * kS), 1);  // any number beats NaN
  EXPECT_EQ(value_at("max_over_time(g[1m])", 40 * kS), 4);
  EXPECT_EQ(value_at("count_over_time(g[1m])", 40 * kS), 4);
  EXPECT_TRUE(std::isnan(value_at("sum_over_time(g[1m])", 40 * kS)));
  EXPECT_EQ(value_at("sum_over_time(g[25s])", 40 * kS), 8);
  EXPECT_EQ(value_at("avg_over_time(g[25s])", 40 * kS), 8.0 / 3);
  // Window [15s, 40s] holds 3, 1, 4; sorted 1 3 4; q=0.25 -> rank 0.5 -> 2.
  EXPECT_EQ(value_at("quantile_over_time(0.25, g[25s])", 40 * kS), 2);
  EXPECT_EQ(value_at("quantile_over_time(2, g[25s])", 40 * kS), kInf);
  EXPECT_EQ(value_at("quantile_over_time(-1, g[25s])", 40 * kS), -kInf);
  // The window is closed at both ends: [20s, 40s] includes 20s.
  EXPECT_EQ(value_at("count_over_time(g[20s])", 40 * kS), 3);
}

TEST_F(QueryEngine, AvgDoesNotOverflowOnLargeFiniteValues) {
  add({{"__name__", "g"}, {"a", "1"}}, {{0, 1e308}});
  add({{"__name__", "g"}, {"a", "2"}}, {{0, 1e308}});
  EXPECT_EQ(value_at("avg(g)", 0), 1e308);
  EXPECT_EQ(value_at("sum(g)", 0), kInf);
  add({{"__name__", "h"}}, {{0, 1e308}, {kS, 1e308}, {2 * kS, -1e308}, {3 * kS, 1e308}});
  EXPECT_EQ(value_at("avg_over_time(h[1m])", 3 * kS), 0.5e308);
  // An infinite value still wins after the sum of finite ones overflowed, as in Prometheus.
  add({{"__name__", "i"}}, {{0, 1e308}, {kS, 1e308}, {2 * kS, -kInf}});
  EXPECT_EQ(value_at("avg_over_time(i[1m])", 2 * kS), -kInf);
}

TEST_F(QueryEngine, AggregationLabels) {
  add({{"__name__", "m"}, {"a", "1"}, {"b", "x"}}, {{0, 1}});
  add({{"__name__", "m"}, {"a", "2"}, {"b", "x"}}, {{0, 2}});
  add({{"__name__", "m"}, {"a", "1"}, {"b", "y"}}, {{0, 4}});
  QueryResult by = run("sum by (a) (m)", 0, 0, 1);
  ASSERT_EQ(by.series.size(), 2u);
  EXPECT_EQ(by.series[0].labels, labels({{"a", "1"}}));
  EXPECT_EQ(by.series[0].points[0].value, 5);
  EXPECT_EQ(by.series[1].labels, labels({{"a", "2"}}));
  EXPECT_EQ(by.series[1].points[0].value, 2);
  QueryResult without = run("max(m) without (a)", 0, 0, 1);
  ASSERT_EQ(without.series.size(), 2u);
  EXPECT_EQ(without.series[0].labels, labels({{"b", "x"}}));  // the metric name is dropped too
  EXPECT_EQ(without.series[0].points[0].value, 2);
  EXPECT_EQ(without.series[1].points[0].value, 4);
  QueryResult all = run("count(m)", 0, 0, 1);
  ASSERT_EQ(all.series.size(), 1u);
  EXPECT_TRUE(all.series[0].labels.empty());
  EXPECT_EQ(all.series[0].points[0].value, 3);
  EXPECT_EQ(value_at("quantile(0.5, m)", 0), 2);
  EXPECT_EQ(value_at("avg(m)", 0), 7.0 / 3);
  EXPECT_EQ(value_at("min(m)", 0), 1);
  // Grouping by a label no series has: one group without labels.
  EXPECT_TRUE(run("sum by (zz) (m)", 0, 0, 1).series[0].labels.empty());
}

TEST_F(QueryEngine, MetricNameKeptBySelectorsDroppedByFunctions) {
  add({{"__name__", "m"}, {"a", "1"}}, {{0, 1}, {kM, 2}});
  EXPECT_EQ(run("m", kM, kM, 1).series[0].labels.metric_name(), "m");
  EXPECT_EQ(run("max_over_time(m[1m])", kM, kM, 1).series[0].labels, labels({{"a", "1"}}));
}

TEST_F(QueryEngine, SameLabelsetAfterDroppingTheNameIsAnError) {
  add({{"__name__", "a"}, {"x", "1"}}, {{0, 1}});
  add({{"__name__", "b"}, {"x", "1"}}, {{0, 2}});
  Status s = error_of(R"(sum_over_time({__name__=~"a|b"}[1m]))", 0, 0, 1);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("same labelset {x=\"1\"}"), std::string::npos);
}

TEST_F(QueryEngine, SeriesWithoutValuesAreLeftOut) {
  add({{"__name__", "m"}, {"a", "1"}}, {{0, 1}});
  add({{"__name__", "m"}, {"a", "2"}}, {{20 * kM, 1}});
  QueryResult r = run("m", 0, 2 * kM, kM);
  ASSERT_EQ(r.series.size(), 1u);
  EXPECT_EQ(r.series[0].labels.get("a"), "1");
  EXPECT_EQ(r.stats.series_selected, 2u);
}

// Each limit fails the query naming what was limited and the limit, in the user's words (the
// messages reach clients over RPC, where QueryLimits' field names mean nothing).
TEST_F(QueryEngine, LimitsFailNamingTheLimit) {
  for (int i = 0; i < 3; ++i) {
    add({{"__name__", "m"}, {"i", std::to_string(i)}}, {{0, 1}, {kS, 2}, {2 * kS, 3}});
  }
  QueryLimits limits;
  limits.series_max = 2;
  Status s = error_of("sum(m)", 0, 0, 1, limits);
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(s.message().find("more than 2 series, the limit per query"), std::string::npos)
      << s.to_string();
  limits.series_max = 3;
  EXPECT_TRUE(query_range("sum(m)", source_, 0, 0, 1, limits).is_ok());

  limits.samples_max = 8;  // 9 samples are loaded
  s = error_of("m", 2 * kS, 2 * kS, 1, limits);
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(s.message().find("more than 8 samples and points, the limit per query"),
            std::string::npos)
      << s.to_string();
  limits.samples_max = 9 + 3;  // and 3 points computed
  EXPECT_TRUE(query_range("m", source_, 2 * kS, 2 * kS, 1, limits).is_ok());

  limits.samples_max = QueryLimits{}.samples_max;
  limits.steps_max = 10;
  s = error_of("m", 0, 10, 1, limits);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("11 steps, limit 10 per query"), std::string::npos) << s.to_string();
  EXPECT_TRUE(query_range("m", source_, 0, 9, 1, limits).is_ok());

  limits.range_ms_max = 10 * kM;  // the 5 min lookback fits
  s = error_of("rate(m[601s])", 0, 0, 1, limits);
  EXPECT_NE(s.message().find("601000 ms is longer than 600000 ms, the limit of a range"),
            std::string::npos)
      << s.to_string();

  EXPECT_EQ(error_of("m", 10, 0, 1).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(error_of("m", 0, 10, 0).code(), StatusCode::kInvalidArgument);
}

TEST_F(QueryEngine, ExtremeTimestampsDoNotOverflow) {
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  add({{"__name__", "m"}}, {{kMin, 1}, {kMin + 1, 2}, {kMax - 1, 3}, {kMax, 4}});
  EXPECT_EQ(value_at("m", kMin), 1);
  EXPECT_EQ(value_at("m", kMax), 4);
  EXPECT_EQ(value_at("count_over_time(m[1d])", kMin + 1), 2);
  QueryLimits limits;
  limits.steps_max = 3;  // kMin, -1, kMax - 1
  auto r = query_range("m", source_, kMin, kMax, kMax, limits);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(times(r->series[0].points), (std::vector<int64_t>{kMin, kMax - 1}));
}

}  // namespace
}  // namespace meld::ts
