// End to end: a real meldd process, driven through the client library and meldctl.
#include <capnp/ez-rpc.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "client/client.h"
#include "jepsen/process.h"
#include "schemas/api.capnp.h"

namespace meld {
namespace {

using jepsen::MelddProcess;
using jepsen::TempDir;

int run_meldctl(const std::string& address, const std::vector<std::string>& args, std::string* out,
                std::string* err, const std::string& stdin_text = "") {
  return jepsen::run_meldctl(MELDCTL_PATH, address, args, out, err, stdin_text);
}

std::unique_ptr<client::Client> connect_to(const MelddProcess& node, bool series_ids = true) {
  client::Options options;
  options.address = node.address();
  options.metrics_series_ids = series_ids;
  auto c = client::Client::connect(options);
  EXPECT_TRUE(c.is_ok()) << c.status().to_string();
  return std::move(c).value();
}

class NodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    node_ = std::make_unique<MelddProcess>(MELDD_PATH, dir_.path() + "/data");
    Status s = node_->start();
    ASSERT_TRUE(s.is_ok()) << s.to_string();
  }
  void TearDown() override {
    if (node_->running()) {
      EXPECT_EQ(node_->stop(), 0) << node_->log();
    }
  }

  TempDir dir_;
  std::unique_ptr<MelddProcess> node_;
};

TEST_F(NodeTest, KvPutGetDeleteAndPagedScan) {
  auto c = connect_to(*node_);
  for (int i = 0; i < 25; ++i) {
    char key[16];
    std::snprintf(key, sizeof key, "k%02d", i);
    ASSERT_TRUE(c->kv_put(key, "v" + std::to_string(i)).is_ok());
  }
  auto got = c->kv_get("k07");
  ASSERT_TRUE(got.is_ok());
  EXPECT_EQ(got->value_or("<none>"), "v7");

  ASSERT_TRUE(c->kv_delete("k07").is_ok());
  EXPECT_FALSE(c->kv_get("k07")->has_value());

  std::vector<std::string> seen;
  std::string start = "k";
  for (;;) {
    auto page = c->kv_scan(start, "l", 10);
    ASSERT_TRUE(page.is_ok()) << page.status().to_string();
    for (auto& e : page->entries) seen.push_back(e.key);
    if (!page->more) break;
    start = page->entries.back().key + std::string(1, '\0');
  }
  EXPECT_EQ(seen.size(), 24u);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  EXPECT_EQ(std::count(seen.begin(), seen.end(), "k07"), 0);
}

TEST_F(NodeTest, CounterAddWithARequestIdCountsOnceHoweverOftenItIsRetried) {
  auto c = connect_to(*node_);
  const client::RequestId first{0x5e5510, 1}, second{0x5e5510, 2}, other{0x07e4, 1};
  EXPECT_EQ(*c->counter_add("retried", 5, first), 5);
  EXPECT_EQ(*c->counter_add("retried", 5, first), 5);  // a retry: no effect
  EXPECT_EQ(*c->counter_add("retried", -2, second), 3);
  EXPECT_EQ(*c->counter_add("retried", 10), 13);  // plain adds and request ids mix
  EXPECT_EQ(*c->counter_add("retried", 1, other), 14);
  EXPECT_EQ(c->counter_add("retried", 1, client::RequestId{7, 0}).status().code(),
            StatusCode::kInvalidArgument);
  // After a restart the applied ids are still recognised, through a new connection.
  ASSERT_EQ(node_->stop(), 0) << node_->log();
  ASSERT_TRUE(node_->start().is_ok()) << node_->log();
  auto again = connect_to(*node_);
  EXPECT_EQ(*again->counter_add("retried", -2, second), 14);
  EXPECT_EQ(*again->counter_add("retried", 5, first), 14);
  EXPECT_EQ(*again->counter_get("retried"), 14);
}

TEST_F(NodeTest, CounterRefusesOutOfOrderRequestsPastTheLimitButTakesTheNextInOrder) {
  auto c = connect_to(*node_);
  const uint64_t session = 0xabc;
  // Request 1 is missing, so requests 2, 4, 6, ... all wait out of order.
  for (uint64_t i = 1; i <= api::MAX_PENDING_REQUESTS; ++i) {
    ASSERT_TRUE(c->counter_add("gaps", 1, client::RequestId{session, 2 * i}).is_ok()) << i;
  }
  auto refused = c->counter_add("gaps", 1, client::RequestId{session, 3});
  EXPECT_EQ(refused.status().code(), StatusCode::kResourceExhausted)
      << refused.status().to_string();
  // The session's next request is always taken (it folds request 2 in with it).
  EXPECT_EQ(*c->counter_add("gaps", 1, client::RequestId{session, 1}),
            static_cast<int64_t>(api::MAX_PENDING_REQUESTS) + 1);
  EXPECT_EQ(*c->counter_add("gaps", 1, client::RequestId{session, 3}),
            static_cast<int64_t>(api::MAX_PENDING_REQUESTS) + 2);
}

TEST_F(NodeTest, KvBinaryKeysAndValuesRoundTrip) {
  auto c = connect_to(*node_);
  std::string key("\x00\xff\x01k", 4), value("\x00\x01\x02\xfe", 4);
  ASSERT_TRUE(c->kv_put(key, value).is_ok());
  EXPECT_EQ(c->kv_get(key)->value_or(""), value);
}

TEST_F(NodeTest, CountersIncrementAndDecrementCommute) {
  auto c = connect_to(*node_);
  EXPECT_EQ(*c->counter_get("visits"), 0);
  EXPECT_EQ(*c->counter_add("visits", 5), 5);
  EXPECT_EQ(*c->counter_add("visits", -2), 3);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      auto mine = connect_to(*node_);
      for (int i = 0; i < 50; ++i) ASSERT_TRUE(mine->counter_add("visits", 1).is_ok());
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(*c->counter_get("visits"), 203);
}

