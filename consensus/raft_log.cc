#include "consensus/raft_log.h"

#include <algorithm>
#include <string>

namespace meld::consensus {

RaftLog::RaftLog(const Storage* storage)
    : storage_(storage),
      unstable_offset_(storage->last_index() + 1),
      committed_(storage->first_index() - 1),
      applied_(storage->first_index() - 1) {}

uint64_t RaftLog::first_index() const {
  if (unstable_snapshot_) return unstable_snapshot_->meta.index + 1;
  return storage_->first_index();
}

uint64_t RaftLog::last_index() const {
  if (!unstable_.empty()) return unstable_offset_ + unstable_.size() - 1;
  if (unstable_snapshot_) return unstable_snapshot_->meta.index;
  return storage_->last_index();
}

uint64_t RaftLog::last_term() const {
  return term_or_zero(last_index());
}

Result<uint64_t> RaftLog::term(uint64_t i) const {
  uint64_t dummy = first_index() - 1;
  if (i < dummy) return Status::not_found(std::string(kCompactedMessage));
  if (i > last_index()) return Status::unavailable("index past the last index");
  if (unstable_snapshot_ && i == unstable_snapshot_->meta.index) {
    return unstable_snapshot_->meta.term;
  }
  if (!unstable_.empty() && i >= unstable_offset_) return unstable_[i - unstable_offset_].term;
  return storage_->term(i);
}

uint64_t RaftLog::term_or_zero(uint64_t i) const {
  Result<uint64_t> t = term(i);
  return t.is_ok() ? *t : 0;
}

bool RaftLog::match_term(uint64_t i, uint64_t t) const {
  Result<uint64_t> got = term(i);
  return got.is_ok() && *got == t;
}

bool RaftLog::is_up_to_date(uint64_t index, uint64_t t) const {
  uint64_t our_term = last_term();
  return t > our_term || (t == our_term && index >= last_index());
}

std::optional<uint64_t> RaftLog::maybe_append(uint64_t index, uint64_t log_term, uint64_t commit,
                                              const std::vector<Entry>& ents) {
  if (!match_term(index, log_term)) return std::nullopt;
  // The entries must be consecutive and follow `index`; anything else is malformed.
  for (size_t k = 0; k < ents.size(); ++k) {
    if (ents[k].index != index + 1 + k) return std::nullopt;
  }
  uint64_t last_new = index + ents.size();
  // First entry whose term differs from ours (or that we do not have).
  size_t conflict = ents.size();
  for (size_t k = 0; k < ents.size(); ++k) {
    if (!match_term(ents[k].index, ents[k].term)) {
      conflict = k;
      break;
    }
  }
  if (conflict < ents.size()) {
    if (ents[conflict].index <= committed_) return std::nullopt;
    truncate_and_append(
        std::vector<Entry>(ents.begin() + static_cast<std::ptrdiff_t>(conflict), ents.end()));
  }
  commit_to(std::min(commit, last_new));
  return last_new;
}

uint64_t RaftLog::append(std::vector<Entry> ents) {
  if (!ents.empty()) truncate_and_append(std::move(ents));
  return last_index();
}

void RaftLog::truncate_and_append(std::vector<Entry> ents) {
  uint64_t after = ents.front().index;
  MELD_ASSERT(after > committed_, "truncating committed entries");
  if (after == unstable_offset_ + unstable_.size()) {
    std::move(ents.begin(), ents.end(), std::back_inserter(unstable_));
  } else if (after <= unstable_offset_) {
    // Replaces the whole unstable tail and a suffix of the stored log; the host overwrites it
    // when it persists these entries.
    unstable_offset_ = after;
    unstable_ = std::move(ents);
  } else {
    unstable_.resize(after - unstable_offset_);
    std::move(ents.begin(), ents.end(), std::back_inserter(unstable_));
  }
}

uint64_t RaftLog::find_conflict_by_term(uint64_t index, uint64_t t) const {
  // Bounded by the log length: each step moves one index down.
  uint64_t i = std::min(index, last_index());
  for (;;) {
    Result<uint64_t> got = term(i);
    if (!got.is_ok() || *got <= t || i == 0) return i;
    --i;
  }
}

Result<std::vector<Entry>> RaftLog::slice(uint64_t lo, uint64_t hi, uint64_t max_bytes) const {
  if (lo < first_index()) return Status::not_found(std::string(kCompactedMessage));
  if (hi > last_index() + 1 || lo > hi) return Status::unavailable("slice past the last index");
  std::vector<Entry> out;
  if (lo == hi) return out;
  uint64_t bytes = 0;
  if (lo < unstable_offset_) {
    Result<std::vector<Entry>> stored =
        storage_->entries(lo, std::min(hi, unstable_offset_), max_bytes);
    if (!stored.is_ok()) return stored.status();
    out = std::move(*stored);
    for (const Entry& e : out) bytes += entry_bytes(e);
    // Storage stopped early at the byte limit: do not continue into the unstable part.
    if (out.empty() || out.back().index + 1 < std::min(hi, unstable_offset_)) return out;
  }
  for (uint64_t i = std::max(lo, unstable_offset_); i < hi; ++i) {
    const Entry& e = unstable_[i - unstable_offset_];
    bytes += entry_bytes(e);
    if (!out.empty() && bytes > max_bytes) break;
    out.push_back(e);
  }
  return out;
}

void RaftLog::commit_to(uint64_t i) {
  if (i <= committed_) return;
  MELD_ASSERT(i <= last_index(), "commit past the last index");
  committed_ = i;
}

void RaftLog::applied_to(uint64_t i) {
  if (i == 0 || i <= applied_) return;
  MELD_ASSERT(i <= committed_, "applied past the commit index");
  applied_ = i;
}

void RaftLog::stable_to(uint64_t i, uint64_t t) {
  if (unstable_.empty() || i < unstable_offset_) return;
  uint64_t last = unstable_offset_ + unstable_.size() - 1;
  // If the tail was replaced since that Ready (a newer leader overwrote it), the term no longer
  // matches and the entries stay unstable.
  if (i > last || unstable_[i - unstable_offset_].term != t) return;
  unstable_.erase(unstable_.begin(),
                  unstable_.begin() + static_cast<std::ptrdiff_t>(i + 1 - unstable_offset_));
  unstable_offset_ = i + 1;
}

void RaftLog::stable_snapshot_to(uint64_t i) {
  if (unstable_snapshot_ && unstable_snapshot_->meta.index == i) unstable_snapshot_.reset();
}

bool RaftLog::has_next_committed_entries() const {
  if (unstable_snapshot_) return false;
  return committed_ > std::max(applied_, first_index() - 1);
}

std::vector<Entry> RaftLog::next_committed_entries(uint64_t max_bytes) const {
  if (!has_next_committed_entries()) return {};
  uint64_t lo = std::max(applied_ + 1, first_index());
  Result<std::vector<Entry>> ents = slice(lo, committed_ + 1, max_bytes);
  MELD_ASSERT(ents.is_ok(), "committed entries unreadable: " + ents.status().to_string());
  return std::move(*ents);
}

Result<Snapshot> RaftLog::snapshot() const {
  if (unstable_snapshot_) return *unstable_snapshot_;
  return storage_->snapshot();
}

void RaftLog::restore(const Snapshot& snap) {
  committed_ = snap.meta.index;
  unstable_snapshot_ = snap;
  unstable_.clear();
  unstable_offset_ = snap.meta.index + 1;
}

}  // namespace meld::consensus
