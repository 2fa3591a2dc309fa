// The pure parts of meld-bench ts-compare: the remote-write bytes Prometheus receives, the
// parsing of query answers and the comparison of two stores' answers.
#include "bench/ts_wire.h"

#include <gtest/gtest.h>
#include <snappy.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "timeseries/labels.h"
#include "timeseries/query.h"

namespace meld::bench {
namespace {

std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (int v : values) out.push_back(static_cast<char>(v));
  return out;
}

TEST(RemoteWrite, EncodesOneSeriesWithSortedLabels) {
  const LabelPairs labels = {{"job", "x"}, {"__name__", "up"}};
  const std::vector<ts::Sample> samples = {{1000, 1.0}};
  const SeriesSlice slice{&labels, samples};
  std::string out;
  append_remote_write({&slice, 1}, &out);
  const std::string expected =
      bytes({0x0a, 40}) +                                                       // timeseries
      bytes({0x0a, 14, 0x0a, 8}) + "__name__" + bytes({0x12, 2}) + "up" +       // label 1
      bytes({0x0a, 8, 0x0a, 3}) + "job" + bytes({0x12, 1}) + "x" +              // label 2
      bytes({0x12, 12, 0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0x10, 0xe8, 0x07});  // sample
  EXPECT_EQ(out, expected);
}

TEST(RemoteWrite, NegativeTimestampIsTenByteVarintAndNanBitsAreKept) {
  const LabelPairs labels;
  const double stale = std::bit_cast<double>(uint64_t{0x7ff0000000000002});  // Prometheus' marker
  const std::vector<ts::Sample> samples = {{-1, stale}};
  const SeriesSlice slice{&labels, samples};
  std::string out;
  append_remote_write({&slice, 1}, &out);
  const std::string expected =
      bytes({0x0a, 22, 0x12, 20, 0x09, 0x02, 0, 0, 0, 0, 0, 0xf0, 0x7f, 0x10}) +
      bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01});
  EXPECT_EQ(out, expected);
}

TEST(RemoteWrite, SeveralSeriesFollowEachOtherAndSnappyRoundTrips) {
  const LabelPairs a = {{"__name__", "a"}};
  const LabelPairs b = {{"__name__", "b"}};
  std::vector<ts::Sample> many;
  for (int i = 0; i < 1000; ++i) many.push_back({int64_t{1000} * i, 0.5 * i});
  const SeriesSlice slices[] = {{&a, many}, {&b, {many.data(), 1}}};
  std::string both;
  append_remote_write(slices, &both);
  std::string first;
  append_remote_write({&slices[0], 1}, &first);
  std::string second;
  append_remote_write({&slices[1], 1}, &second);
  EXPECT_EQ(both, first + second);

  const std::string compressed = snappy_compress(both);
  EXPECT_LT(compressed.size(), both.size());
  std::string back;
  ASSERT_TRUE(snappy::Uncompress(compressed.data(), compressed.size(), &back));
  EXPECT_EQ(back, both);
}

TEST(QueryAnswer, ParsesMatrixSortedWithSpecialValues) {
  const auto answer = parse_query_answer(R"({"status":"success","data":{"resultType":"matrix",
      "result":[{"metric":{"job":"z","__name__":"m"},"values":[[1.5,"NaN"],[2.001,"+Inf"]]},
                {"metric":{"job":"a"},"values":[[1795313580,"-Inf"],[1795313640,"0.25"]]}]}})");
  ASSERT_TRUE(answer.is_ok()) << answer.status().to_string();
  ASSERT_EQ(answer->size(), 2u);
  EXPECT_EQ((*answer)[0].labels, "{__name__=\"m\",job=\"z\"}");
  EXPECT_EQ((*answer)[1].labels, "{job=\"a\"}");
  ASSERT_EQ((*answer)[0].points.size(), 2u);
  EXPECT_EQ((*answer)[0].points[0].timestamp_ms, 1500);
  EXPECT_TRUE(std::isnan((*answer)[0].points[0].value));
  EXPECT_EQ((*answer)[0].points[1].timestamp_ms, 2001);
  EXPECT_EQ((*answer)[0].points[1].value, std::numeric_limits<double>::infinity());
  EXPECT_EQ((*answer)[1].points[0].timestamp_ms, 1795313580000);
  EXPECT_EQ((*answer)[1].points[0].value, -std::numeric_limits<double>::infinity());
  EXPECT_EQ((*answer)[1].points[1].value, 0.25);
}

