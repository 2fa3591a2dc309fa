#include "crdt/set.h"

#include <algorithm>
#include <map>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "crdt/dot_kernel.h"

#include "tests/crdt/laws.h"

namespace meld::crdt {
namespace {

using testing::Request;

std::string element_of(const Request& r) {
  return "e" + std::to_string(std::get<1>(r.op));
}

// Actions: 0, 1 add; 2 remove with a request dot; 3 remove without one.
struct AwSetTraits {
  using State = AwSet;
  static State apply(State& s, const Request& r) {
    switch (std::get<0>(r.op)) {
      case 2:
        return s.remove(r.dot, element_of(r));
      case 3:
        return s.remove(element_of(r));
      default:
        return s.add(r.dot, element_of(r));
    }
  }
};

// Actions: even add, odd remove.
struct RwSetTraits {
  using State = RwSet;
  static State apply(State& s, const Request& r) {
    return std::get<0>(r.op) % 2 == 0 ? s.add(r.dot, element_of(r))
                                      : s.remove(r.dot, element_of(r));
  }
};

MELD_CRDT_LAWS(AwSetLaws, AwSetTraits)
MELD_CRDT_LAWS(RwSetLaws, RwSetTraits)

// Without concurrency both sets behave like std::set.
template <typename Traits>
void sequential_ops_match_a_set_model() {
  typename Traits::State s;
  std::set<std::string> model;
  for (const Request& r : testing::gen_requests()) {
    Traits::apply(s, r);
    bool add = std::is_same_v<typename Traits::State, AwSet> ? std::get<0>(r.op) <= 1
                                                             : std::get<0>(r.op) % 2 == 0;
    if (add) {
      model.insert(element_of(r));
    } else {
      model.erase(element_of(r));
    }
    for (int e = 0; e < 4; ++e) {
      std::string element = "e" + std::to_string(e);
      RC_ASSERT(s.contains(element) == model.contains(element));
    }
  }
}

RC_GTEST_PROP(AwSetLaws, SequentialOpsMatchASetModel, ()) {
  sequential_ops_match_a_set_model<AwSetTraits>();
}
RC_GTEST_PROP(RwSetLaws, SequentialOpsMatchASetModel, ()) {
  sequential_ops_match_a_set_model<RwSetTraits>();
}

// From any common state, one replica adds e while another concurrently removes it: after the
// merge (either way round) e is present in the add-wins set and absent in the remove-wins set.
RC_GTEST_PROP(AwSetLaws, ConcurrentAddAndRemoveLeaveTheElementPresent, ()) {
  auto u = testing::gen_universe<AwSetTraits>();
  AwSet adder = u.replicas[0];
  AwSet remover = u.replicas[0];
  adder.add(Dot{testing::kFreshSession, 1}, "e1");
  remover.remove(Dot{testing::kFreshSession, 2}, "e1");
  RC_ASSERT(testing::joined(adder, remover).contains("e1"));
  RC_ASSERT(testing::joined(remover, adder).contains("e1"));
}

RC_GTEST_PROP(RwSetLaws, ConcurrentAddAndRemoveLeaveTheElementAbsent, ()) {
  auto u = testing::gen_universe<RwSetTraits>();
  RwSet adder = u.replicas[0];
  RwSet remover = u.replicas[0];
  adder.add(Dot{testing::kFreshSession, 1}, "e1");
  remover.remove(Dot{testing::kFreshSession, 2}, "e1");
  RC_ASSERT(!testing::joined(adder, remover).contains("e1"));
  RC_ASSERT(!testing::joined(remover, adder).contains("e1"));
}

// An add that is retried (through any replica, any number of times) after the client's later
// remove took effect does not bring the element back: the retry counts once, as the original.
template <typename Set>
void retried_add_after_remove_does_not_resurrect() {
  auto replicas = std::vector<Set>(testing::kReplicas);
  const Dot add_dot{testing::kSessions[0], 1};
  const Dot remove_dot{testing::kSessions[0], 2};
  int first = *rc::gen::inRange(0, testing::kReplicas);
  Set add_delta = replicas[first].add(add_dot, "e0");
  int remover = *rc::gen::inRange(0, testing::kReplicas);
  replicas[remover].merge(add_delta);
  replicas[remover].remove(remove_dot, "e0");
  int retries = *rc::gen::inRange(1, 4);
  for (int t = 0; t < retries; ++t) {
    replicas[*rc::gen::inRange(0, testing::kReplicas)].add(add_dot, "e0");
  }
  Set all;
  for (const Set& s : replicas) all.merge(s);
  RC_ASSERT(!all.contains("e0"));
}

RC_GTEST_PROP(AwSetLaws, RetriedAddAfterRemoveDoesNotResurrect, ()) {
  retried_add_after_remove_does_not_resurrect<AwSet>();
}
RC_GTEST_PROP(RwSetLaws, RetriedAddAfterRemoveDoesNotResurrect, ()) {
  retried_add_after_remove_does_not_resurrect<RwSet>();
}

TEST(AwSet, RemovedElementsLeaveNoTombstone) {
  AwSet s;
  for (uint64_t i = 1; i <= 100; ++i) s.add(Dot{1, i}, "x" + std::to_string(i));
  for (uint64_t i = 1; i <= 100; ++i) s.remove("x" + std::to_string(i));
  EXPECT_EQ(s.size(), 0u);
  EXPECT_TRUE(s.context().cloud().empty());
  EXPECT_EQ(s.context().vector().at(1), 100u);
}

TEST(AwSet, DecodeRejectsDotsOutsideTheContext) {
  CausalContext cc;
  ASSERT_TRUE(cc.insert(Dot{1, 1}));
  EXPECT_FALSE(AwSet::from_parts({{"a", {Dot{1, 2}}}}, cc).is_ok());
  EXPECT_FALSE(AwSet::from_parts({{"a", {Dot{1, 1}}}, {"b", {Dot{1, 1}}}}, cc).is_ok());
  EXPECT_TRUE(AwSet::from_parts({{"a", {Dot{1, 1}}}}, cc).is_ok());
}

// The hash table behind AwSet (crdt/element_table.h) against std::map models. Elements come from a
// pool big enough to pass the linear-scan size and force growth, tombstone-free deletes and
// backward shifts, with long elements (heap bytes), the empty element and shared prefixes.
using Model = std::map<std::string, std::set<Dot>>;

std::string gen_element() {
  int i = *rc::gen::inRange(0, 300);
  switch (i % 4) {
    case 0:
      return "p:" + std::to_string(i);
    case 1:
      return std::string(45 + i % 7, 'L') + std::to_string(i);  // over the inline bytes
    case 2:
      return i == 2 ? std::string() : std::to_string(i);
    default:
      return "prefix-shared-by-many/" + std::to_string(i * 7919);
  }
}

Model model_of(const AwSet& s) {
  Model m;
  for (const AwSet::Member& member : s.members()) m.emplace(member.element, member.dots);
  return m;
}

AwSet from_model(const Model& m, const CausalContext& context) {
  std::vector<AwSet::Member> members;
  for (const auto& [element, dots] : m) members.push_back({element, dots});
  return AwSet::from_parts(std::move(members), context).value();
}

RC_GTEST_PROP(AwSetTable, StateAfterRandomOpsEqualsAMapModel, ()) {
  AwSet s;
  Model model;
  CausalContext seen;
  int ops = *rc::gen::inRange(0, 1500);
  for (int i = 0; i < ops; ++i) {
    std::string e = gen_element();
    int action = *rc::gen::inRange(0, 5);
    Dot dot{*rc::gen::inRange<ReplicaId>(1, 4), *rc::gen::inRange<uint64_t>(1, 600)};
    if (action <= 2) {
      s.add(dot, e);
      if (seen.insert(dot)) model[e] = {dot};
    } else if (action == 3) {
      s.remove(e);
      model.erase(e);
    } else {
      s.remove(dot, e);
      if (seen.insert(dot)) model.erase(e);
    }
  }
  RC_ASSERT(s.size() == model.size());
  std::vector<AwSet::Member> listed = s.members();
  RC_ASSERT(std::equal(listed.begin(), listed.end(), model.begin(), model.end(),
                       [](const AwSet::Member& m, const auto& entry) {
                         return m.element == entry.first && m.dots == entry.second;
                       }));
  for (int probe = 0; probe < 50; ++probe) {
    std::string e = gen_element();
    RC_ASSERT(s.contains(e) == model.contains(e));
    RC_ASSERT(s.dots(e) == (model.contains(e) ? model[e] : std::set<Dot>()));
  }
  // The same state built in one go, in element order, is equal and encodes identically.
  AwSet rebuilt = from_model(model, s.context());
  RC_ASSERT(rebuilt == s);
  RC_ASSERT(encode(rebuilt) == encode(s));
}

// Merge equals the DotMap join (crdt/dot_kernel.h) of the two states as ordered maps, also when
// one side's context names more dots than the other has entries (the scan path of merge).
RC_GTEST_PROP(AwSetTable, MergeEqualsTheDotMapJoin, ()) {
  std::vector<AwSet> replicas(2);
  int ops = *rc::gen::inRange(0, 800);
  for (int i = 0; i < ops; ++i) {
    // Replica i issues the dots of origin i + 1 only, so no dot names two elements.
    int index = *rc::gen::inRange(0, 2);
    AwSet& r = replicas[index];
    std::string e = gen_element();
    switch (*rc::gen::inRange(0, 5)) {
      case 0:
        r.remove(e);
        break;
      case 1:
        replicas[1 - index].merge(r.add(ReplicaId(index + 1), e));  // shared history
        break;
      default:
        r.add(ReplicaId(index + 1), e);
    }
  }
  for (int way = 0; way < 2; ++way) {
    const AwSet& a = replicas[way];
    const AwSet& b = replicas[1 - way];
    Model joined = model_of(a);
    detail::join_map(joined, a.context(), model_of(b), b.context());
    CausalContext context = a.context();
    context.merge(b.context());
    AwSet merged = a;
    merged.merge(b);
    RC_ASSERT(model_of(merged) == joined);
    RC_ASSERT(merged.context() == context);
    RC_ASSERT(merged == from_model(joined, context));
  }
}

// A batch has the effect, answers and delta of its elements applied one at a time. Batches run
// from empty to several times the pipeline's depth (AwSet::kPipelineDistance per stage), so
// elements repeat while an earlier copy is still in flight and the table grows under a batch.
RC_GTEST_PROP(AwSetTable, BatchesEqualOneAtATime, ()) {
  AwSet batched;
  AwSet single;
  int rounds = *rc::gen::inRange(0, 12);
  for (int round = 0; round < rounds; ++round) {
    std::vector<std::string> elements(
        *rc::gen::inRange<size_t>(0, 8 * AwSet::kPipelineDistance + 2));
    for (std::string& e : elements) e = gen_element();
    AwSet joined_deltas;
    AwSet delta;
    switch (*rc::gen::inRange(0, 3)) {
      case 0:
        delta = batched.add_all(ReplicaId{1}, elements);
        for (const std::string& e : elements) joined_deltas.merge(single.add(ReplicaId{1}, e));
        break;
      case 1:
        delta = batched.remove_all(elements);
        for (const std::string& e : elements) joined_deltas.merge(single.remove(e));
        break;
      default: {
        std::vector<bool> answers = batched.contains_all(elements);
        RC_ASSERT(answers.size() == elements.size());
        for (size_t i = 0; i < elements.size(); ++i) {
          RC_ASSERT(answers[i] == single.contains(elements[i]));
        }
      }
    }
    RC_ASSERT(batched == single);
    RC_ASSERT(delta == joined_deltas);
  }
}

TEST(AwSetTable, FromPartsRejectsAnElementListedTwice) {
  CausalContext cc;
  ASSERT_TRUE(cc.insert(Dot{1, 1}));
  ASSERT_TRUE(cc.insert(Dot{1, 2}));
  EXPECT_EQ(AwSet::from_parts({{"a", {Dot{1, 1}}}, {"a", {Dot{1, 2}}}}, cc).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(AwSet::from_parts({{"a", {}}}, cc).status().code(), StatusCode::kInvalidArgument);
}

TEST(AwSetTable, MembersComeInElementByteOrder) {
  AwSet s;
  // Bytes above 0x7f sort after ASCII, as std::string orders them; a prefix sorts first.
  const std::vector<std::string> sorted = {"",    std::string("\0", 1), "ab", "abc", "ab\xff", "b",
                                           "\x80"};
  uint64_t counter = 0;
  for (auto it = sorted.rbegin(); it != sorted.rend(); ++it) s.add(Dot{1, ++counter}, *it);
  std::vector<std::string> listed;
  s.for_each_ordered([&](std::string_view e, std::span<const Dot>) { listed.emplace_back(e); });
  EXPECT_EQ(listed, sorted);
}

}  // namespace
}  // namespace meld::crdt
