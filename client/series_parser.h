// Text forms of series and samples, as meldctl takes them: Prometheus-style series selectors
// (`cpu_seconds{host="a",mode="idle"}`, `up`) and `TS=VALUE` sample tokens. Pure functions.
//
// Selector grammar (whitespace is allowed around the tokens inside the braces):
//   series  = metric [ "{" [ label { "," label } [ "," ] ] "}" ]
//           | "{" label { "," label } [ "," ] "}"            (with a __name__ label)
//   metric  = [a-zA-Z_:][a-zA-Z0-9_:]*
//   label   = name "=" '"' value '"'          name = [a-zA-Z_][a-zA-Z0-9_]*
//   value   = any bytes, with \" \\ \n as the only escapes
// Only exact matchers ("=") exist: a selector names one series. The metric name becomes the label
// "__name__"; every series must have one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "client/client.h"

namespace meld::client {

// The labels of the series text names, sorted by name, each name once. On bad input,
// invalid_argument("column N: ...") with the 1-based byte column where the problem starts.
Result<std::vector<Label>> parse_series(std::string_view text);

struct SeriesPrefix {
  std::vector<Label> labels;  // as parse_series returns them
  size_t length = 0;          // bytes of text the selector took
};
// Like parse_series for a selector at the start of text that ends at the end of text or at a
// space or tab (which may follow a complete selector only).
Result<SeriesPrefix> parse_series_prefix(std::string_view text);

// The selector text for labels: the inverse of parse_series for the labels it returns.
std::string format_series(const std::vector<Label>& labels);

// A timestamp in milliseconds: an optionally signed decimal integer that fits in int64.
// invalid_argument naming the text otherwise (e.g. for "1.5", "NaN" or "").
Result<int64_t> parse_timestamp_ms(std::string_view text);

// A float64 sample value: a decimal or exponent form with an optional sign, or NaN, Inf, +Inf,
// -Inf (any case). invalid_argument naming the text otherwise.
Result<double> parse_sample_value(std::string_view text);

// "NaN", "+Inf", "-Inf", or the shortest decimal form that parses back to the same value.
std::string format_sample_value(double value);

// A `TS=VALUE` token. invalid_argument("sample 'TOKEN': ...") when it is malformed.
Result<Sample> parse_sample_token(std::string_view token);

}  // namespace meld::client
