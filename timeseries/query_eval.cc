// evaluate() and MemorySeriesSource (query.h).
#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <map>
#include <span>
#include <utility>
#include <vector>

#include "timeseries/query.h"

namespace meld::ts {
namespace {

constexpr int64_t kTimeMin = std::numeric_limits<int64_t>::min();

// t - d without wrapping below int64's minimum (d >= 0).
int64_t saturating_sub(int64_t t, int64_t d) {
  return t < kTimeMin + d ? kTimeMin : t - d;
}

// Prometheus' kahanSumInc (promql/functions.go): Neumaier's variant of Kahan summation; the
// compensation is dropped once the sum is infinite.
class CompensatedSum {
 public:
  void add(double x) {
    const double t = sum_ + x;
    if (std::isinf(t)) {
      c_ = 0;
    } else if (std::abs(sum_) >= std::abs(x)) {
      c_ += (sum_ - t) + x;
    } else {
      c_ += (x - t) + sum_;
    }
    sum_ = t;
  }
  double result() const { return std::isinf(sum_) ? sum_ : sum_ + c_; }
  // The same sum multiplied by factor (a power of two: exact).
  CompensatedSum scaled(double factor) const {
    CompensatedSum out;
    out.sum_ = sum_ * factor;
    out.c_ = c_ * factor;
    return out;
  }

 private:
  double sum_ = 0;
  double c_ = 0;
};

// NaN first, then increasing; equal numbers by bits, so the order (and a quantile's bits) never
// depends on the input order.
bool quantile_less(double a, double b) {
  const bool a_nan = std::isnan(a);
  const bool b_nan = std::isnan(b);
  if (a_nan || b_nan) return a_nan && !b_nan;
  if (a != b) return a < b;
  return std::bit_cast<int64_t>(a) < std::bit_cast<int64_t>(b);
}

// Prometheus' quantile() (promql/quantile.go), on a non-empty set of values.
double quantile_of(double q, std::vector<double>* values) {
  if (std::isnan(q)) return std::numeric_limits<double>::quiet_NaN();
  if (q < 0) return -std::numeric_limits<double>::infinity();
  if (q > 1) return std::numeric_limits<double>::infinity();
  std::sort(values->begin(), values->end(), quantile_less);
  const double n = static_cast<double>(values->size());
  const double rank = q * (n - 1);
  const double lower = std::max(0.0, std::floor(rank));
  const double upper = std::min(n - 1, lower + 1);
  const double weight = rank - std::floor(rank);
  return (*values)[static_cast<size_t>(lower)] * (1 - weight) +
         (*values)[static_cast<size_t>(upper)] * weight;
}

constexpr double kScaleDown = 0x1p-64;
constexpr double kScaleUp = 0x1p64;

enum class Reduce { kSum, kMin, kMax, kAvg, kCount, kQuantile };

// Folds the values of one group (or one window) in order into one result.
class Accumulator {
 public:
  Accumulator(Reduce reduce, double q) : reduce_(reduce), q_(q) {}

  void reset() {
    count_ = 0;
    sum_ = CompensatedSum();
    overflowed_ = false;
    values_.clear();
  }

  void add(double v) {
    ++count_;
    switch (reduce_) {
      case Reduce::kSum:
        sum_.add(v);
        break;
      case Reduce::kAvg:
        add_to_average(v);
        break;
      case Reduce::kMin:
        // Prometheus: any number replaces a NaN.
        if (count_ == 1 || extreme_ > v || std::isnan(extreme_)) extreme_ = v;
        break;
      case Reduce::kMax:
        if (count_ == 1 || extreme_ < v || std::isnan(extreme_)) extreme_ = v;
        break;
      case Reduce::kCount:
        break;
      case Reduce::kQuantile:
        values_.push_back(v);
        break;
    }
  }

