#include "crdt/map.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "crdt/dot_kernel.h"

namespace meld::crdt {

OrMap::OrMap() = default;
OrMap::OrMap(const OrMap&) = default;
OrMap::OrMap(OrMap&&) noexcept = default;
OrMap& OrMap::operator=(const OrMap&) = default;
OrMap& OrMap::operator=(OrMap&&) noexcept = default;
OrMap::~OrMap() = default;

bool operator==(const OrMap& a, const OrMap& b) {
  return a.keys_ == b.keys_ && a.context_ == b.context_ && a.values_ == b.values_;
}

Result<OrMap> OrMap::from_parts(Keys keys, CausalContext context, Values values) {
  std::vector<Dot> all;
  for (const auto& [key, dots] : keys) {
    if (dots.empty()) return Status::invalid_argument("map: key without dots");
    for (Dot dot : dots) {
      if (!context.contains(dot)) {
        return Status::invalid_argument("map: dot " + to_string(dot) + " not in the context");
      }
      all.push_back(dot);
    }
  }
  std::sort(all.begin(), all.end());
  if (std::adjacent_find(all.begin(), all.end()) != all.end()) {
    return Status::invalid_argument("map: a dot belongs to two keys");
  }
  for (const auto& [key, value] : values) {
    if (value.kind() != key.kind) return Status::invalid_argument("map: value kind != key kind");
  }
  OrMap m;
  m.keys_ = std::move(keys);
  m.context_ = std::move(context);
  m.values_ = std::move(values);
  return m;
}

const Value* OrMap::find(const MapKey& key) const {
  if (!keys_.contains(key)) return nullptr;
  auto it = values_.find(key);
  return it == values_.end() ? nullptr : &it->second;
}

Value OrMap::current(const MapKey& key) const {
  auto it = values_.find(key);
  return it == values_.end() ? Value::empty(key.kind) : it->second;
}

Result<OrMap> OrMap::update(Dot dot, const MapKey& key, const Value& value_delta) {
  MELD_ASSERT(dot.counter != 0, "update with the null dot");
  if (value_delta.kind() != key.kind) {
    return Status::invalid_argument("map: value of another kind than key '" + key.name + "'");
  }
  OrMap delta;
  delta.values_.emplace(key, value_delta);
  if (!context_.contains(dot)) {
    auto it = keys_.find(key);
    if (it != keys_.end()) detail::insert_dots(delta.context_, it->second);
    delta.context_.insert(dot);
    delta.keys_.emplace(key, std::set<Dot>{dot});
    // Applied directly: the delta's context holds only dots this state has, plus the new one.
    context_.insert(dot);
    if (it != keys_.end()) {
      it->second = {dot};
    } else {
      keys_.emplace(key, std::set<Dot>{dot});
    }
  }
  auto [it, inserted] = values_.try_emplace(key, value_delta);
  if (!inserted) it->second.merge(value_delta);
  return delta;
}

Result<OrMap> OrMap::update(ReplicaId replica, const MapKey& key, const Value& value_delta) {
  return update(context_.next_dot(replica), key, value_delta);
}

OrMap OrMap::remove(const MapKey& key) {
  OrMap delta;
  auto it = keys_.find(key);
  if (it == keys_.end()) return delta;
  detail::insert_dots(delta.context_, it->second);
  keys_.erase(it);
  return delta;
}

OrMap OrMap::remove(Dot dot, const MapKey& key) {
  MELD_ASSERT(dot.counter != 0, "remove with the null dot");
  if (context_.contains(dot)) return OrMap();
  OrMap delta = remove(key);
  delta.context_.insert(dot);
  context_.insert(dot);
  return delta;
}

void OrMap::merge(const OrMap& other) {
  detail::join_map(keys_, context_, other.keys_, other.context_);
  context_.merge(other.context_);
  for (const auto& [key, value] : other.values_) {
    auto [it, inserted] = values_.try_emplace(key, value);
    if (!inserted) it->second.merge(value);
  }
}

Value Value::empty(Kind kind) {
  switch (kind) {
    case Kind::kGCounter:
      return Value(GCounter());
    case Kind::kPnCounter:
      return Value(PnCounter());
    case Kind::kAwSet:
      return Value(AwSet());
    case Kind::kRwSet:
      return Value(RwSet());
    case Kind::kLwwRegister:
      return Value(LwwRegister());
    case Kind::kMvRegister:
      return Value(MvRegister());
    case Kind::kMap:
      return Value(OrMap());
  }
  assert_fail(__FILE__, __LINE__, "kind", "unknown crdt kind");
}

void Value::merge(const Value& other) {
  MELD_ASSERT(kind() == other.kind(), "merge of values of different kinds");
  std::visit(
      [&other](auto& mine) {
        using T = std::decay_t<decltype(mine)>;
        mine.merge(std::get<T>(other.v_));
      },
      v_);
}

}  // namespace meld::crdt
