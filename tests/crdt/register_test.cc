#include "crdt/register.h"

#include <algorithm>
#include <string>
#include <tuple>

#include "tests/crdt/laws.h"

namespace meld::crdt {
namespace {

using testing::Request;

std::string value_of(const Request& r) {
  return "v" + std::to_string(std::get<1>(r.op));
}

// The request's timestamp, as a client-side HybridClock would issue it: physical time from the
// op, the session's sequence number as the logical part, the session as the node.
Hlc timestamp_of(const Request& r) {
  return Hlc{std::get<2>(r.op) + 10, static_cast<uint32_t>(r.dot.counter), r.dot.replica};
}

struct LwwTraits {
  using State = LwwRegister;
  static State apply(State& s, const Request& r) { return s.set(timestamp_of(r), value_of(r)); }
};

struct MvTraits {
  using State = MvRegister;
  static State apply(State& s, const Request& r) { return s.set(r.dot, value_of(r)); }
};

MELD_CRDT_LAWS(LwwRegisterLaws, LwwTraits)
MELD_CRDT_LAWS(MvRegisterLaws, MvTraits)

// After everything is merged the register holds the write with the largest timestamp.
RC_GTEST_PROP(LwwRegisterLaws, MergedValueIsTheLatestAppliedWrite, ()) {
  auto u = testing::gen_universe<LwwTraits>();
  LwwRegister all;
  for (const auto& replica : u.replicas) all.merge(replica);
  std::tuple<Hlc, std::string> latest{Hlc{}, ""};
  for (size_t k = 0; k < u.requests.size(); ++k) {
    if (u.applied[k]) {
      latest =
          std::max(latest, std::make_tuple(timestamp_of(u.requests[k]), value_of(u.requests[k])));
    }
  }
  RC_ASSERT(all.timestamp() == std::get<0>(latest));
  RC_ASSERT(all.value() == std::get<1>(latest));
}

// Writes at one replica, step by step: the register holds the write with the largest timestamp
// so far (a write older than the current one changes nothing), retried writes included.
RC_GTEST_PROP(LwwRegisterLaws, ValueAfterEachWriteIsTheLatestSoFar, ()) {
  LwwRegister r;
  std::tuple<Hlc, std::string> latest{Hlc{}, ""};
  for (const Request& req : testing::gen_requests()) {
    const int tries = *rc::gen::inRange(1, 3);
    for (int t = 0; t < tries; ++t) LwwTraits::apply(r, req);
    latest = std::max(latest, std::make_tuple(timestamp_of(req), value_of(req)));
    RC_ASSERT(r.timestamp() == std::get<0>(latest));
    RC_ASSERT(r.value() == std::get<1>(latest));
  }
}

// Sequential writes at one replica: the register holds the last one.
RC_GTEST_PROP(MvRegisterLaws, SequentialWritesKeepTheLastValue, ()) {
  MvRegister r;
  for (const Request& req : testing::gen_requests()) {
    MvTraits::apply(r, req);
    RC_ASSERT(r.values() == std::vector<std::string>{value_of(req)});
  }
}

// Writes at two replicas that did not see each other both survive the merge.
RC_GTEST_PROP(MvRegisterLaws, ConcurrentWritesAreAllKept, ()) {
  auto u = testing::gen_universe<MvTraits>();
  MvRegister a = u.replicas[0];
  MvRegister b = u.replicas[0];
  a.set(Dot{testing::kFreshSession, 1}, "left");
  b.set(Dot{testing::kFreshSession, 2}, "right");
  RC_ASSERT(testing::joined(a, b).values() == (std::vector<std::string>{"left", "right"}));
}

TEST(HybridClock, NowIsStrictlyIncreasingWhenTheWallClockStalls) {
  HybridClock clock(1, 1000);
  Hlc a = *clock.now(100);
  Hlc b = *clock.now(100);
  Hlc c = *clock.now(90);
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_EQ(c.physical_ms, 100);
  EXPECT_EQ(*clock.now(200), (Hlc{200, 0, 1}));
}

TEST(HybridClock, ObservedTimestampsAreExceededByTheNextNow) {
  HybridClock clock(1, 1000);
  ASSERT_TRUE(clock.observe(Hlc{500, 7, 2}, 100).is_ok());
  Hlc next = *clock.now(100);
  EXPECT_GT(next, (Hlc{500, 7, 2}));
  EXPECT_EQ(next.node, 1u);
}

TEST(HybridClock, RejectsRemoteTimestampsTooFarAhead) {
  HybridClock clock(1, 1000);
  EXPECT_EQ(clock.observe(Hlc{5000, 0, 2}, 100).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(*clock.now(100), (Hlc{100, 0, 1}));
}

TEST(HybridClock, LogicalCounterExhaustionIsAnError) {
  HybridClock clock(1, 1000);
  ASSERT_TRUE(clock.observe(Hlc{100, UINT32_MAX, 2}, 100).is_ok());
  EXPECT_EQ(clock.now(100).status().code(), StatusCode::kResourceExhausted);
}

TEST(LwwRegister, EqualPhysicalTimeIsOrderedByNode) {
  LwwRegister a;
  LwwRegister b;
  a.set(Hlc{100, 0, 1}, "from-1");
  b.set(Hlc{100, 0, 2}, "from-2");
  EXPECT_EQ(testing::joined(a, b).value(), "from-2");
  EXPECT_EQ(testing::joined(b, a).value(), "from-2");
}

}  // namespace
}  // namespace meld::crdt
