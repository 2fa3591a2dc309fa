// The pure parts of the side-by-side time-series harness (meld-bench ts-compare): what it sends
// to Prometheus' remote-write receiver, how it reads the Prometheus HTTP API's query answers
// (which VictoriaMetrics speaks too), and how it compares two stores' answers. No I/O, no
// processes; built into a small library so tests/bench can check it without any peer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"
#include "timeseries/sample.h"

namespace meld::bench {

using LabelPairs = std::vector<std::pair<std::string, std::string>>;

// One series' samples for one request: its labels (any order; __name__ included) and a run of
// its samples.
struct SeriesSlice {
  const LabelPairs* labels = nullptr;
  std::span<const ts::Sample> samples;
};

// Appends the protobuf encoding of a Prometheus remote-write 1.0 WriteRequest (prompb:
// WriteRequest.timeseries = 1; TimeSeries.labels = 1, .samples = 2; Label.name = 1, .value = 2;
// Sample.value = 1 (double), .timestamp = 2 (int64 varint)) carrying `slices`, with each
// series' labels sorted by name as the protocol requires. Hand-encoded: four tiny messages do
// not justify protoc-generated code and a libprotobuf dependency. No limits are checked here.
void append_remote_write(std::span<const SeriesSlice> slices, std::string* out);

// Snappy block format (what remote write's "Content-Encoding: snappy" means; not the framed
// format).
std::string snappy_compress(std::string_view raw);

// A label set as one canonical string, `{a="x",b="y"}`: sorted by name, values JSON-quoted (so a
// quote inside a value cannot end it). Equal label sets give equal strings whatever their order.
std::string canonical_label_string(LabelPairs labels);

// One series of a query answer: its labels as canonical_label_string (__name__ included when the
// store returned it) and its points in the answer's order.
struct ResultSeries {
  std::string labels;
  std::vector<ts::Sample> points;
};

// Limits on an answer parsed from a store (untrusted input).
struct AnswerLimits {
  size_t series_max = 1'000'000;
  size_t points_max = 100'000'000;  // all series together
};

// Parses a Prometheus HTTP API answer of /api/v1/query or /api/v1/query_range: "matrix",
// "vector" or "scalar" results (a scalar becomes one series with labels "{}"). Timestamps, given
// in seconds with a fraction, are rounded to milliseconds. Values are decimal strings, "NaN",
// "+Inf" or "-Inf". Series come back sorted by labels. Errors: invalid_argument for anything that
// is not such an answer (the message names what was wrong), the store's own message when its
// status is "error", resource_exhausted past `limits`.
Result<std::vector<ResultSeries>> parse_query_answer(std::string_view json,
                                                     const AnswerLimits& limits = {});

// How a store's answer differs from a reference answer to the same query.
struct Comparison {
  size_t series_reference = 0;
  size_t series_other = 0;
  size_t series_only_reference = 0;  // label sets missing from the other answer
  size_t series_only_other = 0;      // label sets the reference does not have
  size_t points_compared = 0;        // timestamps present in both, in series present in both
  size_t points_only_reference = 0;
  size_t points_only_other = 0;
  size_t values_differ = 0;      // compared points outside the tolerance
  double max_relative_diff = 0;  // over compared points, |a-b| / max(|a|,|b|); 0 when equal
  std::string first_difference;  // a human-readable example, empty when none

  bool agrees() const {
    return series_only_reference == 0 && series_only_other == 0 && points_only_reference == 0 &&
           points_only_other == 0 && values_differ == 0;
  }
};

// Compares two answers (each sorted by labels, as parse_query_answer returns them). Two values
// agree when both are NaN, or equal (infinities included), or |a-b| <= abs_tolerance +
// rel_tolerance * max(|a|,|b|).
Comparison compare_answers(const std::vector<ResultSeries>& reference,
                           const std::vector<ResultSeries>& other, double rel_tolerance,
                           double abs_tolerance);

// The answer with __name__ removed from every label set (sorted again), for telling a store that
// keeps metric names where PromQL drops them (VictoriaMetrics' *_over_time) from one whose values
// differ. Labels must be in parse_query_answer's canonical form.
std::vector<ResultSeries> without_metric_name(std::vector<ResultSeries> answer);

// One line for a report: "agree" or e.g. "DIFFER series 10/12 only_ref=2 ... (first: ...)".
std::string describe(const Comparison& c);

// Bounds of one count query (see count_queries): under MeldDB's per-query limits
// (maxQuerySeries, maxQueryExprBytes in schemas/api.capnp) with room to spare.
struct CountQueryLimits {
  size_t series_max = 5000;
  size_t expr_bytes_max = 8192;
};

// The queries that count a data set's samples through the Prometheus query API, each answering
// one number: sum(count_over_time(SELECTOR[span_ms ms])), at the data set's last timestamp,
// with span_ms covering all its samples. One query per metric name (count_over_time drops the
// name, so one query over all names would make series collide). A metric with more series than
// limits.series_max is counted in parts: its series are split by the values of the label that
// splits them finest, `label=~"v1|v2|..."` per part (values regex-quoted) and `label=""` for its
// series without that label, so that every series is selected by exactly one query and no query
// passes the limits. invalid_argument, naming the metric, when no label splits it that finely.
Result<std::vector<std::string>> count_queries(std::span<const LabelPairs> series, int64_t span_ms,
                                               const CountQueryLimits& limits = {});

}  // namespace meld::bench
