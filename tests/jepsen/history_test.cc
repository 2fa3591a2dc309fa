#include "jepsen/history.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "base/rng.h"
#include "jepsen/register_workload.h"

namespace meld::jepsen {
namespace {

Op make_op(int64_t process, OpFunction function, OpOutcome outcome, int64_t invoke,
           int64_t complete) {
  Op op;
  op.process = process;
  op.key = "k";
  op.function = function;
  op.outcome = outcome;
  op.invoke_time = invoke;
  op.complete_time = complete;
  return op;
}

TEST(History, FormatThenParseRoundTripsEveryKindOfOp) {
  History history;
  Op read = make_op(1, OpFunction::kRead, OpOutcome::kOk, 0, 5);
  read.read_value = -7;
  history.push_back(read);
  Op nil_read = make_op(2, OpFunction::kRead, OpOutcome::kOk, 1, 6);
  nil_read.key = "quote\" backslash\\ newline\n tab\t \x01 caf\xc3\xa9";
  history.push_back(nil_read);
  Op write = make_op(3, OpFunction::kWrite, OpOutcome::kFail, 2, 7);
  write.value = INT64_MIN;
  history.push_back(write);
  Op cas = make_op(4, OpFunction::kCas, OpOutcome::kInfo, 3, kNeverCompleted);
  cas.expected = INT64_MAX;
  cas.value = 9;
  history.push_back(cas);
  history.push_back(make_op(5, OpFunction::kRead, OpOutcome::kInfo, 4, 8));

  std::string text = format_history(history);
  Result<History> parsed = parse_history(text);
  ASSERT_TRUE(parsed.is_ok()) << parsed.status().to_string() << "\n" << text;
  EXPECT_EQ(*parsed, history);
}

TEST(History, ParsesTheDocumentedForm) {
  Result<History> parsed = parse_history(
      "{\"process\":3,\"key\":\"k1\",\"f\":\"cas\",\"outcome\":\"ok\",\"expected\":1,"
      "\"value\":2,\"invoke\":10,\"complete\":20}\n\n"
      " { \"process\" : 4 , \"key\":\"k\\u00e9\",\"f\":\"read\",\"outcome\":\"ok\","
      "\"read\":null,\"invoke\":11,\"complete\":12} \n");
  ASSERT_TRUE(parsed.is_ok()) << parsed.status().to_string();
  ASSERT_EQ(parsed->size(), 2u);
  EXPECT_EQ((*parsed)[0].function, OpFunction::kCas);
  EXPECT_EQ((*parsed)[0].expected, 1);
  EXPECT_EQ((*parsed)[0].value, 2);
  EXPECT_EQ((*parsed)[1].key, "k\xc3\xa9");
  EXPECT_EQ((*parsed)[1].read_value, std::nullopt);
}

TEST(History, ParseRejectsMalformedLinesWithTheLineNumber) {
  const std::string good =
      "{\"process\":1,\"key\":\"k\",\"f\":\"write\",\"outcome\":\"ok\",\"value\":1,"
      "\"invoke\":1,\"complete\":2}";
  const std::vector<std::string> bad = {
      "{",
      "[]",
      "{\"process\":1}",  // missing fields
      "{\"process\":1,\"process\":2}",
      "{\"process\":\"1\",\"key\":\"k\",\"f\":\"write\",\"outcome\":\"ok\",\"value\":1,"
      "\"invoke\":1,\"complete\":2}",
      "{\"process\":99999999999999999999,\"key\":\"k\",\"f\":\"write\",\"outcome\":\"ok\","
      "\"value\":1,\"invoke\":1,\"complete\":2}",
      "{\"process\":1,\"key\":\"k\",\"f\":\"append\",\"outcome\":\"ok\",\"value\":1,"
      "\"invoke\":1,\"complete\":2}",
      "{\"process\":1,\"key\":\"k\",\"f\":\"write\",\"outcome\":\"ok\",\"value\":1,"
      "\"invoke\":1,\"complete\":2,\"read\":3}",  // read on a write
      "{\"process\":1,\"key\":\"k\",\"f\":\"write\",\"outcome\":\"ok\",\"value\":1,"
      "\"invoke\":1,\"complete\":2,\"extra\":1}",
      "{\"process\":1,\"key\":\"k\\ud800\",\"f\":\"write\",\"outcome\":\"ok\",\"value\":1,"
      "\"invoke\":1,\"complete\":2}",
      "{\"process\":1,\"key\":\"k\",\"f\":\"write\",\"outcome\":\"ok\",\"value\":1,"
      "\"invoke\":1,\"complete\":2} trailing",
      "{\"process\":1,\"key\":\"" + std::string(kMaxKeyBytes + 1, 'x') +
          "\",\"f\":\"write\",\"outcome\":\"ok\",\"value\":1,\"invoke\":1,\"complete\":2}",
      "{\"process\":1,\"key\":\"k\",\"f\":\"write\",\"outcome\":\"ok\",\"value\":1,"
      "\"invoke\":3,\"complete\":2}",  // completes before it is invoked
  };
  for (const std::string& line : bad) {
    Result<History> parsed = parse_history(good + "\n" + line + "\n");
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument) << line;
    if (parsed.status().message().rfind("line 2: ", 0) != 0 &&
        parsed.status().message().find("op 1") == std::string::npos) {
      ADD_FAILURE() << "error does not locate the line: " << parsed.status().to_string();
    }
  }
}

TEST(History, ParseRefusesMoreOpsThanItsBound) {
  RegisterWorkloadOptions options;
  options.ops = 11;
  SeededRng rng(1);
  std::string text = format_history(generate_register_history(options, rng));
  EXPECT_EQ(parse_history(text, 10).status().code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(parse_history(text, 11).is_ok());
}

TEST(History, ValidationRefusesAProcessReusedAfterInfo) {
  History history = {make_op(1, OpFunction::kWrite, OpOutcome::kInfo, 0, 1),
                     make_op(1, OpFunction::kWrite, OpOutcome::kOk, 2, 3)};
  EXPECT_EQ(validate_history(history).code(), StatusCode::kInvalidArgument);
}

TEST(History, ValidationRefusesOverlappingOpsOfOneProcess) {
  History history = {make_op(1, OpFunction::kWrite, OpOutcome::kOk, 0, 5),
                     make_op(1, OpFunction::kWrite, OpOutcome::kOk, 4, 6)};
  EXPECT_EQ(validate_history(history).code(), StatusCode::kInvalidArgument);
  history[1].invoke_time = 5;
  EXPECT_TRUE(validate_history(history).is_ok());
}

RC_GTEST_PROP(History, GeneratedHistoriesRoundTripThroughText, (uint64_t seed)) {
  SeededRng rng(seed);
  RegisterWorkloadOptions options;
  options.ops = 1 + rng.uniform(50);
  options.keys = 1 + rng.uniform(4);
  options.processes = 1 + rng.uniform(6);
  options.value_range = static_cast<int64_t>(rng.uniform(4));
  options.fail_probability = 0.2;
  options.info_probability = 0.2;
  History history = generate_register_history(options, rng);
  RC_ASSERT(validate_history(history).is_ok());
  Result<History> parsed = parse_history(format_history(history));
  RC_ASSERT(parsed.is_ok());
  RC_ASSERT(*parsed == history);
}

// Untrusted input: whatever the bytes, parsing returns a value or an error, and never crashes.
RC_GTEST_PROP(History, ParseOfMangledTextIsAnErrorOrAValidHistory,
              (uint64_t seed, std::vector<std::pair<size_t, char>> edits)) {
  SeededRng rng(seed);
  RegisterWorkloadOptions options;
  options.ops = 5;
  options.info_probability = 0.2;
  std::string text = format_history(generate_register_history(options, rng));
  for (auto [pos, c] : edits) text[pos % text.size()] = c;
  Result<History> parsed = parse_history(text, 100);
  if (parsed.is_ok()) {
    RC_ASSERT(validate_history(*parsed).is_ok());
  } else {
    RC_ASSERT(parsed.status().code() == StatusCode::kInvalidArgument);
  }
}

Op invocation(int64_t process, OpFunction function, int64_t time) {
  return make_op(process, function, OpOutcome::kOk, time, 0);
}

TEST(HistoryRecorder, RecordsConcurrentClientsIntoAValidHistory) {
  constexpr int kClients = 4;
  constexpr int kOpsPerClient = 500;
  HistoryRecorder recorder(kClients * kOpsPerClient);
  std::atomic<int64_t> clock{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      for (int i = 0; i < kOpsPerClient; ++i) {
        Result<HistoryRecorder::OpId> id =
            recorder.invoke(invocation(c, OpFunction::kRead, clock.fetch_add(1)));
        ASSERT_TRUE(id.is_ok());
        ASSERT_TRUE(recorder.complete_ok(*id, i, clock.fetch_add(1)).is_ok());
      }
    });
  }
  for (auto& t : clients) t.join();
  History history = recorder.history();
  EXPECT_EQ(history.size(), size_t{kClients * kOpsPerClient});
  EXPECT_TRUE(validate_history(history).is_ok());
  for (const Op& op : history) EXPECT_EQ(op.outcome, OpOutcome::kOk);
}

