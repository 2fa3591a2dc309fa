#include "storage/ts_query.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <bit>
#include <future>

#include "tests/storage/temp_dir.h"
#include "timeseries/merge.h"

namespace meld::storage {
namespace {

using testing::TempDir;

class FixedClock final : public Clock {
 public:
  int64_t monotonic_ms() const override { return 0; }
  int64_t wall_ms() const override { return 0; }
};

ts::Labels labels_of(std::vector<ts::Label> labels) {
  auto made = ts::Labels::make_series(std::move(labels));
  MELD_ASSERT(made.is_ok(), made.status().to_string());
  return *made;
}

bool same_results(const ts::QueryResult& a, const ts::QueryResult& b) {
  if (a.series.size() != b.series.size()) return false;
  for (size_t i = 0; i < a.series.size(); ++i) {
    if (a.series[i].labels != b.series[i].labels) return false;
    const auto& x = a.series[i].points;
    const auto& y = b.series[i].points;
    if (!std::equal(x.begin(), x.end(), y.begin(), y.end(), ts::identical)) return false;
  }
  return true;
}

// The same series in a TsStore (small heads, so blocks, rewrites and heads all serve the
// query) and in a MemorySeriesSource.
class Both {
 public:
  Both() : owned_engine_(open_engine(dir_)), engine_(owned_engine_.get()) { open_store(); }
  // On an engine that outlives this object (and may hold other cases' series).
  explicit Both(Engine* engine) : engine_(engine) { open_store(); }

  static std::unique_ptr<Engine> open_engine(const TempDir& dir) {
    static InlineExecutor executor;
    Options options;
    options.dir = dir.sub("db");
    options.sync = false;
    return std::move(Engine::open(options, &executor)).value();
  }

  // Writes samples (any order, duplicates allowed) in chunks of `chunk`, and waits until they
  // are durable (a new series' index entries are readable from then on).
  void add(const ts::Labels& labels, std::vector<ts::Sample> samples, size_t chunk) {
    for (size_t i = 0; i < samples.size(); i += chunk) {
      std::vector<ts::Sample> part(samples.begin() + i,
                                   samples.begin() + std::min(samples.size(), i + chunk));
      TsStore::SeriesWrite item{&labels, part, {}, 0};
      auto result = store_->write({&item, 1}, [](Status) {});
      MELD_ASSERT(result.is_ok() && result->errors.empty(), "write failed");
    }
    MELD_ASSERT(engine_->commit_sync(WriteBatch()).is_ok(), "commit failed");
    ts::sort_and_resolve(&samples);
    MELD_ASSERT(memory_.add(labels, std::move(samples)).is_ok(), "add failed");
  }

  void check(std::string_view query, int64_t start, int64_t end, int64_t step) {
    TsStoreSource source(*store_);
    auto from_store = ts::query_range(query, source, start, end, step);
    auto from_memory = ts::query_range(query, memory_, start, end, step);
    ASSERT_EQ(from_store.status().code(), from_memory.status().code()) << query;
    ASSERT_TRUE(from_store.is_ok()) << query << ": " << from_store.status().to_string();
    EXPECT_TRUE(same_results(*from_store, *from_memory)) << query;
    EXPECT_EQ(from_store->stats.samples_loaded, from_memory->stats.samples_loaded) << query;
  }

  TsStore& store() { return *store_; }

 private:
  void open_store() {
    TsStoreOptions store_options;
    store_options.head_samples_max = 16;
    store_options.late_samples_max = 8;
    store_ = std::move(TsStore::open(*engine_, clock_, store_options)).value();
  }