  // The same as add() of every value of the window in order, with one dispatch per window.
  void add_window(std::span<const Sample> window) {
    if (window.empty()) return;
    switch (reduce_) {
      case Reduce::kSum:
        for (const Sample& x : window) sum_.add(x.value);
        break;
      case Reduce::kAvg: {
        // A sum that ends finite never overflowed (an infinite or NaN sum stays so), and then
        // add_to_average's steps are exactly these; otherwise the window is summed again by them.
        CompensatedSum plain = sum_;
        for (const Sample& x : window) plain.add(x.value);
        if (!overflowed_ && std::isfinite(plain.result())) {
          sum_ = plain;
        } else {
          for (const Sample& x : window) add_to_average(x.value);
        }
        break;
      }
      case Reduce::kMin:
        extreme_ = extreme_of<false>(window);
        break;
      case Reduce::kMax:
        extreme_ = extreme_of<true>(window);
        break;
      case Reduce::kCount:
        break;
      case Reduce::kQuantile:
        for (const Sample& x : window) values_.push_back(x.value);
        break;
    }
    count_ += window.size();
  }

  size_t count() const { return count_; }

  // The average of finite values must not overflow when their sum does: from the first add that
  // takes a finite sum past the float64 range, the sum continues scaled down by 2^-64 (exact for
  // all but subnormal values, which cannot matter next to a sum that large). Infinite inputs
  // still make the sum infinite (or NaN), as they must.
  void add_to_average(double v) {
    if (overflowed_) {
      sum_.add(v * kScaleDown);
      return;
    }
    const CompensatedSum before = sum_;
    sum_.add(v);
    if (std::isinf(sum_.result()) && std::isfinite(v) && std::isfinite(before.result())) {
      overflowed_ = true;
      sum_ = before.scaled(kScaleDown);
      sum_.add(v * kScaleDown);
    }
  }

  // The result; count() must be > 0.
  double result() {
    switch (reduce_) {
      case Reduce::kSum:
        return sum_.result();
      case Reduce::kAvg: {
        if (overflowed_) return sum_.result() / static_cast<double>(count_) * kScaleUp;
        return sum_.result() / static_cast<double>(count_);
      }
      case Reduce::kMin:
      case Reduce::kMax:
        return extreme_;
      case Reduce::kCount:
        return static_cast<double>(count_);
      case Reduce::kQuantile:
        return quantile_of(q_, &values_);
    }
    return 0;
  }

 private:
  // min/max continued over a window by add()'s rule (any number replaces a NaN; of equal values
  // the first stays), without a branch that depends on the values.
  template <bool kMax>
  double extreme_of(std::span<const Sample> window) const {
    double m = count_ == 0 ? window[0].value : extreme_;
    for (size_t i = count_ == 0 ? 1 : 0; i < window.size(); ++i) {
      const double v = window[i].value;
      const bool better = kMax ? v > m : v < m;
      m = (better | std::isnan(m)) ? v : m;
    }
    return m;
  }

