// A PromQL subset: parser, and evaluator over [start, end] at a step, like Prometheus'
// /api/v1/query_range. Pure: data comes in through SeriesSource, which a store implements.
//
// Grammar (whitespace and # comments between tokens; strings as in promql_lexer.h):
//   expr      = "(" expr ")" | aggregate | range_fn | selector
//   aggregate = agg_op [grouping] "(" [number ","] expr ")" [grouping]     (one grouping at most)
//   agg_op    = sum | min | max | avg | count | quantile        (quantile takes the number: q)
//   grouping  = (by | without) "(" [label {"," label} [","]] ")"
//   range_fn  = fn "(" [number ","] selector "[" duration "]" ")"
//   fn        = rate | increase | min_over_time | max_over_time | sum_over_time
//             | count_over_time | avg_over_time | quantile_over_time   (the last takes q)
//   selector  = see matcher.h;  duration = see Lexer::read_duration_ms;
//   number    = ["+"|"-"] (decimal | 0x hex | Inf | NaN)
//
// Semantics are Prometheus 2.42's (the version Debian 12 ships, which the side-by-side bench
// runs), for float samples:
//   - At each step t = start, start+step, ... <= end, an instant selector yields, per series, the
//     latest sample in [t - lookback, t] unless that sample is a stale marker (Prometheus' NaN
//     0x7ff0000000000002), in which case the series has no value at t. The metric name is kept.
//   - A range function sees the samples in [t - range, t], stale markers removed, and yields
//     nothing for an empty window (rate and increase need two samples). rate and increase are
//     Prometheus' extrapolatedRate (promql/functions.go): counter resets add the value before the
//     reset; the increase between the first and last sample is extrapolated to the window edges
//     when a sample lies within 1.1 average intervals of the edge, else by half an average
//     interval, and never to below a zero counter value; rate divides by the range in seconds.
//     min/max_over_time and min/max prefer any number over NaN; quantile(_over_time) is
//     Prometheus' quantile(): NaN for q = NaN, -Inf for q < 0, +Inf for q > 1, else linear
//     interpolation between the closest ranks (NaN values sort first). Range functions drop the
//     metric name; two series left with the same labels and values at the same step are an error
//     ("vector cannot contain metrics with the same labelset").
//   - Aggregations group the series with a value at t by the `by` labels (or by all labels but
//     the `without` ones and the metric name; with neither, one group with no labels).
//   - sum, avg, sum_over_time and avg_over_time add with Neumaier's compensated summation (an
//     infinite sum is returned as is; an average of finite values whose sum overflows is still
//     finite); results can differ from Prometheus 2.42's plain sums in the last bits.
// Result series are sorted by labels; each holds the steps at which it has a value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/status.h"
#include "timeseries/labels.h"
#include "timeseries/matcher.h"
#include "timeseries/sample.h"

namespace meld::ts {

inline constexpr size_t kQueryBytesMax = 16 * 1024;
inline constexpr size_t kQueryDepthMax = 32;  // nested parentheses and aggregations
inline constexpr size_t kGroupingLabelsMax = kLabelsMax;

enum class RangeFunction {
  kRate,
  kIncrease,
  kMinOverTime,
  kMaxOverTime,
  kSumOverTime,
  kCountOverTime,
  kAvgOverTime,
  kQuantileOverTime,
};

enum class AggregateOp { kSum, kMin, kMax, kAvg, kCount, kQuantile };

std::string_view range_function_name(RangeFunction f);
std::string_view aggregate_op_name(AggregateOp op);

struct Expr;

// `metric{...}`: an instant vector selector.
struct SelectorExpr {
  std::vector<Matcher> matchers;
};

// `fn([q,] metric{...}[range])`.
struct RangeFunctionExpr {
  RangeFunction function = RangeFunction::kRate;
  double parameter = 0;  // q for quantile_over_time, else 0
  std::vector<Matcher> matchers;
  int64_t range_ms = 0;  // > 0
};

// `op [by|without (labels)] ([q,] expr)`.
struct AggregateExpr {
  AggregateOp op = AggregateOp::kSum;
  double parameter = 0;  // q for quantile, else 0
  bool without = false;  // grouping lists the labels to drop, not to keep
  std::vector<std::string> grouping;
  std::unique_ptr<Expr> inner;  // never null
};

struct Expr {
  std::variant<SelectorExpr, RangeFunctionExpr, AggregateExpr> node;
};

// Parses a query. Errors (invalid_argument): "column N: ..." for the first problem, including a
// text past kQueryBytesMax, nesting past kQueryDepthMax, unknown functions, a missing or extra
// parameter, bad selectors (see parse_selector) and bad durations.
Result<Expr> parse_query(std::string_view text);

// Canonical PromQL text for an expression; parse_query() reads it back to an equal expression
// (numbers are written so that they read back bit for bit).
std::string format_query(const Expr& expr);

// Structural equality (matchers by op, name and value; parameters by bits).
bool operator==(const Expr& a, const Expr& b);

// A series a SeriesSource selected: its labels and an opaque reference for samples().
struct SourceSeries {
  Labels labels;
  uint64_t ref = 0;
};

// The storage side of a query. Called from the querying thread only, for the duration of one
// query_range() call.
class SeriesSource {
 public:
  virtual ~SeriesSource() = default;

