#include "jepsen/linearizability.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "base/rng.h"
#include "jepsen/register_workload.h"
#include "tests/jepsen/brute_force_oracle.h"

namespace meld::jepsen {
namespace {

Op write_op(int64_t process, std::string key, int64_t value, int64_t invoke, int64_t complete,
            OpOutcome outcome = OpOutcome::kOk) {
  Op op;
  op.process = process;
  op.key = std::move(key);
  op.function = OpFunction::kWrite;
  op.outcome = outcome;
  op.value = value;
  op.invoke_time = invoke;
  op.complete_time = complete;
  return op;
}

Op read_op(int64_t process, std::string key, std::optional<int64_t> read, int64_t invoke,
           int64_t complete) {
  Op op;
  op.process = process;
  op.key = std::move(key);
  op.function = OpFunction::kRead;
  op.read_value = read;
  op.invoke_time = invoke;
  op.complete_time = complete;
  return op;
}

Op cas_op(int64_t process, std::string key, int64_t expected, int64_t value, int64_t invoke,
          int64_t complete, OpOutcome outcome = OpOutcome::kOk) {
  Op op = write_op(process, std::move(key), value, invoke, complete, outcome);
  op.function = OpFunction::kCas;
  op.expected = expected;
  return op;
}

CheckResult check(const History& history, CheckOptions options = {}) {
  RegisterModel model;
  Result<CheckResult> result = check_linearizability(history, model, options);
  EXPECT_TRUE(result.is_ok()) << result.status().to_string();
  return result.is_ok() ? *result : CheckResult{};
}

bool linearizable(const History& history) {
  return check(history).outcome == CheckOutcome::kLinearizable;
}

TEST(Linearizability, EmptyHistoryIsLinearizable) {
  EXPECT_TRUE(linearizable({}));
}

TEST(Linearizability, ReadOfAnUnwrittenKeyIsNil) {
  EXPECT_TRUE(linearizable({read_op(0, "k", std::nullopt, 0, 1)}));
  EXPECT_FALSE(linearizable({read_op(0, "k", 0, 0, 1)}));
}

TEST(Linearizability, ReadAfterACompletedWriteSeesIt) {
  EXPECT_TRUE(linearizable({write_op(0, "k", 1, 0, 1), read_op(1, "k", 1, 2, 3)}));
  EXPECT_FALSE(linearizable({write_op(0, "k", 1, 0, 1), read_op(1, "k", std::nullopt, 2, 3)}));
}

TEST(Linearizability, StaleReadAfterACompletedWriteIsAViolationWithAnExplanation) {
  History history = {write_op(0, "k", 1, 0, 1), write_op(1, "k", 2, 2, 3),
                     read_op(2, "k", 1, 4, 5)};
  CheckResult result = check(history);
  ASSERT_EQ(result.outcome, CheckOutcome::kNotLinearizable);
  EXPECT_EQ(result.key, "k");
  EXPECT_EQ(result.longest_prefix, (std::vector<size_t>{0, 1}));
  ASSERT_TRUE(result.unplaced_op.has_value());
  EXPECT_EQ(*result.unplaced_op, 2u);
  EXPECT_EQ(result.state_after_prefix, "2");
  EXPECT_NE(result.explanation.find("key \"k\" is not linearizable"), std::string::npos)
      << result.explanation;
  EXPECT_NE(result.explanation.find("op 2 (process 2): read -> 1 ok, invoked 4, completed 5"),
            std::string::npos)
      << result.explanation;
  EXPECT_NE(result.explanation.find("leaves the state 2"), std::string::npos) << result.explanation;
}

TEST(Linearizability, ReadOfAValueNeverWrittenIsAViolation) {
  History history = {write_op(0, "k", 1, 0, 10), write_op(1, "k", 2, 0, 10),
                     read_op(2, "k", 3, 5, 15)};
  EXPECT_FALSE(linearizable(history));
}

TEST(Linearizability, ConcurrentWritesMayBeReadInEitherOrder) {
  History base = {write_op(0, "k", 1, 0, 10), write_op(1, "k", 2, 0, 10)};
  for (int64_t seen : {1, 2}) {
    History history = base;
    history.push_back(read_op(2, "k", seen, 11, 12));
    history.push_back(read_op(2, "k", seen, 13, 14));
    EXPECT_TRUE(linearizable(history)) << "read " << seen;
  }
  // But once one order is observed, a later read cannot see the other one.
  History flip = base;
  flip.push_back(read_op(2, "k", 1, 11, 12));
  flip.push_back(read_op(2, "k", 2, 13, 14));
  flip.push_back(read_op(2, "k", 1, 15, 16));
  EXPECT_FALSE(linearizable(flip));
}

TEST(Linearizability, ReadsConcurrentWithAWriteMaySeeEitherValue) {
  History history = {write_op(0, "k", 1, 0, 1), write_op(1, "k", 2, 2, 10),
                     read_op(2, "k", 2, 3, 4), read_op(3, "k", 2, 5, 6)};
  EXPECT_TRUE(linearizable(history));
  // A read that follows a read of the new value cannot see the old one again.
  history.push_back(read_op(4, "k", 1, 7, 8));
  EXPECT_FALSE(linearizable(history));
}

TEST(Linearizability, CasOnTheCurrentValueApplies) {
  EXPECT_TRUE(linearizable(
      {write_op(0, "k", 1, 0, 1), cas_op(1, "k", 1, 2, 2, 3), read_op(2, "k", 2, 4, 5)}));
}

TEST(Linearizability, CasThatSucceededOnAWrongValueIsAViolation) {
  EXPECT_FALSE(linearizable({write_op(0, "k", 1, 0, 1), cas_op(1, "k", 5, 2, 2, 3)}));
  EXPECT_FALSE(linearizable({cas_op(1, "k", 5, 2, 0, 1)}));  // nil is no value to compare to
}

TEST(Linearizability, FailedCasHasNoEffect) {
  EXPECT_TRUE(linearizable({write_op(0, "k", 1, 0, 1), cas_op(1, "k", 5, 2, 2, 3, OpOutcome::kFail),
                            read_op(2, "k", 1, 4, 5)}));
}

TEST(Linearizability, InfoWriteMayHaveHappened) {
  EXPECT_TRUE(linearizable({write_op(0, "k", 1, 0, 1), write_op(1, "k", 2, 2, 3, OpOutcome::kInfo),
                            read_op(2, "k", 2, 5, 6)}));
}

TEST(Linearizability, InfoWriteMayNotHaveHappened) {
  EXPECT_TRUE(linearizable({write_op(0, "k", 1, 0, 1), write_op(1, "k", 2, 2, 3, OpOutcome::kInfo),
                            read_op(2, "k", 1, 5, 6), read_op(2, "k", 1, 7, 8)}));
}

TEST(Linearizability, InfoWriteMayTakeEffectLongAfterItsClientGaveUp) {
  EXPECT_TRUE(linearizable({write_op(1, "k", 2, 0, 1, OpOutcome::kInfo),
                            read_op(2, "k", std::nullopt, 5, 6), read_op(2, "k", 2, 7, 8)}));
}

TEST(Linearizability, InfoWriteCannotTakeEffectBeforeItsInvocation) {
  EXPECT_FALSE(
      linearizable({read_op(2, "k", 2, 0, 1), write_op(1, "k", 2, 2, 3, OpOutcome::kInfo)}));
}

TEST(Linearizability, InfoWriteTakesEffectAtMostOnce) {
  EXPECT_FALSE(linearizable({write_op(0, "k", 1, 0, 1), write_op(1, "k", 2, 2, 3, OpOutcome::kInfo),
                             read_op(2, "k", 2, 4, 5), write_op(0, "k", 3, 6, 7),
                             read_op(2, "k", 2, 8, 9)}));
}

TEST(Linearizability, InfoCasTakesEffectOnlyOnItsExpectedValue) {
  History history = {write_op(0, "k", 1, 0, 1), cas_op(1, "k", 7, 2, 2, 3, OpOutcome::kInfo),
                     read_op(2, "k", 2, 4, 5)};
  EXPECT_FALSE(linearizable(history));
  history[1].expected = 1;
  EXPECT_TRUE(linearizable(history));
}

TEST(Linearizability, FailedWriteMustNotBeObserved) {
  History history = {write_op(0, "k", 1, 0, 1), write_op(1, "k", 2, 2, 3, OpOutcome::kFail),
                     read_op(2, "k", 2, 4, 5)};
  EXPECT_FALSE(linearizable(history));
  history[2].read_value = 1;
  EXPECT_TRUE(linearizable(history));
}

TEST(Linearizability, OpsThatTouchInTimeAreConcurrent) {
  // The write completes at 5 and the read is invoked at 5: either may come first.
  EXPECT_TRUE(linearizable({write_op(0, "k", 1, 0, 5), read_op(1, "k", std::nullopt, 5, 6)}));
  EXPECT_FALSE(linearizable({write_op(0, "k", 1, 0, 5), read_op(1, "k", std::nullopt, 6, 7)}));
}

TEST(Linearizability, EachKeyIsItsOwnRegister) {
  EXPECT_FALSE(linearizable({write_op(0, "a", 1, 0, 1), read_op(1, "b", 1, 2, 3)}));
  EXPECT_TRUE(linearizable(
      {write_op(0, "a", 1, 0, 1), read_op(1, "b", std::nullopt, 2, 3), read_op(1, "a", 1, 4, 5)}));
}

TEST(Linearizability, ViolationNamesItsKeyAndOnlyThatKeysOps) {
  History history = {write_op(0, "good", 1, 0, 1), write_op(1, "bad", 1, 0, 1),
                     read_op(2, "good", 1, 2, 3),  read_op(3, "bad", 2, 2, 3),
                     write_op(0, "good", 2, 4, 5), read_op(2, "good", 2, 6, 7)};
  CheckResult result = check(history);
  ASSERT_EQ(result.outcome, CheckOutcome::kNotLinearizable);
  EXPECT_EQ(result.key, "bad");
  EXPECT_EQ(result.longest_prefix, (std::vector<size_t>{1}));
  EXPECT_EQ(result.unplaced_op, std::optional<size_t>(3));
}

// n concurrent writes of one value followed by a read no write explains: every subset of the
// writes leads to the same state, so memoisation explores each subset once (2^n states), not
// each order (n!).
History concurrent_writes_then_bad_read(const std::string& key, int writes) {
  History history;
  for (int i = 0; i < writes; ++i) history.push_back(write_op(i, key, 1, 0, 10));
  history.push_back(read_op(writes, key, 2, 11, 12));
  return history;
}

TEST(Linearizability, MemoisationExploresEachLinearizedSetOnce) {
  CheckResult result = check(concurrent_writes_then_bad_read("k", 12));
  EXPECT_EQ(result.outcome, CheckOutcome::kNotLinearizable);
  EXPECT_LT(result.states_explored, uint64_t{1} << 12);
}

TEST(Linearizability, SearchBudgetExhaustedIsUnknownNotAHang) {
  CheckOptions options;
  options.max_states = 1000;
  CheckResult result = check(concurrent_writes_then_bad_read("k", 40), options);
  EXPECT_EQ(result.outcome, CheckOutcome::kUnknown);
  EXPECT_EQ(result.key, "k");
  EXPECT_EQ(result.states_explored, 1000u);
  EXPECT_NE(result.explanation.find("unknown: search budget exhausted"), std::string::npos)
      << result.explanation;
}

TEST(Linearizability, CheapKeysAreDecidedBeforeAnExpensiveKeySpendsTheBudget) {
  History history = concurrent_writes_then_bad_read("expensive", 40);
  history.push_back(write_op(100, "cheap", 1, 0, 1));
  history.push_back(read_op(101, "cheap", 7, 2, 3));
  CheckOptions options;
  options.max_states = 1000;
  CheckResult result = check(history, options);
  EXPECT_EQ(result.outcome, CheckOutcome::kNotLinearizable);
  EXPECT_EQ(result.key, "cheap");
}

// Lost replies of writes nobody read never need to take effect, so they are left out of the
// search instead of being retried at every step.
TEST(Linearizability, InfoWritesNobodyObservedDoNotWidenTheSearch) {
  constexpr int kLost = 50;
  constexpr int kSteps = 200;
  History history;
  for (int i = 0; i < kLost; ++i) {
    history.push_back(write_op(1000 + i, "k", 1000 + i, 0, 1, OpOutcome::kInfo));
  }
  for (int i = 0; i < kSteps; ++i) {
    history.push_back(write_op(0, "k", i, 4 * i + 2, 4 * i + 3));
    history.push_back(read_op(0, "k", i, 4 * i + 4, 4 * i + 5));
  }
  CheckResult result = check(history);
  EXPECT_EQ(result.outcome, CheckOutcome::kLinearizable);
  EXPECT_EQ(result.states_explored, uint64_t{2 * kSteps});
  // Read once, a lost write's value makes it a candidate again, and it must take effect.
  history.push_back(read_op(0, "k", 1000, 4 * kSteps + 2, 4 * kSteps + 3));
  EXPECT_EQ(check(history).outcome, CheckOutcome::kLinearizable);
}

TEST(Linearizability, RejectsAMalformedHistory) {
  RegisterModel model;
  Result<CheckResult> result = check_linearizability({write_op(0, "k", 1, 5, 4)}, model);
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
}

TEST(Linearizability, CorrectServiceHistoriesAreLinearizable) {
  RegisterWorkloadOptions options;
  options.ops = 5000;
  options.keys = 3;
  options.processes = 8;
  options.fail_probability = 0.05;
  options.info_probability = 0.02;
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    SeededRng rng(seed);
    CheckResult result = check(generate_register_history(options, rng));
    EXPECT_EQ(result.outcome, CheckOutcome::kLinearizable) << "seed " << seed << "\n"
                                                           << result.explanation;
  }
}

TEST(Linearizability, CatchesEachInjectedBugInALongHistory) {
  for (int bug = 0; bug < 3; ++bug) {
    RegisterWorkloadOptions options;
    options.ops = 2000;
    options.keys = 2;
    options.processes = 6;
    (bug == 0   ? options.stale_read_probability
     : bug == 1 ? options.lost_write_probability
                : options.cas_ignores_expected_probability) = 0.05;
    SeededRng rng(42);
    EXPECT_EQ(check(generate_register_history(options, rng)).outcome,
              CheckOutcome::kNotLinearizable)
        << "bug " << bug;
  }
}

// The law: on every small history, the WGL search and the brute-force oracle agree, and a
// violation's longest prefix replays in the model. Histories come from a register service with
// each bug switched on at random, so both verdicts occur often.
TEST(Linearizability, AgreesWithTheBruteForceOracleOnSmallRandomHistories) {
  constexpr int kHistories = 100000;
  SeededRng rng(20261122);
  RegisterModel model;
  int linearizable_count = 0;
  int violation_count = 0;
  for (int i = 0; i < kHistories; ++i) {
    RegisterWorkloadOptions options;
    options.ops = 1 + rng.uniform(9);
    options.keys = 1 + rng.uniform(2);
    options.processes = 1 + rng.uniform(4);
    options.value_range = 1 + static_cast<int64_t>(rng.uniform(3));
    options.fail_probability = 0.2 * rng.unit();
    options.info_probability = 0.3 * rng.unit();
    options.stale_read_probability = rng.unit();
    options.lost_write_probability = 0.5 * rng.unit();
    options.cas_ignores_expected_probability = 0.5 * rng.unit();
    History history = generate_register_history(options, rng);
    std::optional<bool> oracle = testing::brute_force_linearizable(history);
    ASSERT_TRUE(oracle.has_value());
    CheckResult result = check(history);
    ASSERT_NE(result.outcome, CheckOutcome::kUnknown);
    ASSERT_EQ(result.outcome == CheckOutcome::kLinearizable, *oracle)
        << "history " << i << ":\n"
        << format_history(history) << result.explanation;
    if (*oracle) {
      ++linearizable_count;
      continue;
    }
    ++violation_count;
    ModelState state = model.init();
    for (size_t op : result.longest_prefix) {
      ASSERT_EQ(history[op].key, result.key);
      std::optional<ModelState> next = model.step(state, history[op]);
      ASSERT_TRUE(next.has_value()) << format_history(history) << result.explanation;
      state = *next;
    }
    EXPECT_EQ(model.describe(state), result.state_after_prefix);
  }
  std::printf("oracle agreement: %d histories (%d linearizable, %d not)\n", kHistories,
              linearizable_count, violation_count);
  EXPECT_GT(linearizable_count, kHistories / 4);
  EXPECT_GT(violation_count, kHistories / 10);
}

}  // namespace
}  // namespace meld::jepsen
