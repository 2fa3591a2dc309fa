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
// (D_e, C_e) (storage/big_set_value.h: the dots only, not the element) merged with that join
// (meld.big_set_join), fed with per-element deltas (BigSetDelta, converted at this boundary),
// computes the set's join without ever touching another key; and the context key holds C, an
// AwSet without elements merged with the crdt join.
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
// remote delta does no read; contains is one point read (contains_all one batched read of its
// elements' keys). None reads the whole set.
//
// Pipelining. The asynchronous mutators (apply_async, merge_async) do the filtering of (1) under
// the lock and hand the batch to Engine::commit without waiting, so many writes of one set are in
// flight at once and share the engine's group commits. The engine's commit thread pops batches
// from one FIFO queue and writes each group in queue order (storage/engine.cc run_commits), and
// batches are queued under the lock in the order they were filtered: so "operands commit in the
// order (1) saw C" still holds. Two things keep later writes consistent with earlier ones still in
// flight. (a) The in-memory context C is updated when a batch is queued, so later writes see the
// in-flight dots (a retry of an in-flight request is a no-op; local dots are never reused). (b) A
// pending overlay keeps, per element, the operands queued but not yet known to be committed; the
// dots a local add replaces or a remove deletes are the stored dots with those operands applied
// in order (D := (D minus the operand's context) plus its adds). Reapplying operands that have
// committed meanwhile gives the same dots (each operand's adds lie in its own context, so a later
// operand's context removes them again), as long as they are reapplied in order: entries leave
// the overlay only in queue order, after their batch and every earlier one completed.
// Every batch also records in the context key every dot its element operands record, so each
// committed batch keeps "C holds every dot an element key's context holds" on its own, whether or
// not an earlier batch failed.
// Failure: when the engine fails a queued batch, later batches filtered against its dots may
// already be queued, and C in memory claims dots that are not on disk. The set is then poisoned:
// every later mutation returns that error (reads still work) until the set is reopened, which
// reads C back from disk. What committed stays consistent (see above).
//
// Anti-entropy: merge_state() joins another replica's whole AwSet state: per remote element, a
// delta of its dots (and of the local dots of it the remote context covers but the remote lacks);
// then a stream over the local members removes the dots of elements the remote lacks but whose
// dots its context covers; then the remote context joins C. Memory: one page of members and one
// batch at a time, besides the remote state itself. The remote context's dots of elements neither
// side holds go to C only: they belong to some C_e that no key records, which the argument above
// allows (it needs every element key's context to lie within C, and filtering against C drops a
// later add of such a dot, as the join does).
//
// Retry safety: add(dot, e) and remove(dot, e) with a client's request id, and merge() of any
// delta, change nothing when their dots were seen: any order, duplicates and replays through any
// replica give the state crdt::AwSet gives in memory (tests/storage/big_set_test.cc), with the
// window of crdt/causal_context.h. Memory: the set's causal context, O(origins + out-of-order
// dots), is held by the object, plus the overlay of at most kMaxInFlightBatches batches.
//
// Preconditions: one BigSet object per set name per engine (the lock is per object), and nothing
// else writes the big_set family; drop an object only when in_flight() is 0, or a new object for
// the name would miss the dots still in flight. A remote BigSetDelta must name every dot of its
// state's context under the element they belong to (what add()/remove() return does); this cannot
// be checked here, and a dot filed under the wrong element would suppress a later add of that dot
// to its element.
//
// Thread-safety: every method may be called from any thread; staging is serialised by the set's
// lock, never held while waiting for a commit (merge_state() excepted). The synchronous mutators
// return once their write committed, so a later contains() sees it; the asynchronous ones return
// once the batch is queued and call done via the engine's executor once it committed or failed.
// The engine is borrowed and must outlive the set; the set may be destroyed with writes in flight
// (their callbacks still run).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
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

// One local update of a batch: add or remove element, under a client's request id when dot is
// set (its counter must not be 0), else (add) under this replica's next dot or (remove) without
// recording a dot.
struct BigSetUpdate {
  std::string element;
  bool remove = false;
  std::optional<crdt::Dot> dot;
};

