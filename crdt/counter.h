// G-Counter and PN-Counter as delta-state CRDTs whose every increment is a dot, so that retried
// increments count once.
//
// Why dots. A classic G-Counter keeps one running total per replica and merges by max. Its deltas
// are idempotent per replica, but a client that times out and retries through another replica
// produces a second, different update there: the increment counts twice (why Riak and Cassandra
// tell users not to retry). Here the unit of deduplication is the update itself: each increment
// carries a dot, either the client's request id (session, sequence number) or, for callers that
// never retry, a dot the replica assigns (next_dot). The abstract state is the set of applied
// (dot, amount) pairs and the value is the sum of their amounts; merge is set union. Union is
// commutative, associative and idempotent, and an update identified by its dot is in the union at
// most once however many times and through whichever replicas it is applied: a retry counts once.
//
// Why bounded. The set is never stored as such. For each origin the contiguous prefix of its dots
// (1..n) is folded into (n, sum of their amounts); only dots past a gap are kept individually, and
// they fold in as soon as the gap closes. Memory is O(origins + dots pending behind a gap).
//
// The window of the guarantee. A retry is recognised for as long as its origin's entry exists,
// i.e. forever for every origin ever seen (entries are never dropped; retiring client sessions
// needs causal stability, which is the replication layer's to establish). Preconditions the
// caller keeps: an origin numbers its updates 1, 2, 3, ... and never reuses a number for a
// different amount (a retry resends the same amount); an update that is never delivered keeps the
// origin's later dots pending, so a client must retry each request until acknowledged before its
// session ends. If a number is reused with a different amount, replicas still converge (ties
// resolve deterministically) but the sum is unspecified.
//
// Arithmetic is modulo 2^64 (two's complement for the PN-Counter), so sums never trap.
//
// Plain values: copy freely; not thread-safe.
#pragma once

#include <cstdint>
#include <map>

#include "base/status.h"
#include "crdt/causal_context.h"

namespace meld::crdt {

// Amount is uint64_t (G-Counter: increments only) or int64_t (PN-Counter).
template <typename Amount>
class DotCounter {
 public:
  // The folded prefix of one origin: dots 1..counter, whose amounts add up to sum.
  struct Prefix {
    uint64_t counter = 0;
    uint64_t sum = 0;  // modulo 2^64
    friend bool operator==(const Prefix&, const Prefix&) = default;
  };

  DotCounter() = default;

  // Builds a counter from decoded parts. invalid_argument unless canonical: prefix counters > 0
  // and every pending dot at least two past its origin's prefix.
  static Result<DotCounter> from_parts(std::map<ReplicaId, Prefix> prefixes,
                                       std::map<Dot, Amount> pending);

  Amount value() const;
  bool has_applied(Dot dot) const;

  // Adds amount under dot (dot.counter > 0) and returns the delta to ship: a counter holding just
  // this dot. If dot was already applied the state is unchanged and the delta is empty.
  DotCounter increment(Dot dot, Amount amount);
  // Adds amount under the replica's next dot (replica must be this replica's own id).
  DotCounter increment(ReplicaId replica, Amount amount);

  // Join: union of the applied updates.
  void merge(const DotCounter& other);
  bool empty() const { return prefixes_.empty() && pending_.empty(); }

  const std::map<ReplicaId, Prefix>& prefixes() const { return prefixes_; }
  const std::map<Dot, Amount>& pending() const { return pending_; }

  friend bool operator==(const DotCounter&, const DotCounter&) = default;

 private:
  uint64_t covered(ReplicaId replica) const;
  // Folds pending dots that became contiguous with their origin's prefix; drops covered ones.
  void compact();

  std::map<ReplicaId, Prefix> prefixes_;
  std::map<Dot, Amount> pending_;
};

using GCounter = DotCounter<uint64_t>;
using PnCounter = DotCounter<int64_t>;

extern template class DotCounter<uint64_t>;
extern template class DotCounter<int64_t>;

}  // namespace meld::crdt
