#include "consensus/tracker.h"

#include <algorithm>
#include <utility>

#include "base/assert.h"

namespace meld::consensus {

Inflights::Inflights(size_t max_count, uint64_t max_bytes)
    : ring_(max_count), max_bytes_(max_bytes) {
  MELD_ASSERT(max_count > 0, "Inflights needs a count bound");
}

void Inflights::add(uint64_t index, uint64_t bytes) {
  MELD_ASSERT(!full(), "Inflights::add on a full window");
  ring_[(start_ + count_) % ring_.size()] = Slot{index, bytes};
  ++count_;
  bytes_ += bytes;
}

void Inflights::free_le(uint64_t index) {
  while (count_ > 0 && ring_[start_].index <= index) {
    bytes_ -= ring_[start_].bytes;
    start_ = (start_ + 1) % ring_.size();
    --count_;
  }
  if (count_ == 0) start_ = 0;
}

void Inflights::free_first_one() {
  if (count_ == 0) return;
  free_le(ring_[start_].index);
}

void Inflights::reset() {
  start_ = 0;
  count_ = 0;
  bytes_ = 0;
}

bool Inflights::full() const {
  return count_ == ring_.size() || (max_bytes_ != 0 && bytes_ >= max_bytes_);
}

std::string_view progress_state_name(ProgressState state) {
  switch (state) {
    case ProgressState::kProbe:
      return "probe";
    case ProgressState::kReplicate:
      return "replicate";
    case ProgressState::kSnapshot:
      return "snapshot";
  }
  return "unknown";
}

void Progress::become_probe() {
  // After a snapshot, the follower has at least the snapshot: probe from just past it.
  if (state == ProgressState::kSnapshot) {
    next = std::max(match + 1, pending_snapshot + 1);
  } else {
    next = match + 1;
  }
  state = ProgressState::kProbe;
  probe_sent = false;
  inflights.reset();
  clear_snapshot();
}

void Progress::become_replicate() {
  state = ProgressState::kReplicate;
  next = match + 1;
  probe_sent = false;
  inflights.reset();
  clear_snapshot();
}

void Progress::become_snapshot(std::shared_ptr<const Snapshot> snap) {
  MELD_ASSERT(snap != nullptr, "become_snapshot without a snapshot");
  state = ProgressState::kSnapshot;
  probe_sent = false;
  inflights.reset();
  clear_snapshot();
  pending_snapshot = snap->meta.index;
  snapshot = std::move(snap);
}

void Progress::clear_snapshot() {
  pending_snapshot = 0;
  snapshot_elapsed_ticks = 0;
  snapshot.reset();
  snapshot_chunks_sent = 0;
  snapshot_chunks_acked = 0;
}

bool Progress::maybe_update(uint64_t n) {
  bool updated = false;
  if (match < n) {
    match = n;
    updated = true;
    probe_sent = false;
  }
  next = std::max(next, n + 1);
  return updated;
}

bool Progress::maybe_decrease_to(uint64_t rejected, uint64_t match_hint) {
  if (state == ProgressState::kReplicate) {
    // A rejection at or below match is from an old, reordered message.
    if (rejected <= match) return false;
    next = match + 1;
    return true;
  }
  // In probe state only the answer to the outstanding probe (for next-1) counts.
  if (next == 0 || next - 1 != rejected) return false;
  next = std::max(std::min(rejected, match_hint + 1), match + 1);
  probe_sent = false;
  return true;
}

void Progress::sent_entries(uint64_t last_index, size_t entry_count, uint64_t bytes) {
  switch (state) {
    case ProgressState::kReplicate:
      if (entry_count > 0) {
        next = last_index + 1;
        inflights.add(last_index, bytes);
      }
      break;
    case ProgressState::kProbe:
      probe_sent = true;
      break;
    case ProgressState::kSnapshot:
      MELD_ASSERT(false, "sending entries to a follower in snapshot state");
  }
}

bool Progress::is_paused() const {
  switch (state) {
    case ProgressState::kProbe:
      return probe_sent;
    case ProgressState::kReplicate:
      return inflights.full();
    case ProgressState::kSnapshot:
      return true;
  }
  return true;
}

ConfState TrackerConfig::to_conf_state() const {
  ConfState cs;
  cs.voters.assign(voters.incoming.begin(), voters.incoming.end());
  cs.voters_outgoing.assign(voters.outgoing.begin(), voters.outgoing.end());
  cs.learners.assign(learners.begin(), learners.end());
  cs.learners_next.assign(learners_next.begin(), learners_next.end());
  cs.auto_leave = auto_leave;
  return cs;
}

}  // namespace meld::consensus
