// Commits that fail: storage::CommitFaults makes the engine fail whole commit groups as a failed
// RocksDB write would, and BigSet's poisoning (storage/big_set.h, "Failure") is checked with it:
// a failed queued commit poisons the set until it is reopened, shows nothing of itself, and the
// reopened set holds exactly what committed.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "storage/big_set.h"
#include "storage/engine.h"
#include "tests/storage/held_executor.h"
#include "tests/storage/temp_dir.h"

namespace meld::storage {
namespace {

using testing::HeldExecutor;
using testing::TempDir;

struct FaultyEngine {
  FaultyEngine(TempDir& tmp, CompletionExecutor* executor) {
    Options options;
    options.dir = tmp.sub("db");
    options.sync = false;
    options.commit_faults = faults;
    engine = Engine::open(options, executor).value();
  }
  std::shared_ptr<CommitFaults> faults = std::make_shared<CommitFaults>();
  std::unique_ptr<Engine> engine;
};

WriteBatch put(std::string_view key, std::string_view value) {
  WriteBatch batch;
  batch.put(Family::kKv, key, value);
  return batch;
}

std::optional<std::string> get(Engine& engine, std::string_view key) {
  return engine.get(Family::kKv, key).value();
}

std::unique_ptr<BigSet> open_set(Engine& engine, std::string_view name,
                                 crdt::ReplicaId replica = 1) {
  return BigSet::open(&engine, name, replica).value();
}

// The committed members of a set, streamed.
std::vector<std::string> members(const BigSet& set) {
  std::vector<std::string> out;
  BigSet::Cursor cursor = set.members();
  BigSet::Member member;
  while (cursor.next(&member).value()) out.push_back(member.element);
  return out;
}

bool is_poisoned(const Status& status) {
  return status.code() == StatusCode::kIoError &&
         status.message().find("poisoned") != std::string::npos;
}

// Waits (up to 10 s) until the commit thread has taken `groups` commit groups.
void wait_for_groups(Engine& engine, uint64_t groups) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (engine.stats().commit_groups < groups && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(engine.stats().commit_groups, groups);
}

TEST(CommitFaults, ArmedGroupsFailWithIoErrorAndWriteNothing) {
  TempDir tmp;
  InlineExecutor executor;
  FaultyEngine f(tmp, &executor);
  ASSERT_TRUE(f.engine->commit_sync(put("before", "1")).is_ok());
  f.faults->fail_next_groups(2);
  EXPECT_EQ(f.engine->commit_sync(put("lost1", "x")).code(), StatusCode::kIoError);
  std::promise<Status> async_status;
  ASSERT_TRUE(
      f.engine->commit(put("lost2", "x"), [&](Status s) { async_status.set_value(s); }).is_ok());
  const Status lost2 = async_status.get_future().get();
  EXPECT_EQ(lost2.code(), StatusCode::kIoError) << lost2.to_string();
  ASSERT_TRUE(f.engine->commit_sync(put("after", "2")).is_ok());  // only two were armed
  EXPECT_EQ(f.engine->stats().failed_groups, 2u);
  EXPECT_EQ(get(*f.engine, "before"), "1");
  EXPECT_EQ(get(*f.engine, "lost1"), std::nullopt);
  EXPECT_EQ(get(*f.engine, "lost2"), std::nullopt);
  EXPECT_EQ(get(*f.engine, "after"), "2");

  // Nothing of the failed groups reached the write-ahead log either.
  f.engine.reset();
  Options plain;
  plain.dir = tmp.sub("db");
  auto reopened = Engine::open(plain, &executor).value();
  EXPECT_EQ(get(*reopened, "lost1"), std::nullopt);
  EXPECT_EQ(get(*reopened, "lost2"), std::nullopt);
  EXPECT_EQ(get(*reopened, "after"), "2");
}

TEST(BigSetPoisoning, AFailedCommitPoisonsTheSetUntilReopened) {
  TempDir tmp;
  InlineExecutor executor;
  FaultyEngine f(tmp, &executor);
  auto set = open_set(*f.engine, "s");
  ASSERT_TRUE(set->add("kept").is_ok());
  EXPECT_TRUE(set->failure().is_ok());

  f.faults->fail_next_groups(1);
  Result<std::vector<BigSetDelta>> failed = set->apply(
      {BigSetUpdate{"x", false, std::nullopt}, BigSetUpdate{"kept", true, std::nullopt}});
  EXPECT_EQ(failed.status().code(), StatusCode::kIoError) << failed.status().to_string();
  EXPECT_TRUE(is_poisoned(set->failure())) << set->failure().to_string();

  // Every later mutation fails, although the engine takes other writes again.
  EXPECT_TRUE(is_poisoned(set->add("y").status())) << set->add("y").status().to_string();
  EXPECT_TRUE(is_poisoned(set->remove("kept").status()));
  BigSetDelta remote = open_set(*f.engine, "other", /*replica=*/2)->add("z").value();
  EXPECT_TRUE(is_poisoned(set->merge(remote)));
  EXPECT_TRUE(f.engine->commit_sync(put("k", "v")).is_ok());

  // Reads still work and show nothing of the failed batch (neither the add nor the remove).
  EXPECT_EQ(set->contains("x").value(), false);
  EXPECT_EQ(set->contains("kept").value(), true);
  EXPECT_EQ(set->contains("y").value(), false);
  EXPECT_EQ(members(*set), (std::vector<std::string>{"kept"}));

  // Reopened, the set reads its context back from disk and takes writes again.
  set.reset();
  set = open_set(*f.engine, "s");
  EXPECT_EQ(members(*set), (std::vector<std::string>{"kept"}));
  ASSERT_TRUE(set->add("y").is_ok());
  ASSERT_TRUE(set->merge(remote).is_ok());
  ASSERT_TRUE(set->remove("kept").is_ok());
  EXPECT_EQ(members(*set), (std::vector<std::string>{"y", "z"}));
}

// A set on an engine whose commit callbacks the test holds back, for batches queued behind a
// failing one.
struct HeldFaultySet {
  HeldFaultySet() : f(tmp, &executor), set(open_set(*f.engine, "s")) {}

