#include "crdt/counter.h"

#include <cstdlib>
#include <map>

#include "tests/crdt/laws.h"

namespace meld::crdt {
namespace {

using testing::Request;

struct GCounterTraits {
  using State = GCounter;
  static uint64_t amount(const Request& r) { return std::abs(std::get<2>(r.op)); }
  static State apply(State& s, const Request& r) { return s.increment(r.dot, amount(r)); }
};

struct PnCounterTraits {
  using State = PnCounter;
  static int64_t amount(const Request& r) { return std::get<2>(r.op); }
  static State apply(State& s, const Request& r) { return s.increment(r.dot, amount(r)); }
};

MELD_CRDT_LAWS(GCounterLaws, GCounterTraits)
MELD_CRDT_LAWS(PnCounterLaws, PnCounterTraits)

// The sequential model: once every replica has merged everything, the value is the sum of the
// amounts of the distinct requests that were applied anywhere, however often they were retried.
template <typename Traits>
void value_is_sum_of_distinct_applied_increments() {
  auto u = testing::gen_universe<Traits>();
  typename Traits::State all;
  for (const auto& replica : u.replicas) all.merge(replica);
  decltype(all.value()) expected = 0;
  for (size_t k = 0; k < u.requests.size(); ++k) {
    if (u.applied[k]) expected += Traits::amount(u.requests[k]);
  }
  RC_ASSERT(all.value() == expected);
}

RC_GTEST_PROP(GCounterLaws, ValueIsSumOfDistinctAppliedIncrements, ()) {
  value_is_sum_of_distinct_applied_increments<GCounterTraits>();
}
RC_GTEST_PROP(PnCounterLaws, ValueIsSumOfDistinctAppliedIncrements, ()) {
  value_is_sum_of_distinct_applied_increments<PnCounterTraits>();
}

// The sequential model step by step: at one replica, after every request (some retried at once),
// the value is the running sum of the distinct requests' amounts.
template <typename Traits>
void value_after_each_request_is_the_running_sum() {
  typename Traits::State c;
  decltype(c.value()) sum = 0;
  for (const Request& r : testing::gen_requests()) {
    Traits::apply(c, r);
    sum += Traits::amount(r);
    RC_ASSERT(c.value() == sum);
    if (*rc::gen::inRange(0, 3) == 0) {
      Traits::apply(c, r);
      RC_ASSERT(c.value() == sum);
    }
  }
}

RC_GTEST_PROP(GCounterLaws, ValueAfterEachRequestIsTheRunningSum, ()) {
  value_after_each_request_is_the_running_sum<GCounterTraits>();
}
RC_GTEST_PROP(PnCounterLaws, ValueAfterEachRequestIsTheRunningSum, ()) {
  value_after_each_request_is_the_running_sum<PnCounterTraits>();
}

// A request retried 1-4 times through random replicas, with deltas and states exchanged in any
// order, counts exactly once.
RC_GTEST_PROP(PnCounterLaws, RetriedIncrementsCountOnce, ()) {
  auto requests = testing::gen_requests();
  std::vector<PnCounter> replicas(testing::kReplicas);
  std::vector<PnCounter> deltas;
  int64_t expected = 0;
  for (const Request& r : requests) {
    expected += PnCounterTraits::amount(r);
    int tries = *rc::gen::inRange(1, 5);
    for (int t = 0; t < tries; ++t) {
      auto& replica = replicas[*rc::gen::inRange(0, testing::kReplicas)];
      if (!deltas.empty() && *rc::gen::arbitrary<bool>()) {
        replica.merge(deltas[*rc::gen::inRange<size_t>(0, deltas.size())]);
      }
      deltas.push_back(PnCounterTraits::apply(replica, r));
    }
  }
  PnCounter all;
  for (const auto& replica : replicas) all.merge(replica);
  RC_ASSERT(all.value() == expected);
}

// Out-of-order dots wait behind the gap and fold into the prefix once it closes, so the state
// stays O(origins).
RC_GTEST_PROP(PnCounterLaws, ContiguousDotsFoldIntoOnePrefixPerOrigin, ()) {
  int n = *rc::gen::inRange(1, 40);
  auto order = *rc::gen::unique<std::vector<int>>(n, rc::gen::inRange(1, n + 1));
  PnCounter c;
  for (int seq : order) c.increment(Dot{9, static_cast<uint64_t>(seq)}, 1);
  RC_ASSERT(c.pending().empty());
  RC_ASSERT(c.prefixes().size() == 1u);
  RC_ASSERT(c.prefixes().at(9).counter == static_cast<uint64_t>(n));
  RC_ASSERT(c.value() == n);
}

TEST(PnCounter, ReplicaAssignedDotsAreConsecutive) {
  PnCounter c;
  PnCounter d1 = c.increment(ReplicaId{3}, 5);
  PnCounter d2 = c.increment(ReplicaId{3}, -2);
  EXPECT_EQ(d1.prefixes().at(3).counter, 1u);
  EXPECT_EQ(d2.pending().begin()->first, (Dot{3, 2}));
  EXPECT_EQ(c.value(), 3);
  EXPECT_EQ(c.prefixes().at(3).counter, 2u);
}

TEST(PnCounter, ReapplyingADotReturnsAnEmptyDelta) {
  PnCounter c;
  EXPECT_FALSE(c.increment(Dot{1, 1}, 4).empty());
  EXPECT_TRUE(c.increment(Dot{1, 1}, 4).empty());
  EXPECT_EQ(c.value(), 4);
}

TEST(GCounter, SumsWrapModulo2To64) {
  GCounter c;
  c.increment(Dot{1, 1}, ~uint64_t{0});
  c.increment(Dot{1, 2}, 2);
  EXPECT_EQ(c.value(), 1u);
}

TEST(Counter, DecodeRejectsAPendingDotContiguousWithItsPrefix) {
  auto c = PnCounter::from_parts({{1, {2, 10}}}, {{Dot{1, 3}, 1}});
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace meld::crdt
