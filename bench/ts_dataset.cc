#include "bench/ts_dataset.h"

#include <cstdio>
#include <cstring>
#include <memory>

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

}  // namespace meld::bench
