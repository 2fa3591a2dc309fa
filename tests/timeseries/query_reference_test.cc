// The query evaluator against a straightforward reference on random data: random series, random
// queries from the grammar, random steps. The reference evaluates every step on its own by
// scanning every sample, as Prometheus' documentation describes the semantics; the engine
// evaluates series at a time with sliding windows and compensated sums.
//
// Tolerance: values are quarter-integers (plus NaN, +-Inf and stale markers), so sums of them
// are exact in both; results must agree to 1e-9 relative (rate extrapolation and sums of rates
// round differently in the last bits), NaN must match NaN and infinities must match exactly.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "timeseries/query.h"

namespace meld::ts {
namespace {

constexpr int64_t kS = 1000;
const double kStale = std::bit_cast<double>(kStaleNaNBits);
const double kInf = std::numeric_limits<double>::infinity();

struct StoredSeries {
  Labels labels;
  std::vector<Sample> samples;
};

using InstantVector = std::map<Labels, double>;

class Reference {
 public:
  Reference(const std::vector<StoredSeries>& series, int64_t lookback_ms)
      : series_(series), lookback_ms_(lookback_ms) {}

  // The value of expr at t; nullopt for the "same labelset" error.
  std::optional<InstantVector> eval(const Expr& expr, int64_t t) const {
    if (const auto* s = std::get_if<SelectorExpr>(&expr.node)) return selector(*s, t);
    if (const auto* f = std::get_if<RangeFunctionExpr>(&expr.node)) return range_function(*f, t);
    return aggregate(std::get<AggregateExpr>(expr.node), t);
  }

 private:
  InstantVector selector(const SelectorExpr& sel, int64_t t) const {
    InstantVector out;
    for (const StoredSeries& s : series_) {
      if (!matches_all(sel.matchers, s.labels)) continue;
      const Sample* latest = nullptr;
      for (const Sample& x : s.samples) {
        if (x.timestamp_ms <= t) latest = &x;
      }
      if (latest == nullptr || latest->timestamp_ms < t - lookback_ms_) continue;
      if (is_stale_marker(latest->value)) continue;
      out[s.labels] = latest->value;
    }
    return out;
  }

  static double quantile(double q, std::vector<double> v) {
    if (std::isnan(q)) return NAN;
    if (q < 0) return -kInf;
    if (q > 1) return kInf;
    std::vector<double> sorted;
    for (double x : v) {
      if (std::isnan(x)) sorted.push_back(x);
    }
    std::vector<double> numbers;
    for (double x : v) {
      if (!std::isnan(x)) numbers.push_back(x);
    }
    std::sort(numbers.begin(), numbers.end());
    sorted.insert(sorted.end(), numbers.begin(), numbers.end());
    const double rank = q * static_cast<double>(sorted.size() - 1);
    const size_t lower = static_cast<size_t>(std::floor(rank));
    const size_t upper = std::min(sorted.size() - 1, lower + 1);
    const double w = rank - std::floor(rank);
    return sorted[lower] * (1 - w) + sorted[upper] * w;
  }

  static double min_or_max(const std::vector<double>& v, bool is_min) {
    double r = v[0];
    for (double x : v) {
      if (std::isnan(r) || (is_min ? x < r : x > r)) r = x;
    }
    return r;
  }

  static double sum(const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x;
    return s;
  }

  // Prometheus' extrapolatedRate, written from its documentation and source comments.
  static std::optional<double> rate(const std::vector<Sample>& w, int64_t start, int64_t end,
                                    int64_t range_ms, bool per_second) {
    if (w.size() < 2) return std::nullopt;
    double increase = w.back().value - w.front().value;
    for (size_t i = 1; i < w.size(); ++i) {
      if (w[i].value < w[i - 1].value) increase += w[i - 1].value;
    }
    const double sampled = (w.back().timestamp_ms - w.front().timestamp_ms) / 1000.0;
    const double avg_gap = sampled / static_cast<double>(w.size() - 1);
    double to_start = (w.front().timestamp_ms - start) / 1000.0;
    double to_end = (end - w.back().timestamp_ms) / 1000.0;
    if (to_start >= avg_gap * 1.1) to_start = avg_gap / 2;
    if (increase > 0 && w.front().value >= 0) {
      to_start = std::min(to_start, sampled * (w.front().value / increase));
    }
    if (to_end >= avg_gap * 1.1) to_end = avg_gap / 2;
    double result = increase * ((sampled + to_start + to_end) / sampled);
    if (per_second) result /= range_ms / 1000.0;
    return result;
  }

