#include "crdt/map.h"

#include <map>
#include <set>
#include <string>

#include "tests/crdt/laws.h"

namespace meld::crdt {
namespace {

using testing::Request;

std::string name_of(const Request& r) {
  return std::get<1>(r.op) % 2 == 0 ? "a" : "b";
}

// Actions: 0 increment a counter field; 1 add to a set field; 2 increment a counter inside a
// nested map field; 3 remove the counter or the nested map field.
struct MapTraits {
  using State = OrMap;
  static MapKey key_of(const Request& r) {
    switch (std::get<0>(r.op)) {
      case 1:
        return MapKey{name_of(r), Kind::kAwSet};
      case 2:
        return MapKey{name_of(r), Kind::kMap};
      case 3:
        return MapKey{name_of(r), std::get<2>(r.op) % 2 == 0 ? Kind::kPnCounter : Kind::kMap};
      default:
        return MapKey{name_of(r), Kind::kPnCounter};
    }
  }
  static State apply(State& s, const Request& r) {
    const MapKey key = key_of(r);
    const int amount = std::get<2>(r.op);
    if (std::get<0>(r.op) == 3) return s.remove(key);
    Value current = s.current(key);
    Result<OrMap> delta = [&]() -> Result<OrMap> {
      switch (key.kind) {
        case Kind::kAwSet:
          return s.update(r.dot, key,
                          Value(current.get<AwSet>()->add(r.dot, std::to_string(amount))));
        case Kind::kMap: {
          const MapKey inner_key{"x", Kind::kPnCounter};
          OrMap* inner = current.get<OrMap>();
          Value inner_current = inner->current(inner_key);
          auto inner_delta = inner->update(
              r.dot, inner_key, Value(inner_current.get<PnCounter>()->increment(r.dot, amount)));
          RC_ASSERT(inner_delta.is_ok());
          return s.update(r.dot, key, Value(std::move(inner_delta).value()));
        }
        default:
          return s.update(r.dot, key, Value(current.get<PnCounter>()->increment(r.dot, amount)));
      }
    }();
    RC_ASSERT(delta.is_ok());
    return std::move(delta).value();
  }
};

MELD_CRDT_LAWS(MapLaws, MapTraits)

int64_t counter_at(const OrMap& m, const std::string& name) {
  const Value* v = m.find(MapKey{name, Kind::kPnCounter});
  return v == nullptr ? 0 : v->get<PnCounter>()->value();
}

// At one replica: a key is present iff updated since its last remove, and a counter field holds
// the sum of all its increments (values are not reset by a remove, see crdt/map.h).
RC_GTEST_PROP(MapLaws, SequentialOpsMatchAMapModel, ()) {
  OrMap m;
  std::set<MapKey> present;
  std::map<std::string, int64_t> sums;
  for (const Request& r : testing::gen_requests()) {
    MapTraits::apply(m, r);
    MapKey key = MapTraits::key_of(r);
    if (std::get<0>(r.op) == 3) {
      present.erase(key);
    } else {
      present.insert(key);
      if (key.kind == Kind::kPnCounter) sums[key.name] += std::get<2>(r.op);
    }
    for (const auto& [key, dots] : m.keys()) RC_ASSERT(present.contains(key));
    RC_ASSERT(m.keys().size() == present.size());
    for (const auto& [name, sum] : sums) {
      if (present.contains(MapKey{name, Kind::kPnCounter})) RC_ASSERT(counter_at(m, name) == sum);
    }
  }
}

// An update concurrent with a remove of the same key leaves the key present.
RC_GTEST_PROP(MapLaws, ConcurrentUpdateAndRemoveLeaveTheKeyPresent, ()) {
  auto u = testing::gen_universe<MapTraits>();
  OrMap updater = u.replicas[0];
  OrMap remover = u.replicas[0];
  const MapKey key{"a", Kind::kPnCounter};
  Value v = updater.current(key);
  auto delta =
      updater.update(Dot{testing::kFreshSession, 1}, key,
                     Value(v.get<PnCounter>()->increment(Dot{testing::kFreshSession, 1}, 1)));
  RC_ASSERT(delta.is_ok());
  remover.remove(key);
  RC_ASSERT(testing::joined(updater, remover).contains(key));
  RC_ASSERT(testing::joined(remover, updater).contains(key));
}

TEST(OrMap, UpdateRejectsAValueOfAnotherKind) {
  OrMap m;
  auto r = m.update(Dot{1, 1}, MapKey{"a", Kind::kAwSet}, Value(PnCounter()));
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

TEST(OrMap, DecodeRejectsMapsNestedTooDeep) {
  OrMap m;
  for (int depth = 0; depth < 4; ++depth) {
    OrMap outer;
    ASSERT_TRUE(outer.update(Dot{1, 1}, MapKey{"m", Kind::kMap}, Value(m)).is_ok());
    m = outer;
  }
  std::string bytes = encode(m);
  EXPECT_TRUE(decode<OrMap>(bytes, DecodeLimits{.max_map_depth = 5}).is_ok());
  EXPECT_EQ(decode<OrMap>(bytes, DecodeLimits{.max_map_depth = 4}).status().code(),
            StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace meld::crdt
