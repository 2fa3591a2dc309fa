#include "bench/ts_wire.h"

#include <snappy.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "base/varint.h"
#include "timeseries/matcher.h"

namespace meld::bench {
namespace {

// Wire tags: (field << 3) | wire type (0 varint, 1 fixed64, 2 length-delimited).
constexpr char kTag1Len = 0x0a;
constexpr char kTag2Len = 0x12;
constexpr char kTag1Fixed64 = 0x09;
constexpr char kTag2Varint = 0x10;

size_t len_field_size(size_t payload) {
  return 1 + varint_bytes(payload) + payload;
}

void put_len_field(char tag, std::string_view payload, std::string* out) {
  out->push_back(tag);
  put_varint(payload.size(), out);
  out->append(payload);
}

size_t label_size(const std::pair<std::string, std::string>& label) {
  return len_field_size(label.first.size()) + len_field_size(label.second.size());
}

size_t sample_size(const ts::Sample& s) {
  return 1 + 8 + 1 + varint_bytes(static_cast<uint64_t>(s.timestamp_ms));
}

void put_sample(const ts::Sample& s, std::string* out) {
  out->push_back(kTag2Len);
  put_varint(sample_size(s), out);
  out->push_back(kTag1Fixed64);
  const uint64_t bits = std::bit_cast<uint64_t>(s.value);
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>(bits >> (8 * i)));
  out->push_back(kTag2Varint);
  put_varint(static_cast<uint64_t>(s.timestamp_ms), out);
}

Result<double> parse_value(const nlohmann::json& v) {
  if (!v.is_string()) return Status::invalid_argument("sample value is not a string");
  const std::string& text = v.get_ref<const std::string&>();
  if (text == "NaN") return std::numeric_limits<double>::quiet_NaN();
  if (text == "+Inf" || text == "Inf") return std::numeric_limits<double>::infinity();
  if (text == "-Inf") return -std::numeric_limits<double>::infinity();
  double out = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return Status::invalid_argument("sample value '" + text + "' is not a number");
  }
  return out;
}

Result<ts::Sample> parse_point(const nlohmann::json& p) {
  if (!p.is_array() || p.size() != 2 || !p[0].is_number()) {
    return Status::invalid_argument("a point is not [seconds, \"value\"]");
  }
  const double seconds = p[0].get<double>();
  if (!std::isfinite(seconds) || std::fabs(seconds) > 9.2e15) {
    return Status::invalid_argument("point timestamp out of range");
  }
  auto value = parse_value(p[1]);
  MELD_RETURN_IF_ERROR(value.status());
  return ts::Sample{std::llround(seconds * 1000), *value};
}

Result<std::string> canonical_labels(const nlohmann::json& metric) {
  if (!metric.is_object()) return Status::invalid_argument("\"metric\" is not an object");
  LabelPairs labels;
  for (const auto& [name, value] : metric.items()) {
    if (!value.is_string()) return Status::invalid_argument("label " + name + " is not a string");
    labels.emplace_back(name, value.get<std::string>());
  }
  return canonical_label_string(std::move(labels));
}

bool values_agree(double a, double b, double rel_tolerance, double abs_tolerance) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  if (a == b) return true;
  return std::fabs(a - b) <= abs_tolerance + rel_tolerance * std::max(std::fabs(a), std::fabs(b));
}

std::string format_point(const std::string& labels, const ts::Sample& s) {
  char value[32];
  std::snprintf(value, sizeof value, "%.17g", s.value);
  return labels + " @" + std::to_string(s.timestamp_ms) + " = " + value;
}

}  // namespace

std::string canonical_label_string(LabelPairs labels) {
  std::sort(labels.begin(), labels.end());
  std::string out = "{";
  for (const auto& [name, value] : labels) {
    if (out.size() > 1) out += ',';
    out += name + "=" + nlohmann::json(value).dump();
  }
  return out + "}";
}