  std::optional<InstantVector> range_function(const RangeFunctionExpr& f, int64_t t) const {
    InstantVector out;
    for (const StoredSeries& s : series_) {
      if (!matches_all(f.matchers, s.labels)) continue;
      std::vector<Sample> window;
      for (const Sample& x : s.samples) {
        if (x.timestamp_ms >= t - f.range_ms && x.timestamp_ms <= t && !is_stale_marker(x.value)) {
          window.push_back(x);
        }
      }
      std::vector<double> values;
      for (const Sample& x : window) values.push_back(x.value);
      std::optional<double> v;
      switch (f.function) {
        case RangeFunction::kRate:
        case RangeFunction::kIncrease:
          v = rate(window, t - f.range_ms, t, f.range_ms, f.function == RangeFunction::kRate);
          break;
        case RangeFunction::kMinOverTime:
        case RangeFunction::kMaxOverTime:
          if (!values.empty()) {
            v = min_or_max(values, f.function == RangeFunction::kMinOverTime);
          }
          break;
        case RangeFunction::kSumOverTime:
          if (!values.empty()) v = sum(values);
          break;
        case RangeFunction::kCountOverTime:
          if (!values.empty()) v = static_cast<double>(values.size());
          break;
        case RangeFunction::kAvgOverTime:
          if (!values.empty()) v = sum(values) / static_cast<double>(values.size());
          break;
        case RangeFunction::kQuantileOverTime:
          if (!values.empty()) v = quantile(f.parameter, values);
          break;
      }
      if (!v) continue;
      if (!out.emplace(s.labels.without_metric_name(), *v).second) return std::nullopt;
    }
    return out;
  }

  std::optional<InstantVector> aggregate(const AggregateExpr& a, int64_t t) const {
    auto inner = eval(*a.inner, t);
    if (!inner) return std::nullopt;
    std::map<Labels, std::vector<double>> groups;
    for (const auto& [labels, v] : *inner) {
      std::vector<Label> kept;
      for (const Label& l : labels.labels()) {
        const bool listed =
            std::find(a.grouping.begin(), a.grouping.end(), l.name) != a.grouping.end();
        if (a.without ? (!listed && l.name != kMetricNameLabel) : listed) kept.push_back(l);
      }
      groups[std::move(Labels::make(kept)).value()].push_back(v);
    }
    InstantVector out;
    for (const auto& [key, values] : groups) {
      double r = 0;
      switch (a.op) {
        case AggregateOp::kSum:
          r = sum(values);
          break;
        case AggregateOp::kAvg:
          r = sum(values) / static_cast<double>(values.size());
          break;
        case AggregateOp::kMin:
        case AggregateOp::kMax:
          r = min_or_max(values, a.op == AggregateOp::kMin);
          break;
        case AggregateOp::kCount:
          r = static_cast<double>(values.size());
          break;
        case AggregateOp::kQuantile:
          r = quantile(a.parameter, values);
          break;
      }
      out[key] = r;
    }
    return out;
  }

