// Registers: last-writer-wins ordered by a hybrid logical clock, and multi-value.
//
// Hlc (Kulkarni et al., "Logical Physical Clocks", 2014): physical milliseconds, a logical counter
// that orders events within one millisecond and across clock skew, and the issuing node's id as
// the final tie-break, so any two timestamps from different nodes are ordered the same way on
// every replica. HybridClock issues them; it reads no clock itself: callers pass the wall time in.
//
// LwwRegister keeps the value written with the largest timestamp; equal timestamps (only possible
// when a caller reuses one) fall back to comparing the value bytes, so merge stays deterministic.
// A retried write carries its original timestamp, so it is idempotent.
//
// MvRegister keeps every concurrently written value (Almeida et al.): a write replaces the
// values it saw; values written concurrently survive side by side until a later write sees them.
//
// Plain values: copy freely; not thread-safe.
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "crdt/causal_context.h"

namespace meld::crdt {

struct Hlc {
  int64_t physical_ms = 0;
  uint32_t logical = 0;
  ReplicaId node = 0;

  friend auto operator<=>(const Hlc&, const Hlc&) = default;
};

// Issues strictly increasing Hlc timestamps for one node. Not thread-safe.
class HybridClock {
 public:
  // max_offset_ms bounds how far ahead of local wall time a remote timestamp may be (observe).
  HybridClock(ReplicaId node, int64_t max_offset_ms) : node_(node), max_offset_ms_(max_offset_ms) {}

  // A timestamp greater than every one issued or observed so far. resource_exhausted if the
  // logical counter would overflow (2^32 events within one millisecond without the wall clock
  // advancing).
  Result<Hlc> now(int64_t wall_ms);
  // Folds in a timestamp received from another node so later now() results exceed it.
  // invalid_argument (and no change) if it is more than max_offset_ms ahead of wall_ms.
  Status observe(Hlc remote, int64_t wall_ms);

  Hlc last() const { return last_; }

 private:
  ReplicaId node_;
  int64_t max_offset_ms_;
  Hlc last_;
};

class LwwRegister {
 public:
  LwwRegister() = default;
  // invalid_argument if timestamp is the zero Hlc but value is not empty.
  static Result<LwwRegister> from_parts(Hlc timestamp, std::string value);

  // The zero Hlc means never written.
  bool empty() const { return timestamp_ == Hlc{}; }
  const std::string& value() const { return value_; }
  Hlc timestamp() const { return timestamp_; }

  // Writes value at timestamp (not the zero Hlc) and returns the delta (a register holding the
  // write). A write older than the current one changes nothing.
  LwwRegister set(Hlc timestamp, std::string_view value);
  void merge(const LwwRegister& other);

  friend bool operator==(const LwwRegister&, const LwwRegister&) = default;

 private:
  Hlc timestamp_;
  std::string value_;
};

class MvRegister {
 public:
  using Entries = std::map<Dot, std::string>;

  MvRegister() = default;
  // invalid_argument unless every dot is covered by context.
  static Result<MvRegister> from_parts(Entries entries, CausalContext context);

  // The concurrent values, sorted, without duplicates; empty if never written.
  std::vector<std::string> values() const;

  // Writes value under dot, replacing the values seen here. Empty delta if dot was applied.
  MvRegister set(Dot dot, std::string_view value);
  MvRegister set(ReplicaId replica, std::string_view value);
  void merge(const MvRegister& other);

  const Entries& entries() const { return entries_; }
  const CausalContext& context() const { return context_; }

  friend bool operator==(const MvRegister&, const MvRegister&) = default;

 private:
  Entries entries_;
  CausalContext context_;
};

}  // namespace meld::crdt