TEST(QueryAnswer, CanonicalLabelsAreSortedAndQuoted) {
  EXPECT_EQ(canonical_label_string({{"job", "a\"b"}, {"__name__", "up"}, {"Zone", "\\"}}),
            R"({Zone="\\",__name__="up",job="a\"b"})");
  EXPECT_EQ(canonical_label_string({}), "{}");
  const auto parsed = parse_query_answer(R"({"status":"success","data":{"resultType":"vector",
      "result":[{"metric":{"job":"a\"b","__name__":"up","Zone":"\\"},"value":[1,"1"]}]}})");
  ASSERT_TRUE(parsed.is_ok()) << parsed.status().to_string();
  EXPECT_EQ((*parsed)[0].labels,
            canonical_label_string({{"job", "a\"b"}, {"__name__", "up"}, {"Zone", "\\"}}));
}

TEST(QueryAnswer, ParsesVectorAndScalar) {
  const auto vector = parse_query_answer(
      R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[10,"297984"]}]}})");
  ASSERT_TRUE(vector.is_ok()) << vector.status().to_string();
  ASSERT_EQ(vector->size(), 1u);
  EXPECT_EQ((*vector)[0].labels, "{}");
  EXPECT_EQ((*vector)[0].points[0].value, 297984);
  const auto scalar =
      parse_query_answer(R"({"status":"success","data":{"resultType":"scalar","result":[3,"7"]}})");
  ASSERT_TRUE(scalar.is_ok()) << scalar.status().to_string();
  EXPECT_EQ((*scalar)[0].points[0].timestamp_ms, 3000);
  EXPECT_EQ((*scalar)[0].points[0].value, 7);
}

TEST(QueryAnswer, RejectsErrorsAndMalformedAnswers) {
  const auto error = parse_query_answer(
      R"({"status":"error","errorType":"bad_data","error":"parse error at char 3"})");
  ASSERT_FALSE(error.is_ok());
  EXPECT_NE(error.status().message().find("parse error at char 3"), std::string::npos);
  for (
      const char* bad : {
          "",
          "[1,2]",
          "{\"status\":\"success\"",
          R"({"status":"success"})",
          R"({"status":"success","data":{"resultType":"string","result":"x"}})",
          R"({"status":"success","data":{"resultType":"matrix","result":[{"values":[]}]}})",
          R"({"status":"success","data":{"resultType":"matrix","result":[{"metric":{"a":1},"values":[]}]}})",
          R"({"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,2]]}]}})",
          R"({"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"x"]]}]}})",
          R"({"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1e300,"1"]]}]}})",
          R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{}}]}})",
      }) {
    const auto answer = parse_query_answer(bad);
    ASSERT_FALSE(answer.is_ok()) << bad;
    EXPECT_EQ(answer.status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(QueryAnswer, EnforcesLimits) {
  const std::string two = R"({"status":"success","data":{"resultType":"matrix","result":[
      {"metric":{"a":"1"},"values":[[1,"1"],[2,"2"]]},{"metric":{"a":"2"},"values":[[1,"1"]]}]}})";
  EXPECT_TRUE(parse_query_answer(two, {.series_max = 2, .points_max = 3}).is_ok());
  EXPECT_EQ(parse_query_answer(two, {.series_max = 1, .points_max = 3}).status().code(),
            StatusCode::kResourceExhausted);
  EXPECT_EQ(parse_query_answer(two, {.series_max = 2, .points_max = 2}).status().code(),
            StatusCode::kResourceExhausted);
}

std::vector<ResultSeries> answer(std::initializer_list<ResultSeries> series) {
  return series;
}