  TempDir dir_;
  FixedClock clock_;
  std::unique_ptr<Engine> owned_engine_;
  Engine* engine_;
  std::unique_ptr<TsStore> store_;
  ts::MemorySeriesSource memory_;
};

TEST(TsStoreSource, QueriesAnswerAsOverTheSameSamplesInMemory) {
  Both both;
  const char* hosts[] = {"a", "b", "c", "db-1"};
  for (int h = 0; h < 4; ++h) {
    for (const char* mode : {"idle", "user"}) {
      std::vector<ts::Sample> samples;
      for (int i = 0; i < 200; ++i) {
        // A counter with a reset, every tenth sample sent late.
        int j = (i % 10 == 9) ? i - 5 : i;
        samples.push_back({j * 15000, static_cast<double>((j % 120) * (h + 1))});
      }
      both.add(labels_of({{"__name__", "cpu"}, {"host", hosts[h]}, {"mode", mode}}), samples, 37);
    }
  }
  both.add(labels_of({{"__name__", "mem"}, {"host", "a"}}), {{0, 1}, {60000, 2}}, 1);
  for (const char* q :
       {"cpu", "cpu{host=\"a\"}", "cpu{host=~\"db-.*\"}", "cpu{host!~\"a|b\"}",
        "cpu{host!=\"a\",mode=\"user\"}", "{__name__=~\"cpu|mem\",host=\"a\"}", "rate(cpu[1m])",
        "sum by (host) (increase(cpu{mode=\"idle\"}[5m]))", "max without (mode) (cpu)",
        "quantile(0.9, avg_over_time(cpu[2m]))", "count(cpu{host=~\".+\"})", "nothing{host=\"a\"}",
        // Literal alternations (postings lookups) and bounded regexes (a range
        // of label values).
        "cpu{host=~\"a|db-1\"}", "cpu{host=~\"b|c|zzz\",mode=~\"user\"}", "cpu{host=~\"d.*\"}",
        "{__name__=~\"cp.*\",host=~\"[ab]\"}", "cpu{host=~\"(?i)DB-.*\"}", "cpu{host=~\".*1\"}",
        "cpu{host=~\"db-1|a.*\"}"}) {
    both.check(q, 0, 200 * 15000, 30000);
  }
}

TEST(TsStoreSource, SeriesLimitFailsTheQueryWithResourceExhausted) {
  Both both;
  for (int i = 0; i < 5; ++i) {
    both.add(labels_of({{"__name__", "up"}, {"i", std::to_string(i)}}), {{0, 1}}, 1);
  }
  TsStoreSource source(both.store());
  ts::QueryLimits limits;
  limits.series_max = 4;
  auto result = ts::query_range("up", source, 0, 1000, 1000, limits);
  EXPECT_EQ(result.status().code(), StatusCode::kResourceExhausted);
  limits.series_max = 5;
  result = ts::query_range("up", source, 0, 1000, 1000, limits);
  ASSERT_TRUE(result.is_ok()) << result.status().to_string();
  EXPECT_EQ(result->series.size(), 5u);
}

TEST(TsStoreSource, PostingsLimitFailsASelectorWhoseIndexListsAreTooLong) {
  Both both;
  for (int i = 0; i < 5; ++i) {
    std::string n = std::to_string(i);
    both.add(labels_of({{"__name__", "m" + n}, {"i", n}}), {{0, 1}}, 1);
  }
  TsStoreSource source(both.store(), 3);
  auto result = ts::query_range("{i=~\".+\"}", source, 0, 1000, 1000);
  EXPECT_EQ(result.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(result.status().message().find("more than 3"), std::string::npos);
  result = ts::query_range("m1{i=\"1\"}", source, 0, 1000, 1000);
  ASSERT_TRUE(result.is_ok()) << result.status().to_string();
  EXPECT_EQ(result->series.size(), 1u);
}

// A narrow matcher's set alone is checked series by series; a broad one's postings are read and
// intersected first. Both ways give what the in-memory source gives.
TEST(TsStoreSource, SelectionReadsOrSkipsPostingsAndAnswersTheSame) {
  Both both;
  constexpr int kSeries = static_cast<int>(TsStoreSource::kCandidatesCheckedDirectly) + 50;
  for (int i = 0; i < kSeries; ++i) {
    both.add(labels_of({{"__name__", i % 2 == 0 ? "even" : "odd"},
                        {"job", i < kSeries - 3 ? "wide" : "narrow"},
                        {"i", std::to_string(i)}}),
             {{0, static_cast<double>(i)}}, 1);
  }
  for (const char* q :
       {"even{job=\"narrow\"}", "odd{job=\"wide\"}", "{__name__=~\"even|odd\",job=\"narrow\"}",
        "count(even{job=~\"w.*\"})", "even{job=\"wide\",i=~\"1.*\"}"}) {
    both.check(q, 0, 1000, 1000);
  }
}

// Law: on random series written in random chunks and orders, every query gives the same result
// over the store as over MemorySeriesSource. The cases share one engine (opening RocksDB costs
// more than a case), each with its own metric name.
RC_GTEST_PROP(TsStoreSource, StoreAndMemorySourcesAgreeOnRandomData, ()) {
  static TempDir dir;
  static std::unique_ptr<Engine> engine = Both::open_engine(dir);
  static int case_number = 0;
  const std::string name = "m" + std::to_string(++case_number);
  Both both(engine.get());
  int series = *rc::gen::inRange(1, 5);
  for (int s = 0; s < series; ++s) {
    auto samples = *rc::gen::container<std::vector<ts::Sample>>(rc::gen::build<ts::Sample>(
        rc::gen::set(&ts::Sample::timestamp_ms, rc::gen::inRange<int64_t>(0, 600000)),
        rc::gen::set(&ts::Sample::value, rc::gen::map(rc::gen::inRange(0, 50), [](int v) {
          return static_cast<double>(v);
        }))));
    if (samples.empty()) continue;
    // Values that share prefixes and hold regex metacharacters, for literal sets and ranges.
    static const std::vector<std::string> kHosts = {"api",  "api-1", "api-10", "api-2",
                                                    "apib", "db",    "db-1",   "web",
                                                    "a|b",  "x.y",   "xzy",    "API-3"};
    both.add(labels_of({{"__name__", name},
                        {"s", std::to_string(s % 3)},
                        {"k", std::to_string(s)},
                        {"h", *rc::gen::elementOf(kHosts)}}),
             samples, *rc::gen::inRange<size_t>(1, 50));
  }
  const std::string selector =
      name + "{h=~\"" +
      *rc::gen::element<std::string>("api-1|db|web", "api.*", "api-.+|db", "x\\\\.y|a\\\\|b",
                                     "(?i)api-.*", ".*-1", "ap[a-i].*", "db-1|x.*", "nothing|api") +
      "\"}";
  for (const std::string& q :
       {name, "sum by (s) (rate(" + name + "[2m]))", "max_over_time(" + name + "{s=~\"1|2\"}[90s])",
        "count without (k) (" + name + "{k!=\"0\"})", selector,
        "count by (h) (" + selector + ")"}) {
    both.check(q, 0, 600000, *rc::gen::inRange<int64_t>(1000, 120000));
  }
  RC_ASSERT(both.store().seal_all().is_ok());  // the next case's store replays nothing of this
}

}  // namespace
}  // namespace meld::storage
