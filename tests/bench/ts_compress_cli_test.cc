// `meld-bench ts-compress FILE` as issue 5 specifies its output: samples, bytes_per_sample,
// encode_samples_per_s, decode_samples_per_s and, last, `roundtrip: identical`; a file it cannot
// take ends it with a non-zero status and the reason on stderr.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "jepsen/process.h"
#include "tests/bench/figures.h"

namespace meld::bench {
namespace {

struct Outcome {
  int status = -1;
  std::string out, err;
};

Outcome ts_compress(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {MELD_BENCH_PATH, "ts-compress"};
  argv.insert(argv.end(), args.begin(), args.end());
  Outcome run;
  run.status = jepsen::run_program(argv, &run.out, &run.err);
  return run;
}

std::string write_file(const jepsen::TempDir& dir, const std::string& name,
                       const std::string& text) {
  const std::string path = dir.path() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

// Decimal gauges, a counter, stale markers and infinities, negative timestamps and a jump of
// decades: 16 samples in all.
constexpr const char* kExport =
    R"({"metric":{"__name__":"temp","room":"a"},"values":[21.5,21.25,21.5,22],"timestamps":[1000,2000,3000,4000]})"
    "\n"
    R"({"metric":{"__name__":"requests_total"},"values":[1,5,9,1e300,7],"timestamps":[-5000,-4000,0,1,2000000000000]})"
    "\n"
    R"({"metric":{"__name__":"up","job":"x"},"values":["NaN",1,"+Inf","-Inf",0,-0.0,3],"timestamps":[10,20,30,40,50,60,70]})"
    "\n";

TEST(TsCompressCli, PrintsTheFiveFiguresInOrderAndARoundTripVerdictLast) {
  jepsen::TempDir dir;
  Outcome run = ts_compress({write_file(dir, "ok.jsonl", kExport)});
  ASSERT_EQ(run.status, 0) << run.err;
  auto lines = testing::figures_of(run.out);
  ASSERT_EQ(lines.size(), 5u) << run.out;
  EXPECT_EQ(lines[0].first, "samples");
  EXPECT_EQ(lines[0].second, "16");
  EXPECT_EQ(lines[1].first, "bytes_per_sample");
  EXPECT_GT(std::strtod(lines[1].second.c_str(), nullptr), 0.0);
  EXPECT_EQ(lines[2].first, "encode_samples_per_s");
  EXPECT_GT(std::strtod(lines[2].second.c_str(), nullptr), 0.0);
  EXPECT_EQ(lines[3].first, "decode_samples_per_s");
  EXPECT_GT(std::strtod(lines[3].second.c_str(), nullptr), 0.0);
  EXPECT_EQ(lines[4].first, "roundtrip");
  EXPECT_EQ(lines[4].second, "identical");
}

TEST(TsCompressCli, ASeriesOutOfOrderFailsNamingIt) {
  jepsen::TempDir dir;
  Outcome run = ts_compress(
      {write_file(dir, "bad.jsonl",
                  R"({"metric":{"__name__":"late"},"values":[1,2],"timestamps":[2000,1000]})"
                  "\n")});
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.out.find("roundtrip"), std::string::npos) << run.out;
  EXPECT_NE(run.err.find("late"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("not strictly increasing"), std::string::npos) << run.err;
}

TEST(TsCompressCli, UnreadableOrMalformedInputFails) {
  jepsen::TempDir dir;
  Outcome missing = ts_compress({dir.path() + "/absent.jsonl"});
  EXPECT_EQ(missing.status, 1);
  EXPECT_FALSE(missing.err.empty());
  Outcome garbage = ts_compress({write_file(dir, "garbage.jsonl", "{\"metric\":\n")});
  EXPECT_EQ(garbage.status, 1);
  EXPECT_FALSE(garbage.err.empty());
  Outcome empty = ts_compress({write_file(dir, "empty.jsonl", "")});
  EXPECT_EQ(empty.status, 1);
  EXPECT_NE(empty.err.find("no samples"), std::string::npos) << empty.err;
}

TEST(TsCompressCli, BadArgumentsAreAUsageError) {
  EXPECT_EQ(ts_compress({}).status, 2);
  jepsen::TempDir dir;
  const std::string path = write_file(dir, "ok.jsonl", kExport);
  EXPECT_EQ(ts_compress({path, "--zstd-level", "0"}).status, 2);
  EXPECT_EQ(ts_compress({path, "--zstd-level", "20"}).status, 2);
  EXPECT_EQ(ts_compress({path, "--zstd-level", "9"}).status, 0);
}

}  // namespace
}  // namespace meld::bench
