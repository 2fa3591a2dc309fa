// A big add-wins OR-Set on disk: crdt::AwSet semantics (crdt/set.h) for sets of tens of millions
// of elements, stored one RocksDB key per element plus one causal-context key per set (layout:
// storage/big_set_format.h), so that add, remove and contains cost O(1) storage work whatever the
// set's size, and reading all members streams.
//
// Design. The state is an AwSet (E, C): the dots D_e of each present element e, and the causal
// context C of every dot seen. A dot names one update of one element, forever. So C splits into
// C_e = the dots of e in C, and the ORSWOT join of (D, C) and (D', C') is, element by element,
//   D_e ⊔ D'_e = (D_e ∩ D'_e) ∪ (D_e \ C'_e) ∪ (D'_e \ C_e)
// because D_e \ C' = D_e \ C'_e (the dots of e in C' are C'_e). Hence an element key holding
// the AwSet (D_e, C_e) merged with the meld.crdt_join operator, fed with per-element deltas
// (BigSetDelta), computes the set's join without ever touching another key; and the context key
// holds C, merged the same way (its operands are contexts without elements).
//
// Forgetting C_e. An element key cannot keep C_e forever (every remove of e would leave dots
// behind, and removed elements would leave keys). Every write goes through this class, which keeps
// C in memory and, under one lock, (1) drops from a delta every add dot C already has, with
// that dot removed from the delta's context too, then (2) commits the element operand and the
// context operand in one atomic write, in lock order. Claim: after (1), the element key needs no
// dot of C_e outside D_e, so the full merge trims its context to D_e (meld.big_set_join), and a
// value without elements (D_e = ∅) may be deleted (meld.big_set_reclaim). Proof, per dot x of e,
// for a filtered operand (A', R) where A' = A \ C are its new add dots: the true join keeps x iff
// (x ∈ D_e ∧ (x ∈ A ∨ x ∉ C')) ∨ (x ∈ A ∧ x ∉ C_e). For x ∈ D_e (so x ∈ C), dropping x from both
// the delta's dots and context keeps "x ∈ A ∨ x ∉ C'" unchanged, and the stored D_e is exact. For
// x ∉ D_e the true join keeps x iff x ∈ A \ C_e, and x ∉ C_e ⟺ x ∉ C, since every write records
// its context dots in C and in the element's context atomically (C ∩ dots(e) = C_e): that is
// x ∈ A', which the stored (D_e, trimmed) state keeps too, since it does not hold x. Partial
// merges of operands do not trim (an operand's removes must still reach the older state), and
// operands commit in the order (1) saw C, so an add of x never follows, on disk, a write that
// recorded x. The set context itself is only ever joined, never trimmed or dropped.
//
// Storage work per operation: add and remove do one point read of the element key (to learn the
// dots of e a local add replaces or a remove deletes, as crdt::AwSet's mutators do; the bloom
// filter answers it for a new element) and one atomic write of two merge operands; merge of a
// remote delta does no read; contains is one point read. None reads the whole set.
//
// Retry safety: add(dot, e) and remove(dot, e) with a client's request id, and merge() of any
// delta, change nothing when their dots were seen: any order, duplicates and replays through any
// replica give the state crdt::AwSet gives in memory (tests/storage/big_set_test.cc), with the
// window of crdt/causal_context.h. Memory: the set's causal context, O(origins + out-of-order
// dots), is held by the object.
//
// Preconditions: one BigSet object per set name per engine (the lock is per object), and nothing
// else writes the big_set family. A remote BigSetDelta must name every dot of its state's context
// under the element they belong to (what add()/remove() return does); this cannot be checked here,
// and a dot filed under the wrong element would suppress a later add of that dot to its element.
//
// Thread-safety: every method may be called from any thread; mutations are serialised, and each
// returns after its write is committed (Engine::commit_sync), so a later contains() sees it. The
// engine is borrowed and must outlive the set.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "crdt/set.h"
#include "storage/engine.h"

namespace meld::storage {

// A delta of one element of a big set: state holds at most that element, and its context only
// dots of that element (the add's dot, and the dots it replaces or removes). Empty when nothing
// changed.
struct BigSetDelta {
  std::string element;
  crdt::AwSet state;

  bool empty() const { return state.size() == 0 && state.context().empty(); }
};

class BigSet {
 public:
  // The largest element; a larger one is invalid_argument.
  static constexpr size_t kMaxElementBytes = 1 << 16;
  // The most dots a delta's context may hold (a delta names the dots of one element).
  static constexpr uint64_t kMaxDeltaDots = 4096;
  // Elements one add_all() call takes at most.
  static constexpr size_t kMaxBatchElements = 65536;

