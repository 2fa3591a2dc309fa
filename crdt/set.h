// Sets of byte strings as delta-state CRDTs over a causal context (Almeida et al.).
//
// AwSet is the add-wins observed-remove set without tombstones (Bieniusa et al.; Riak's ORSWOT):
// each present element keeps the dots of the adds that made it present; a remove deletes those
// dots, and the causal context remembers that they were seen, so nothing is kept per removed
// element. An add concurrent with a remove survives it (the remove did not see the add's dot).
//
// RwSet is the remove-wins set: each update of an element leaves one token (a dot plus add or
// remove) that replaces the tokens it saw; an element is present iff it has tokens and all of them
// are adds, so a remove concurrent with an add wins. The price of remove-wins without coordination
// is that an element's last remove token stays until a later add of that element replaces it.
//
// Retry safety: every mutator that takes a Dot is a no-op (empty delta) if the dot was already
// applied, so a client's add or remove that is retried through any replica takes effect once; a
// stale retry of an add that arrives after a later remove does not resurrect the element. The
// window is that of the causal context (see crdt/causal_context.h).
//
// Mutators return the delta to ship and apply it locally; merge is the join. A remove without a
// dot (AwSet only) needs no id: removing the observed dots is idempotent by itself.
//
// Plain values: copy freely; not thread-safe. Costs: mutators and contains O(log n). AwSet::merge
// costs O(k log n) where k is the number of the other state's entries plus the dots of this state
// its context covers: a delta from a mutator touches one element, so shipping it into a big set is
// cheap (AwSet keeps an index from dot to element for this). RwSet::merge is O(n + m).
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>

#include "base/status.h"
#include "crdt/causal_context.h"

namespace meld::crdt {

class AwSet {
 public:
  using Entries = std::map<std::string, std::set<Dot>, std::less<>>;

  AwSet() = default;
  AwSet(const AwSet& other);
  AwSet& operator=(const AwSet& other);
  AwSet(AwSet&&) noexcept = default;
  AwSet& operator=(AwSet&&) noexcept = default;
  ~AwSet() = default;

  // invalid_argument unless every element has dots, all covered by context, no dot shared by two
  // elements.
  static Result<AwSet> from_parts(Entries entries, CausalContext context);

  bool contains(std::string_view element) const { return entries_.contains(element); }
  size_t size() const { return entries_.size(); }

  AwSet add(Dot dot, std::string_view element);
  AwSet add(ReplicaId replica, std::string_view element);  // the replica's next dot
  AwSet remove(std::string_view element);
  AwSet remove(Dot dot, std::string_view element);  // records dot so a retry is a no-op

  void merge(const AwSet& other);

  const Entries& entries() const { return entries_; }
  const CausalContext& context() const { return context_; }

  friend bool operator==(const AwSet& a, const AwSet& b) {
    return a.entries_ == b.entries_ && a.context_ == b.context_;
  }

 private:
  void insert_entry(std::string element, std::set<Dot> dots);
  void erase_entry(Entries::iterator it);
  // Drops element here, recording its dots in delta's context so the delta removes it elsewhere.
  void drop_into(std::string_view element, AwSet& delta);
  void rebuild_owners();

  Entries entries_;
  CausalContext context_;
  // Which element each present dot belongs to (a dot belongs to one element forever). Points at
  // keys of entries_, whose nodes stay put while the entry exists; rebuilt on copy.
  std::map<Dot, const std::string*> owners_;
};

class RwSet {
 public:
  // Per element: dot -> true for an add token, false for a remove token.
  using Tokens = std::map<Dot, bool>;
  using Entries = std::map<std::string, Tokens, std::less<>>;

  RwSet() = default;
  // invalid_argument unless every element has tokens, all covered by context, no dot shared.
  static Result<RwSet> from_parts(Entries entries, CausalContext context);

  bool contains(std::string_view element) const;

  RwSet add(Dot dot, std::string_view element);
  RwSet add(ReplicaId replica, std::string_view element);
  RwSet remove(Dot dot, std::string_view element);
  RwSet remove(ReplicaId replica, std::string_view element);

  void merge(const RwSet& other);

  const Entries& entries() const { return entries_; }
  const CausalContext& context() const { return context_; }

  friend bool operator==(const RwSet&, const RwSet&) = default;

 private:
  RwSet write(Dot dot, std::string_view element, bool add);

  Entries entries_;
  CausalContext context_;
};

}  // namespace meld::crdt
