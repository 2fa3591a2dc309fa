// The leader's view of each follower (thesis §3.5 and etcd's Probe/Replicate/Snapshot flow
// control) and the group's membership configuration.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "consensus/quorum.h"
#include "consensus/types.h"

namespace meld::consensus {

// The window of MsgApp messages sent to one follower and not yet acknowledged, bounded by count
// and by bytes. Each element is the last index a message carried. A bound of 0 bytes means no
// byte limit; the count bound must be > 0.
class Inflights {
 public:
  Inflights(size_t max_count, uint64_t max_bytes);

  // Records a message whose last entry is `index`. Precondition: !full().
  void add(uint64_t index, uint64_t bytes);
  // Drops every message whose last index is <= `index` (they were acknowledged).
  void free_le(uint64_t index);
  // Drops the oldest message (its acknowledgement is presumed lost).
  void free_first_one();
  void reset();
  bool full() const;
  size_t count() const { return count_; }
  uint64_t bytes() const { return bytes_; }

 private:
  struct Slot {
    uint64_t index = 0;
    uint64_t bytes = 0;
  };
  std::vector<Slot> ring_;  // fixed capacity max_count
  size_t start_ = 0;
  size_t count_ = 0;
  uint64_t bytes_ = 0;
  uint64_t max_bytes_;
};

enum class ProgressState {
  kProbe,      // one MsgApp at a time until the follower's match is found
  kReplicate,  // optimistic pipelining: next advances on send, bounded by Inflights
  kSnapshot,   // a snapshot is being sent in chunks; no entries are sent
};

std::string_view progress_state_name(ProgressState state);

struct Progress {
  Progress(uint64_t next_index, size_t max_inflight_msgs, uint64_t max_inflight_bytes)
      : next(next_index), inflights(max_inflight_msgs, max_inflight_bytes) {}

  uint64_t match = 0;  // highest index known replicated on the follower
  uint64_t next = 1;   // next index to send
  ProgressState state = ProgressState::kProbe;
  uint64_t pending_snapshot = 0;  // index of the snapshot in flight (kSnapshot)
  // Ticks in kSnapshot since the transfer started or the follower last acknowledged a new chunk,
  // bounded by a timeout.
  uint64_t snapshot_elapsed_ticks = 0;
  // kSnapshot: the snapshot being sent (shared by every transfer of it; null once the follower
  // refused it), how many of its chunks went out and how many the follower acknowledged, in
  // order. One chunk is in flight at a time: chunks_acked <= chunks_sent <= chunks_acked + 1.
  std::shared_ptr<const Snapshot> snapshot;
  uint64_t snapshot_chunks_sent = 0;
  uint64_t snapshot_chunks_acked = 0;
  bool probe_sent = false;     // kProbe: a probe is outstanding, pause until answered
  bool recent_active = false;  // heard from since the last CheckQuorum round
  bool is_learner = false;
  uint64_t lease_acked_tick = 0;  // highest leader tick echoed by this follower (lease reads)
  Inflights inflights;

  void become_probe();
  void become_replicate();
  // Starts sending `snap` (non-null) from its first chunk.
  void become_snapshot(std::shared_ptr<const Snapshot> snap);
  // Raises match to n (and next past it); false if n is not news.
  bool maybe_update(uint64_t n);
  // The follower rejected MsgApp at `rejected`; moves next back, using `match_hint` (the largest
  // index the follower may still match). False if the rejection is stale.
  bool maybe_decrease_to(uint64_t rejected, uint64_t match_hint);
  // Bookkeeping after sending entries ending at `last_index` with `bytes` of entries.
  void sent_entries(uint64_t last_index, size_t entry_count, uint64_t bytes);
  // True when no MsgApp may be sent now.
  bool is_paused() const;
  // Forgets the snapshot transfer: pending_snapshot, the snapshot and its chunk counts.
  void clear_snapshot();
};

// The membership configuration the tracker enforces.
struct TrackerConfig {
  JointConfig voters;
  std::set<uint64_t> learners;
  std::set<uint64_t> learners_next;
  bool auto_leave = false;

  ConfState to_conf_state() const;
  friend bool operator==(const TrackerConfig&, const TrackerConfig&) = default;
};

using ProgressMap = std::map<uint64_t, Progress>;

}  // namespace meld::consensus
