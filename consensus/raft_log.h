// The Raft log as the state machine sees it: the durable part in a Storage plus the unstable tail
// (entries and possibly a snapshot) that the host has not persisted yet, and the commit and
// applied indexes. Internal to consensus/.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "base/status.h"
#include "consensus/storage.h"
#include "consensus/types.h"

namespace meld::consensus {

class RaftLog {
 public:
  // `storage` must outlive the RaftLog.
  explicit RaftLog(const Storage* storage);

  uint64_t first_index() const;
  uint64_t last_index() const;
  uint64_t last_term() const;
  // Term of entry i; compacted or unavailable errors as Storage::term.
  Result<uint64_t> term(uint64_t i) const;
  // Term of entry i, or 0 when it is not in the log (compacted or past the end).
  uint64_t term_or_zero(uint64_t i) const;
  bool match_term(uint64_t i, uint64_t t) const;
  // §5.4.1: a log with last entry (last_index, last_term) is at least as up to date as ours.
  bool is_up_to_date(uint64_t last_index, uint64_t last_term) const;

  uint64_t committed() const { return committed_; }
  uint64_t applied() const { return applied_; }

  // §5.3 consistency check and append: if our entry at `index` has term `log_term`, appends
  // `ents` (dropping a conflicting suffix), advances commit to min(commit, last new index) and
  // returns the last new index. nullopt when the check fails. A conflict at or below the commit
  // index is impossible from a correct leader; such a message is refused (nullopt) as bad input.
  std::optional<uint64_t> maybe_append(uint64_t index, uint64_t log_term, uint64_t commit,
                                       const std::vector<Entry>& ents);
  // Appends at the end (leader); returns the new last index.
  uint64_t append(std::vector<Entry> ents);
  // Fast backtracking (§5.3 end): the largest i <= index whose term is <= term.
  uint64_t find_conflict_by_term(uint64_t index, uint64_t term) const;

  // Entries in [lo, hi) bounded by max_bytes (at least one entry if lo < hi).
  Result<std::vector<Entry>> slice(uint64_t lo, uint64_t hi, uint64_t max_bytes) const;

  // Moves commit forward to i (never backward). Precondition: i <= last_index().
  void commit_to(uint64_t i);
  void applied_to(uint64_t i);
  // The unstable tail the host must persist.
  const std::vector<Entry>& unstable_entries() const { return unstable_; }
  const std::optional<Snapshot>& unstable_snapshot() const { return unstable_snapshot_; }
  // The host persisted entries through (i, t): drop them from the unstable tail.
  void stable_to(uint64_t i, uint64_t t);
  void stable_snapshot_to(uint64_t i);
  // Committed entries not yet applied, at most max_bytes (at least one); empty while a snapshot
  // is waiting to be installed.
  std::vector<Entry> next_committed_entries(uint64_t max_bytes) const;
  bool has_next_committed_entries() const;
  // The newest snapshot: the unstable one if any, else the storage's.
  Result<Snapshot> snapshot() const;
  // Replaces the log with a snapshot (§7): commit moves to its index.
  void restore(const Snapshot& snap);

 private:
  void truncate_and_append(std::vector<Entry> ents);

  const Storage* storage_;
  std::optional<Snapshot> unstable_snapshot_;
  std::vector<Entry> unstable_;  // unstable_[0].index == unstable_offset_
  uint64_t unstable_offset_;
  uint64_t committed_;
  uint64_t applied_;
};

}  // namespace meld::consensus
