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
// Plain values: copy freely (a copy is deep); not thread-safe.
//
// AwSet costs (n elements; the table is crdt/element_table.h: open addressing over a flat array of
// 64-byte entries, a hash index of elements and one of dots). contains, add and remove: O(1)
// expected, a few cache misses each at any size (element slot, entry, one dot slot per dot
// replaced or removed, plus the causal context's O(log origins) lookup); the one-element delta a
// mutator returns costs one small allocation plus its context's. The batch calls (contains_all,
// add_all, remove_all) overlap those misses in a software pipeline. merge: O(k) expected,
// k = the other state's entries plus the dots its context names, or, when those outnumber this
// state's entries, one pass over this state (a full-state merge). Ordered output (members(),
// for_each_ordered(), the encoding) sorts: O(n log n), on keys read once into a flat array.
// Memory: 85-107 bytes per element (64 in the entry, 16 per load factor in the two indexes),
// plus the element bytes over 40 and 16 bytes per dot beyond the first, on the heap.
// RwSet keeps ordered maps: mutators and contains O(log n); merge O(n + m).
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "crdt/causal_context.h"
#include "crdt/element_table.h"

namespace meld::crdt {

class AwSet {
 public:
  // An element and its dots, as from_parts() takes them and members() lists them.
  struct Member {
    std::string element;
    std::set<Dot> dots;

    friend bool operator==(const Member&, const Member&) = default;
  };

  // invalid_argument unless the elements are distinct, every element has dots, all covered by
  // context, and no dot is shared by two elements.
  static Result<AwSet> from_parts(std::vector<Member> members, CausalContext context);

  bool contains(std::string_view element) const {
    return table_.find(element) != detail::ElementTable::kNone;
  }
  size_t size() const { return table_.size(); }
  // The element's dots; empty when it is absent.
  std::set<Dot> dots(std::string_view element) const;
  // Every member in element byte order. Sorts: O(n log n).
  std::vector<Member> members() const;
  // Calls visit(std::string_view element, std::span<const Dot> dots) for every member in element
  // byte order, dots ascending; the views are valid during the call. Sorts: O(n log n).
  template <typename Visit>
  void for_each_ordered(Visit visit) const {
    for (detail::ElementTable::Id id : table_.ordered_ids()) {
      visit(table_.element(id), table_.dots(id));
    }
  }

  AwSet add(Dot dot, std::string_view element);
  AwSet add(ReplicaId replica, std::string_view element);  // the replica's next dot
  AwSet remove(std::string_view element);
  AwSet remove(Dot dot, std::string_view element);  // records dot so a retry is a no-op

  // Batches for callers that name many members at once: the same effect and answers as
  // the one-element calls in order, run as a software pipeline: while one element is applied,
  // the entries of the next kPipelineDistance are being loaded and the slots of the
  // kPipelineDistance after those (for the mutators, one more stage loads dot slots), so the
  // cache misses of many lookups overlap. The mutators return one delta: the join of the
  // one-element deltas.
  static constexpr size_t kPipelineDistance = 16;
  std::vector<bool> contains_all(std::span<const std::string> elements) const;
  AwSet add_all(ReplicaId replica, std::span<const std::string> elements);
  AwSet remove_all(std::span<const std::string> elements);

  void merge(const AwSet& other);

  const CausalContext& context() const { return context_; }

  friend bool operator==(const AwSet& a, const AwSet& b);

 private:
  // The one-element mutators, folding their delta into delta (which may hold earlier ones of a
  // batch); hash = ElementTable::hash_of(element).
  void add_into(Dot dot, std::string_view element, uint64_t hash, AwSet& delta);
  void remove_into(const Dot* dot, std::string_view element, uint64_t hash, AwSet& delta);
  // Drops element here, recording its dots in delta's context so the delta removes it elsewhere.
  void drop_into(std::string_view element, uint64_t hash, AwSet& delta);
  // The ids of entries here holding a dot that context covers (an id may repeat).
  std::vector<detail::ElementTable::Id> covered_by(const CausalContext& context) const;
  // The hashes of the elements in flight, indexed by position mod kHashRing (over the depth).
  static constexpr size_t kHashRing = 64;
  // Runs apply(i, hash of elements[i]) for each element in order, each after prefetching the
  // slot and entry its lookup reads; prefetch_more(i, hash), called once element i's entry was
  // requested kPipelineDistance steps earlier, adds the caller's own (nullptr: none).
  template <typename Apply, typename Prefetch>
  void pipelined(std::span<const std::string> elements, Apply apply, Prefetch prefetch_more) const;

  detail::ElementTable table_;
  CausalContext context_;
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