class BigSet {
 public:
  // The largest element; a larger one is invalid_argument.
  static constexpr size_t kMaxElementBytes = 1 << 16;
  // The most dots a delta's context may hold (a delta names the dots of one element).
  static constexpr uint64_t kMaxDeltaDots = 4096;
  // Updates one apply() or add_all() call takes at most.
  static constexpr size_t kMaxBatchElements = 65536;
  // Batches queued and not yet completed, per set, at most: past it the asynchronous mutators
  // return resource_exhausted (backpressure) without queuing.
  static constexpr size_t kMaxInFlightBatches = 4096;

  // done(deltas or the commit's error), via the engine's executor.
  using DeltasDone = std::function<void(Result<std::vector<BigSetDelta>>)>;

  // Opens the set `name` in engine's big_set family, reading its causal context; replica is the
  // origin of the dots add(element) issues, owned by this process. Checks the family's layout
  // version (a point read; in an empty family, records it with Engine::commit_sync, so not on
  // the commit thread). When a failed commit left a gap in replica's own dots, records the
  // missing dots as seen (one Engine::commit_sync; see open() in big_set.cc). invalid_argument
  // for a name over big_set_format::kMaxNameBytes or a family of another layout version
  // (big_set_format.h); the engine's errors otherwise (corruption when the stored context does
  // not decode).
  static Result<std::unique_ptr<BigSet>> open(Engine* engine, std::string_view name,
                                              crdt::ReplicaId replica);

  // One point read of the committed state. corruption when the stored value does not decode.
  Result<bool> contains(std::string_view element) const;
  // contains() of each element, (*result)[i] for elements[i], in one batched read of the
  // committed state (Engine::multi_get: one consistent view of all of them). invalid_argument
  // for more than kMaxBatchElements elements or one over kMaxElementBytes; corruption when a
  // stored value does not decode.
  Result<std::vector<bool>> contains_all(std::span<const std::string_view> elements) const;
  // The element's committed dots (empty when absent). One point read.
  Result<std::set<crdt::Dot>> dots(std::string_view element) const;

  // Applies the updates in order, as one atomic write, and calls done with one delta per update
  // (to ship to other replicas; empty when the update was a no-op here, e.g. a retried request
  // id) once it committed; every later call sees the updates at once. Returns without calling
  // done: invalid_argument for more than kMaxBatchElements updates, an element over
  // kMaxElementBytes or a zero dot; resource_exhausted past kMaxInFlightBatches; the error that
  // poisoned the set (see the header comment); the engine's commit() errors. When nothing needs
  // writing, done runs before this returns, on the calling thread (without the set's lock).
  Status apply_async(std::vector<BigSetUpdate> updates, DeltasDone done);
  // Joins a delta from another replica (or a retry of one), no point read; done(status) as for
  // apply_async. invalid_argument when delta.state holds an element other than delta.element,
  // the element is too long, or its context holds more than kMaxDeltaDots dots.
  Status merge_async(const BigSetDelta& delta, std::function<void(Status)> done);

  // The synchronous forms: apply_async()/merge_async() and wait for done. Not on the engine's
  // executor thread (with an InlineExecutor: not on the commit thread).
  Result<std::vector<BigSetDelta>> apply(std::vector<BigSetUpdate> updates);
  // Adds under this replica's next dot.
  Result<BigSetDelta> add(std::string_view element);
  // Adds under dot (a client's request id): a no-op if dot was seen.
  Result<BigSetDelta> add(crdt::Dot dot, std::string_view element);
  // Removes the element's observed dots: an add concurrent with this remove survives it.
  Result<BigSetDelta> remove(std::string_view element);
  // Same, recording dot so a retry is a no-op.
  Result<BigSetDelta> remove(crdt::Dot dot, std::string_view element);
  // add(element) for each distinct element, in one atomic write (bulk loads). Errors as apply().
  Result<std::vector<BigSetDelta>> add_all(const std::vector<std::string>& elements);
  Status merge(const BigSetDelta& delta);

