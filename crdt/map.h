// A map from (name, kind) keys to nested CRDT values of any type here, maps included, with
// add-wins keys (Riak's map: a field is identified by its name and its type, so two replicas that
// write different types under one name never conflict).
//
// Keys form an observed-remove set over the map's causal context: update() adds the key's dot,
// remove() deletes the dots it saw, and a concurrent update wins over a remove. Values are joined
// key by key as the product of their own lattices and are not reset by a remove: a removed key's
// value stays (hidden) so that a concurrent or later update continues from it, which keeps merge a
// join without coordination. The cost is that a removed key's value is not reclaimed; a causal map
// that resets nested values on remove (Almeida et al.) would need every nested type to be a
// pure dot store, which the folded counters here are not.
//
// Retry safety: update() with an applied dot leaves the key set alone, and its value delta is a
// join of a nested mutator's delta, whose own dots make it count once. remove(key) deletes only
// the key dots it observed, so repeating it at one replica changes nothing, but a copy retried
// later through another replica removes what that replica has observed by then, updates made
// after the first copy included. remove(dot, key) rules that out as AwSet::remove(Dot, ...) does:
// the dot joins the causal context, so any replica that has seen the first copy (directly or
// through a merge) ignores a retry. The window is that of the causal context (causal_context.h):
// a retry that reaches a replica before the first copy or its delta does is a first copy there.
//
// Plain values: copy freely; not thread-safe. merge is O(n + m) in the keys of both maps.
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <variant>

#include "base/status.h"
#include "crdt/causal_context.h"
#include "crdt/counter.h"
#include "crdt/register.h"
#include "crdt/set.h"

namespace meld::crdt {

enum class Kind : uint8_t {
  kGCounter = 0,
  kPnCounter = 1,
  kAwSet = 2,
  kRwSet = 3,
  kLwwRegister = 4,
  kMvRegister = 5,
  kMap = 6,
};

struct MapKey {
  std::string name;
  Kind kind = Kind::kGCounter;

  friend auto operator<=>(const MapKey&, const MapKey&) = default;
};

class Value;

class OrMap {
 public:
  using Keys = std::map<MapKey, std::set<Dot>>;
  using Values = std::map<MapKey, Value>;

  OrMap();
  OrMap(const OrMap&);
  OrMap(OrMap&&) noexcept;
  OrMap& operator=(const OrMap&);
  OrMap& operator=(OrMap&&) noexcept;
  ~OrMap();

  // invalid_argument unless every key has dots, all covered by context and none shared, and every
  // value's kind matches its key.
  static Result<OrMap> from_parts(Keys keys, CausalContext context, Values values);

  bool contains(const MapKey& key) const { return keys_.contains(key); }
  // The value under a present key; nullptr if the key is absent (never added or removed).
  const Value* find(const MapKey& key) const;
  // The value to run a nested mutator on: the stored one (even if the key was removed) or the
  // empty value of the key's kind.
  Value current(const MapKey& key) const;

  // Joins value_delta into the key's value and marks the key present under dot. The key's dot is
  // skipped if already applied. invalid_argument if value_delta's kind is not key.kind.
  Result<OrMap> update(Dot dot, const MapKey& key, const Value& value_delta);
  Result<OrMap> update(ReplicaId replica, const MapKey& key, const Value& value_delta);
  OrMap remove(const MapKey& key);
  // The same under a client's request id: a no-op (empty delta) if dot was already applied, and
  // the delta carries dot so that every replica it reaches ignores retries of it.
  OrMap remove(Dot dot, const MapKey& key);

  void merge(const OrMap& other);

  const Keys& keys() const { return keys_; }
  const CausalContext& context() const { return context_; }
  const Values& values() const { return values_; }

  friend bool operator==(const OrMap&, const OrMap&);

 private:
  Keys keys_;
  CausalContext context_;
  Values values_;
};

// One CRDT value of any kind.
class Value {
 public:
  using Variant = std::variant<GCounter, PnCounter, AwSet, RwSet, LwwRegister, MvRegister, OrMap>;

  explicit Value(Variant v) : v_(std::move(v)) {}
  // The empty (bottom) value of kind.
  static Value empty(Kind kind);

  Kind kind() const { return static_cast<Kind>(v_.index()); }
  // Join; the kinds must be equal (asserted: callers check kind() first).
  void merge(const Value& other);

  template <typename T>
  const T* get() const {
    return std::get_if<T>(&v_);
  }
  template <typename T>
  T* get() {
    return std::get_if<T>(&v_);
  }
  const Variant& variant() const { return v_; }

  friend bool operator==(const Value&, const Value&) = default;

 private:
  Variant v_;
};

}  // namespace meld::crdt