  Reduce reduce_;
  double q_;
  size_t count_ = 0;
  CompensatedSum sum_;
  bool overflowed_ = false;  // sum_ holds the sum times kScaleDown
  double extreme_ = 0;
  std::vector<double> values_;
};

Reduce reduce_of(AggregateOp op) {
  switch (op) {
    case AggregateOp::kSum:
      return Reduce::kSum;
    case AggregateOp::kMin:
      return Reduce::kMin;
    case AggregateOp::kMax:
      return Reduce::kMax;
    case AggregateOp::kAvg:
      return Reduce::kAvg;
    case AggregateOp::kCount:
      return Reduce::kCount;
    case AggregateOp::kQuantile:
      return Reduce::kQuantile;
  }
  return Reduce::kSum;
}

// Prometheus' extrapolatedRate (promql/functions.go, v2.42) for float samples: the window holds
// the samples in [range_start_ms, range_end_ms], at least two of them.
double extrapolated_rate(std::span<const Sample> window, int64_t range_start_ms,
                         int64_t range_end_ms, int64_t range_ms, bool is_rate) {
  const Sample& first = window.front();
  const Sample& last = window.back();
  double result = last.value - first.value;
  // Counter resets: the value before each drop was lost from last - first.
  for (size_t i = 1; i < window.size(); ++i) {
    if (window[i].value < window[i - 1].value) result += window[i - 1].value;
  }
  double duration_to_start = static_cast<double>(first.timestamp_ms - range_start_ms) / 1000;
  double duration_to_end = static_cast<double>(range_end_ms - last.timestamp_ms) / 1000;
  const double sampled_interval =
      static_cast<double>(last.timestamp_ms - first.timestamp_ms) / 1000;
  const double average_between_samples = sampled_interval / static_cast<double>(window.size() - 1);
  // A sample within 1.1 average intervals of an edge means the series covers the whole window
  // there: extrapolate to the edge. Otherwise it starts or ends inside: extrapolate half an
  // average interval.
  const double threshold = average_between_samples * 1.1;
  if (duration_to_start >= threshold) duration_to_start = average_between_samples / 2;
  // A counter cannot go below zero: do not extrapolate past the point where it would be zero.
  if (result > 0 && first.value >= 0) {
    const double duration_to_zero = sampled_interval * (first.value / result);
    if (duration_to_zero < duration_to_start) duration_to_start = duration_to_zero;
  }
  if (duration_to_end >= threshold) duration_to_end = average_between_samples / 2;
  double extrapolate_to = sampled_interval;
  extrapolate_to += duration_to_start;
  extrapolate_to += duration_to_end;
  double factor = extrapolate_to / sampled_interval;
  // Go's Duration.Seconds(): whole seconds plus the nanoseconds / 1e9, rounded the same way.
  if (is_rate) {
    factor /= static_cast<double>(range_ms / 1000) +
              static_cast<double>((range_ms % 1000) * 1'000'000) / 1e9;
  }
  return result * factor;
}

using Vectors = std::vector<SeriesPoints>;

// start_ms + i * step_ms for a step i that evaluate() allowed, so the result lies in
// [start_ms, end_ms]; the product alone may not fit an int64 (start near INT64_MIN, a step near
// INT64_MAX), so it is computed modulo 2^64, which gives the exact in-range result.
int64_t step_time_ms(int64_t start_ms, size_t i, int64_t step_ms) {
  return static_cast<int64_t>(static_cast<uint64_t>(start_ms) +
                              static_cast<uint64_t>(i) * static_cast<uint64_t>(step_ms));
}

class Evaluator {
 public:
  Evaluator(SeriesSource& source, int64_t start_ms, size_t step_count, int64_t step_ms,
            const QueryLimits& limits)
      : source_(source),
        start_ms_(start_ms),
        end_ms_(step_time_ms(start_ms, step_count - 1, step_ms)),
        step_count_(step_count),
        step_ms_(step_ms),
        limits_(limits) {}

  Result<Vectors> eval(const Expr& expr) {
    if (const auto* s = std::get_if<SelectorExpr>(&expr.node)) return eval_selector(*s);
    if (const auto* f = std::get_if<RangeFunctionExpr>(&expr.node)) return eval_range_function(*f);
    return eval_aggregate(std::get<AggregateExpr>(expr.node));
  }

  const QueryStats& stats() const { return stats_; }

 private:
  int64_t step_time(size_t i) const { return step_time_ms(start_ms_, i, step_ms_); }

  Status charge_points(size_t n) {
    stats_.points_computed += n;
    if (stats_.samples_loaded + stats_.points_computed > limits_.samples_max) {
      return exhausted_samples();
    }
    return Status::ok();
  }

  Status exhausted_samples() const {
    return Status::resource_exhausted(
        "query needs more than " + std::to_string(limits_.samples_max) +
        " samples and points, the limit per query: use a shorter range, a larger step "
        "or narrower matchers");
  }

  // The series matching matchers for a window of window_ms before each step.
  Result<std::vector<SourceSeries>> select(std::span<const Matcher> matchers, int64_t window_ms) {
    const size_t series_left = limits_.series_max - stats_.series_selected;
    auto selected =
        source_.select(matchers, saturating_sub(start_ms_, window_ms), end_ms_, series_left);
    if (!selected.is_ok()) return selected.status();
    if (selected->size() > series_left) {
      return Status::resource_exhausted("query selects more than " +
                                        std::to_string(limits_.series_max) +
                                        " series, the limit per query: use narrower matchers");
    }
    stats_.series_selected += selected->size();
    return selected;
  }