TEST(CompareAnswers, IdenticalAndWithinToleranceAgree) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const auto a = answer({{"{a=\"1\"}", {{0, 1.0}, {60, nan}}}, {"{a=\"2\"}", {{0, 100.0}}}});
  const auto b = answer({{"{a=\"1\"}", {{0, 1.0}, {60, nan}}}, {"{a=\"2\"}", {{0, 100.0 + 1e-8}}}});
  const Comparison same = compare_answers(a, a, 0, 0);
  EXPECT_TRUE(same.agrees());
  EXPECT_EQ(same.points_compared, 3u);
  EXPECT_EQ(same.max_relative_diff, 0);
  EXPECT_EQ(describe(same).rfind("agree", 0), 0u);

  const Comparison close = compare_answers(a, b, 1e-9, 0);
  EXPECT_TRUE(close.agrees());
  EXPECT_NEAR(close.max_relative_diff, 1e-10, 1e-12);
  EXPECT_FALSE(compare_answers(a, b, 1e-12, 0).agrees());
  EXPECT_TRUE(compare_answers(a, b, 0, 1e-7).agrees());
}

TEST(CompareAnswers, CountsEveryKindOfDifference) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const auto reference = answer({{"{a=\"1\"}", {{0, 1.0}, {60, 2.0}, {120, nan}}},
                                 {"{a=\"2\"}", {{0, 5.0}}},
                                 {"{a=\"4\"}", {{0, 5.0}}}});
  const auto other = answer({{"{a=\"1\"}", {{0, 1.5}, {120, 3.0}, {180, 4.0}}},
                             {"{a=\"3\"}", {{0, 5.0}}},
                             {"{a=\"4\"}", {{0, 5.0}}}});
  const Comparison c = compare_answers(reference, other, 1e-9, 0);
  EXPECT_FALSE(c.agrees());
  EXPECT_EQ(c.series_reference, 3u);
  EXPECT_EQ(c.series_other, 3u);
  EXPECT_EQ(c.series_only_reference, 1u);  // a=2
  EXPECT_EQ(c.series_only_other, 1u);      // a=3
  EXPECT_EQ(c.points_compared, 3u);        // a=1 @0 and @120, a=4 @0
  EXPECT_EQ(c.points_only_reference, 1u);  // a=1 @60
  EXPECT_EQ(c.points_only_other, 1u);      // a=1 @180
  EXPECT_EQ(c.values_differ, 2u);          // 1 vs 1.5, NaN vs 3
  EXPECT_NEAR(c.max_relative_diff, 0.5 / 1.5, 1e-12);
  EXPECT_EQ(c.first_difference,
            "value differs: reference {a=\"1\"} @0 = 1, other {a=\"1\"} @0 = 1.5");
  EXPECT_EQ(describe(c).rfind("DIFFER", 0), 0u);
}

TEST(CompareAnswers, WithoutMetricNameMatchesStoresThatKeepNames) {
  const auto parsed = parse_query_answer(R"({"status":"success","data":{"resultType":"vector",
      "result":[{"metric":{"__name__":"up","job":"a\",__name__=\"x"},"value":[1,"1"]},
                {"metric":{"Zone":"z","__name__":"up"},"value":[1,"2"]},
                {"metric":{"__name__":"up"},"value":[1,"3"]}]}})");
  ASSERT_TRUE(parsed.is_ok()) << parsed.status().to_string();
  const auto stripped = without_metric_name(*parsed);
  ASSERT_EQ(stripped.size(), 3u);
  EXPECT_EQ(stripped[0].labels, "{Zone=\"z\"}");
  EXPECT_EQ(stripped[1].labels, "{job=\"a\\\",__name__=\\\"x\"}");
  EXPECT_EQ(stripped[2].labels, "{}");
  const auto other = answer({{"{}", {{1000, 3}}},
                             {"{Zone=\"z\"}", {{1000, 2}}},
                             {"{job=\"a\\\",__name__=\\\"x\"}", {{1000, 1}}}});
  EXPECT_FALSE(compare_answers(*parsed, other, 0, 0).agrees());
  EXPECT_TRUE(compare_answers(stripped, without_metric_name(other), 0, 0).agrees());
}

