#include "storage/big_set.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "crdt/codec.h"
#include "storage/big_set_format.h"
#include "tests/storage/temp_dir.h"

namespace meld::storage {
namespace {

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
    switch (*rc::gen::inRange(0, 11)) {
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
    }
    RC_ASSERT(disk->contains(element).value() == mirror.contains(element));
  }
  RC_ASSERT(read_all(*disk) == mirror);
  RC_ASSERT(engine.flush().is_ok());
  RC_ASSERT(engine.compact().is_ok());
  RC_ASSERT(engine.compact().is_ok());
  RC_ASSERT(read_all(*disk) == mirror);
  RC_ASSERT(stored_keys(engine, name) == mirror.size() + (mirror.context().empty() ? 0 : 1));
}

}  // namespace
}  // namespace meld::storage