  // One selected series' samples in [start - window_ms, end]. Series are loaded one at a time,
  // so memory holds one series' samples plus the points computed so far.
  Result<std::vector<Sample>> load(const SourceSeries& series, int64_t window_ms) {
    const int64_t mint = saturating_sub(start_ms_, window_ms);
    const size_t used = stats_.samples_loaded + stats_.points_computed;
    const size_t samples_left = limits_.samples_max - std::min(used, limits_.samples_max);
    auto samples = source_.samples(series.ref, mint, end_ms_, samples_left);
    if (!samples.is_ok()) return samples;
    const std::vector<Sample>& loaded = *samples;
    if (loaded.size() > samples_left) return exhausted_samples();
    stats_.samples_loaded += loaded.size();
    for (size_t i = 0; i < loaded.size(); ++i) {
      const int64_t t = loaded[i].timestamp_ms;
      if (t < mint || t > end_ms_ || (i > 0 && t <= loaded[i - 1].timestamp_ms)) {
        return Status::internal("series source returned samples out of order or range for " +
                                series.labels.to_string());
      }
    }
    return samples;
  }

  Result<Vectors> eval_selector(const SelectorExpr& sel) {
    auto selected = select(sel.matchers, limits_.lookback_ms);
    if (!selected.is_ok()) return selected.status();
    Vectors out;
    for (SourceSeries& s : *selected) {
      auto loaded = load(s, limits_.lookback_ms);
      if (!loaded.is_ok()) return loaded.status();
      const std::vector<Sample>& samples = *loaded;
      SeriesPoints points{std::move(s.labels), {}};
      size_t upto = 0;  // samples with timestamp <= t
      for (size_t i = 0; i < step_count_; ++i) {
        const int64_t t = step_time(i);
        while (upto < samples.size() && samples[upto].timestamp_ms <= t) ++upto;
        if (upto == 0) continue;
        const Sample& latest = samples[upto - 1];
        if (latest.timestamp_ms < saturating_sub(t, limits_.lookback_ms)) continue;
        if (is_stale_marker(latest.value)) continue;
        points.points.push_back({t, latest.value});
      }
      MELD_RETURN_IF_ERROR(charge_points(points.points.size()));
      if (!points.points.empty()) out.push_back(std::move(points));
    }
    std::sort(out.begin(), out.end(),
              [](const SeriesPoints& a, const SeriesPoints& b) { return a.labels < b.labels; });
    return out;
  }

  Result<Vectors> eval_range_function(const RangeFunctionExpr& call) {
    auto selected = select(call.matchers, call.range_ms);
    if (!selected.is_ok()) return selected.status();
    Reduce reduce = Reduce::kSum;
    switch (call.function) {
      case RangeFunction::kMinOverTime:
        reduce = Reduce::kMin;
        break;
      case RangeFunction::kMaxOverTime:
        reduce = Reduce::kMax;
        break;
      case RangeFunction::kCountOverTime:
        reduce = Reduce::kCount;
        break;
      case RangeFunction::kAvgOverTime:
        reduce = Reduce::kAvg;
        break;
      case RangeFunction::kQuantileOverTime:
        reduce = Reduce::kQuantile;
        break;
      default:
        break;
    }
    const bool is_rate_family =
        call.function == RangeFunction::kRate || call.function == RangeFunction::kIncrease;
    Accumulator acc(reduce, call.parameter);
    Vectors out;
    for (const SourceSeries& s : *selected) {
      auto loaded = load(s, call.range_ms);
      if (!loaded.is_ok()) return loaded.status();
      std::vector<Sample>& samples = *loaded;
      std::erase_if(samples, [](const Sample& x) { return is_stale_marker(x.value); });
      SeriesPoints points{s.labels.without_metric_name(), {}};
      size_t lo = 0;  // first sample with timestamp >= t - range
      size_t hi = 0;  // first sample with timestamp > t
      for (size_t i = 0; i < step_count_; ++i) {
        const int64_t t = step_time(i);
        const int64_t range_start = saturating_sub(t, call.range_ms);
        while (hi < samples.size() && samples[hi].timestamp_ms <= t) ++hi;
        while (lo < hi && samples[lo].timestamp_ms < range_start) ++lo;
        const std::span<const Sample> window(samples.data() + lo, hi - lo);
        if (is_rate_family) {
          if (window.size() < 2) continue;
          points.points.push_back({t, extrapolated_rate(window, range_start, t, call.range_ms,
                                                        call.function == RangeFunction::kRate)});
          continue;
        }
        if (window.empty()) continue;
        acc.reset();
        acc.add_window(window);
        points.points.push_back({t, acc.result()});
      }
      MELD_RETURN_IF_ERROR(charge_points(points.points.size()));
      if (!points.points.empty()) out.push_back(std::move(points));
    }
    return merge_same_labels(std::move(out));
  }