  // Joins another replica's whole state (anti-entropy): afterwards the set is the join of what it
  // was and remote, as crdt::AwSet::merge computes it. Waits for this set's writes in flight,
  // then holds the set's lock, so other mutators of this set wait until it returns; writes in
  // pages of kScanPageEntries elements, each committed before the next (a crash in between
  // leaves a state between the old one and the join, which a later merge_state completes).
  // invalid_argument for an element over kMaxElementBytes (before anything is written); the
  // engine's errors otherwise. Not on the engine's executor thread; and since it waits for
  // commits while holding the lock, a done callback of this set's writes must not call its
  // mutators while a merge_state() may run.
  Status merge_state(const crdt::AwSet& remote);

  // A copy of the set's causal context, including the dots of writes in flight.
  crdt::CausalContext context() const;
  // Whether the context holds dot, and how many dots it holds out of order (its dot cloud: they
  // cost memory until the gaps before them fill), without copying it.
  bool seen(crdt::Dot dot) const;
  size_t out_of_order_dots() const;
  // Batches queued and not yet completed.
  size_t in_flight() const;
  // The error that poisoned the set (see "Failure" above), or ok.
  Status failure() const;

  struct Member {
    std::string element;
    std::set<crdt::Dot> dots;
  };

  // Streams the committed members in element byte order, kScanPageEntries keys per engine scan,
  // starting after `after` (members() starts at the first). Elements present for the whole scan
  // are returned once each; ones added or removed meanwhile may or may not be. Borrows the
  // engine; not thread-safe.
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
  Cursor members_after(std::string_view after) const;

 private:
  // An element operand queued or being built: its new add dots and the dots its context records.
  struct Operand {
    uint64_t batch = 0;  // the batch's sequence number, set when queued
    std::set<crdt::Dot> adds;
    std::set<crdt::Dot> context;
  };
  // A batch being built under mu_.
  struct Staged {
    WriteBatch batch;
    crdt::CausalContext context;                                   // every dot its operands record
    std::map<std::string, std::vector<Operand>, std::less<>> ops;  // per element, in order
    size_t operands = 0;
  };
  // Completion state shared with the engine callbacks, which may outlive the set; never held
  // while waiting.
  struct Completions;

  BigSet(Engine* engine, std::string name, crdt::ReplicaId replica, crdt::CausalContext context);

  // The element's committed dots, sorted (none when it has no key).
  Result<std::vector<crdt::Dot>> read_element(std::string_view element) const;
  // Holding mu_: the poisoning error, or ok after dropping completed batches from the overlay.
  Status begin_locked();
  // Holding mu_: the element's dots with the operands in flight and staged applied.
  Result<std::set<crdt::Dot>> current_dots(std::string_view element, const Staged& staged) const;
  bool seen_locked(crdt::Dot dot, const Staged& staged) const;
  // The add of element under dot as crdt::AwSet::add makes it, given the element's dots.
  static BigSetDelta add_delta(crdt::Dot dot, std::string_view element,
                               const std::set<crdt::Dot>& observed);
  // Holding mu_: adds to staged the element operand of delta, after dropping the add dots already
  // seen (context_ or staged).
  void stage(const BigSetDelta& delta, Staged& staged) const;
  // Holding mu_: stages update and returns its delta (as crdt::AwSet's mutator returns it).
  Result<BigSetDelta> stage_update(const BigSetUpdate& update, Staged& staged);
  // Holding mu_: adds staged's context operand and queues the batch; on success records its
  // context in context_ and its operands in the overlay, and done(status) runs once it completed.
  // false, without calling done, when there is nothing to write.
  Result<bool> submit_locked(Staged staged, std::function<void(Status)> done);
  // Holding mu_ (merge_state): submit_locked() and wait for the commit.
  Status commit_locked(Staged staged);

  Engine* const engine_;
  const std::string name_;
  const crdt::ReplicaId replica_;
  const std::shared_ptr<Completions> completions_;
  mutable std::mutex mu_;
  // Guarded by mu_: what the context key holds once every queued batch committed.
  crdt::CausalContext context_;
  // Guarded by mu_: the overlay of operands in flight, per element in queue order, and the
  // elements of each batch in flight in queue order.
  std::map<std::string, std::deque<Operand>, std::less<>> in_flight_ops_;
  std::deque<std::pair<uint64_t, std::vector<std::string>>> in_flight_batches_;
  uint64_t next_batch_ = 1;  // guarded by mu_
};

}  // namespace meld::storage
