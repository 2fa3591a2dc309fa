// The client services in-process, on a real engine and store, called through their Cap'n Proto
// interfaces without a network: what the client library never sends, and what a test against a
// meldd process cannot cause. Sets, with commit failures injected (storage::CommitFaults): a set
// whose commit failed refuses writes until the service reopens it, which it does on the next
// call once nothing of the set is in flight. Metrics writers: how series ids bind and fail.
#include <gtest/gtest.h>
#include <kj/async.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "schemas/api.capnp.h"
#include "server/services.h"
#include "storage/engine.h"
#include "storage/ts_store.h"
#include "tests/storage/temp_dir.h"

namespace meld::server {
namespace {

// Engine completions run on the test's KJ event loop, as on meldd's loop thread: the commit
// thread hands each one over and waits until the loop (inside a wait() of the test) has run it.
class LoopExecutor final : public storage::CompletionExecutor {
 public:
  LoopExecutor() : loop_(kj::getCurrentThreadExecutor()) {}
  void post(std::function<void()> fn) override {
    loop_.executeSync([&fn] { fn(); });
  }

 private:
  const kj::Executor& loop_;
};

kj::Array<const capnp::byte> bytes(const std::string& s) {
  return kj::heapArray(reinterpret_cast<const capnp::byte*>(s.data()), s.size());
}

class Services : public ::testing::Test {
 protected:
  void SetUp() override {
    storage::Options options;
    options.dir = dir_.sub("data");
    options.sync = false;
    options.commit_faults = faults_;
    auto engine = storage::Engine::open(options, &executor_);
    ASSERT_TRUE(engine.is_ok()) << engine.status().to_string();
    engine_ = std::move(*engine);
    auto ts = storage::TsStore::open(*engine_, clock_, storage::TsStoreOptions{});
    ASSERT_TRUE(ts.is_ok()) << ts.status().to_string();
    ts_ = std::move(*ts);
    NodeProbe probe{[] { return int64_t{0}; }, [] { return uint32_t{0}; }};
    NodeInfo info;
    info.node_id = 7;
    meld_ = make_meld_service(*engine_, *ts_, std::move(info), probe);
    sets_ = meld_->setsRequest().send().wait(*ws_).getSets();
    metrics_ = meld_->metricsRequest().send().wait(*ws_).getMetrics();
  }

  void TearDown() override {
    metrics_.reset();
    sets_.reset();
    meld_.reset();
    ts_.reset();
    if (engine_) engine_->close();
  }

  // Adds members to set; the call's error description, or "" when it succeeded.
  std::string add(const std::string& set, const std::vector<std::string>& members) {
    auto request = sets_->addRequest();
    request.setSet(bytes(set));
    auto list = request.initMembers(static_cast<unsigned>(members.size()));
    for (unsigned i = 0; i < members.size(); ++i) list.set(i, bytes(members[i]));
    try {
      request.send().wait(*ws_);
      return "";
    } catch (const kj::Exception& e) {
      return e.getDescription().cStr();
    }
  }

  // One item of a metrics write: its id (0: none), its labels (none: named by id alone) and its
  // samples as (timestamp ms, value).
  struct Item {
    uint32_t id = 0;
    std::vector<std::pair<std::string, std::string>> labels;
    std::vector<std::pair<int64_t, double>> samples;
  };
  // A write's reply: samples accepted, and each error as "series SAMPLE code" (SAMPLE "whole" for
  // a whole-series error).
  struct Reply {
    uint64_t accepted = 0;
    std::vector<std::string> errors;
  };

  api::MetricsWriter::Client open_writer() {
    return metrics_->openWriterRequest().send().wait(*ws_).getWriter();
  }

  // MetricsWriter.write, or Metrics.write without a writer.
  Reply write(const std::vector<Item>& items, api::MetricsWriter::Client* writer = nullptr) {
    auto fill = [&](auto request) {
      auto list = request.initSeries(static_cast<unsigned>(items.size()));
      for (unsigned i = 0; i < items.size(); ++i) {
        list[i].setId(items[i].id);
        auto labels = list[i].initLabels(static_cast<unsigned>(items[i].labels.size()));
        for (unsigned j = 0; j < items[i].labels.size(); ++j) {
          labels[j].setName(items[i].labels[j].first);
          labels[j].setValue(items[i].labels[j].second);
        }
        auto samples = list[i].initSamples(static_cast<unsigned>(items[i].samples.size()));
        for (unsigned j = 0; j < items[i].samples.size(); ++j) {
          samples[j].setTimestampMs(items[i].samples[j].first);
          samples[j].setValue(items[i].samples[j].second);
        }
      }
      auto response = request.send().wait(*ws_);
      Reply reply{response.getAccepted(), {}};
      for (auto e : response.getErrors()) {
        const std::string sample = e.getSample() == storage::TsStore::kWholeSeries
                                       ? "whole"
                                       : std::to_string(e.getSample());
        reply.errors.push_back(std::to_string(e.getSeries()) + " " + sample + " " +
                               e.getCode().cStr());
      }
      return reply;
    };
    return writer != nullptr ? fill(writer->writeRequest()) : fill(metrics_->writeRequest());
  }