TEST(HistoryRecorder, RefusesOpsPastItsBound) {
  HistoryRecorder recorder(2);
  ASSERT_TRUE(recorder.invoke(invocation(1, OpFunction::kRead, 0)).is_ok());
  ASSERT_TRUE(recorder.invoke(invocation(2, OpFunction::kRead, 0)).is_ok());
  EXPECT_EQ(recorder.invoke(invocation(3, OpFunction::kRead, 0)).status().code(),
            StatusCode::kResourceExhausted);
  EXPECT_EQ(recorder.size(), 2u);
}

TEST(HistoryRecorder, RefusesASecondOutstandingOpOfOneProcess) {
  HistoryRecorder recorder(10);
  Result<HistoryRecorder::OpId> first = recorder.invoke(invocation(1, OpFunction::kRead, 0));
  ASSERT_TRUE(first.is_ok());
  EXPECT_EQ(recorder.invoke(invocation(1, OpFunction::kRead, 1)).status().code(),
            StatusCode::kInvalidArgument);
  ASSERT_TRUE(recorder.complete_fail(*first, 2).is_ok());
  EXPECT_TRUE(recorder.invoke(invocation(1, OpFunction::kRead, 3)).is_ok());
}

TEST(HistoryRecorder, InfoRetiresTheProcess) {
  HistoryRecorder recorder(10);
  Result<HistoryRecorder::OpId> id = recorder.invoke(invocation(1, OpFunction::kWrite, 0));
  ASSERT_TRUE(id.is_ok());
  ASSERT_TRUE(recorder.complete_info(*id, 5).is_ok());
  EXPECT_EQ(recorder.invoke(invocation(1, OpFunction::kWrite, 6)).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(recorder.complete_ok(*id, std::nullopt, 7).code(), StatusCode::kInvalidArgument);
}

TEST(HistoryRecorder, RejectsBadCompletions) {
  HistoryRecorder recorder(10);
  Result<HistoryRecorder::OpId> id = recorder.invoke(invocation(1, OpFunction::kWrite, 5));
  ASSERT_TRUE(id.is_ok());
  EXPECT_EQ(recorder.complete_ok(*id, std::nullopt, 4).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(recorder.complete_ok(*id, 3, 6).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(recorder.complete_ok(*id + 1, std::nullopt, 6).code(), StatusCode::kInvalidArgument);
}

TEST(HistoryRecorder, OutstandingOpsAppearAsInfo) {
  HistoryRecorder recorder(10);
  ASSERT_TRUE(recorder.invoke(invocation(1, OpFunction::kWrite, 5)).is_ok());
  History history = recorder.history();
  ASSERT_EQ(history.size(), 1u);
  EXPECT_EQ(history[0].outcome, OpOutcome::kInfo);
  EXPECT_EQ(history[0].complete_time, kNeverCompleted);
}

}  // namespace
}  // namespace meld::jepsen
