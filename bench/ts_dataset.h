// Reading data sets in VictoriaMetrics' JSON-lines export format (timeseries/vm_export.h) from a
// file, plain or zstd-compressed (recognised by the zstd magic bytes), for the ts-* benchmarks.
#pragma once

#include <functional>
#include <string>

#include "base/status.h"
#include "timeseries/vm_export.h"

namespace meld::bench {

// Streams the series of the file at path to on_series, in file order; stops at the first error
// (io_error for the file, the parser's errors, or on_series' own).
Status for_each_export_series(const std::string& path,
                              const std::function<Status(const ts::ExportSeries&)>& on_series);

}  // namespace meld::bench
