// VictoriaMetrics' JSON-lines export format (what /api/v1/export writes and /api/v1/import
// reads): one series per line,
//   {"metric":{"__name__":"m","label":"value",...},"values":[1,2.5,...],"timestamps":[ms,...]}
// Values are JSON numbers, or the strings "NaN", "Inf", "+Inf" and "-Inf". Numbers are parsed
// correctly rounded (std::from_chars), so each float is exactly what its decimal text means.
// Pure: the caller reads the bytes and feeds them in.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"
#include "timeseries/sample.h"

typedef struct ZSTD_DCtx_s ZSTD_DCtx;

namespace meld::ts {

struct ExportLimits {
  size_t line_bytes_max = size_t{256} << 20;
  size_t labels_max = 128;
  size_t label_bytes_max = 4096;  // per name and per value, after unescaping
  size_t samples_max = size_t{1} << 24;
};

struct ExportSeries {
  std::vector<std::pair<std::string, std::string>> labels;  // in file order, __name__ included
  std::vector<Sample> samples;                              // in file order

  // `name{label="value",...}`, for messages.
  std::string display_name() const;
};

// Parses one line. Errors (invalid_argument, naming the byte offset): not the format above,
// unknown or repeated keys, a missing key, values and timestamps of different lengths, a number
// that does not parse or a timestamp that is not an int64, or a limit passed.
// On error *series is unspecified.
Status parse_export_line(std::string_view line, ExportSeries* series,
                         const ExportLimits& limits = {});

// Appends one line (with its '\n') for `series`. Values are written as the shortest decimal that
// parses back to the same double; NaN (any payload) as "NaN", infinities as "+Inf" and "-Inf".
void append_export_line(const ExportSeries& series, std::string* out);

// Cuts a byte stream, plain or zstd-compressed (any number of frames), into lines.
class ExportLineSplitter {
 public:
  using LineFn = std::function<Status(std::string_view line)>;

  ExportLineSplitter(bool zstd_compressed, size_t line_bytes_max);
  ~ExportLineSplitter();
  ExportLineSplitter(const ExportLineSplitter&) = delete;
  ExportLineSplitter& operator=(const ExportLineSplitter&) = delete;

  // Consumes `input` and calls on_line for every complete non-empty line (without the '\n'); the
  // first non-ok status from on_line is returned at once. Errors: corruption for bad zstd data,
  // resource_exhausted for a line longer than line_bytes_max.
  Status feed(std::string_view input, const LineFn& on_line);
  // After the last feed: delivers a final line that lacks its '\n'. Errors: corruption if the
  // zstd stream ends inside a frame.
  Status finish(const LineFn& on_line);

 private:
  Status take_lines(const LineFn& on_line);

  ZSTD_DCtx* dctx_ = nullptr;  // null for plain input
  size_t line_bytes_max_;
  std::string pending_;
  size_t frame_remaining_hint_ = 0;  // last ZSTD_decompressStream result: 0 at a frame boundary
};

}  // namespace meld::ts