  // The timestamps stored for the series with exactly these labels.
  std::vector<int64_t> stored(const std::vector<std::pair<std::string, std::string>>& labels) {
    auto request = metrics_->readRequest();
    auto list = request.initLabels(static_cast<unsigned>(labels.size()));
    for (unsigned i = 0; i < labels.size(); ++i) {
      list[i].setName(labels[i].first);
      list[i].setValue(labels[i].second);
    }
    request.setFromMs(0);
    request.setToMs(INT64_MAX);
    auto response = request.send().wait(*ws_);  // owns the samples read below
    std::vector<int64_t> timestamps;
    for (auto sample : response.getSamples()) timestamps.push_back(sample.getTimestampMs());
    return timestamps;
  }

  // Metrics.query's error description, or "" when it succeeded.
  std::string query_error(const std::string& expr, int64_t start_ms, int64_t end_ms,
                          int64_t step_ms) {
    auto request = metrics_->queryRequest();
    request.setExpr(expr);
    request.setStartMs(start_ms);
    request.setEndMs(end_ms);
    request.setStepMs(step_ms);
    try {
      request.send().wait(*ws_);
      return "";
    } catch (const kj::Exception& e) {
      return e.getDescription().cStr();
    }
  }
  bool contains(const std::string& set, const std::string& member) {
    auto request = sets_->containsRequest();
    request.setSet(bytes(set));
    request.setMember(bytes(member));
    return request.send().wait(*ws_).getPresent();
  }