TEST_F(NodeTest, SetsAddRemoveContainsAndPagedList) {
  auto c = connect_to(*node_);
  std::vector<std::string> members;
  for (int i = 0; i < 30; ++i) members.push_back("m" + std::to_string(100 + i));
  ASSERT_TRUE(c->set_add("team", members).is_ok());
  ASSERT_TRUE(c->set_add("team", {"m100"}).is_ok());        // adding twice keeps one member
  ASSERT_TRUE(c->set_add("teammates", {"other"}).is_ok());  // a set whose name extends "team"
  ASSERT_TRUE(c->set_remove("team", {"m105", "absent"}).is_ok());
  EXPECT_TRUE(*c->set_contains("team", "m100"));
  EXPECT_FALSE(*c->set_contains("team", "m105"));
  EXPECT_FALSE(*c->set_contains("team", "other"));
  // The batched form answers each member in the order asked, repeats included.
  EXPECT_EQ(*c->set_contains_all("team", {"m105", "m100", "other", "m129", "m100"}),
            (std::vector<bool>{false, true, false, true, true}));
  EXPECT_TRUE(c->set_contains_all("team", {}).value().empty());
  std::vector<std::string> too_many(api::MAX_SET_MEMBERS_PER_CALL + 1, "m100");
  EXPECT_EQ(c->set_contains_all("team", too_many).status().code(), StatusCode::kInvalidArgument);

  std::vector<std::string> listed;
  std::string after;
  for (;;) {
    auto page = c->set_list("team", after, 7);
    ASSERT_TRUE(page.is_ok()) << page.status().to_string();
    listed.insert(listed.end(), page->members.begin(), page->members.end());
    if (!page->more) break;
    after = page->members.back();
  }
  EXPECT_EQ(listed.size(), 29u);
  EXPECT_EQ(std::count(listed.begin(), listed.end(), "m105"), 0);
  EXPECT_EQ(std::count(listed.begin(), listed.end(), "other"), 0);
}