// Runs every count query through MeldDB's query engine, over the series as written (one sample
// each at t = 0, and one at t = 1000), with the engine's series limit set to the queries' bound:
// the total they count, or the first query's error.
Result<uint64_t> count_through_engine(const std::vector<LabelPairs>& series,
                                      const CountQueryLimits& limits) {
  auto queries = count_queries(series, 1001, limits);
  if (!queries.is_ok()) return queries.status();
  ts::MemorySeriesSource source;
  for (const LabelPairs& pairs : series) {
    std::vector<ts::Label> labels;
    for (const auto& [name, value] : pairs) labels.push_back({name, value});
    auto made = ts::Labels::make_series(std::move(labels));
    if (!made.is_ok()) return made.status();
    MELD_RETURN_IF_ERROR(source.add(std::move(made).value(), {{0, 1.0}, {1000, 2.0}}));
  }
  ts::QueryLimits engine;
  engine.series_max = limits.series_max;
  uint64_t total = 0;
  for (const std::string& q : *queries) {
    if (q.size() > limits.expr_bytes_max) return Status::internal("too long: " + q);
    auto r = ts::query_range(q, source, 1000, 1000, 1000, engine);
    if (!r.is_ok()) return Status(r.status().code(), q + ": " + r.status().to_string());
    if (r->series.size() != 1) return Status::internal("not one series: " + q);
    total += static_cast<uint64_t>(r->series[0].points.at(0).value);
  }
  return total;
}

TEST(CountQueries, OneQueryPerMetricWithinTheSeriesLimit) {
  const std::vector<LabelPairs> series = {{{"__name__", "up"}, {"job", "a"}},
                                          {{"__name__", "up"}, {"job", "b"}},
                                          {{"__name__", "cpu"}, {"host", "x"}}};
  auto queries = count_queries(series, 60000);
  ASSERT_TRUE(queries.is_ok()) << queries.status().to_string();
  EXPECT_EQ(*queries,
            (std::vector<std::string>{"sum(count_over_time({__name__=\"cpu\"}[60000ms]))",
                                      "sum(count_over_time({__name__=\"up\"}[60000ms]))"}));
  auto counted = count_through_engine(series, {});
  ASSERT_TRUE(counted.is_ok()) << counted.status().to_string();
  EXPECT_EQ(*counted, 6u);
}

// A metric with more series than one query may select is counted in parts, by the label that
// needs the fewest queries, values regex-quoted (metacharacters, quotes, backslashes), series
// without the label counted once: every series is counted exactly once, no query passes the
// limits.
TEST(CountQueries, AMetricPastTheLimitIsCountedInPartsExactlyOnce) {
  std::vector<LabelPairs> series;
  const std::string odd[] = {"a.b", "a|b", "a\"b", "a\\b", "(x)*", "[y]", "^z$", "é+?"};
  for (int i = 0; i < 60; ++i) {
    LabelPairs labels = {{"__name__", "wide"}, {"pod", odd[i % 8] + std::to_string(i)}};
    if (i % 10 != 0) labels.emplace_back("zone", odd[i % 8]);  // 6 series without a zone
    series.push_back(std::move(labels));
  }
  series.push_back({{"__name__", "narrow"}});
  const CountQueryLimits limits{.series_max = 9, .expr_bytes_max = 120};
  auto queries = count_queries(series, 1001, limits);
  ASSERT_TRUE(queries.is_ok()) << queries.status().to_string();
  EXPECT_GT(queries->size(), 7u);  // 60 series in parts of at most 9
  auto counted = count_through_engine(series, limits);
  ASSERT_TRUE(counted.is_ok()) << counted.status().to_string();
  EXPECT_EQ(*counted, 2u * series.size());
}

TEST(CountQueries, AMetricNoLabelSplitsFinelyEnoughIsRefusedByName) {
  std::vector<LabelPairs> series;
  for (int i = 0; i < 12; ++i) {
    series.push_back({{"__name__", "lumpy"}, {"zone", i < 10 ? "a" : "b"}});
  }
  auto queries = count_queries(series, 1001, {.series_max = 9});
  ASSERT_FALSE(queries.is_ok());
  EXPECT_EQ(queries.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(queries.status().message().find("metric lumpy (12 series)"), std::string::npos)
      << queries.status().to_string();
}

}  // namespace
}  // namespace meld::bench
