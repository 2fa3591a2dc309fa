// Dots and causal contexts: the bookkeeping every delta-state CRDT here shares (Almeida, Shoker,
// Baquero, "Delta State Replicated Data Types"; Bieniusa et al., "An optimized conflict-free
// replicated set"; Riak's ORSWOT).
//
// A dot (origin, n) names one update: the n-th update issued by `origin`. An origin is either a
// replica (server-assigned dots, next_dot()) or a client session (client-chosen request ids: the
// session picks a random 64-bit id and numbers its updates 1, 2, 3, ... without gaps; a retry
// reuses its number). Both kinds share one 64-bit space; random ids make collisions negligible.
//
// A causal context is the set of dots a state has seen, kept as a version vector (origin -> n:
// every dot 1..n of that origin was seen) plus a dot cloud (dots seen beyond the vector). The cloud
// compacts into the vector as soon as its dots become contiguous, so the memory a context needs is
// O(origins + out-of-order dots), not O(updates). That is what makes "have I applied this update
// already?" answerable forever for every origin whose dots arrive without permanent gaps.
//
// Plain values: copy freely; not thread-safe (one owner at a time).
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "base/status.h"

namespace meld::crdt {

using ReplicaId = uint64_t;

struct Dot {
  ReplicaId replica = 0;
  uint64_t counter = 0;  // 1-based; 0 is never a valid dot

  friend auto operator<=>(const Dot&, const Dot&) = default;
};

std::string to_string(Dot dot);

class CausalContext {
 public:
  CausalContext() = default;

  // Builds a context from decoded parts. invalid_argument unless they are canonical: every vector
  // entry > 0, every cloud dot > 0 and at least two past its origin's vector entry (so nothing in
  // the cloud is covered or could have compacted).
  static Result<CausalContext> from_parts(std::map<ReplicaId, uint64_t> vector,
                                          std::set<Dot> cloud);

  bool contains(Dot dot) const;
  // One past the largest counter of `replica` seen here: the dot a replica assigns to its next
  // update. The replica must own `replica` (no one else issues its dots).
  Dot next_dot(ReplicaId replica) const;
  // Records dot (dot.counter > 0) and compacts. Returns false if it was already present.
  bool insert(Dot dot);
  // Union with other, then compaction. Cost O((|vector| + |cloud|) of other × log of this).
  void merge(const CausalContext& other);
  bool empty() const { return vector_.empty() && cloud_.empty(); }

  // origin -> n: dots (origin, 1..n) are all present. No zero entries.
  const std::map<ReplicaId, uint64_t>& vector() const { return vector_; }
  // Present dots beyond the vector, none contiguous with it.
  const std::set<Dot>& cloud() const { return cloud_; }

  friend bool operator==(const CausalContext&, const CausalContext&) = default;

 private:
  uint64_t covered(ReplicaId replica) const;
  void compact(ReplicaId replica);

  std::map<ReplicaId, uint64_t> vector_;
  std::set<Dot> cloud_;
};

}  // namespace meld::crdt