  // Opens the set `name` in engine's big_set family, reading its causal context; replica is the
  // origin of the dots add(element) issues, owned by this process. invalid_argument for a name
  // over big_set_format::kMaxNameBytes; the engine's errors otherwise (corruption when the
  // stored context does not decode).
  static Result<std::unique_ptr<BigSet>> open(Engine* engine, std::string_view name,
                                              crdt::ReplicaId replica);

  // One point read. corruption when the stored value does not decode.
  Result<bool> contains(std::string_view element) const;
  // The element's dots (empty when absent). One point read.
  Result<std::set<crdt::Dot>> dots(std::string_view element) const;

  // Mutators: apply the update, commit it, and return the delta to ship to other replicas (empty
  // when the update was a no-op here). invalid_argument for an element over kMaxElementBytes;
  // the engine's errors otherwise, in which case nothing changed.
  // Adds under this replica's next dot.
  Result<BigSetDelta> add(std::string_view element);
  // Adds under dot (a client's request id): a no-op if dot was seen.
  Result<BigSetDelta> add(crdt::Dot dot, std::string_view element);
  // Removes the element's observed dots: an add concurrent with this remove survives it.
  Result<BigSetDelta> remove(std::string_view element);
  // Same, recording dot so a retry is a no-op.
  Result<BigSetDelta> remove(crdt::Dot dot, std::string_view element);
  // add(element) for each distinct element, in one atomic write (bulk loads). invalid_argument
  // for more than kMaxBatchElements or an element over kMaxElementBytes.
  Result<std::vector<BigSetDelta>> add_all(const std::vector<std::string>& elements);

  // Joins a delta from another replica (or a retry of one): no point read. invalid_argument when
  // delta.state holds an element other than delta.element, the element is too long, or its
  // context holds more than kMaxDeltaDots dots.
  Status merge(const BigSetDelta& delta);

  // A copy of the set's causal context.
  crdt::CausalContext context() const;

  struct Member {
    std::string element;
    std::set<crdt::Dot> dots;
  };

  // Streams the members in element byte order, kScanPageEntries keys per engine scan. Elements
  // present for the whole scan are returned once each; ones added or removed meanwhile may or may
  // not be. Borrows the engine; not thread-safe.
  class Cursor {
   public:
    // The next member into *out: true, or false at the end. corruption when a value does not
    // decode; the engine's errors otherwise.
    Result<bool> next(Member* out);

   private:
    friend class BigSet;
    Cursor(Engine* engine, std::string start, std::string prefix);

    Engine* engine_;
    std::string next_start_;
    std::string prefix_;
    std::string end_;
    std::vector<std::pair<std::string, std::string>> page_;
    size_t pos_ = 0;
    bool more_ = true;
  };
  static constexpr size_t kScanPageEntries = 1024;
  Cursor members() const;

 private:
  BigSet(Engine* engine, std::string name, crdt::ReplicaId replica, crdt::CausalContext context);

  Result<std::set<crdt::Dot>> read_dots(std::string_view element) const;
  // The mutators, holding mu_.
  Result<BigSetDelta> add_locked(crdt::Dot dot, std::string_view element);
  Result<BigSetDelta> remove_locked(std::optional<crdt::Dot> dot, std::string_view element);
  // Adds to batch the element operand of delta, after dropping the add dots context_ has seen,
  // and to unseen the dots of delta context_ lacks. Holds mu_.
  void stage(const BigSetDelta& delta, WriteBatch& batch, crdt::CausalContext& unseen) const;
  // Adds unseen to the context key, commits batch, then records the deltas' contexts in
  // context_ (only once committed, so a failed commit changes nothing). Holds mu_.
  Status commit(WriteBatch batch, crdt::CausalContext unseen,
                const std::vector<BigSetDelta>& deltas);
  // The add of element under dot as crdt::AwSet::add makes it, given the element's dots.
  static BigSetDelta add_delta(crdt::Dot dot, std::string_view element,
                               const std::set<crdt::Dot>& observed);

  Engine* const engine_;
  const std::string name_;
  const crdt::ReplicaId replica_;
  mutable std::mutex mu_;
  crdt::CausalContext context_;  // guarded by mu_; what the context key holds once committed
};

}  // namespace meld::storage
