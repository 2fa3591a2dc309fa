// The plain values the Raft library exchanges with its host: log entries, the persistent hard
// state, the membership (ConfState), snapshots and messages. They are plain structs with no
// behaviour beyond comparisons, so a wire encoding (Cap'n Proto) can be added at the transport
// without touching the state machine.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace meld::consensus {

// Node ids are non-zero; kNoNode means "none" (no vote, no known leader).
inline constexpr uint64_t kNoNode = 0;

enum class EntryType : uint8_t {
  kNormal = 0,      // application data (empty data: the leader's no-op, §8 / thesis §6.4)
  kConfChange = 1,  // an encoded ConfChange (consensus/confchange.h), applied when committed
};

struct Entry {
  uint64_t term = 0;
  uint64_t index = 0;
  EntryType type = EntryType::kNormal;
  std::string data;

  friend bool operator==(const Entry&, const Entry&) = default;
};

// Bytes an entry counts for in the size limits (max_size_per_msg, in-flight bytes, the uncommitted
// cap): its payload plus a fixed per-entry overhead for index, term and type.
inline constexpr uint64_t kEntryOverheadBytes = 24;
inline uint64_t entry_bytes(const Entry& e) {
  return kEntryOverheadBytes + e.data.size();
}

// State that must be durable before any message of the same Ready is sent (§5.1 Figure 2,
// "persistent state on all servers"; the log entries are persisted separately).
struct HardState {
  uint64_t term = 0;
  uint64_t vote = kNoNode;
  uint64_t commit = 0;

  friend bool operator==(const HardState&, const HardState&) = default;
};

// The membership of a group (thesis §4.3 joint consensus). In a simple configuration only
// `voters` and `learners` are used. In a joint configuration `voters_outgoing` holds the old
// voters; decisions need a majority of both. `learners_next` are nodes that are voters in the
// outgoing configuration and become learners when the joint configuration is left.
// Each list is sorted and without duplicates.
struct ConfState {
  std::vector<uint64_t> voters;
  std::vector<uint64_t> voters_outgoing;
  std::vector<uint64_t> learners;
  std::vector<uint64_t> learners_next;
  bool auto_leave = false;

  friend bool operator==(const ConfState&, const ConfState&) = default;
};

struct SnapshotMeta {
  uint64_t index = 0;  // last log index the snapshot covers
  uint64_t term = 0;   // term of that entry
  ConfState conf_state;

  friend bool operator==(const SnapshotMeta&, const SnapshotMeta&) = default;
};

// A snapshot of the application's state machine as of meta.index (§7 log compaction).
struct Snapshot {
  SnapshotMeta meta;
  std::string data;

  bool empty() const { return meta.index == 0; }
  friend bool operator==(const Snapshot&, const Snapshot&) = default;
};

enum class MessageType : uint8_t {
  kApp,            // AppendEntries (§5.3)
  kAppResp,        // its response; also acknowledges a snapshot
  kVote,           // RequestVote (§5.2)
  kVoteResp,       //
  kPreVote,        // thesis §9.6: would you vote for me in term+1?
  kPreVoteResp,    //
  kHeartbeat,      // empty AppendEntries carrying the commit index and a ReadIndex context
  kHeartbeatResp,  //
  kSnap,           // InstallSnapshot (§7 Figure 13): one chunk of a snapshot
  kSnapResp,       // acknowledges the chunks of a snapshot received so far (or refuses it)
  kReadIndex,      // follower -> leader: please confirm a read index (thesis §6.4)
  kReadIndexResp,  // leader -> follower: the read index for the request's context
  kTimeoutNow,     // leader -> transferee: start an election now (thesis §3.10)
};

// Stable lower-case name ("app_resp"), for logs and tests.
std::string_view message_type_name(MessageType type);

// One Raft message. Which fields are meaningful depends on the type:
//   kApp:          log_term/index = the entry preceding `entries`; commit = leader's commit
//   kAppResp:      index = the follower's last matching index, or (reject) the rejected index;
//                  reject_hint/log_term = the follower's hint for fast backtracking (§5.3)
//   kVote/kPreVote: log_term/index = the candidate's last entry (§5.4.1); context = "transfer"
//                  for an election started by kTimeoutNow
//   kHeartbeat:    commit = min(follower's match, leader commit); context = ReadIndex round
//   kSnap:         one chunk of a snapshot (§7 Figure 13; thesis §5.1 Figure 5.3):
//                  snapshot.meta identifies the snapshot (index, term) and carries its
//                  configuration; snapshot.data holds bytes [snapshot_offset, snapshot_offset +
//                  snapshot.data.size()) of the whole snapshot; snapshot_done marks the last chunk
//   kSnapResp:     index/log_term = the snapshot's (index, term); snapshot_offset = how many bytes
//                  of it the follower holds, in order (a cumulative acknowledgement); reject = the
//                  follower refuses the snapshot (over its max_snapshot_bytes). The last chunk,
//                  and any chunk of a snapshot the follower's log already covers, is answered
//                  with kAppResp instead, as a whole snapshot was.
//   kReadIndex(Resp): context = the request's context; index = the read index (response)
// lease_tick is the leader's tick count when it sent a kApp/kHeartbeat, echoed in the response;
// it only serves lease reads.
struct Message {
  MessageType type = MessageType::kApp;
  uint64_t from = kNoNode;
  uint64_t to = kNoNode;
  uint64_t term = 0;
  uint64_t log_term = 0;
  uint64_t index = 0;
  std::vector<Entry> entries;
  uint64_t commit = 0;
  bool reject = false;
  uint64_t reject_hint = 0;
  std::string context;
  Snapshot snapshot;
  uint64_t lease_tick = 0;
  uint64_t snapshot_offset = 0;
  bool snapshot_done = false;

  friend bool operator==(const Message&, const Message&) = default;
};

}  // namespace meld::consensus