// Sets are add-wins OR-Sets with retry-safe updates: member i of a call with request id (s, q) is
// named (s, q + i), and an update whose id was applied is skipped, also after a restart.
TEST_F(NodeTest, SetAddAndRemoveWithARequestIdApplyOnceHoweverOftenRetried) {
  auto c = connect_to(*node_);
  const uint64_t session = 0x5e75;
  const client::RequestId add_ab{session, 1}, remove_a{session, 3}, add_a{session, 4};
  ASSERT_TRUE(c->set_add("s", {"a", "b"}, add_ab).is_ok());  // ids 1 and 2
  ASSERT_TRUE(c->set_remove("s", {"a"}, remove_a).is_ok());
  ASSERT_TRUE(c->set_add("s", {"a", "b"}, add_ab).is_ok());  // a late retry: "a" stays removed
  EXPECT_FALSE(*c->set_contains("s", "a"));
  EXPECT_TRUE(*c->set_contains("s", "b"));
  ASSERT_TRUE(c->set_add("s", {"a"}, add_a).is_ok());
  ASSERT_TRUE(c->set_remove("s", {"a"}, remove_a).is_ok());  // a late retry: removes nothing new
  EXPECT_TRUE(*c->set_contains("s", "a"));
  // A plain remove removes what it observed, ids or not.
  ASSERT_TRUE(c->set_remove("s", {"b"}).is_ok());
  EXPECT_FALSE(*c->set_contains("s", "b"));
  EXPECT_EQ(c->set_add("s", {"x"}, client::RequestId{session, 0}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(c->set_add("s", {"x", "y"}, client::RequestId{session, UINT64_MAX}).code(),
            StatusCode::kInvalidArgument);
  // After a restart the applied ids are still recognised, through a new connection.
  ASSERT_EQ(node_->stop(), 0) << node_->log();
  ASSERT_TRUE(node_->start().is_ok()) << node_->log();
  auto again = connect_to(*node_);
  ASSERT_TRUE(again->set_add("s", {"a", "b"}, add_ab).is_ok());
  ASSERT_TRUE(again->set_remove("s", {"a"}, remove_a).is_ok());
  EXPECT_TRUE(*again->set_contains("s", "a"));
  EXPECT_FALSE(*again->set_contains("s", "b"));
  auto page = again->set_list("s", "", 0);
  ASSERT_TRUE(page.is_ok()) << page.status().to_string();
  EXPECT_EQ(page->members, std::vector<std::string>{"a"});
}

TEST_F(NodeTest, SetRefusesOutOfOrderRequestsPastTheLimitButTakesTheNextInOrder) {
  auto c = connect_to(*node_);
  const uint64_t session = 0xabc;
  // Request 1 is missing, so requests 2, 4, 6, ... all wait out of order.
  for (uint64_t i = 1; i <= api::MAX_PENDING_REQUESTS; ++i) {
    ASSERT_TRUE(
        c->set_add("gaps", {"m" + std::to_string(i)}, client::RequestId{session, 2 * i}).is_ok())
        << i;
  }
  Status refused = c->set_add("gaps", {"far"}, client::RequestId{session, 1001});
  EXPECT_EQ(refused.code(), StatusCode::kResourceExhausted) << refused.to_string();
  EXPECT_FALSE(*c->set_contains("gaps", "far"));
  // A request right after one applied is taken: the session's first, then its third.
  ASSERT_TRUE(c->set_add("gaps", {"first"}, client::RequestId{session, 1}).is_ok());
  ASSERT_TRUE(c->set_add("gaps", {"third"}, client::RequestId{session, 3}).is_ok());
  EXPECT_TRUE(*c->set_contains("gaps", "first"));
  EXPECT_TRUE(*c->set_contains("gaps", "third"));
}

// The case request ids exist for: a call times out, yet the node applies it later; the caller's
// retry under the same id must not apply it again.
TEST_F(NodeTest, AnUpdateThatTimedOutButLandedLaterIsNotAppliedAgainByItsRetry) {
  client::Options options;
  options.address = node_->address();
  options.timeout_ms = 300;
  auto c = client::Client::connect(options);
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  ASSERT_TRUE((*c)->set_add("late", {"a"}).is_ok());
  const client::RequestId remove_a{0x7e7e, 1}, add_a{0x7e7e, 2};
  const client::RequestId count{0x7e7f, 1};
  node_->pause();
  EXPECT_EQ((*c)->set_remove("late", {"a"}, remove_a).code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ((*c)->counter_add("late", 5, count).status().code(), StatusCode::kDeadlineExceeded);
  node_->resume();  // the node now applies both requests, and answers a caller that left
  auto again = connect_to(*node_);
  // The counter add came after the remove on the same connection: once it shows, both landed.
  for (int i = 0; i < 500 && *again->counter_get("late") != 5; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(*again->counter_get("late"), 5);
  EXPECT_FALSE(*again->set_contains("late", "a"));
  ASSERT_TRUE(again->set_add("late", {"a"}, add_a).is_ok());
  // Retries of the remove, late or not, do not remove the add that came after it.
  ASSERT_TRUE(again->set_remove("late", {"a"}, remove_a).is_ok());
  EXPECT_TRUE(*again->set_contains("late", "a"));
  EXPECT_EQ(*again->counter_add("late", 5, count), 5);
}

// Many clients writing one set at once: every acknowledged add is there.
TEST_F(NodeTest, ConcurrentWritersOfOneSetAllLand) {
  constexpr int kWriters = 8, kAddsPerWriter = 40;
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      auto mine = connect_to(*node_);
      for (int i = 0; i < kAddsPerWriter; ++i) {
        ASSERT_TRUE(
            mine->set_add("shared", {"w" + std::to_string(w) + "-" + std::to_string(i)}).is_ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  auto c = connect_to(*node_);
  size_t listed = 0;
  std::string after;
  for (;;) {
    auto page = c->set_list("shared", after, 0);
    ASSERT_TRUE(page.is_ok()) << page.status().to_string();
    listed += page->members.size();
    if (!page->more) break;
    after = page->members.back();
  }
  EXPECT_EQ(listed, size_t{kWriters * kAddsPerWriter});
}

TEST_F(NodeTest, MetricsWriteReadsBackOneSeriesInTimeOrder) {
  auto c = connect_to(*node_);
  std::vector<client::Label> cpu_a = {{"__name__", "cpu"}, {"host", "a"}};
  std::vector<client::Label> cpu_b = {{"host", "b"}, {"__name__", "cpu"}};
  client::Series a{cpu_a, {{3000, 0.3}, {1000, 0.1}, {2000, std::nan("")}, {-5, -1.0}}};
  client::Series b{cpu_b, {{1000, 9.0}}};
  auto written = c->metrics_write({a, b});
  ASSERT_TRUE(written.is_ok()) << written.status().to_string();
  EXPECT_EQ(written->accepted, 5u);
  EXPECT_TRUE(written->errors.empty());

  // Label order does not matter; the window is [from, to).
  auto read = c->metrics_read({{"host", "a"}, {"__name__", "cpu"}}, 0, 3000, 0);
  ASSERT_TRUE(read.is_ok()) << read.status().to_string();
  ASSERT_EQ(read->samples.size(), 2u);
  EXPECT_EQ(read->samples[0].timestamp_ms, 1000);
  EXPECT_EQ(read->samples[0].value, 0.1);
  EXPECT_EQ(read->samples[1].timestamp_ms, 2000);
  EXPECT_TRUE(std::isnan(read->samples[1].value));

  auto all = c->metrics_read(cpu_a, INT64_MIN, INT64_MAX, 0);
  ASSERT_EQ(all->samples.size(), 4u);
  EXPECT_EQ(all->samples[0].timestamp_ms, -5);

  auto other = c->metrics_read({{"__name__", "cpu"}, {"host", "c"}}, INT64_MIN, INT64_MAX, 0);
  EXPECT_TRUE(other->samples.empty());
}

TEST_F(NodeTest, MetricsWriteReportsBadSeriesAndStoresTheRest) {
  auto c = connect_to(*node_);
  client::Series good{{{"__name__", "up"}}, {{1, 1.0}}};
  client::Series no_name{{{"job", "x"}}, {{1, 1.0}}};
  client::Series bad_label{{{"__name__", "up"}, {"0bad", "x"}}, {{1, 1.0}}};
  client::Series empty{{}, {{1, 1.0}}};
  auto written = c->metrics_write({no_name, good, bad_label, empty});
  ASSERT_TRUE(written.is_ok()) << written.status().to_string();
  EXPECT_EQ(written->accepted, 1u);
  ASSERT_EQ(written->errors.size(), 3u);
  std::set<uint32_t> failed;
  for (auto& e : written->errors) {
    failed.insert(e.series);
    EXPECT_EQ(e.status.code(), StatusCode::kInvalidArgument) << e.status.to_string();
    EXPECT_FALSE(e.status.message().empty());
  }
  EXPECT_EQ(failed, (std::set<uint32_t>{0, 2, 3}));
  EXPECT_EQ(c->metrics_read({{"__name__", "up"}}, 0, 10, 0)->samples.size(), 1u);
}

TEST_F(NodeTest, APreparedMetricsWriteStoresWhatItsSeriesHoldAndReportsServerErrors) {
  auto c = connect_to(*node_);
  client::Series a{{{"__name__", "enc"}, {"host", "a"}}, {{3000, 0.3}, {1000, std::nan("")}}};
  client::Series no_name{{{"job", "x"}}, {{1, 1.0}}};  // passes the client, refused by the store
  auto prepared = c->prepare_metrics_write({no_name, a});
  ASSERT_TRUE(prepared.is_ok()) << prepared.status().to_string();
  EXPECT_EQ(prepared->series_count(), 2u);
  auto written = c->metrics_write(std::move(*prepared));
  ASSERT_TRUE(written.is_ok()) << written.status().to_string();
  EXPECT_EQ(written->accepted, 2u);
  ASSERT_EQ(written->errors.size(), 1u);
  EXPECT_EQ(written->errors[0].series, 0u);
  EXPECT_EQ(written->errors[0].status.code(), StatusCode::kInvalidArgument);
  auto read = c->metrics_read(a.labels, INT64_MIN, INT64_MAX, 0);
  ASSERT_TRUE(read.is_ok()) << read.status().to_string();
  ASSERT_EQ(read->samples.size(), 2u);
  EXPECT_EQ(read->samples[0].timestamp_ms, 1000);
  EXPECT_TRUE(std::isnan(read->samples[0].value));
  EXPECT_EQ(read->samples[1].value, 0.3);

  // Sent once, on the client that prepared it.
  auto again = c->metrics_write(std::move(*prepared));
  EXPECT_EQ(again.status().code(), StatusCode::kInvalidArgument) << again.status().to_string();
  auto other = connect_to(*node_);
  auto foreign = c->prepare_metrics_write({a});
  ASSERT_TRUE(foreign.is_ok()) << foreign.status().to_string();
  auto elsewhere = other->metrics_write(std::move(*foreign));
  EXPECT_EQ(elsewhere.status().code(), StatusCode::kInvalidArgument)
      << elsewhere.status().to_string();

  // Only series the client would send can be prepared.
  client::Series long_value{
      {{"__name__", "enc"}, {"v", std::string(api::MAX_LABEL_VALUE_BYTES + 1, 'x')}}, {{1, 1.0}}};
  auto refused = c->prepare_metrics_write({a, long_value});
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("series 1"), std::string::npos)
      << refused.status().to_string();
}

TEST_F(NodeTest, SeriesIdsTheServerDoesNotKnowAreSentAgainWithTheirLabels) {
  auto c = connect_to(*node_);
  client::Series a{{{"__name__", "ids"}, {"host", "a"}}, {{1000, 1.0}}};
  client::Series b{{{"__name__", "ids"}, {"host", "b"}}, {{1000, 2.0}}};
  // Preparing gives a and b their ids with their labels; dropped unsent, the server never saw them.
  ASSERT_TRUE(c->prepare_metrics_write({a, b}).is_ok());
  // So these name them by id alone; the server does not know the ids, and the client sends a
  // and b once more with their labels.
  a.samples = {{2000, 3.0}};
  b.samples = {{2000, 4.0}};
  auto written = c->metrics_write({a, b});
  ASSERT_TRUE(written.is_ok()) << written.status().to_string();
  EXPECT_EQ(written->accepted, 2u);
  EXPECT_TRUE(written->errors.empty()) << written->errors.front().status.to_string();
  a.samples = {{3000, 5.0}};
  written = c->metrics_write({a});
  ASSERT_TRUE(written.is_ok()) << written.status().to_string();
  EXPECT_EQ(written->accepted, 1u);
  EXPECT_EQ(c->metrics_read(a.labels, 0, 10000, 0)->samples.size(), 2u);
  EXPECT_EQ(c->metrics_read(b.labels, 0, 10000, 0)->samples.size(), 1u);

  // Prepared writes are sent as prepared: one sent before the one carrying its labels reports
  // the series as not_found.
  client::Series late{{{"__name__", "ids"}, {"host", "late"}}, {{1000, 1.0}}};
  auto with_labels = c->prepare_metrics_write({late});
  late.samples = {{2000, 2.0}};
  auto by_id = c->prepare_metrics_write({late});
  ASSERT_TRUE(with_labels.is_ok() && by_id.is_ok());
  auto early = c->metrics_write(std::move(*by_id));
  ASSERT_TRUE(early.is_ok()) << early.status().to_string();
  EXPECT_EQ(early->accepted, 0u);
  ASSERT_EQ(early->errors.size(), 1u);
  EXPECT_EQ(early->errors[0].status.code(), StatusCode::kNotFound);
  auto labelled = c->metrics_write(std::move(*with_labels));
  ASSERT_TRUE(labelled.is_ok()) << labelled.status().to_string();
  EXPECT_EQ(labelled->accepted, 1u);
}

TEST_F(NodeTest, AClientWithoutSeriesIdsSendsLabelsEveryTime) {
  auto c = connect_to(*node_, false);
  client::Series a{{{"__name__", "plain"}}, {{1000, 1.0}}};
  auto prepared = c->prepare_metrics_write({a});
  a.samples = {{2000, 2.0}};
  auto first = c->metrics_write({a});
  ASSERT_TRUE(first.is_ok()) << first.status().to_string();
  EXPECT_EQ(first->accepted, 1u);
  // The prepared write carries its labels too, so sending it after is fine.
  ASSERT_TRUE(prepared.is_ok()) << prepared.status().to_string();
  auto second = c->metrics_write(std::move(*prepared));
  ASSERT_TRUE(second.is_ok()) << second.status().to_string();
  EXPECT_EQ(second->accepted, 1u);
  EXPECT_EQ(c->metrics_read(a.labels, 0, 10000, 0)->samples.size(), 2u);
}

TEST_F(NodeTest, MetricsQueryEvaluatesPromqlOverRpc) {
  auto c = connect_to(*node_);
  std::vector<client::Series> series = {
      {{{"__name__", "cpu"}, {"host", "a"}, {"mode", "idle"}}, {}},
      {{{"__name__", "cpu"}, {"host", "a"}, {"mode", "user"}}, {}},
      {{{"__name__", "cpu"}, {"host", "b"}, {"mode", "idle"}}, {}},
  };
  const double slope[] = {2, 3, 1};  // per second
  for (int i = 0; i <= 600; ++i) {
    for (int s = 0; s < 3; ++s) series[s].samples.push_back({i * 1000, i * slope[s]});
  }
  auto written = c->metrics_write(series);
  ASSERT_TRUE(written.is_ok()) << written.status().to_string();
  ASSERT_EQ(written->accepted, 3u * 601);

  auto rates = c->metrics_query("sum by (host) (rate(cpu[1m]))", 60000, 600000, 60000);
  ASSERT_TRUE(rates.is_ok()) << rates.status().to_string();
  ASSERT_EQ(rates->series.size(), 2u);
  EXPECT_EQ(rates->series[0].labels, (std::vector<client::Label>{{"host", "a"}}));
  EXPECT_EQ(rates->series[1].labels, (std::vector<client::Label>{{"host", "b"}}));
  for (int s = 0; s < 2; ++s) {
    ASSERT_EQ(rates->series[s].points.size(), 10u);
    for (const client::Sample& p : rates->series[s].points) {
      EXPECT_NEAR(p.value, s == 0 ? 5.0 : 1.0, 1e-9) << p.timestamp_ms;
    }
  }
  EXPECT_GT(rates->samples_loaded, 0u);

  auto raw = c->metrics_query("cpu{host=\"a\",mode=~\"i.*\"}", 0, 120000, 60000);
  ASSERT_TRUE(raw.is_ok()) << raw.status().to_string();
  ASSERT_EQ(raw->series.size(), 1u);
  ASSERT_EQ(raw->series[0].points.size(), 3u);
  EXPECT_EQ(raw->series[0].points[2].timestamp_ms, 120000);
  EXPECT_EQ(raw->series[0].points[2].value, 240.0);

  auto bad = c->metrics_query("sum(", 0, 1000, 1000);
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument) << bad.status().to_string();
  auto steps = c->metrics_query("cpu", 0, int64_t{api::MAX_QUERY_STEPS} * 1000, 1);
  EXPECT_EQ(steps.status().code(), StatusCode::kInvalidArgument) << steps.status().to_string();
  auto huge = c->metrics_query(std::string(api::MAX_QUERY_EXPR_BYTES + 1, 'x'), 0, 1, 1);
  EXPECT_EQ(huge.status().code(), StatusCode::kInvalidArgument);
  // The connection still works after the failed calls.
  EXPECT_TRUE(c->metrics_query("count(cpu)", 0, 0, 1000).is_ok());
}

// Batched writes of many series, with late samples and head seals under way, then kill -9:
// every acknowledged sample reads back after the restart, with its value.
TEST_F(NodeTest, AcknowledgedSamplesSurviveKill9DuringBatchedWritesAndSeals) {
  constexpr int kWriters = 2;
  constexpr int kSeriesPerWriter = 20;
  constexpr int kSamplesPerWrite = 200;  // per series; heads seal every 4096 samples
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::map<std::string, std::vector<int64_t>> acked;  // series name -> timestamps
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      auto c = connect_to(*node_);
      for (int round = 0; !stop; ++round) {
        std::vector<client::Series> batch;
        for (int k = 0; k < kSeriesPerWriter; ++k) {
          client::Series s{{{"__name__", "load"}, {"s", std::to_string(w * 100 + k)}}, {}};
          for (int j = 0; j < kSamplesPerWrite; ++j) {
            // Every 10th sample swaps places with the one before: late samples.
            int at = (j % 10 == 9) ? j - 1 : (j % 10 == 8 ? j + 1 : j);
            int64_t ts = int64_t{round} * kSamplesPerWrite + at;
            s.samples.push_back({ts, ts * 0.5});
          }
          batch.push_back(std::move(s));
        }
        auto written = c->metrics_write(batch);
        if (!written.is_ok()) return;  // the node is gone
        ASSERT_TRUE(written->errors.empty()) << written->errors[0].status.to_string();
        std::lock_guard l(mu);
        for (const client::Series& s : batch) {
          for (const client::Sample& x : s.samples)
            acked[s.labels[1].value].push_back(x.timestamp_ms);
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(2000));
  node_->kill9();
  stop = true;
  for (auto& t : writers) t.join();
  size_t total = 0;
  for (auto& [name, ts] : acked) total += ts.size();
  ASSERT_GT(total, size_t{kWriters} * kSeriesPerWriter * 4096) << "no head was sealed";

  ASSERT_TRUE(node_->start().is_ok()) << node_->log();
  auto c = connect_to(*node_);
  for (auto& [name, timestamps] : acked) {
    std::map<int64_t, double> stored;
    int64_t from = INT64_MIN;
    for (;;) {
      auto page = c->metrics_read({{"__name__", "load"}, {"s", name}}, from, INT64_MAX, 0);
      ASSERT_TRUE(page.is_ok()) << page.status().to_string();
      for (auto& x : page->samples) stored[x.timestamp_ms] = x.value;
      if (!page->more) break;
      from = page->samples.back().timestamp_ms + 1;
    }
    for (int64_t ts : timestamps) {
      auto it = stored.find(ts);
      ASSERT_NE(it, stored.end()) << "series " << name << " lost " << ts;
      ASSERT_EQ(it->second, ts * 0.5);
    }
  }
}

// The server enforces the limits itself: a client that skips the checks gets a clear error for
// the call, and its connection keeps working.
TEST_F(NodeTest, ServerRejectsOversizedInputFromAnyClient) {
  capnp::EzRpcClient raw(node_->address());
  auto& ws = raw.getWaitScope();
  // The error a request fails with; "" when it succeeds.
  auto error_of = [&ws](auto& request) {
    std::string error;
    request.send()
        .then([](auto&&) {}, [&](kj::Exception&& e) { error = e.getDescription().cStr(); })
        .wait(ws);
    return error;
  };
  auto meld = raw.getMain<api::Meld>();
  auto kv = meld.kvRequest().send().getKv();
  std::string big_key(api::MAX_KEY_BYTES + 1, 'k');
  auto put = kv.putRequest();
  put.setKey(kj::arrayPtr(reinterpret_cast<const kj::byte*>(big_key.data()), big_key.size()));
  std::string error = error_of(put);
  EXPECT_NE(error.find("invalid_argument: key is 4097 bytes, limit 4096"), std::string::npos)
      << error;

  auto sets = meld.setsRequest().send().getSets();
  auto add = sets.addRequest();
  add.setSet(kj::arrayPtr(reinterpret_cast<const kj::byte*>("s"), 1));
  add.initMembers(api::MAX_SET_MEMBERS_PER_CALL + 1);
  error = error_of(add);
  EXPECT_NE(error.find("invalid_argument"), std::string::npos) << error;
  auto contains_all = sets.containsAllRequest();
  contains_all.setSet(kj::arrayPtr(reinterpret_cast<const kj::byte*>("s"), 1));
  contains_all.initMembers(api::MAX_SET_MEMBERS_PER_CALL + 1);
  error = error_of(contains_all);
  EXPECT_NE(error.find("invalid_argument: " + std::to_string(api::MAX_SET_MEMBERS_PER_CALL + 1) +
                       " members in one call"),
            std::string::npos)
      << error;

  // Metrics.write checks its limits on its decoder thread; the error reaches the caller the same.
  auto metrics = meld.metricsRequest().send().getMetrics();
  auto write = metrics.writeRequest();
  write.initSeries(api::MAX_SERIES_PER_WRITE + 1);
  error = error_of(write);
  EXPECT_NE(error.find("invalid_argument: " + std::to_string(api::MAX_SERIES_PER_WRITE + 1) +
                       " series in one write"),
            std::string::npos)
      << error;

  auto get = kv.getRequest();
  get.setKey(kj::arrayPtr(reinterpret_cast<const kj::byte*>("k"), 1));
  EXPECT_FALSE(get.send().wait(ws).getFound());
}

// Clients that disconnect while their metrics writes are being decoded or stored leave the node
// serving writes and reads.
TEST_F(NodeTest, ClientsVanishingMidMetricsWriteDoNotHurtTheNode) {
  for (int round = 0; round < 20; ++round) {
    capnp::EzRpcClient raw(node_->address());
    auto metrics = raw.getMain<api::Meld>().metricsRequest().send().getMetrics();
    auto write = metrics.writeRequest();
    auto series = write.initSeries(2000);
    for (unsigned i = 0; i < series.size(); ++i) {
      auto labels = series[i].initLabels(2);
      labels[0].setName("__name__");
      labels[0].setValue("vanishing");
      labels[1].setName("s");
      labels[1].setValue(std::to_string(i).c_str());
      auto samples = series[i].initSamples(5);
      for (unsigned j = 0; j < samples.size(); ++j) {
        samples[j].setTimestampMs(round * 10 + j);
        samples[j].setValue(j);
      }
    }
    auto reply = write.send();  // never waited for: the client closes first
    raw.getWaitScope().poll();
  }
  auto c = connect_to(*node_);
  auto written = c->metrics_write({{{{"__name__", "after"}}, {{1, 2.0}}}});
  ASSERT_TRUE(written.is_ok()) << written.status().to_string() << "\n" << node_->log();
  EXPECT_EQ(written->accepted, 1u);
  EXPECT_EQ(c->metrics_read({{"__name__", "after"}}, 0, 10, 0)->samples.size(), 1u);
}

// Clients that vanish while a large reply is on its way cost their connection, never the node
// (regression: SIGPIPE killed meldd).
TEST_F(NodeTest, ClientsVanishingMidReplyDoNotHurtTheNode) {
  {
    auto c = connect_to(*node_);
    std::string value(64 * 1024, 'v');
    for (int i = 0; i < 64; ++i) ASSERT_TRUE(c->kv_put("big" + std::to_string(i), value).is_ok());
  }
  for (int round = 0; round < 20; ++round) {
    capnp::EzRpcClient raw(node_->address());
    auto kv = raw.getMain<api::Meld>().kvRequest().send().getKv();
    auto scan = kv.scanRequest();
    scan.setLimit(64);
    auto reply = scan.send();  // ~4 MiB of reply, never read: the client closes first
    raw.getWaitScope().poll();
  }
  auto c = connect_to(*node_);
  auto status = c->status();
  ASSERT_TRUE(status.is_ok()) << status.status().to_string() << "\n" << node_->log();
}

TEST_F(NodeTest, StatusReportsTheNode) {
  auto c = connect_to(*node_);
  ASSERT_TRUE(c->kv_put("a", "b").is_ok());
  auto s = c->status();
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  EXPECT_NE(s->node_id, 0u);
  EXPECT_EQ(s->rpc_address, node_->address());
  EXPECT_GE(s->storage.committed_batches, 1u);
  EXPECT_TRUE(s->storage.sync_writes);
  EXPECT_GE(s->active_clients, 1u);
  EXPECT_EQ(s->time_series.series_in_memory, 0u);
  EXPECT_EQ(s->time_series.wal_records, 0u);
}

TEST_F(NodeTest, StatusReportsTheTimeSeriesStore) {
  auto c = connect_to(*node_);
  client::Series up{{{"__name__", "up"}, {"job", "a"}}, {{1000, 1.0}, {2000, 1.0}}};
  client::Series load{{{"__name__", "load"}}, {{1000, 0.5}}};
  auto written = c->metrics_write({up, load});
  ASSERT_TRUE(written.is_ok()) << written.status().to_string();
  ASSERT_EQ(written->accepted, 3u);
  auto s = c->status();
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  EXPECT_EQ(s->time_series.series_in_memory, 2u);
  EXPECT_GT(s->time_series.head_bytes, 0u);
  EXPECT_EQ(s->time_series.wal_records, 1u);
  EXPECT_GT(s->time_series.wal_bytes, 0u);
  EXPECT_EQ(s->time_series.sealed_blocks, 0u);
  // A restart seals every head: nothing is left in memory or in the log, and the blocks stay.
  ASSERT_EQ(node_->stop(), 0);
  ASSERT_TRUE(node_->start().is_ok());
  s = connect_to(*node_)->status();
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  EXPECT_EQ(s->time_series.head_bytes, 0u);
  EXPECT_EQ(s->time_series.wal_records, 0u);
  EXPECT_EQ(s->time_series.wal_bytes, 0u);
}

TEST_F(NodeTest, NodeIdSurvivesRestart) {
  uint64_t before = connect_to(*node_)->status()->node_id;
  ASSERT_EQ(node_->stop(), 0);
  ASSERT_TRUE(node_->start().is_ok());
  EXPECT_EQ(connect_to(*node_)->status()->node_id, before);
}

TEST_F(NodeTest, SecondNodeOnTheSameDataDirIsRefusedClearly) {
  MelddProcess second(MELDD_PATH, dir_.path() + "/data");
  Status s = second.start();
  EXPECT_FALSE(s.is_ok());
  EXPECT_NE(second.log().find("in use by another process"), std::string::npos) << second.log();
}

// The block duration is part of the ts key layout: a data dir keeps the one it was created with.
TEST_F(NodeTest, AnotherTsBlockOnAnExistingDataDirIsRefusedAtStart) {
  ASSERT_EQ(node_->stop(), 0);
  MelddProcess other(MELDD_PATH, dir_.path() + "/data", {"--ts-block", "2h"});
  Status s = other.start();
  EXPECT_FALSE(s.is_ok());
  EXPECT_NE(other.log().find("cannot be opened with blocks of 7200000 ms"), std::string::npos)
      << other.log();
  MelddProcess same(MELDD_PATH, dir_.path() + "/data",
                    {"--ts-block", "1w", "--ts-retention", "90d"});
  ASSERT_TRUE(same.start().is_ok()) << same.log();
  EXPECT_EQ(same.stop(), 0);
}

// Every write acknowledged before kill -9 is there after a restart on the same directory.
TEST_F(NodeTest, AcknowledgedWritesSurviveKill9) {
  constexpr int kWriters = 4;
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::map<std::string, std::string> acked_kv;
  std::set<std::string> acked_members;
  std::vector<int64_t> acked_samples;
  std::atomic<int64_t> acked_increments{0}, attempted_increments{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      auto c = connect_to(*node_);
      for (int i = 0; !stop; ++i) {
        std::string key = "w" + std::to_string(w) + "/" + std::to_string(i);
        if (c->kv_put(key, "value-" + key).is_ok()) {
          std::lock_guard l(mu);
          acked_kv[key] = "value-" + key;
        } else {
          return;  // the node is gone
        }
        ++attempted_increments;
        if (c->counter_add("hits", 1).is_ok()) ++acked_increments;
        if (c->set_add("members", {key}).is_ok()) {
          std::lock_guard l(mu);
          acked_members.insert(key);
        }
        int64_t ts = static_cast<int64_t>(w) * 1000000 + i;
        if (c->metrics_write({{{{"__name__", "writes"}}, {{ts, double(i)}}}}).is_ok()) {
          std::lock_guard l(mu);
          acked_samples.push_back(ts);
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  node_->kill9();
  stop = true;
  for (auto& t : writers) t.join();
  ASSERT_GT(acked_kv.size(), 20u) << "too few writes to prove anything";

  ASSERT_TRUE(node_->start().is_ok()) << node_->log();
  auto c = connect_to(*node_);
  for (auto& [k, v] : acked_kv) {
    auto got = c->kv_get(k);
    ASSERT_TRUE(got.is_ok());
    ASSERT_EQ(got->value_or("<lost>"), v) << k;
  }
  int64_t hits = *c->counter_get("hits");
  EXPECT_GE(hits, acked_increments.load());
  EXPECT_LE(hits, attempted_increments.load());
  for (auto& m : acked_members) ASSERT_TRUE(*c->set_contains("members", m)) << m;
  auto samples = c->metrics_read({{"__name__", "writes"}}, INT64_MIN, INT64_MAX, 0);
  ASSERT_TRUE(samples.is_ok());
  std::set<int64_t> stored;
  for (auto& s : samples->samples) stored.insert(s.timestamp_ms);
  for (int64_t ts : acked_samples) ASSERT_TRUE(stored.count(ts)) << ts;
}

TEST_F(NodeTest, MeldctlDrivesEveryService) {
  std::string out, err;
  const std::string& a = node_->address();
  EXPECT_EQ(run_meldctl(a, {"kv", "put", "greeting", "hello"}, &out, &err), 0) << err;
  EXPECT_EQ(run_meldctl(a, {"kv", "get", "greeting"}, &out, &err), 0) << err;
  EXPECT_EQ(out, "hello\n");
  EXPECT_EQ(run_meldctl(a, {"--json", "kv", "get", "greeting"}, &out, &err), 0) << err;
  EXPECT_NE(out.find("\"hello\""), std::string::npos) << out;
  EXPECT_EQ(run_meldctl(a, {"counter", "add", "visits", "5"}, &out, &err), 0) << err;
  EXPECT_EQ(out, "5\n");
  EXPECT_EQ(run_meldctl(a, {"set", "add", "team", "alice", "bob"}, &out, &err), 0) << err;
  EXPECT_EQ(run_meldctl(a, {"set", "list", "team"}, &out, &err), 0) << err;
  EXPECT_EQ(out, "alice\nbob\n");
  EXPECT_EQ(run_meldctl(a, {"set", "contains", "team", "bob"}, &out, &err), 0) << err;
  EXPECT_EQ(out, "true\n");
  EXPECT_EQ(run_meldctl(a, {"set", "contains", "team", "carol", "alice"}, &out, &err), 0) << err;
  EXPECT_EQ(out, "carol\tfalse\nalice\ttrue\n");
  EXPECT_EQ(run_meldctl(a, {"--json", "set", "contains", "team", "alice", "carol"}, &out, &err), 0)
      << err;
  EXPECT_EQ(out,
            "{\"members\":[{\"member\":\"alice\",\"present\":true},"
            "{\"member\":\"carol\",\"present\":false}]}\n");
  EXPECT_EQ(run_meldctl(a, {"ts", "write", "cpu{host=\"a\"}", "1000=0.5", "2000=0.75"}, &out, &err),
            0)
      << err;
  EXPECT_EQ(
      run_meldctl(a, {"--json", "ts", "read", "cpu{host=\"a\"}", "--from", "0", "--to", "3000"},
                  &out, &err),
      0)
      << err;
  EXPECT_NE(out.find("0.75"), std::string::npos) << out;
  EXPECT_EQ(run_meldctl(a, {"ts", "write", "-"}, &out, &err,
                        "mem{host=\"a\"} 1000 1.5\nmem{host=\"a\"} 2000 2.5\n"),
            0)
      << err;
  EXPECT_EQ(
      run_meldctl(
          a, {"ts", "query", "{host=\"a\"}", "--from", "1000", "--to", "2000", "--step", "1000"},
          &out, &err),
      0)
      << err;
  EXPECT_EQ(out,
            "cpu{host=\"a\"}\n  1000 0.5\n  2000 0.75\n"
            "mem{host=\"a\"}\n  1000 1.5\n  2000 2.5\n");
  EXPECT_EQ(run_meldctl(a,
                        {"--json", "ts", "query", "sum(mem)", "--from", "2000", "--to", "2000",
                         "--step", "1000"},
                        &out, &err),
            0)
      << err;
  EXPECT_NE(out.find("{\"labels\":{},\"points\":[{\"timestamp_ms\":2000,\"value\":2.5}]}"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("\"samples_loaded\":"), std::string::npos) << out;
  EXPECT_EQ(run_meldctl(a, {"ts", "query", "rate(mem)", "--from", "0", "--to", "1", "--step", "1"},
                        &out, &err),
            1);
  EXPECT_NE(err.find("invalid_argument"), std::string::npos) << err;
  EXPECT_EQ(run_meldctl(a, {"status"}, &out, &err), 0) << err;
  EXPECT_NE(out.find(a), std::string::npos) << out;
  EXPECT_NE(out.find("\ntime_series.wal_records: "), std::string::npos) << out;
  EXPECT_EQ(run_meldctl(a, {"status", "--json"}, &out, &err), 0) << err;
  EXPECT_NE(out.find("\"time_series\":{\"series_in_memory\":"), std::string::npos) << out;
}

TEST_F(NodeTest, MeldctlReportsBadInputClearly) {
  std::string out, err;
  const std::string& a = node_->address();
  EXPECT_EQ(run_meldctl(a, {"kv", "put", "only-key"}, &out, &err), 2);
  EXPECT_NE(err.find("usage"), std::string::npos) << err;
  EXPECT_EQ(run_meldctl(a, {"kv", "put", std::string(5000, 'k'), "v"}, &out, &err), 1);
  EXPECT_NE(err.find("invalid_argument"), std::string::npos) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  // On the command line a malformed sample is a usage error naming it; nothing is sent.
  EXPECT_EQ(run_meldctl(a, {"ts", "write", "up", "1000=1", "nan=2"}, &out, &err), 2);
  EXPECT_NE(err.find("nan"), std::string::npos) << err;
  // In a batch, each bad line is reported on its own and the good ones are stored.
  EXPECT_EQ(run_meldctl(a, {"ts", "write", "-"}, &out, &err,
                        "up 1000 1\nup nan 2\nup{0bad=\"x\"} 3000 3\nup 2000 2\n"),
            1);
  EXPECT_NE(err.find("line 2"), std::string::npos) << err;
  EXPECT_NE(err.find("line 3"), std::string::npos) << err;
  EXPECT_EQ(run_meldctl(a, {"ts", "read", "up", "--from", "0", "--to", "5000"}, &out, &err), 0)
      << err;
  EXPECT_NE(out.find("1000"), std::string::npos) << out;
  EXPECT_NE(out.find("2000"), std::string::npos) << out;
}

TEST(Meldd, UnreachableNodeIsOneLineNamingTheAddress) {
  // Find a port nobody listens on: start a node, note its address, stop it.
  TempDir dir;
  MelddProcess node(MELDD_PATH, dir.path() + "/data");
  ASSERT_TRUE(node.start().is_ok());
  std::string address = node.address();
  ASSERT_EQ(node.stop(), 0);
  std::string out, err;
  EXPECT_EQ(run_meldctl(address, {"kv", "get", "x"}, &out, &err), 1);
  EXPECT_NE(err.find(address), std::string::npos) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
}

TEST(Meldd, BadFlagsPrintUsageAndExit2) {
  TempDir dir;
  MelddProcess node(MELDD_PATH, dir.path() + "/data", {"--listen", "not-an-address"});
  Status s = node.start();
  EXPECT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("(2)"), std::string::npos) << s.to_string();
  EXPECT_NE(node.log().find("usage: meldd"), std::string::npos) << node.log();
}

}  // namespace
}  // namespace meld