  // Behind pointers: their destructors may throw, which a test fixture's may not.
  std::unique_ptr<kj::EventLoop> loop_ = std::make_unique<kj::EventLoop>();
  std::unique_ptr<kj::WaitScope> ws_ = std::make_unique<kj::WaitScope>(*loop_);
  LoopExecutor executor_;
  storage::testing::TempDir dir_;
  std::shared_ptr<storage::CommitFaults> faults_ = std::make_shared<storage::CommitFaults>();
  SystemClock clock_;
  std::unique_ptr<storage::Engine> engine_;
  std::unique_ptr<storage::TsStore> ts_;
  std::optional<api::Meld::Client> meld_;
  std::optional<api::Sets::Client> sets_;
  std::optional<api::Metrics::Client> metrics_;
};

TEST_F(Services, ASetWhoseCommitFailedIsReopenedAndTakesWritesAgain) {
  ASSERT_EQ(add("s", {"a"}), "");
  faults_->fail_next_groups(1);
  const std::string failed = add("s", {"b"});
  EXPECT_NE(failed, "") << "the injected commit failure must fail the call";
  EXPECT_FALSE(contains("s", "b"));

  // Nothing of the set is in flight now: the next call reopens it from what committed.
  EXPECT_EQ(add("s", {"c"}), "");
  EXPECT_TRUE(contains("s", "a"));
  EXPECT_FALSE(contains("s", "b"));
  EXPECT_TRUE(contains("s", "c"));
  // Another set never saw the failure.
  EXPECT_EQ(add("t", {"x"}), "");
  EXPECT_TRUE(contains("t", "x"));
}

using Labels = std::vector<std::pair<std::string, std::string>>;
const Labels kA = {{"__name__", "up"}, {"job", "a"}};
const Labels kB = {{"__name__", "up"}, {"job", "b"}};

TEST_F(Services, AWriterTakesASeriesByIdOnceItsLabelsCameWithTheId) {
  auto writer = open_writer();
  Reply first = write({{1, kA, {{1000, 1.0}, {2000, 2.0}}}}, &writer);
  EXPECT_EQ(first.accepted, 2u);
  EXPECT_TRUE(first.errors.empty());
  // By id alone, and again with the same labels listed in another order.
  Reply second = write(
      {{1, {}, {{3000, 3.0}}}, {1, {{"job", "a"}, {"__name__", "up"}}, {{4000, 4.0}}}}, &writer);
  EXPECT_EQ(second.accepted, 2u);
  EXPECT_TRUE(second.errors.empty());
  EXPECT_EQ(stored(kA), (std::vector<int64_t>{1000, 2000, 3000, 4000}));
}

TEST_F(Services, AnIdTheWriterHasNotBoundIsNotFoundAndTheRestOfTheWriteIsStored) {
  auto writer = open_writer();
  Reply reply = write({{2, {}, {{1000, 1.0}}}, {3, kB, {{1000, 5.0}}}}, &writer);
  EXPECT_EQ(reply.accepted, 1u);
  EXPECT_EQ(reply.errors, (std::vector<std::string>{"0 whole not_found"}));
  EXPECT_EQ(stored(kB), (std::vector<int64_t>{1000}));
  // Ids are the writer's own: another writer knows none of them.
  auto other = open_writer();
  EXPECT_EQ(write({{3, {}, {{2000, 6.0}}}}, &other).errors,
            (std::vector<std::string>{"0 whole not_found"}));
  EXPECT_EQ(write({{3, {}, {{2000, 6.0}}}}, &writer).accepted, 1u);
}

TEST_F(Services, AnIdBoundToOneLabelSetRefusesAnother) {
  auto writer = open_writer();
  ASSERT_EQ(write({{1, kA, {{1000, 1.0}}}}, &writer).accepted, 1u);
  Reply reply = write({{1, kB, {{1000, 2.0}}}}, &writer);
  EXPECT_EQ(reply.accepted, 0u);
  EXPECT_EQ(reply.errors, (std::vector<std::string>{"0 whole invalid_argument"}));
  EXPECT_TRUE(stored(kB).empty());
  // The binding is unchanged.
  EXPECT_EQ(write({{1, {}, {{2000, 3.0}}}}, &writer).accepted, 1u);
  EXPECT_EQ(stored(kA), (std::vector<int64_t>{1000, 2000}));
}

TEST_F(Services, ABindingStandsWhateverHappenedToTheSamplesThatMadeIt) {
  auto writer = open_writer();
  // No samples: the item fails in the store, but its id and labels were read.
  EXPECT_EQ(write({{7, kA, {}}}, &writer).errors,
            (std::vector<std::string>{"0 whole invalid_argument"}));
  EXPECT_EQ(write({{7, {}, {{1000, 1.0}}}}, &writer).accepted, 1u);
  EXPECT_EQ(stored(kA), (std::vector<int64_t>{1000}));
}

TEST_F(Services, IdsPastTheLimitOrOnAPlainWriteAreRefusedPerItem) {
  auto writer = open_writer();
  Reply past =
      write({{api::MAX_WRITER_SERIES + 1, kA, {{1000, 1.0}}}, {0, kB, {{1000, 2.0}}}}, &writer);
  EXPECT_EQ(past.accepted, 1u);
  EXPECT_EQ(past.errors, (std::vector<std::string>{"0 whole invalid_argument"}));
  EXPECT_EQ(write({{api::MAX_WRITER_SERIES, kA, {{1000, 1.0}}}}, &writer).accepted, 1u);
  Reply plain = write({{1, kA, {{2000, 1.0}}}});
  EXPECT_EQ(plain.accepted, 0u);
  EXPECT_EQ(plain.errors, (std::vector<std::string>{"0 whole invalid_argument"}));
  EXPECT_EQ(stored(kA), (std::vector<int64_t>{1000}));
}

// The per-query limits of schemas/api.capnp hold over RPC: past one, the whole query fails with
// resource_exhausted (or invalid_argument for the expression's size) naming the limit.
TEST_F(Services, AQueryPastALimitFailsNamingIt) {
  // maxQuerySeries + 1 series of one metric, in writes of maxSeriesPerWrite at most.
  std::vector<Item> items;
  for (uint32_t i = 0; i <= api::MAX_QUERY_SERIES; ++i) {
    items.push_back({0, {{"__name__", "wide"}, {"i", std::to_string(i)}}, {{1000, 1.0}}});
    if (items.size() == api::MAX_SERIES_PER_WRITE || i == api::MAX_QUERY_SERIES) {
      EXPECT_EQ(write(items).accepted, items.size());
      items.clear();
    }
  }
  EXPECT_EQ(query_error("count(wide{i=\"1\"})", 0, 60000, 60000), "");
  std::string wide = query_error("count(wide)", 0, 60000, 60000);
  EXPECT_NE(wide.find("resource_exhausted"), std::string::npos) << wide;
  EXPECT_NE(wide.find("more than " + std::to_string(api::MAX_QUERY_SERIES) +
                      " series, the limit per query"),
            std::string::npos)
      << wide;

  const int64_t steps_ms = int64_t{api::MAX_QUERY_STEPS} * 1000;
  EXPECT_EQ(query_error("count(wide{i=\"1\"})", 0, steps_ms - 1000, 1000), "");
  std::string steps = query_error("count(wide{i=\"1\"})", 0, steps_ms, 1000);
  EXPECT_NE(steps.find("limit " + std::to_string(api::MAX_QUERY_STEPS) + " per query"),
            std::string::npos)
      << steps;

  std::string long_expr = "wide{i=\"" + std::string(api::MAX_QUERY_EXPR_BYTES, 'x') + "\"}";
  std::string expr = query_error(long_expr, 0, 60000, 60000);
  EXPECT_NE(expr.find("invalid_argument"), std::string::npos) << expr;
  EXPECT_NE(expr.find(std::to_string(api::MAX_QUERY_EXPR_BYTES)), std::string::npos) << expr;
}

}  // namespace
}  // namespace meld::server