  // Sorts by labels and joins series whose labels became equal when the metric name was dropped;
  // two values at the same step are Prometheus' "same labelset" error.
  static Result<Vectors> merge_same_labels(Vectors in) {
    std::stable_sort(in.begin(), in.end(), [](const SeriesPoints& a, const SeriesPoints& b) {
      return a.labels < b.labels;
    });
    Vectors out;
    for (SeriesPoints& s : in) {
      if (out.empty() || out.back().labels != s.labels) {
        out.push_back(std::move(s));
        continue;
      }
      std::vector<Sample>& into = out.back().points;
      std::vector<Sample> merged;
      merged.reserve(into.size() + s.points.size());
      size_t i = 0;
      size_t j = 0;
      while (i < into.size() || j < s.points.size()) {
        if (i < into.size() && j < s.points.size() &&
            into[i].timestamp_ms == s.points[j].timestamp_ms) {
          return Status::invalid_argument("vector cannot contain metrics with the same labelset " +
                                          s.labels.to_string() +
                                          " (a range function dropped the metric name)");
        }
        if (j == s.points.size() ||
            (i < into.size() && into[i].timestamp_ms < s.points[j].timestamp_ms)) {
          merged.push_back(into[i++]);
        } else {
          merged.push_back(s.points[j++]);
        }
      }
      into = std::move(merged);
    }
    return out;
  }

  Result<Vectors> eval_aggregate(const AggregateExpr& agg) {
    auto inner = eval(*agg.inner);
    if (!inner.is_ok()) return inner;
    // The group of every inner series; groups are numbered in label order.
    std::vector<Labels> keys;
    keys.reserve(inner->size());
    std::map<Labels, size_t> group_of_key;
    for (const SeriesPoints& s : *inner) {
      if (agg.without) {
        keys.push_back(s.labels.drop(agg.grouping));
      } else if (!agg.grouping.empty()) {
        keys.push_back(s.labels.keep_only(agg.grouping));
      } else {
        keys.emplace_back();
      }
      group_of_key.emplace(keys.back(), 0);
    }
    std::vector<SeriesPoints> out;
    out.reserve(group_of_key.size());
    for (auto& [key, index] : group_of_key) {
      index = out.size();
      out.push_back({key, {}});
    }
    std::vector<size_t> group_of_series;
    group_of_series.reserve(keys.size());
    for (const Labels& key : keys) group_of_series.push_back(group_of_key.at(key));
    std::vector<Accumulator> accs(out.size(), Accumulator(reduce_of(agg.op), agg.parameter));
    std::vector<size_t> cursor(inner->size(), 0);
    std::vector<size_t> touched;
    for (size_t i = 0; i < step_count_; ++i) {
      const int64_t t = step_time(i);
      touched.clear();
      for (size_t s = 0; s < inner->size(); ++s) {
        const std::vector<Sample>& points = (*inner)[s].points;
        if (cursor[s] == points.size() || points[cursor[s]].timestamp_ms != t) continue;
        Accumulator& acc = accs[group_of_series[s]];
        if (acc.count() == 0) touched.push_back(group_of_series[s]);
        acc.add(points[cursor[s]++].value);
      }
      for (const size_t g : touched) {
        out[g].points.push_back({t, accs[g].result()});
        accs[g].reset();
      }
      MELD_RETURN_IF_ERROR(charge_points(touched.size()));
    }
    std::erase_if(out, [](const SeriesPoints& s) { return s.points.empty(); });
    return out;
  }