  // The series whose labels match all matchers (see matcher.h: a missing label is ""), each once,
  // in any order, among those that may hold samples in [mint_ms, maxt_ms] (returning more is
  // allowed). When more than series_max series match, the source may stop after series_max + 1
  // of them: the engine then fails the query with resource_exhausted. Errors are passed on.
  virtual Result<std::vector<SourceSeries>> select(std::span<const Matcher> matchers,
                                                   int64_t mint_ms, int64_t maxt_ms,
                                                   size_t series_max) = 0;

  // The samples of a series from select() with mint_ms <= timestamp_ms <= maxt_ms, strictly
  // increasing in time, values with their exact bits (stale markers included). When there are
  // more than samples_max, the source may stop after samples_max + 1 (the engine then fails the
  // query). Errors are passed on.
  virtual Result<std::vector<Sample>> samples(uint64_t ref, int64_t mint_ms, int64_t maxt_ms,
                                              size_t samples_max) = 0;
};

struct QueryLimits {
  size_t series_max = 10'000;  // series selected, summed over the query's selectors
  // Samples loaded from the source plus points computed, summed over the whole query.
  size_t samples_max = 50'000'000;
  size_t steps_max = 11'000;  // points per result series (Prometheus' query_range limit)
  int64_t range_ms_max = int64_t{32} * 24 * 3600 * 1000;  // a range function's window
  int64_t lookback_ms = 5 * 60 * 1000;  // instant selectors: Prometheus' lookback delta
};

struct SeriesPoints {
  Labels labels;
  std::vector<Sample> points;  // increasing timestamps, all on the step grid
};

struct QueryStats {
  size_t series_selected = 0;
  size_t samples_loaded = 0;
  size_t points_computed = 0;
};

struct QueryResult {
  std::vector<SeriesPoints> series;  // sorted by labels
  QueryStats stats;
};

// Evaluates expr at t = start_ms, start_ms + step_ms, ... <= end_ms. Errors: invalid_argument
// for end < start, step <= 0, more than limits.steps_max steps, a window past
// limits.range_ms_max or a lookback <= 0, a duplicate label set after a range function;
// resource_exhausted naming the limit ("series_max", "samples_max") when the query needs more;
// the source's errors.
Result<QueryResult> evaluate(const Expr& expr, SeriesSource& source, int64_t start_ms,
                             int64_t end_ms, int64_t step_ms, const QueryLimits& limits = {});

// parse_query() then evaluate().
Result<QueryResult> query_range(std::string_view query, SeriesSource& source, int64_t start_ms,
                                int64_t end_ms, int64_t step_ms, const QueryLimits& limits = {});

// A SeriesSource over series held in memory (tests, benchmarks, small data sets). Selects by
// scanning every series. Not thread-safe.
class MemorySeriesSource final : public SeriesSource {
 public:
  // Adds a series; samples must be strictly increasing in time (asserted). Errors:
  // already_exists if a series with the same labels was added.
  Status add(Labels labels, std::vector<Sample> samples);

  Result<std::vector<SourceSeries>> select(std::span<const Matcher> matchers, int64_t mint_ms,
                                           int64_t maxt_ms, size_t series_max) override;
  Result<std::vector<Sample>> samples(uint64_t ref, int64_t mint_ms, int64_t maxt_ms,
                                      size_t samples_max) override;

 private:
  struct Stored {
    Labels labels;
    std::vector<Sample> samples;
  };
  std::vector<Stored> series_;  // a series' ref is its index
  std::set<Labels> known_;
};

// Prometheus' stale marker: the NaN that ends a series.
inline constexpr uint64_t kStaleNaNBits = 0x7ff0000000000002;
bool is_stale_marker(double value);

}  // namespace meld::ts
