#include "storage/big_set.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "crdt/codec.h"
#include "storage/big_set_format.h"
#include "storage/big_set_value.h"
#include "tests/storage/held_executor.h"
#include "tests/storage/temp_dir.h"

namespace meld::storage {
namespace {

using testing::HeldExecutor;
using testing::TempDir;

using crdt::Dot;

Options fast_options(const std::string& dir) {
  Options options;
  options.dir = dir;
  options.sync = false;
  return options;
}

// One engine for the property runs (opening one per run would dominate their time); each run
// uses its own set name.
struct SharedEngine {
  TempDir tmp;
  InlineExecutor executor;
  std::unique_ptr<Engine> engine = Engine::open(fast_options(tmp.sub("db")), &executor).value();
};

Engine& shared_engine() {
  static SharedEngine shared;
  return *shared.engine;
}

std::unique_ptr<BigSet> open_set(Engine& engine, const std::string& name, crdt::ReplicaId id) {
  Result<std::unique_ptr<BigSet>> set = BigSet::open(&engine, name, id);
  MELD_ASSERT(set.is_ok(), set.status().to_string());
  return std::move(set).value();
}

// Every member the cursor streams, with the set's context, as an in-memory AwSet.
crdt::AwSet read_all(const BigSet& set) {
  std::vector<crdt::AwSet::Member> members;
  BigSet::Cursor cursor = set.members();
  BigSet::Member member;
  while (true) {
    Result<bool> more = cursor.next(&member);
    MELD_ASSERT(more.is_ok(), more.status().to_string());
    if (!*more) break;
    MELD_ASSERT(members.empty() || members.back().element < member.element,
                "an element streamed twice or out of order");
    members.push_back({member.element, member.dots});
  }
  Result<crdt::AwSet> state = crdt::AwSet::from_parts(std::move(members), set.context());
  MELD_ASSERT(state.is_ok(), state.status().to_string());
  return std::move(state).value();
}

// Keys the set has in the big_set family: its element keys and its context key.
size_t stored_keys(Engine& engine, const std::string& name) {
  std::vector<std::pair<std::string, std::string>> out;
  bool more = false;
  std::string prefix = big_set_format::context_key(name);
  prefix.pop_back();
  std::string end = prefix;
  end.back() = static_cast<char>(end.back() + 1);
  Status s = engine.scan(Family::kBigSet, prefix, end, 1 << 20, &out, &more);
  MELD_ASSERT(s.is_ok() && !more, s.to_string());
  return out.size();
}

std::string unique_name(const char* prefix) {
  static int n = 0;
  return prefix + std::to_string(++n);
}

struct HeldEngine {
  TempDir tmp;
  HeldExecutor executor;
  std::unique_ptr<Engine> engine = Engine::open(fast_options(tmp.sub("db")), &executor).value();
};

HeldEngine& held_engine() {
  static HeldEngine shared;
  return shared;
}

TEST(BigSet, AddRemoveContainsAndStreamInElementOrder) {
  Engine& engine = shared_engine();
  auto set = open_set(engine, unique_name("basic-"), 1);
  ASSERT_TRUE(set->add("b").is_ok());
  ASSERT_TRUE(set->add("a").is_ok());
  ASSERT_TRUE(set->add("c").is_ok());
  ASSERT_TRUE(set->remove("b").is_ok());
  EXPECT_TRUE(set->contains("a").value());
  EXPECT_FALSE(set->contains("b").value());
  EXPECT_FALSE(set->contains("never").value());
  const std::vector<std::string_view> asked = {"c", "b", "never", "a"};
  EXPECT_EQ(set->contains_all(asked).value(), (std::vector<bool>{true, false, false, true}));
  EXPECT_TRUE(set->contains_all({}).value().empty());
  crdt::AwSet all = read_all(*set);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all.members()[0].element, "a");
  EXPECT_EQ(all.members()[1].element, "c");
}

TEST(BigSet, ContextAndMembersSurviveReopen) {
  TempDir tmp;
  InlineExecutor executor;
  auto engine = Engine::open(fast_options(tmp.sub("db")), &executor).value();
  auto set = open_set(*engine, "s", 1);
  ASSERT_TRUE(set->add("x").is_ok());
  ASSERT_TRUE(set->add(Dot{99, 1}, "y").is_ok());
  ASSERT_TRUE(set->remove("x").is_ok());
  crdt::AwSet before = read_all(*set);
  set.reset();
  engine->close();
  engine = Engine::open(fast_options(tmp.sub("db")), &executor).value();
  set = open_set(*engine, "s", 1);
  EXPECT_EQ(read_all(*set), before);
  // The retried request is recognised after the restart.
  EXPECT_TRUE(set->add(Dot{99, 1}, "y").value().empty());
  // And the replica's own dots continue where they stopped.
  EXPECT_EQ(set->add("z").value().state.dots("z"), (std::set<Dot>{Dot{1, 2}}));
}

// Element values of layout 1 were AwSet encodings, which this build does not read: a data dir
// of that layout (no version key) or of another version is refused at open, before any read.
TEST(BigSet, OpenRefusesAFamilyOfAnotherLayoutVersion) {
  TempDir tmp;
  InlineExecutor executor;
  auto engine = Engine::open(fast_options(tmp.sub("old")), &executor).value();
  WriteBatch old;
  old.put(Family::kBigSet, big_set_format::context_key("s"), crdt::encode(crdt::AwSet()));
  ASSERT_TRUE(engine->commit_sync(std::move(old)).is_ok());
  Status refused = BigSet::open(engine.get(), "t", 1).status();
  EXPECT_EQ(refused.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.message().find("layout version 1"), std::string::npos) << refused.to_string();

  auto fresh = Engine::open(fast_options(tmp.sub("new")), &executor).value();
  ASSERT_TRUE(open_set(*fresh, "s", 1)->add("x").is_ok());
  EXPECT_EQ(fresh->get(Family::kBigSet, big_set_format::version_key()).value(),
            big_set_format::version_value());
  EXPECT_TRUE(open_set(*fresh, "t", 1)->contains("x").is_ok());
  WriteBatch future;
  future.put(Family::kBigSet, big_set_format::version_key(), std::string("\0\0\0\3", 4));
  ASSERT_TRUE(fresh->commit_sync(std::move(future)).is_ok());
  EXPECT_EQ(BigSet::open(fresh.get(), "s", 1).status().code(), StatusCode::kInvalidArgument);
}

TEST(BigSet, EngineCommitChecksElementValuesInTheirOwnFormat) {
  TempDir tmp;
  InlineExecutor executor;
  auto engine = Engine::open(fast_options(tmp.sub("db")), &executor).value();
  const std::string key = big_set_format::element_key("s", "x");
  WriteBatch aw_set;
  aw_set.merge(Family::kBigSet, key, crdt::encode(crdt::AwSet()));
  EXPECT_EQ(engine->commit_sync(std::move(aw_set)).code(), StatusCode::kInvalidArgument);
  WriteBatch element;
  element.merge(Family::kBigSet, key,
                big_set_format::encode_element_value({{Dot{1, 1}}, {Dot{1, 1}, Dot{2, 1}}}));
  ASSERT_TRUE(engine->commit_sync(std::move(element)).is_ok());
  EXPECT_EQ(engine->get(Family::kBigSet, key).value(),
            big_set_format::encode_element_value({{Dot{1, 1}}, {Dot{1, 1}}}));
}

TEST(BigSet, StreamsMoreMembersThanOneScanPage) {
  Engine& engine = shared_engine();
  auto set = open_set(engine, unique_name("paged-"), 1);
  std::vector<std::string> elements;
  for (size_t i = 0; i < 2 * BigSet::kScanPageEntries + 17; ++i) {
    elements.push_back("e" + std::to_string(i));
  }
  ASSERT_TRUE(set->add_all(elements).is_ok());
  for (size_t i = 0; i < elements.size(); i += 3) ASSERT_TRUE(set->remove(elements[i]).is_ok());
  crdt::AwSet all = read_all(*set);
  EXPECT_EQ(all.size(), elements.size() - (elements.size() + 2) / 3);
  for (size_t i = 0; i < elements.size(); ++i) {
    EXPECT_EQ(all.contains(elements[i]), i % 3 != 0) << elements[i];
  }
}

TEST(BigSet, CompactionReclaimsRemovedElementsAndStaleAddsStayRemoved) {
  TempDir tmp;
  InlineExecutor executor;
  auto engine = Engine::open(fast_options(tmp.sub("db")), &executor).value();
  auto set = open_set(*engine, "s", 1);
  std::vector<BigSetDelta> adds;
  for (int i = 0; i < 100; ++i) adds.push_back(set->add("e" + std::to_string(i)).value());
  for (int i = 0; i < 100; i += 2) ASSERT_TRUE(set->remove("e" + std::to_string(i)).is_ok());
  ASSERT_EQ(stored_keys(*engine, "s"), 101u);
  ASSERT_TRUE(engine->flush().is_ok());
  ASSERT_TRUE(engine->compact().is_ok());     // merges operands into values
  ASSERT_TRUE(engine->compact().is_ok());     // filters the merged values
  EXPECT_EQ(stored_keys(*engine, "s"), 51u);  // 50 members and the context
  // Replayed adds of removed elements (a delayed retry, a duplicate delta) do not resurrect them.
  for (const BigSetDelta& add : adds) ASSERT_TRUE(set->merge(add).is_ok());
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(set->contains("e" + std::to_string(i)).value(), i % 2 == 1) << i;
  }
  EXPECT_EQ(stored_keys(*engine, "s"), 51u);
}

