// Reading data sets in VictoriaMetrics' JSON-lines export format (timeseries/vm_export.h) from a
// file, plain or zstd-compressed (recognised by the zstd magic bytes), for the ts-* benchmarks,
// and cutting them into the write requests the ingest benchmarks send.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/status.h"
#include "bench/ts_wire.h"
#include "schemas/api.capnp.h"
#include "timeseries/vm_export.h"

namespace meld::bench {

// Streams the series of the file at path to on_series, in file order; stops at the first error
// (io_error for the file, the parser's errors, or on_series' own).
Status for_each_export_series(const std::string& path,
                              const std::function<Status(const ts::ExportSeries&)>& on_series);

// A whole data set in memory: series i has labels[i] and samples[i] (strictly increasing times).
struct Dataset {
  std::vector<LabelPairs> labels;
  std::vector<std::vector<ts::Sample>> samples;
  uint64_t sample_count = 0;
  int64_t min_ms = INT64_MAX;
  int64_t max_ms = INT64_MIN;
};

// Loads the file at path; invalid_argument if it has no samples or a series' timestamps are not
// strictly increasing, and for_each_export_series' errors.
Result<Dataset> load_dataset(const std::string& path);

// One write request: runs of samples of distinct series.
struct Batch {
  std::vector<SeriesSlice> slices;
  size_t samples = 0;
};

struct BatchPlan {
  size_t clients = 4;
  size_t batch_samples = 10'000;
  int64_t window_ms = 60'000;
  size_t batch_series_max = api::MAX_SERIES_PER_WRITE;  // what one MeldDB write may carry
};

// plan[c] is connection c's batches in sending order. Series i goes to connection
// i % clients, so each series arrives in time order. Window by window (each starts at the
// earliest sample not planned yet, so gaps in the data cost nothing, and holds the samples less
// than window_ms after it), each connection's samples of the window are cut into batches of at
// most batch_samples samples and batch_series_max series. The slices point into d.
std::vector<std::vector<Batch>> plan_batches(const Dataset& d, const BatchPlan& o);

}  // namespace meld::bench