  // Queues `updates`; *out gets the batch's status once the test runs its callback.
  void queue(std::vector<BigSetUpdate> updates, std::optional<Status>* out) {
    ASSERT_TRUE(set->apply_async(std::move(updates),
                                 [out](Result<std::vector<BigSetDelta>> d) { *out = d.status(); })
                    .is_ok());
  }
  // Queues `failing` in a commit group armed to fail and waits until the commit thread failed it
  // (its callback is held, so the set does not know yet); then queues `behind`, filtered against
  // the failed batch's in-flight dots, waits until it committed, and runs both callbacks.
  void fail_then_commit(std::vector<BigSetUpdate> failing, std::vector<BigSetUpdate> behind) {
    const uint64_t groups = f.engine->stats().commit_groups;
    f.faults->fail_next_groups(1);
    queue(std::move(failing), &failed);
    wait_for_groups(*f.engine, groups + 1);
    ASSERT_EQ(f.engine->stats().failed_groups, 1u);
    queue(std::move(behind), &committed);
    wait_for_groups(*f.engine, groups + 2);
    EXPECT_EQ(f.engine->stats().failed_groups, 1u);
    executor.run_until([&] { return set->in_flight() == 0; });
    ASSERT_TRUE(failed.has_value() && committed.has_value());
    EXPECT_EQ(failed->code(), StatusCode::kIoError) << failed->to_string();
    ASSERT_TRUE(committed->is_ok()) << committed->to_string();
  }
  // Adds element to the reopened set and checks that it committed.
  void add_after_reopen(std::string element) {
    std::optional<Status> status;
    queue({BigSetUpdate{std::move(element), false, std::nullopt}}, &status);
    executor.run_until([&] { return set->in_flight() == 0; });
    ASSERT_TRUE(status.has_value() && status->is_ok()) << status->to_string();
  }