TEST(BigSet, RejectsMalformedDeltasAndLongElements) {
  Engine& engine = shared_engine();
  auto set = open_set(engine, unique_name("invalid-"), 1);
  crdt::AwSet other;
  BigSetDelta mislabelled{"a", other.add(Dot{2, 1}, "b")};
  EXPECT_EQ(set->merge(mislabelled).code(), StatusCode::kInvalidArgument);
  crdt::CausalContext wide;
  for (uint64_t i = 1; i <= BigSet::kMaxDeltaDots + 1; ++i) wide.insert(Dot{3, i});
  BigSetDelta too_wide{"a", crdt::AwSet::from_parts({}, wide).value()};
  EXPECT_EQ(set->merge(too_wide).code(), StatusCode::kInvalidArgument);
  const std::string long_element(BigSet::kMaxElementBytes + 1, 'x');
  EXPECT_EQ(set->add(long_element).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(set->contains(long_element).status().code(), StatusCode::kInvalidArgument);
  const std::vector<std::string_view> with_long = {"a", long_element};
  EXPECT_EQ(set->contains_all(with_long).status().code(), StatusCode::kInvalidArgument);
  const std::vector<std::string_view> too_many(BigSet::kMaxBatchElements + 1, "a");
  EXPECT_EQ(set->contains_all(too_many).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(set->context().empty());
  EXPECT_EQ(
      BigSet::open(&engine, std::string(big_set_format::kMaxNameBytes + 1, 'n'), 1).status().code(),
      StatusCode::kInvalidArgument);
}

// The law the design rests on (storage/big_set.h): a BigSet on disk, fed local operations, client
// retries and other replicas' deltas in any order with duplicates, with flushes, compactions
// (which trim and reclaim element keys) and reopens in between, is the AwSet an in-memory mirror
// fed the same inputs is: same members, same dots, same causal context; every delta a local
// operation returns is the one the mirror's mutator returns; and once compacted, only present
// elements keep keys.
RC_GTEST_PROP(BigSet, OnDiskStateEqualsInMemoryAwSetUnderAnyDeliveryOrder, ()) {
  Engine& engine = shared_engine();
  const std::string name = unique_name("prop-");
  constexpr crdt::ReplicaId kDisk = 1;
  auto disk = open_set(engine, name, kDisk);
  crdt::AwSet mirror;                       // the disk replica, in memory
  std::vector<crdt::AwSet> others(2);       // replicas 2 and 3, in memory
  std::vector<BigSetDelta> pool;            // every delta produced so far
  std::vector<std::pair<Dot, int>> client;  // requests issued: dot, op (element * 2 + remove)
  uint64_t next_request = 1;
  const int steps = *rc::gen::inRange(1, 60);
  for (int step = 0; step < steps; ++step) {
    const std::string element = "e" + std::to_string(*rc::gen::inRange(0, 5));
    switch (*rc::gen::inRange(0, 12)) {
      case 0: {  // a local add on disk
        BigSetDelta d = disk->add(element).value();
        RC_ASSERT(d.state == mirror.add(kDisk, element));
        pool.push_back(std::move(d));
        break;
      }
      case 1: {  // a local remove on disk
        BigSetDelta d = disk->remove(element).value();
        RC_ASSERT(d.state == mirror.remove(element));
        pool.push_back(std::move(d));
        break;
      }
      case 2:
      case 3: {  // an update on another replica
        size_t r = *rc::gen::inRange<size_t>(0, others.size());
        crdt::AwSet d =
            *rc::gen::arbitrary<bool>() ? others[r].add(r + 2, element) : others[r].remove(element);
        pool.push_back(BigSetDelta{element, std::move(d)});
        break;
      }
      case 4:
      case 5:
      case 6: {  // a delta (maybe again, maybe late) reaches a replica
        if (pool.empty()) break;
        const BigSetDelta& d = pool[*rc::gen::inRange<size_t>(0, pool.size())];
        int target = *rc::gen::inRange(0, 3);
        if (target == 0) {
          RC_ASSERT(disk->merge(d).is_ok());
          mirror.merge(d.state);
        } else {
          others[target - 1].merge(d.state);
        }
        break;
      }
      case 7: {  // a client request, new or retried, through any replica
        std::pair<Dot, int> request{Dot{0xc11e47, next_request}, *rc::gen::inRange(0, 10)};
        if (!client.empty() && *rc::gen::arbitrary<bool>()) {
          request = client[*rc::gen::inRange<size_t>(0, client.size())];
        } else {
          client.push_back(request);
          ++next_request;
        }
        const std::string e = "e" + std::to_string(request.second / 2);
        const bool is_remove = request.second % 2 == 1;
        int target = *rc::gen::inRange(0, 3);
        if (target == 0) {
          BigSetDelta d = is_remove ? disk->remove(request.first, e).value()
                                    : disk->add(request.first, e).value();
          crdt::AwSet m =
              is_remove ? mirror.remove(request.first, e) : mirror.add(request.first, e);
          RC_ASSERT(d.state == m);
          pool.push_back(std::move(d));
        } else {
          crdt::AwSet& r = others[target - 1];
          crdt::AwSet d = is_remove ? r.remove(request.first, e) : r.add(request.first, e);
          pool.push_back(BigSetDelta{e, std::move(d)});
        }
        break;
      }
      case 8:
        RC_ASSERT(engine.flush().is_ok());
        break;
      case 9:
        RC_ASSERT(engine.compact().is_ok());
        break;
      case 10:  // a restart of the set: the context comes back from disk
        disk = open_set(engine, name, kDisk);
        break;
      case 11: {  // anti-entropy: the disk replica joins another replica's whole state
        const crdt::AwSet& remote = others[*rc::gen::inRange<size_t>(0, others.size())];
        RC_ASSERT(disk->merge_state(remote).is_ok());
        mirror.merge(remote);
        break;
      }
    }
    RC_ASSERT(disk->contains(element).value() == mirror.contains(element));
    // The batched read answers every element as the mirror does, in the order asked (with a
    // repeat and an element never used).
    const std::vector<std::string_view> asked = {"e5", "e0", "e3", "never", "e1", "e4", "e2", "e0"};
    std::vector<bool> expected;
    for (std::string_view e : asked) expected.push_back(mirror.contains(e));
    RC_ASSERT(disk->contains_all(asked).value() == expected);
  }
  RC_ASSERT(read_all(*disk) == mirror);
  RC_ASSERT(engine.flush().is_ok());
  RC_ASSERT(engine.compact().is_ok());
  RC_ASSERT(engine.compact().is_ok());
  RC_ASSERT(read_all(*disk) == mirror);
  RC_ASSERT(stored_keys(engine, name) == mirror.size() + (mirror.context().empty() ? 0 : 1));
}

// Pipelining: writes queued while earlier ones are still in flight (their callbacks held back),
// including a retry and a remove of an element whose add is in flight, equal the same writes done
// one by one in memory, and every callback delivers the delta the in-memory mutator returned.
RC_GTEST_PROP(BigSet, WritesInFlightEqualInMemoryAwSet, ()) {
  HeldEngine& held = held_engine();
  Engine& engine = *held.engine;
  const std::string name = unique_name("inflight-");
  constexpr crdt::ReplicaId kDisk = 1;
  auto disk = open_set(engine, name, kDisk);
  crdt::AwSet mirror;
  crdt::AwSet other;  // replica 2, in memory
  std::vector<BigSetDelta> pool;
  struct Expected {
    std::vector<crdt::AwSet> deltas;
    std::optional<Result<std::vector<BigSetDelta>>> got;
  };
  std::vector<std::shared_ptr<Expected>> expected;
  auto wait_idle = [&] {
    held.executor.run_until([&] { return disk->in_flight() == 0; });
    for (const auto& e : expected) {
      RC_ASSERT(e->got.has_value());
      RC_ASSERT((*e->got).is_ok());
      RC_ASSERT((*e->got)->size() == e->deltas.size());
      for (size_t i = 0; i < e->deltas.size(); ++i) RC_ASSERT((**e->got)[i].state == e->deltas[i]);
    }
    expected.clear();
  };
  uint64_t next_request = 1;
  const int steps = *rc::gen::inRange(1, 80);
  for (int step = 0; step < steps; ++step) {
    switch (*rc::gen::inRange(0, 8)) {
      case 0:
      case 1:
      case 2:
      case 3: {  // a batch of local updates, queued behind whatever is in flight
        auto e = std::make_shared<Expected>();
        std::vector<BigSetUpdate> updates;
        const int n = *rc::gen::inRange(1, 4);
        for (int i = 0; i < n; ++i) {
          BigSetUpdate u{"e" + std::to_string(*rc::gen::inRange(0, 4)), *rc::gen::arbitrary<bool>(),
                         std::nullopt};
          if (*rc::gen::inRange(0, 3) == 0) {
            // A client request id: new, or a retry of the last one.
            uint64_t seq =
                next_request > 1 && *rc::gen::arbitrary<bool>() ? next_request - 1 : next_request++;
            u.dot = Dot{0xc11e47, seq};
          }
          crdt::AwSet d =
              u.remove ? (u.dot ? mirror.remove(*u.dot, u.element) : mirror.remove(u.element))
                       : (u.dot ? mirror.add(*u.dot, u.element) : mirror.add(kDisk, u.element));
          e->deltas.push_back(d);
          updates.push_back(std::move(u));
        }
        RC_ASSERT(disk->apply_async(std::move(updates),
                                    [e, &pool](Result<std::vector<BigSetDelta>> got) {
                                      e->got = std::move(got);
                                    })
                      .is_ok());
        expected.push_back(std::move(e));
        break;
      }
      case 4: {  // another replica's update, merged while local writes are in flight
        const std::string element = "e" + std::to_string(*rc::gen::inRange(0, 4));
        crdt::AwSet d = *rc::gen::arbitrary<bool>() ? other.add(2, element) : other.remove(element);
        pool.push_back(BigSetDelta{element, d});
        if (*rc::gen::arbitrary<bool>()) {
          RC_ASSERT(
              disk->merge_async(pool.back(), [](Status s) { MELD_ASSERT(s.is_ok(), ""); }).is_ok());
          mirror.merge(d);
        }
        break;
      }
      case 5: {  // a late or duplicate delta from the pool
        if (pool.empty()) break;
        const BigSetDelta& d = pool[*rc::gen::inRange<size_t>(0, pool.size())];
        RC_ASSERT(disk->merge_async(d, [](Status s) { MELD_ASSERT(s.is_ok(), ""); }).is_ok());
        mirror.merge(d.state);
        break;
      }
      case 6:  // everything completes; the stored state is the mirror's
        wait_idle();
        for (int i = 0; i < 4; ++i) {
          const std::string element = "e" + std::to_string(i);
          RC_ASSERT(disk->contains(element).value() == mirror.contains(element));
        }
        break;
      case 7:
        RC_ASSERT(engine.flush().is_ok());
        break;
    }
  }
  wait_idle();
  RC_ASSERT(read_all(*disk) == mirror);
  disk = open_set(engine, name, kDisk);
  RC_ASSERT(read_all(*disk) == mirror);
}

TEST(BigSet, AsyncWritesPastTheInFlightLimitAreRefusedUntilSomeComplete) {
  HeldEngine& held = held_engine();
  auto set = open_set(*held.engine, unique_name("window-"), 1);
  size_t completed = 0;
  for (size_t i = 0; i < BigSet::kMaxInFlightBatches; ++i) {
    ASSERT_TRUE(set->apply_async({BigSetUpdate{"e" + std::to_string(i), false, std::nullopt}},
                                 [&completed](Result<std::vector<BigSetDelta>> d) {
                                   ASSERT_TRUE(d.is_ok());
                                   ++completed;
                                 })
                    .is_ok());
  }
  Status refused = set->apply_async({BigSetUpdate{"over", false, std::nullopt}},
                                    [](Result<std::vector<BigSetDelta>>) { FAIL(); });
  EXPECT_EQ(refused.code(), StatusCode::kResourceExhausted) << refused.to_string();
  held.executor.run_until([&] { return set->in_flight() == 0; });
  EXPECT_EQ(completed, BigSet::kMaxInFlightBatches);
  EXPECT_FALSE(set->context().contains(Dot{1, BigSet::kMaxInFlightBatches + 1}));
  ASSERT_TRUE(set->apply_async({BigSetUpdate{"over", false, std::nullopt}},
                               [](Result<std::vector<BigSetDelta>> d) { ASSERT_TRUE(d.is_ok()); })
                  .is_ok());
  held.executor.run_until([&] { return set->in_flight() == 0; });
  EXPECT_TRUE(set->contains("over").value());
  EXPECT_EQ(set->dots("over").value(), (std::set<Dot>{Dot{1, BigSet::kMaxInFlightBatches + 1}}));
}

TEST(BigSet, AWriteTheEngineRefusesChangesNothing) {
  TempDir tmp;
  InlineExecutor executor;
  auto engine = Engine::open(fast_options(tmp.sub("db")), &executor).value();
  auto set = open_set(*engine, "s", 1);
  ASSERT_TRUE(set->add("a").is_ok());
  const crdt::CausalContext before = set->context();
  engine->close();
  EXPECT_EQ(set->add("b").status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(set->context(), before);
  EXPECT_EQ(set->in_flight(), 0u);
}

// Anti-entropy over more members than one page: the disk replica ends as the in-memory join.
TEST(BigSet, MergeStateJoinsAWholeRemoteStateAcrossPages) {
  Engine& engine = shared_engine();
  auto set = open_set(engine, unique_name("anti-entropy-"), 1);
  crdt::AwSet mirror, remote;
  const size_t n = 2 * BigSet::kScanPageEntries + 5;
  std::vector<std::string> local_elements;
  for (size_t i = 0; i < n; ++i) local_elements.push_back("l" + std::to_string(i));
  const std::vector<BigSetDelta> added = set->add_all(local_elements).value();
  for (const BigSetDelta& d : added) {
    mirror.merge(d.state);
    if (std::stoul(d.element.substr(1)) % 2 == 0) remote.merge(d.state);  // the remote saw half
  }
  // The remote removes a third of what it saw, and adds elements of its own.
  for (size_t i = 0; i < n; i += 6) remote.remove("l" + std::to_string(i));
  for (size_t i = 0; i < n; ++i) remote.add(2, "r" + std::to_string(i));
  ASSERT_TRUE(set->merge_state(remote).is_ok());
  mirror.merge(remote);
  EXPECT_EQ(read_all(*set), mirror);
  // Joining it again changes nothing.
  ASSERT_TRUE(set->merge_state(remote).is_ok());
  EXPECT_EQ(read_all(*set), mirror);
}

}  // namespace
}  // namespace meld::storage
