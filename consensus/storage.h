// The log the Raft library reads through (etcd's Storage): entries, terms, bounds, the latest
// snapshot and the state to restart from. Raft only reads; the host writes what a Ready tells it
// to persist (entries, hard state, snapshot) and then calls Raft::advance. MemoryStorage is the
// in-memory implementation for tests, benchmarks and the simulator; the durable one lives in
// storage/.
#pragma once

#include <cstdint>
#include <vector>

#include "base/status.h"
#include "consensus/types.h"

namespace meld::consensus {

// Error codes a Storage returns, which Raft interprets:
//  - kNotFound with kCompactedMessage: the index is before first_index() (compacted away);
//  - kUnavailable: the index is past last_index(), or a snapshot is being prepared (try later).
inline constexpr std::string_view kCompactedMessage = "log compacted";
inline bool is_compacted(const Status& s) {
  return s.code() == StatusCode::kNotFound && s.message() == kCompactedMessage;
}

struct InitialState {
  HardState hard_state;
  ConfState conf_state;
};

class Storage {
 public:
  virtual ~Storage() = default;
  // The hard state and membership to start from.
  virtual Result<InitialState> initial_state() const = 0;
  // Entries in [lo, hi), stopping once their entry_bytes() sum would pass max_bytes, but always
  // at least one entry when lo < hi. Compacted or unavailable as above.
  virtual Result<std::vector<Entry>> entries(uint64_t lo, uint64_t hi,
                                             uint64_t max_bytes) const = 0;
  // Term of entry i, for i in [first_index()-1, last_index()] (first_index()-1 is the snapshot's).
  virtual Result<uint64_t> term(uint64_t i) const = 0;
  // Index of the first entry still in the log (snapshot index + 1).
  virtual uint64_t first_index() const = 0;
  // Index of the last entry (the snapshot index if the log is empty).
  virtual uint64_t last_index() const = 0;
  // The most recent snapshot; kUnavailable if it is being prepared.
  virtual Result<Snapshot> snapshot() const = 0;
};

// An in-memory Storage. Not thread-safe: the host serializes access with the Raft instance.
class MemoryStorage final : public Storage {
 public:
  MemoryStorage();

  Result<InitialState> initial_state() const override;
  Result<std::vector<Entry>> entries(uint64_t lo, uint64_t hi, uint64_t max_bytes) const override;
  Result<uint64_t> term(uint64_t i) const override;
  uint64_t first_index() const override;
  uint64_t last_index() const override;
  Result<Snapshot> snapshot() const override;

  void set_hard_state(const HardState& hs) { hard_state_ = hs; }
  // Sets the membership reported by initial_state (bootstrap of a new group).
  void set_conf_state(const ConfState& cs) { snapshot_.meta.conf_state = cs; }
  // Appends entries, replacing any existing entries from entries[0].index on (a conflicting
  // suffix). invalid_argument if entries[0].index leaves a gap after last_index()+1;
  // entries already compacted are skipped.
  Status append(const std::vector<Entry>& entries);
  // Replaces the log with `snap` (Ready::snapshot). invalid_argument if it is older than the
  // current snapshot.
  Status apply_snapshot(const Snapshot& snap);
  // Records a snapshot of the application state at `index` (<= the applied index) and returns it.
  // invalid_argument if index is outside [snapshot index, last_index()].
  Result<Snapshot> create_snapshot(uint64_t index, const ConfState& cs, std::string data);
  // Drops entries up to and including `index` (normally a snapshot's index): first_index()
  // becomes index+1. invalid_argument past last_index(); ok (no-op) if already compacted.
  Status compact(uint64_t index);

 private:
  HardState hard_state_;
  Snapshot snapshot_;
  // entries_[0] is a dummy holding the snapshot's index and term.
  std::vector<Entry> entries_;
};

}  // namespace meld::consensus