  const std::vector<StoredSeries>& series_;
  int64_t lookback_ms_;
};

bool close(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  if (std::isinf(a) || std::isinf(b)) return a == b;
  return std::abs(a - b) <= 1e-9 * std::max({1.0, std::abs(a), std::abs(b)});
}

rc::Gen<std::vector<Sample>> gen_samples() {
  return rc::gen::exec([] {
    std::set<int64_t> stamps;
    const auto n = *rc::gen::inRange(0, 40);
    const bool jitter = *rc::gen::arbitrary<bool>();
    for (int i = 0; i < n; ++i) {
      stamps.insert(*rc::gen::inRange<int64_t>(0, 120) * 5 * kS +
                    (jitter ? *rc::gen::inRange<int64_t>(0, 1000) : 0));
    }
    const int shape = *rc::gen::inRange(0, 3);
    std::vector<Sample> out;
    double counter = 0;
    for (const int64_t t : stamps) {
      double v = 0;
      if (shape == 0) {  // a counter with occasional resets
        counter = *rc::gen::inRange(0, 10) == 0 ? 0 : counter + *rc::gen::inRange(0, 40) / 4.0;
        v = counter;
      } else if (shape == 1) {  // a gauge
        v = *rc::gen::inRange(-400, 400) / 4.0;
      } else {  // a gauge with special values
        v = *rc::gen::oneOf(
            rc::gen::map(rc::gen::inRange(-400, 400), [](int k) { return k / 4.0; }),
            rc::gen::element<double>(NAN, kStale, kInf, -kInf, 0.0));
      }
      out.push_back({t, v});
    }
    return out;
  });
}

rc::Gen<std::string> gen_selector() {
  return rc::gen::element<std::string>("a", "b", R"(a{job="x"})", R"({__name__=~"a|b"})",
                                       R"(a{inst!="1"})", R"({__name__="b",job=~"x|"})",
                                       R"(a{job!~"y"})", R"({__name__=~".+",inst="2"})");
}

rc::Gen<std::string> gen_range_function() {
  return rc::gen::exec([] {
    const std::string fn = *rc::gen::element<std::string>(
        "rate", "increase", "min_over_time", "max_over_time", "sum_over_time", "count_over_time",
        "avg_over_time", "quantile_over_time");
    const std::string q =
        fn == "quantile_over_time"
            ? *rc::gen::element<std::string>("0", "0.25", "0.5", "1", "-1", "2", "NaN") + ", "
            : "";
    const std::string range = *rc::gen::element<std::string>("10s", "30s", "1m", "95s", "5m");
    return fn + "(" + q + *gen_selector() + "[" + range + "])";
  });
}

std::string gen_query(int depth) {
  // Weights: selector 1, range function 2, aggregation 2 (nested at most twice).
  const int kind = *rc::gen::inRange(0, depth < 2 ? 5 : 3);
  if (kind == 0) return *gen_selector();
  if (kind <= 2) return *gen_range_function();
  const std::string op =
      *rc::gen::element<std::string>("sum", "min", "max", "avg", "count", "quantile");
  const std::string q =
      op == "quantile" ? *rc::gen::element<std::string>("0.5", "0.9", "0", "1.5") + ", " : "";
  std::string grouping;
  if (*rc::gen::inRange(0, 3) != 0) {
    grouping = *rc::gen::element<std::string>("by", "without") + " (" +
               *rc::gen::element<std::string>("job", "inst", "job, inst", "__name__", "") + ")";
  }
  const std::string inner = gen_query(depth + 1);
  if (*rc::gen::arbitrary<bool>()) return op + " " + grouping + " (" + q + inner + ")";
  return op + "(" + q + inner + ") " + grouping;
}

RC_GTEST_PROP(QueryReference, EngineEqualsPerStepReference, ()) {
  std::vector<StoredSeries> stored;
  MemorySeriesSource source;
  const auto series_count = *rc::gen::inRange(1, 9);
  for (int i = 0; i < series_count; ++i) {
    auto labels = Labels::make({{"__name__", *rc::gen::element<std::string>("a", "b")},
                                {"job", *rc::gen::element<std::string>("", "x", "y")},
                                {"inst", *rc::gen::element<std::string>("", "1", "2")}});
    RC_ASSERT(labels.is_ok());
    std::vector<Sample> samples = *gen_samples();
    if (!source.add(*labels, samples).is_ok()) continue;  // the same labels drawn twice
    stored.push_back({*labels, samples});
  }
  // Several queries per data set: data generation dominates the cost.
  for (int round = 0; round < 5; ++round) {
    const std::string query = gen_query(0);
    const int64_t step = *rc::gen::element<int64_t>(1 * kS, 7 * kS, 15 * kS, 60 * kS);
    const int64_t start = *rc::gen::inRange<int64_t>(0, 700) * kS;
    const int64_t end = start + step * *rc::gen::inRange<int64_t>(0, 30);
    QueryLimits limits;
    limits.lookback_ms = *rc::gen::element<int64_t>(30 * kS, 300 * kS);

    auto expr = parse_query(query);
    RC_ASSERT(expr.is_ok());
    auto got = evaluate(*expr, source, start, end, step, limits);

    Reference reference(stored, limits.lookback_ms);
    std::map<Labels, std::map<int64_t, double>> expected;
    bool expect_error = false;
    for (int64_t t = start; t <= end; t += step) {
      auto v = reference.eval(*expr, t);
      if (!v) {
        expect_error = true;
        break;
      }
      for (const auto& [labels, value] : *v) expected[labels][t] = value;
    }
    if (expect_error) {
      RC_ASSERT(!got.is_ok());
      RC_ASSERT(got.status().message().find("same labelset") != std::string::npos);
      continue;
    }
    RC_ASSERT(got.is_ok());
    RC_ASSERT(got->series.size() == expected.size());
    auto want = expected.begin();
    for (const SeriesPoints& s : got->series) {
      RC_ASSERT(s.labels == want->first);
      RC_ASSERT(s.points.size() == want->second.size());
      auto point = want->second.begin();
      for (const Sample& p : s.points) {
        RC_ASSERT(p.timestamp_ms == point->first);
        if (!close(p.value, point->second)) {
          RC_FAIL(query + " at " + std::to_string(p.timestamp_ms) + " for " + s.labels.to_string() +
                  ": engine " + std::to_string(p.value) + ", reference " +
                  std::to_string(point->second));
        }
        ++point;
      }
      ++want;
    }
  }
}

}  // namespace
}  // namespace meld::ts
