#include "timeseries/vm_export.h"

#include <gtest/gtest.h>
#include <zstd.h>

#include <bit>
#include <cmath>
#include <cstdio>
#include <limits>

#include "tests/timeseries/series_helpers.h"
#include "timeseries/gorilla.h"
#include "timeseries/sealed_block.h"

namespace meld::ts {
namespace {

TEST(VmExport, ParsesAnExportLine) {
  ExportSeries s;
  ASSERT_TRUE(parse_export_line(R"({"metric":{"__name__":"up","job":"node"},)"
                                R"("values":[1,0.5,-2e-3],"timestamps":[10,20,-30]})",
                                &s)
                  .is_ok());
  ASSERT_EQ(s.labels.size(), 2u);
  EXPECT_EQ(s.labels[0].second, "up");
  EXPECT_EQ(s.display_name(), "up{job=\"node\"}");
  expect_identical({{10, 1}, {20, 0.5}, {-30, -0.002}}, s.samples);
}

TEST(VmExport, ParsesNumbersExactlyAsStrtod) {
  ExportSeries s;
  ASSERT_TRUE(parse_export_line(R"({"metric":{},"values":[0.1,1.1461e-05,3.5428699999999997],)"
                                R"("timestamps":[1,2,3]})",
                                &s)
                  .is_ok());
  EXPECT_EQ(std::bit_cast<uint64_t>(s.samples[0].value), std::bit_cast<uint64_t>(0.1));
  EXPECT_EQ(std::bit_cast<uint64_t>(s.samples[1].value), std::bit_cast<uint64_t>(1.1461e-05));
  EXPECT_EQ(std::bit_cast<uint64_t>(s.samples[2].value),
            std::bit_cast<uint64_t>(3.5428699999999997));
}

TEST(VmExport, ParsesNanAndInfinityStrings) {
  ExportSeries s;
  ASSERT_TRUE(parse_export_line(R"({"values":["NaN","+Inf","-Inf","Inf"],"timestamps":[1,2,3,4],)"
                                R"("metric":{"a\"\\\u00e9":"\ud83d\ude00"}})",
                                &s)
                  .is_ok());
  EXPECT_TRUE(std::isnan(s.samples[0].value));
  EXPECT_EQ(s.samples[1].value, std::numeric_limits<double>::infinity());
  EXPECT_EQ(s.samples[2].value, -std::numeric_limits<double>::infinity());
  EXPECT_EQ(s.samples[3].value, std::numeric_limits<double>::infinity());
  EXPECT_EQ(s.labels[0].first, "a\"\\\xc3\xa9");
  EXPECT_EQ(s.labels[0].second, "\xf0\x9f\x98\x80");
}