void append_remote_write(std::span<const SeriesSlice> slices, std::string* out) {
  LabelPairs sorted;
  for (const SeriesSlice& slice : slices) {
    sorted = *slice.labels;
    std::sort(sorted.begin(), sorted.end());
    size_t series_bytes = 0;
    for (const auto& label : sorted) series_bytes += len_field_size(label_size(label));
    for (const ts::Sample& s : slice.samples) series_bytes += len_field_size(sample_size(s));
    out->push_back(kTag1Len);
    put_varint(series_bytes, out);
    for (const auto& label : sorted) {
      out->push_back(kTag1Len);
      put_varint(label_size(label), out);
      put_len_field(kTag1Len, label.first, out);
      put_len_field(kTag2Len, label.second, out);
    }
    for (const ts::Sample& s : slice.samples) put_sample(s, out);
  }
}

std::string snappy_compress(std::string_view raw) {
  std::string out;
  snappy::Compress(raw.data(), raw.size(), &out);
  return out;
}

Result<std::vector<ResultSeries>> parse_query_answer(std::string_view json,
                                                     const AnswerLimits& limits) {
  const nlohmann::json doc = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Status::invalid_argument("answer is not a JSON object");
  }
  const auto status = doc.find("status");
  if (status == doc.end() || !status->is_string()) {
    return Status::invalid_argument("answer has no \"status\"");
  }
  if (*status != "success") {
    const auto error = doc.find("error");
    return Status::invalid_argument(
        "store answered an error: " +
        (error != doc.end() && error->is_string() ? error->get<std::string>() : status->dump()));
  }
  const auto data = doc.find("data");
  if (data == doc.end() || !data->is_object() || !data->contains("resultType") ||
      !data->contains("result") || !(*data)["resultType"].is_string()) {
    return Status::invalid_argument("answer has no data.resultType and data.result");
  }
  const std::string type = (*data)["resultType"].get<std::string>();
  const nlohmann::json& result = (*data)["result"];
  std::vector<ResultSeries> out;
  if (type == "scalar") {
    auto point = parse_point(result);
    MELD_RETURN_IF_ERROR(point.status());
    out.push_back(ResultSeries{"{}", {*point}});
    return out;
  }
  if ((type != "matrix" && type != "vector") || !result.is_array()) {
    return Status::invalid_argument("unsupported result type " + type);
  }
  if (result.size() > limits.series_max) {
    return Status::resource_exhausted("answer has " + std::to_string(result.size()) +
                                      " series, limit " + std::to_string(limits.series_max));
  }
  size_t points = 0;
  for (const nlohmann::json& item : result) {
    if (!item.is_object() || !item.contains("metric")) {
      return Status::invalid_argument("a result item has no \"metric\"");
    }
    ResultSeries series;
    auto labels = canonical_labels(item["metric"]);
    MELD_RETURN_IF_ERROR(labels.status());
    series.labels = std::move(*labels);
    if (type == "vector") {
      if (!item.contains("value")) return Status::invalid_argument("vector item has no value");
      auto point = parse_point(item["value"]);
      MELD_RETURN_IF_ERROR(point.status());
      series.points.push_back(*point);
    } else {
      if (!item.contains("values") || !item["values"].is_array()) {
        return Status::invalid_argument("matrix item has no values");
      }
      for (const nlohmann::json& p : item["values"]) {
        auto point = parse_point(p);
        MELD_RETURN_IF_ERROR(point.status());
        series.points.push_back(*point);
      }
    }
    points += series.points.size();
    if (points > limits.points_max) {
      return Status::resource_exhausted("answer has more than " +
                                        std::to_string(limits.points_max) + " points");
    }
    out.push_back(std::move(series));
  }
  std::sort(out.begin(), out.end(),
            [](const ResultSeries& a, const ResultSeries& b) { return a.labels < b.labels; });
  return out;
}

