#include "crdt/map.h"

#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "tests/crdt/laws.h"

namespace meld::crdt {
namespace {

using testing::Request;

std::string name_of(const Request& r) {
  return std::get<1>(r.op) % 2 == 0 ? "a" : "b";
}

// A register write's timestamp, as in register_test.cc: unique per request.
Hlc timestamp_of(const Request& r) {
  return Hlc{std::get<2>(r.op) + 10, static_cast<uint32_t>(r.dot.counter), r.dot.replica};
}

std::string element_of(const Request& r) {
  return "e" + std::to_string(std::abs(std::get<2>(r.op)) % 3);
}

// Every kind is nested: (action, subject < 2 or not, the amount's sign) picks the field.
//   0: increment a PN-Counter field by amount / a G-Counter field by |amount|;
//   1: add to an add-wins set field / add (amount >= 0) to or remove from a remove-wins set field;
//   2: increment a counter inside a nested map field / write an LWW (amount >= 0) or a
//      multi-value register field;
//   3: remove the field of kind |amount| % 7, plain (subject < 2) or under the request's dot.
struct MapTraits {
  using State = OrMap;
  static bool low(const Request& r) { return std::get<1>(r.op) < 2; }
  static MapKey key_of(const Request& r) {
    const int amount = std::get<2>(r.op);
    switch (std::get<0>(r.op)) {
      case 0:
        return MapKey{name_of(r), low(r) ? Kind::kPnCounter : Kind::kGCounter};
      case 1:
        return MapKey{name_of(r), low(r) ? Kind::kAwSet : Kind::kRwSet};
      case 2:
        return MapKey{name_of(r), low(r)        ? Kind::kMap
                                  : amount >= 0 ? Kind::kLwwRegister
                                                : Kind::kMvRegister};
      default:
        return MapKey{name_of(r), static_cast<Kind>(std::abs(amount) % 7)};
    }
  }
  static Value value_delta(Value& current, const Request& r) {
    const int amount = std::get<2>(r.op);
    switch (current.kind()) {
      case Kind::kPnCounter:
        return Value(current.get<PnCounter>()->increment(r.dot, amount));
      case Kind::kGCounter:
        return Value(current.get<GCounter>()->increment(r.dot, std::abs(amount)));
      case Kind::kAwSet:
        return Value(current.get<AwSet>()->add(r.dot, element_of(r)));
      case Kind::kRwSet:
        return Value(amount >= 0 ? current.get<RwSet>()->add(r.dot, element_of(r))
                                 : current.get<RwSet>()->remove(r.dot, element_of(r)));
      case Kind::kLwwRegister:
        return Value(current.get<LwwRegister>()->set(timestamp_of(r), element_of(r)));
      case Kind::kMvRegister:
        return Value(current.get<MvRegister>()->set(r.dot, element_of(r)));
      case Kind::kMap: {
        const MapKey inner_key{"x", Kind::kPnCounter};
        OrMap* inner = current.get<OrMap>();
        Value inner_current = inner->current(inner_key);
        auto inner_delta = inner->update(
            r.dot, inner_key, Value(inner_current.get<PnCounter>()->increment(r.dot, amount)));
        RC_ASSERT(inner_delta.is_ok());
        return Value(std::move(inner_delta).value());
      }
    }
    RC_FAIL("unknown kind");
  }
  static State apply(State& s, const Request& r) {
    const MapKey key = key_of(r);
    if (std::get<0>(r.op) == 3) return low(r) ? s.remove(key) : s.remove(r.dot, key);
    Value current = s.current(key);
    Result<OrMap> delta = s.update(r.dot, key, value_delta(current, r));
    RC_ASSERT(delta.is_ok());
    return std::move(delta).value();
  }
};

MELD_CRDT_LAWS(MapLaws, MapTraits)

// What each field of a map written at one replica must hold. Values are not reset by a remove
// (crdt/map.h), so they accumulate across removes; only present keys are compared.
struct MapModel {
  std::set<MapKey> present;
  std::map<std::string, int64_t> pn_sums, nested_sums;
  std::map<std::string, uint64_t> g_sums;
  std::map<std::string, std::set<std::string>> aw_members, rw_members;
  std::map<std::string, std::pair<Hlc, std::string>> lww;
  std::map<std::string, std::string> mv;