TEST(VmExport, RejectsMalformedLines) {
  ExportSeries s;
  for (const char* bad : {
           "",
           "{}",
           R"({"metric":{},"values":[1],"timestamps":[]})",
           R"({"metric":{},"values":[1],"timestamps":[1],"extra":1})",
           R"({"metric":{},"values":[1],"values":[1],"timestamps":[1]})",
           R"({"metric":{},"values":[1x],"timestamps":[1]})",
           R"({"metric":{},"values":["nan"],"timestamps":[1]})",
           R"({"metric":{},"values":[1],"timestamps":[1.5]})",
           R"({"metric":{},"values":[1],"timestamps":[99999999999999999999]})",
           R"({"metric":{"a":"\ud800"},"values":[1],"timestamps":[1]})",
           R"({"metric":{"a":"b},"values":[1],"timestamps":[1]})",
           R"({"metric":{},"values":[1],"timestamps":[1]} x)",
       }) {
    EXPECT_EQ(parse_export_line(bad, &s).code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(VmExport, EnforcesLimits) {
  ExportSeries s;
  ExportLimits limits;
  limits.samples_max = 2;
  EXPECT_FALSE(
      parse_export_line(R"({"metric":{},"values":[1,2,3],"timestamps":[1,2,3]})", &s, limits)
          .is_ok());
  limits = ExportLimits{};
  limits.labels_max = 1;
  EXPECT_FALSE(
      parse_export_line(R"({"metric":{"a":"1","b":"2"},"values":[],"timestamps":[]})", &s, limits)
          .is_ok());
  limits = ExportLimits{};
  limits.label_bytes_max = 3;
  EXPECT_FALSE(
      parse_export_line(R"({"metric":{"a":"long"},"values":[],"timestamps":[]})", &s, limits)
          .is_ok());
}

TEST(VmExport, WrittenLinesParseBackBitForBit) {
  ExportSeries s;
  s.labels = {{"__name__", "m"}, {"q\"uote", "line\nbreak"}};
  s.samples = {{-1, 0.1},   {0, 1e300}, {1, -0.0},
               {2, 5e-324}, {3, 12.34}, {4, std::numeric_limits<double>::infinity()}};
  std::string line;
  append_export_line(s, &line);
  ASSERT_EQ(line.back(), '\n');
  ExportSeries back;
  ASSERT_TRUE(parse_export_line(line, &back).is_ok());
  EXPECT_EQ(back.labels, s.labels);
  expect_identical(s.samples, back.samples);
}

TEST(VmExport, SplitterCutsZstdStreamsIntoLines) {
  const std::string text = "line one\nline two\n\nlast";
  std::string compressed(ZSTD_compressBound(text.size()), '\0');
  compressed.resize(
      ZSTD_compress(compressed.data(), compressed.size(), text.data(), text.size(), 3));
  ExportLineSplitter splitter(true, 1024);
  std::vector<std::string> lines;
  const auto on_line = [&](std::string_view l) {
    lines.emplace_back(l);
    return Status::ok();
  };
  for (const char c : compressed)
    ASSERT_TRUE(splitter.feed(std::string_view(&c, 1), on_line).is_ok());
  ASSERT_TRUE(splitter.finish(on_line).is_ok());
  EXPECT_EQ(lines, (std::vector<std::string>{"line one", "line two", "last"}));
}

TEST(VmExport, SplitterRejectsTruncatedZstdAndLongLines) {
  const std::string text(1000, 'a');
  std::string compressed(ZSTD_compressBound(text.size()), '\0');
  compressed.resize(
      ZSTD_compress(compressed.data(), compressed.size(), text.data(), text.size(), 3));
  const auto ignore = [](std::string_view) { return Status::ok(); };
  ExportLineSplitter truncated(true, 4096);
  ASSERT_TRUE(truncated.feed(std::string_view(compressed).substr(0, compressed.size() - 3), ignore)
                  .is_ok());
  EXPECT_EQ(truncated.finish(ignore).code(), StatusCode::kCorruption);
  ExportLineSplitter small(false, 100);
  EXPECT_EQ(small.feed(text, ignore).code(), StatusCode::kResourceExhausted);
  ExportLineSplitter garbage(true, 100);
  EXPECT_EQ(garbage.feed("not zstd at all", ignore).code(), StatusCode::kCorruption);
}

// Reads up to series_max series from a zstd-compressed export file.
Status read_dataset(const std::string& path, size_t series_max, std::vector<ExportSeries>* out) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return Status::not_found(path);
  ExportLineSplitter splitter(true, ExportLimits{}.line_bytes_max);
  const auto on_line = [&](std::string_view line) -> Status {
    if (out->size() >= series_max) return Status::aborted("enough series");
    out->emplace_back();
    return parse_export_line(line, &out->back());
  };
  std::string buf(1 << 16, '\0');
  Status s;
  for (size_t got; s.is_ok() && (got = std::fread(buf.data(), 1, buf.size(), f)) > 0;) {
    s = splitter.feed(std::string_view(buf.data(), got), on_line);
  }
  std::fclose(f);
  if (s.is_ok()) s = splitter.finish(on_line);
  return s.code() == StatusCode::kAborted ? Status::ok() : s;
}

TEST(RealData, NodeExporterSeriesRoundTripThroughChunksAndBlocks) {
  const std::string path = std::string(MELD_DATASETS_DIR) + "/node_exporter_10s.jsonl.zst";
  std::FILE* probe = std::fopen(path.c_str(), "rb");
  if (probe == nullptr) GTEST_SKIP() << "data set absent: " << path;
  std::fclose(probe);
  std::vector<ExportSeries> dataset;
  ASSERT_TRUE(read_dataset(path, 64, &dataset).is_ok());
  ASSERT_EQ(dataset.size(), 64u);
  BlockEncoder encoder;
  BlockDecoder decoder;
  size_t samples = 0;
  size_t block_bytes = 0;
  for (const ExportSeries& series : dataset) {
    std::string block;
    ASSERT_TRUE(encoder.encode(series.samples, &block).is_ok()) << series.display_name();
    std::vector<Sample> out;
    ASSERT_TRUE(decoder.decode(block, &out).is_ok()) << series.display_name();
    EXPECT_EQ(first_difference(series.samples, out), -1) << series.display_name();
    samples += series.samples.size();
    block_bytes += block.size();

    std::vector<Sample> from_chunks;
    GorillaChunk chunk;
    for (const Sample& s : series.samples) {
      if (!chunk.has_room()) {
        std::vector<Sample> part;
        ASSERT_TRUE(decode_chunk(chunk.bytes(), &part).is_ok());
        from_chunks.insert(from_chunks.end(), part.begin(), part.end());
        chunk = GorillaChunk();
      }
      ASSERT_TRUE(chunk.append(s).is_ok());
    }
    std::vector<Sample> part;
    ASSERT_TRUE(decode_chunk(chunk.bytes(), &part).is_ok());
    from_chunks.insert(from_chunks.end(), part.begin(), part.end());
    EXPECT_EQ(first_difference(series.samples, from_chunks), -1) << series.display_name();
  }
  // Sealed blocks beat Gorilla's ~1.37 bytes/sample by far on real scrapes.
  EXPECT_LT(static_cast<double>(block_bytes) / static_cast<double>(samples), 0.8);
}

}  // namespace
}  // namespace meld::ts
