// `meld-bench ts-compare` end to end against a real meldd only (the peers need their Debian
// packages and minutes; bench/RESULTS.md has their runs): a small export is loaded, counted back,
// measured on disk and queried, and the figures come out under their names.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "jepsen/process.h"
#include "tests/bench/figures.h"

namespace meld::bench {
namespace {

// 3 hosts x 2 metrics x 30 samples at 10 s.
std::string small_export() {
  std::string out;
  for (int host = 0; host < 3; ++host) {
    for (const char* metric : {"cpu", "mem"}) {
      std::string values, timestamps;
      for (int i = 0; i < 30; ++i) {
        values += (i ? "," : "") + std::to_string(host * 10 + i);
        timestamps += (i ? "," : "") + std::to_string(int64_t{1700000000000} + i * 10000);
      }
      out += std::string(R"({"metric":{"__name__":")") + metric + R"(","host":"h)" +
             std::to_string(host) + R"("},"values":[)" + values + R"(],"timestamps":[)" +
             timestamps + "]}\n";
    }
  }
  return out;
}

TEST(TsCompareCli, LoadsCountsMeasuresAndQueriesMeldd) {
  jepsen::TempDir dir;
  const std::string data = dir.path() + "/small.jsonl";
  const std::string queries = dir.path() + "/q.promql";
  std::ofstream(data) << small_export();
  std::ofstream(queries) << "max by (host) (max_over_time(cpu[1m]))\nsum(rate(mem[2m]))\n";
  std::string out, err;
  int status = jepsen::run_program({MELD_BENCH_PATH, "ts-compare", data, "--stores", "meld",
                                    "--queries", queries, "--meldd", MELDD_PATH},
                                   &out, &err);
  ASSERT_EQ(status, 0) << out << err;
  auto figures = testing::figures_of(out);
  std::map<std::string, std::string> f(figures.begin(), figures.end());
  EXPECT_EQ(f["series"], "6");
  EXPECT_EQ(f["samples"], "180");
  EXPECT_EQ(f["meld.count_verified"].rfind("180 samples", 0), 0u) << f["meld.count_verified"];
  EXPECT_GT(std::strtod(f["meld.ingest_samples_per_s"].c_str(), nullptr), 0.0);
  EXPECT_GT(std::strtod(f["meld.bytes_per_sample"].c_str(), nullptr), 0.0);
  EXPECT_EQ(f["meld.disk.ts.R.keys"], "6");  // one registry entry per series
  EXPECT_EQ(f["query1"], "max by (host) (max_over_time(cpu[1m]))");
  EXPECT_EQ(f["query1.meld.series_points"].rfind("3 ", 0), 0u) << f["query1.meld.series_points"];
  EXPECT_EQ(f["query2.meld.series_points"].rfind("1 ", 0), 0u) << f["query2.meld.series_points"];
  EXPECT_GT(std::strtod(f["query2.meld.median_ms"].c_str(), nullptr), 0.0);
}

TEST(TsCompareCli, AMelddPathThatIsNotAProgramFailsBeforeLoading) {
  jepsen::TempDir dir;
  const std::string data = dir.path() + "/small.jsonl";
  std::ofstream(data) << small_export();
  std::string out, err;
  int status = jepsen::run_program(
      {MELD_BENCH_PATH, "ts-compare", data, "--stores", "meld", "--meldd", "/nonexistent/meldd"},
      &out, &err);
  EXPECT_EQ(status, 1);
  EXPECT_NE(err.find("/nonexistent/meldd is not an executable file"), std::string::npos) << err;
  EXPECT_EQ(out.find("meld.ingest_samples_per_s"), std::string::npos) << out;
}

}  // namespace
}  // namespace meld::bench