Comparison compare_answers(const std::vector<ResultSeries>& reference,
                           const std::vector<ResultSeries>& other, double rel_tolerance,
                           double abs_tolerance) {
  Comparison c;
  c.series_reference = reference.size();
  c.series_other = other.size();
  const auto note = [&c](std::string text) {
    if (c.first_difference.empty()) c.first_difference = std::move(text);
  };
  size_t i = 0;
  size_t j = 0;
  while (i < reference.size() || j < other.size()) {
    if (j == other.size() || (i < reference.size() && reference[i].labels < other[j].labels)) {
      note("series only in reference: " + reference[i].labels);
      ++c.series_only_reference;
      ++i;
      continue;
    }
    if (i == reference.size() || other[j].labels < reference[i].labels) {
      note("series only in other: " + other[j].labels);
      ++c.series_only_other;
      ++j;
      continue;
    }
    const ResultSeries& a = reference[i++];
    const ResultSeries& b = other[j++];
    size_t p = 0;
    size_t q = 0;
    while (p < a.points.size() || q < b.points.size()) {
      if (q == b.points.size() ||
          (p < a.points.size() && a.points[p].timestamp_ms < b.points[q].timestamp_ms)) {
        note("point only in reference: " + format_point(a.labels, a.points[p]));
        ++c.points_only_reference;
        ++p;
        continue;
      }
      if (p == a.points.size() || b.points[q].timestamp_ms < a.points[p].timestamp_ms) {
        note("point only in other: " + format_point(b.labels, b.points[q]));
        ++c.points_only_other;
        ++q;
        continue;
      }
      const double x = a.points[p].value;
      const double y = b.points[q].value;
      ++c.points_compared;
      if (!values_agree(x, y, rel_tolerance, abs_tolerance)) {
        ++c.values_differ;
        note("value differs: reference " + format_point(a.labels, a.points[p]) + ", other " +
             format_point(b.labels, b.points[q]));
      }
      if (std::isfinite(x) && std::isfinite(y) && x != y) {
        c.max_relative_diff =
            std::max(c.max_relative_diff, std::fabs(x - y) / std::max(std::fabs(x), std::fabs(y)));
      }
      ++p;
      ++q;
    }
  }
  return c;
}

std::vector<ResultSeries> without_metric_name(std::vector<ResultSeries> answer) {
  for (ResultSeries& series : answer) {
    // Values are JSON-quoted, so `__name__="` after '{' or ',' is the label itself, and a metric
    // name (Prometheus' rules: [a-zA-Z_:][a-zA-Z0-9_:]*) ends at the next quote.
    size_t at = series.labels.find("{__name__=\"");
    if (at != 0) at = series.labels.find(",__name__=\"");
    if (at == std::string::npos) continue;
    const size_t end = series.labels.find('"', at + 11);
    if (end == std::string::npos) continue;
    if (at == 0) {
      const bool comma = end + 1 < series.labels.size() && series.labels[end + 1] == ',';
      series.labels.erase(1, end + (comma ? 1 : 0));
    } else {
      series.labels.erase(at, end + 1 - at);
    }
  }
  std::sort(answer.begin(), answer.end(),
            [](const ResultSeries& a, const ResultSeries& b) { return a.labels < b.labels; });
  return answer;
}

std::string describe(const Comparison& c) {
  char max_rel[32];
  std::snprintf(max_rel, sizeof max_rel, "%.3g", c.max_relative_diff);
  std::string counts = "series " + std::to_string(c.series_other) + "/" +
                       std::to_string(c.series_reference) + " points_compared " +
                       std::to_string(c.points_compared) + " max_rel_diff " + max_rel;
  if (c.agrees()) return "agree (" + counts + ")";
  return "DIFFER (" + counts + " only_ref_series " + std::to_string(c.series_only_reference) +
         " only_other_series " + std::to_string(c.series_only_other) + " only_ref_points " +
         std::to_string(c.points_only_reference) + " only_other_points " +
         std::to_string(c.points_only_other) + " values_differ " + std::to_string(c.values_differ) +
         "; first: " + c.first_difference + ")";
}

