#include "crdt/set.h"

#include <set>
#include <string>

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
  EXPECT_TRUE(s.entries().empty());
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

}  // namespace
}  // namespace meld::crdt