  TempDir tmp;
  HeldExecutor executor;
  FaultyEngine f;
  std::unique_ptr<BigSet> set;
  std::optional<Status> failed, committed;
};

// The case poisoning exists for: a batch is queued behind one that then fails, after being
// filtered against the failed batch's dots. It commits; the set is poisoned once the failure is
// delivered; the reopened set holds what committed and issues no dot already on disk.
TEST(BigSetPoisoning, ABatchQueuedBehindAFailedOneCommitsAndTheReopenedSetHoldsIt) {
  HeldFaultySet h;
  auto& set = h.set;
  ASSERT_NO_FATAL_FAILURE(h.fail_then_commit(
      {BigSetUpdate{"x", false, std::nullopt}},
      {BigSetUpdate{"x", false, std::nullopt}, BigSetUpdate{"y", false, std::nullopt}}));
  EXPECT_TRUE(is_poisoned(
      set->apply_async({BigSetUpdate{"z", false, std::nullopt}},
                       [](Result<std::vector<BigSetDelta>>) { FAIL() << "refused write ran"; })));

  // The second batch replaced x's in-flight dot by its own: on disk x holds only that one.
  EXPECT_EQ(members(*set), (std::vector<std::string>{"x", "y"}));
  const std::set<crdt::Dot> x_dots = set->dots("x").value();
  const std::set<crdt::Dot> y_dots = set->dots("y").value();
  ASSERT_EQ(x_dots.size(), 1u);
  ASSERT_EQ(y_dots.size(), 1u);
  EXPECT_NE(*x_dots.begin(), (crdt::Dot{1, 1}));  // the failed batch's dot did not commit

  set.reset();
  set = open_set(*h.f.engine, "s");
  EXPECT_EQ(members(*set), (std::vector<std::string>{"x", "y"}));
  EXPECT_TRUE(set->seen(*x_dots.begin()));
  EXPECT_TRUE(set->seen(*y_dots.begin()));
  ASSERT_NO_FATAL_FAILURE(h.add_after_reopen("z"));
  const std::set<crdt::Dot> z_dots = set->dots("z").value();
  ASSERT_EQ(z_dots.size(), 1u);
  EXPECT_EQ(x_dots.count(*z_dots.begin()) + y_dots.count(*z_dots.begin()), 0u);
  EXPECT_EQ(members(*set), (std::vector<std::string>{"x", "y", "z"}));
}

// A failed batch whose dot no later batch observed (another element) leaves a gap in the
// replica's own dots on disk. Reopening records the lost dot as seen; without that, every later
// dot of the replica would stay out of order, in memory and in the stored context, for good.
TEST(BigSetPoisoning, ReopeningFillsTheGapAFailedBatchLeftInTheReplicasOwnDots) {
  HeldFaultySet h;
  auto& set = h.set;
  ASSERT_NO_FATAL_FAILURE(h.fail_then_commit({BigSetUpdate{"x", false, std::nullopt}},
                                             {BigSetUpdate{"y", false, std::nullopt}}));
  EXPECT_EQ(set->dots("y").value(), (std::set<crdt::Dot>{{1, 2}}));

  // On disk, without the repair, replica 1's dot 2 sits beyond a gap at dot 1.
  set.reset();
  set = open_set(*h.f.engine, "s");
  EXPECT_TRUE(set->seen(crdt::Dot{1, 1}));
  EXPECT_EQ(set->out_of_order_dots(), 0u);
  ASSERT_NO_FATAL_FAILURE(h.add_after_reopen("z"));
  EXPECT_EQ(set->dots("z").value(), (std::set<crdt::Dot>{{1, 3}}));
  EXPECT_EQ(set->out_of_order_dots(), 0u);
  EXPECT_EQ(members(*set), (std::vector<std::string>{"y", "z"}));

  // The repair was written: opened as another replica (which repairs nothing of replica 1's),
  // the stored context has no gap either.
  set.reset();
  EXPECT_EQ(open_set(*h.f.engine, "s", /*replica=*/2)->out_of_order_dots(), 0u);
}

}  // namespace
}  // namespace meld::storage