  void apply(const Request& r) {
    const MapKey key = MapTraits::key_of(r);
    const std::string& name = key.name;
    const int amount = std::get<2>(r.op);
    if (std::get<0>(r.op) == 3) {
      present.erase(key);
      return;
    }
    present.insert(key);
    switch (key.kind) {
      case Kind::kPnCounter:
        pn_sums[name] += amount;
        break;
      case Kind::kGCounter:
        g_sums[name] += static_cast<uint64_t>(std::abs(amount));
        break;
      case Kind::kAwSet:
        aw_members[name].insert(element_of(r));
        break;
      case Kind::kRwSet:
        if (amount >= 0) {
          rw_members[name].insert(element_of(r));
        } else {
          rw_members[name].erase(element_of(r));
        }
        break;
      case Kind::kLwwRegister:
        if (!lww.contains(name) || lww[name].first < timestamp_of(r)) {
          lww[name] = {timestamp_of(r), element_of(r)};
        }
        break;
      case Kind::kMvRegister:
        mv[name] = element_of(r);
        break;
      case Kind::kMap:
        nested_sums[name] += amount;
        break;
    }
  }

  template <typename T>
  static const T* field(const OrMap& m, const std::string& name, Kind kind) {
    const Value* v = m.find(MapKey{name, kind});
    return v == nullptr ? nullptr : v->get<T>();
  }

  static std::set<std::string> members_of(const AwSet& s) {
    std::set<std::string> out;
    for (const AwSet::Member& m : s.members()) out.insert(m.element);
    return out;
  }

  void check(const OrMap& m) const {
    RC_ASSERT(m.keys().size() == present.size());
    for (const auto& [key, dots] : m.keys()) RC_ASSERT(present.contains(key));
    for (const auto& [name, sum] : pn_sums) {
      if (auto* c = field<PnCounter>(m, name, Kind::kPnCounter)) RC_ASSERT(c->value() == sum);
    }
    for (const auto& [name, sum] : g_sums) {
      if (auto* c = field<GCounter>(m, name, Kind::kGCounter)) RC_ASSERT(c->value() == sum);
    }
    for (const auto& [name, members] : aw_members) {
      if (auto* s = field<AwSet>(m, name, Kind::kAwSet)) RC_ASSERT(members_of(*s) == members);
    }
    for (const auto& [name, members] : rw_members) {
      if (auto* s = field<RwSet>(m, name, Kind::kRwSet)) {
        for (int e = 0; e < 3; ++e) {
          const std::string element = "e" + std::to_string(e);
          RC_ASSERT(s->contains(element) == members.contains(element));
        }
      }
    }
    for (const auto& [name, write] : lww) {
      if (auto* r = field<LwwRegister>(m, name, Kind::kLwwRegister)) {
        RC_ASSERT(r->timestamp() == write.first);
        RC_ASSERT(r->value() == write.second);
      }
    }
    for (const auto& [name, value] : mv) {
      if (auto* r = field<MvRegister>(m, name, Kind::kMvRegister)) {
        RC_ASSERT(r->values() == std::vector<std::string>{value});
      }
    }
    for (const auto& [name, sum] : nested_sums) {
      if (auto* inner = field<OrMap>(m, name, Kind::kMap)) {
        const Value* x = inner->find(MapKey{"x", Kind::kPnCounter});
        RC_ASSERT(x != nullptr);
        RC_ASSERT(x->get<PnCounter>()->value() == sum);
      }
    }
  }
};

// At one replica, after every request: a key is present iff updated since its last remove, and
// every present field holds what its type's sequential model says.
RC_GTEST_PROP(MapLaws, SequentialOpsMatchAMapModel, ()) {
  OrMap m;
  MapModel model;
  for (const Request& r : testing::gen_requests()) {
    MapTraits::apply(m, r);
    model.apply(r);
    model.check(m);
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

// A remove under a request id, retried through a replica that has seen the first copy, leaves an
// update made there in between alone; the same retry without the id removes it.
TEST(OrMap, ARetriedDottedRemoveIsIgnoredWhereTheFirstCopyWasSeen) {
  const MapKey key{"a", Kind::kPnCounter};
  auto increment = [&key](OrMap& m, Dot dot) {
    Value v = m.current(key);
    ASSERT_TRUE(m.update(dot, key, Value(v.get<PnCounter>()->increment(dot, 1))).is_ok());
  };
  OrMap first;
  increment(first, Dot{1, 1});
  OrMap remove_delta = first.remove(Dot{0xc1, 7}, key);
  EXPECT_FALSE(first.contains(key));
  EXPECT_TRUE(first.remove(Dot{0xc1, 7}, key) == OrMap());  // retried at the same replica

  OrMap second = first;  // has seen the remove
  increment(second, Dot{2, 1});
  OrMap plain = second;
  EXPECT_TRUE(second.remove(Dot{0xc1, 7}, key) == OrMap());
  EXPECT_TRUE(second.contains(key));
  plain.remove(key);
  EXPECT_FALSE(plain.contains(key));

  // The delta alone carries the dot: a replica that merged only it ignores the retry too.
  OrMap third;
  increment(third, Dot{3, 1});
  third.merge(remove_delta);
  increment(third, Dot{3, 2});
  EXPECT_TRUE(third.remove(Dot{0xc1, 7}, key) == OrMap());
  EXPECT_TRUE(third.contains(key));
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
