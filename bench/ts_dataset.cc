#include "bench/ts_dataset.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>

namespace meld::bench {
namespace {

constexpr size_t kReadChunkBytes = size_t{1} << 20;

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

}  // namespace

Status for_each_export_series(const std::string& path,
                              const std::function<Status(const ts::ExportSeries&)>& on_series) {
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  if (!file) return Status::io_error("cannot open " + path);
  std::string buffer(kReadChunkBytes, '\0');
  size_t got = std::fread(buffer.data(), 1, buffer.size(), file.get());
  const bool zstd = got >= 4 && std::memcmp(buffer.data(), "\x28\xb5\x2f\xfd", 4) == 0;
  ts::ExportLimits limits;
  ts::ExportLineSplitter splitter(zstd, limits.line_bytes_max);
  ts::ExportSeries series;
  const auto on_line = [&](std::string_view line) -> Status {
    MELD_RETURN_IF_ERROR(ts::parse_export_line(line, &series, limits));
    return on_series(series);
  };
  while (got > 0) {
    MELD_RETURN_IF_ERROR(splitter.feed(std::string_view(buffer.data(), got), on_line));
    got = std::fread(buffer.data(), 1, buffer.size(), file.get());
  }
  if (std::ferror(file.get())) return Status::io_error("read error on " + path);
  return splitter.finish(on_line);
}

Result<Dataset> load_dataset(const std::string& path) {
  Dataset d;
  Status s = for_each_export_series(path, [&d](const ts::ExportSeries& series) -> Status {
    if (series.samples.empty()) return Status::ok();
    for (size_t i = 1; i < series.samples.size(); ++i) {
      if (series.samples[i].timestamp_ms <= series.samples[i - 1].timestamp_ms) {
        return Status::invalid_argument("series " + series.display_name() +
                                        ": timestamps not strictly increasing");
      }
    }
    d.labels.push_back(series.labels);
    d.samples.push_back(series.samples);
    d.sample_count += series.samples.size();
    d.min_ms = std::min(d.min_ms, series.samples.front().timestamp_ms);
    d.max_ms = std::max(d.max_ms, series.samples.back().timestamp_ms);
    return Status::ok();
  });
  MELD_RETURN_IF_ERROR(s);
  if (d.sample_count == 0) return Status::invalid_argument(path + ": no samples");
  return d;
}

std::vector<std::vector<Batch>> plan_batches(const Dataset& d, const BatchPlan& o) {
  std::vector<std::vector<Batch>> plan(o.clients);
  std::vector<size_t> cursor(d.samples.size(), 0);
  // Each window starts at the earliest sample not sent yet (so gaps in the data cost nothing)
  // and holds the samples less than window_ms after it.
  for (;;) {
    std::optional<int64_t> start;
    for (size_t i = 0; i < d.samples.size(); ++i) {
      if (cursor[i] == d.samples[i].size()) continue;
      const int64_t t = d.samples[i][cursor[i]].timestamp_ms;
      if (!start || t < *start) start = t;
    }
    if (!start) break;
    const auto in_window = [&](int64_t t) {
      // t >= *start; unsigned arithmetic gives the true distance for any two int64 values.
      return static_cast<uint64_t>(t) - static_cast<uint64_t>(*start) <
             static_cast<uint64_t>(o.window_ms);
    };
    for (size_t c = 0; c < o.clients; ++c) {
      Batch batch;
      const auto close_batch = [&] {
        if (batch.samples > 0) plan[c].push_back(std::move(batch));
        batch = Batch{};
      };
      for (size_t i = c; i < d.samples.size(); i += o.clients) {
        const std::vector<ts::Sample>& samples = d.samples[i];
        size_t end = cursor[i];
        while (end < samples.size() && in_window(samples[end].timestamp_ms)) ++end;
        while (cursor[i] < end) {
          if (batch.samples == o.batch_samples || batch.slices.size() == o.batch_series_max) {
            close_batch();
          }
          const size_t take = std::min(end - cursor[i], o.batch_samples - batch.samples);
          batch.slices.push_back(
              SeriesSlice{&d.labels[i], std::span(samples.data() + cursor[i], take)});
          batch.samples += take;
          cursor[i] += take;
        }
      }
      close_batch();
    }
  }
  return plan;
}

}  // namespace meld::bench