  SeriesSource& source_;
  const int64_t start_ms_;
  const int64_t end_ms_;
  const size_t step_count_;
  const int64_t step_ms_;
  const QueryLimits& limits_;
  QueryStats stats_;
};

// Checks a window or lookback against the limits.
Status check_window(int64_t window_ms, const QueryLimits& limits) {
  if (window_ms > limits.range_ms_max) {
    return Status::invalid_argument("range " + std::to_string(window_ms) + " ms is longer than " +
                                    std::to_string(limits.range_ms_max) +
                                    " ms, the limit of a range or lookback window");
  }
  return Status::ok();
}

Status check_windows(const Expr& expr, const QueryLimits& limits) {
  if (const auto* f = std::get_if<RangeFunctionExpr>(&expr.node)) {
    return check_window(f->range_ms, limits);
  }
  if (const auto* a = std::get_if<AggregateExpr>(&expr.node)) {
    return check_windows(*a->inner, limits);
  }
  return Status::ok();
}

}  // namespace

bool is_stale_marker(double value) {
  return std::bit_cast<uint64_t>(value) == kStaleNaNBits;
}

Result<QueryResult> evaluate(const Expr& expr, SeriesSource& source, int64_t start_ms,
                             int64_t end_ms, int64_t step_ms, const QueryLimits& limits) {
  if (end_ms < start_ms) {
    return Status::invalid_argument("end " + std::to_string(end_ms) + " is before start " +
                                    std::to_string(start_ms));
  }
  if (step_ms <= 0) return Status::invalid_argument("step must be positive");
  if (limits.lookback_ms <= 0) return Status::invalid_argument("lookback must be positive");
  MELD_RETURN_IF_ERROR(check_window(limits.lookback_ms, limits));
  MELD_RETURN_IF_ERROR(check_windows(expr, limits));
  // end >= start, so the unsigned difference is exact.
  const uint64_t span_ms = static_cast<uint64_t>(end_ms) - static_cast<uint64_t>(start_ms);
  const uint64_t steps = span_ms / static_cast<uint64_t>(step_ms) + 1;
  if (steps > limits.steps_max) {
    return Status::invalid_argument("query has " + std::to_string(steps) + " steps, limit " +
                                    std::to_string(limits.steps_max) +
                                    " per query: use a larger step or a shorter range");
  }
  Evaluator evaluator(source, start_ms, static_cast<size_t>(steps), step_ms, limits);
  auto series = evaluator.eval(expr);
  if (!series.is_ok()) return series.status();
  return QueryResult{std::move(series).value(), evaluator.stats()};
}

Result<QueryResult> query_range(std::string_view query, SeriesSource& source, int64_t start_ms,
                                int64_t end_ms, int64_t step_ms, const QueryLimits& limits) {
  auto expr = parse_query(query);
  if (!expr.is_ok()) return expr.status();
  return evaluate(*expr, source, start_ms, end_ms, step_ms, limits);
}

Status MemorySeriesSource::add(Labels labels, std::vector<Sample> samples) {
  for (size_t i = 1; i < samples.size(); ++i) {
    MELD_ASSERT(samples[i - 1].timestamp_ms < samples[i].timestamp_ms,
                "samples are not strictly increasing");
  }
  if (!known_.insert(labels).second) {
    return Status::already_exists("series " + labels.to_string() + " added twice");
  }
  series_.push_back({std::move(labels), std::move(samples)});
  return Status::ok();
}

Result<std::vector<SourceSeries>> MemorySeriesSource::select(std::span<const Matcher> matchers,
                                                             int64_t mint_ms, int64_t maxt_ms,
                                                             size_t series_max) {
  std::vector<SourceSeries> out;
  for (size_t i = 0; i < series_.size() && out.size() <= series_max; ++i) {
    if (matches_all(matchers, series_[i].labels)) out.push_back({series_[i].labels, i});
  }
  return out;
}

Result<std::vector<Sample>> MemorySeriesSource::samples(uint64_t ref, int64_t mint_ms,
                                                        int64_t maxt_ms, size_t samples_max) {
  if (ref >= series_.size()) return Status::not_found("no series with ref " + std::to_string(ref));
  const std::vector<Sample>& all = series_[ref].samples;
  auto lo = std::lower_bound(all.begin(), all.end(), mint_ms,
                             [](const Sample& s, int64_t t) { return s.timestamp_ms < t; });
  auto hi = std::upper_bound(all.begin(), all.end(), maxt_ms,
                             [](int64_t t, const Sample& s) { return t < s.timestamp_ms; });
  if (hi < lo) hi = lo;
  // One past the limit tells the caller there is more; SIZE_MAX means no limit.
  const size_t wanted = samples_max == SIZE_MAX ? SIZE_MAX : samples_max + 1;
  const auto n = std::min<size_t>(static_cast<size_t>(hi - lo), wanted);
  return std::vector<Sample>(lo, lo + static_cast<std::ptrdiff_t>(n));
}

}  // namespace meld::ts