namespace {

// s as an RE2 pattern that matches exactly s: its metacharacters escaped with a backslash (as
// the query engine's literal alternatives read them), NUL as \x00, every other byte as is.
std::string regex_quote(std::string_view s) {
  static constexpr std::string_view kMeta = ".^$*+?()[]{}|\\";
  std::string out;
  for (const char c : s) {
    if (c == '\0') {
      out += "\\x00";
      continue;
    }
    if (kMeta.find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

// The count queries of one metric's series split by label: `label=""` for those without it, and
// values packed into `label=~"v1|v2|..."` parts within the limits. Empty when a part cannot fit.
std::vector<std::string> split_count_queries(std::span<const LabelPairs* const> members,
                                             const std::string& selector, const std::string& label,
                                             const std::string& window,
                                             const CountQueryLimits& limits) {
  std::map<std::string, size_t> counts;  // value -> series
  size_t with = 0;
  for (const LabelPairs* labels : members) {
    for (const auto& [name, value] : *labels) {
      if (name == label) {
        ++counts[value];
        ++with;
      }
    }
  }
  std::vector<std::string> queries;
  if (members.size() - with > limits.series_max) return {};
  if (with < members.size()) {
    queries.push_back("sum(count_over_time(" + selector + "," + label + "=\"\"}" + window);
  }
  const auto query_of = [&](const std::string& regex) {
    return "sum(count_over_time(" + selector + "," + label + "=~" + ts::quote_promql_string(regex) +
           "}" + window;
  };
  // A part's query size without building it: PromQL quoting escapes byte by byte, so the quoted
  // alternation is the sum of its quoted values and one byte per '|'.
  const size_t fixed_bytes = query_of("").size();
  std::string regex;
  size_t regex_bytes = 0;  // quoted for PromQL, without the quotes
  size_t part_series = 0;
  for (const auto& [value, n] : counts) {
    if (n > limits.series_max) return {};
    const std::string quoted = regex_quote(value);
    const size_t quoted_bytes = ts::quote_promql_string(quoted).size() - 2;
    if (fixed_bytes + quoted_bytes > limits.expr_bytes_max) return {};
    if (!regex.empty() && (part_series + n > limits.series_max ||
                           fixed_bytes + regex_bytes + 1 + quoted_bytes > limits.expr_bytes_max)) {
      queries.push_back(query_of(regex));
      regex.clear();
      regex_bytes = 0;
      part_series = 0;
    }
    if (!regex.empty()) {
      regex += '|';
      ++regex_bytes;
    }
    regex += quoted;
    regex_bytes += quoted_bytes;
    part_series += n;
  }
  if (!regex.empty()) queries.push_back(query_of(regex));
  return queries;
}

}  // namespace

Result<std::vector<std::string>> count_queries(std::span<const LabelPairs> series, int64_t span_ms,
                                               const CountQueryLimits& limits) {
  // Metric name -> its series.
  std::map<std::string, std::vector<const LabelPairs*>> metrics;
  for (const LabelPairs& labels : series) {
    for (const auto& [name, value] : labels) {
      if (name == "__name__") metrics[value].push_back(&labels);
    }
  }
  const std::string window = "[" + std::to_string(span_ms) + "ms]))";
  std::vector<std::string> queries;
  for (const auto& [metric, members] : metrics) {
    const std::string selector = "{__name__=" + ts::quote_promql_string(metric);
    if (members.size() <= limits.series_max) {
      queries.push_back("sum(count_over_time(" + selector + "}" + window);
      continue;
    }
    // Of the splits by one label, the one with the fewest queries.
    std::set<std::string> names;
    for (const LabelPairs* labels : members) {
      for (const auto& [name, value] : *labels) {
        if (name != "__name__") names.insert(name);
      }
    }
    std::vector<std::string> best;
    for (const std::string& name : names) {
      std::vector<std::string> split = split_count_queries(members, selector, name, window, limits);
      if (!split.empty() && (best.empty() || split.size() < best.size())) best = std::move(split);
    }
    if (best.empty()) {
      return Status::invalid_argument(
          "cannot count metric " + metric + " (" + std::to_string(members.size()) +
          " series) in queries of at most " + std::to_string(limits.series_max) + " series and " +
          std::to_string(limits.expr_bytes_max) + " bytes: no label splits its series that finely");
    }
    queries.insert(queries.end(), best.begin(), best.end());
  }
  return queries;
}

}  // namespace meld::bench
