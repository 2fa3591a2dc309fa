// Raft (Ongaro & Ousterhout 2014; Ongaro's thesis 2014) as a pure state machine, after etcd's
// raft and ScyllaDB's raft::fsm. No I/O, no clock, no threads, no randomness of its own: the host
// feeds it messages (step), time (tick), proposals, reads and membership changes, and collects the
// consequences in a Ready that it persists, sends and applies before calling advance().
//
// The host loop, one Raft per group, all calls from one thread:
//
//   raft.tick() every tick; raft.step(m) for every message received; raft.propose(...) etc.
//   if (raft.has_ready()) {
//     Ready rd = raft.ready();
//     1. persist rd.snapshot (if any), rd.entries (overwriting any stored suffix from
//        rd.entries[0].index on) and rd.hard_state (if any), durably (fsync);
//     2. then send rd.messages;            <- persist before send, see Ready::messages
//     3. then apply rd.snapshot and rd.committed_entries to the state machine, in order;
//        answer rd.read_states once the state machine has applied through their index;
//     4. raft.advance(rd);
//   }
//
// Membership changes take effect when their entry is applied (etcd's rule), not when appended
// (the thesis' rule). A leader removed from the voters hands leadership to the most up-to-date
// remaining voter before it steps down (see hand_off_leadership). Known limitation, shared with
// etcd: if that leader crashes before handing off, and the remaining voters have not learned that
// the change committed, they may be unable to elect anyone (their stale configuration still needs
// the removed node's vote, which their shorter log cannot get). Transfer leadership away before
// removing the leader, and keep three or more voters.
//
// Snapshots travel in bounded chunks (InstallSnapshot, §7 Figure 13; thesis §5.1 Figure 5.3):
// each kSnap message carries at most max_snapshot_chunk_bytes of the snapshot at a byte offset,
// identified by the snapshot's (index, term), and the last one is marked done. The follower
// assembles the chunks in order in a buffer of at most max_snapshot_bytes, answers each with a
// cumulative acknowledgement (kSnapResp) that lets the leader send the next one (one chunk is in
// flight at a time, so that even a network that reorders delivers them in order), and installs
// the snapshot when the last chunk arrives (Ready::snapshot). A lost chunk stalls the transfer
// until snapshot_timeout_ticks pass without progress; the leader then probes again and restarts the
// transfer, and the follower, still holding the chunks it has, acknowledges them at once, so the
// transfer resumes where it stopped. A term change discards a partial snapshot on both sides. The
// host sends kSnap like any other message; rate limiting, if any, is the transport's.
//
// The host must drain every Ready: messages and read states accumulate between ready() calls
// (heartbeats every heartbeat_tick ticks, one answer per message stepped).
//
// Bootstrap and join: every initial member starts from a storage holding a snapshot (any index,
// e.g. 1) whose ConfState names the initial voters. A node added later starts with empty storage
// and no configuration; it accepts the leader's snapshot (the configuration) and then the log,
// including the change that adds it.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/rng.h"
#include "base/status.h"
#include "consensus/confchange.h"
#include "consensus/raft_log.h"
#include "consensus/storage.h"
#include "consensus/tracker.h"
#include "consensus/types.h"

namespace meld::consensus {

enum class ReadOnlyOption {
  // ReadIndex (thesis §6.4): the leader records its commit index and confirms it is still leader
  // with a round of heartbeats acknowledged by a quorum before the read is served.
  kSafe,
  // Lease reads (thesis §6.4.1): the leader serves the read at once while its lease holds, i.e. a
  // quorum acknowledged a message it sent less than election_tick - max_clock_drift_ticks ticks
  // ago. Relies on bounded clock drift and on CheckQuorum (followers refuse votes while they
  // heard from a leader within election_tick); only allowed with check_quorum. Nodes also
  // refuse votes for election_tick ticks after they start, since they may have acknowledged a
  // leader before a restart. An election forced by kTimeoutNow ignores leases, so once a leader
  // has sent kTimeoutNow in its term it serves no more lease reads in that term (ReadIndex only).
  kLeaseBased,
};

// TEST-ONLY fault injection for the deterministic simulator: each value switches on one known
// Raft bug at exactly one decision point so that the simulator's checkers can prove they catch
// it. Production configurations must leave it at kNone.
enum class Mutation : uint8_t {
  kNone = 0,
  kVoteWithoutLogCheck,      // grant votes without the §5.4.1 up-to-date check
  kCommitPreviousTerm,       // commit previous-term entries by counting replicas (§5.4.2)
  kReadBeforeNoopCommit,     // serve ReadIndex before an entry of the leader's term commits
  kForgetPersistVote,        // leave vote changes out of Ready::hard_state
  kLeaseWithoutCheckQuorum,  // serve lease reads without a valid quorum lease
};

// The mutation's stable name ("vote-without-log-check"); "none" for kNone.
std::string_view mutation_name(Mutation m);
// Inverse of mutation_name; nullopt for an unknown name.
std::optional<Mutation> mutation_from_name(std::string_view name);
// Every mutation except kNone, in enum order.
std::vector<Mutation> all_mutations();

struct RaftConfig {
  uint64_t id = kNoNode;  // this node's id, non-zero
  // Followers campaign after a randomized timeout in [election_tick, 2 * election_tick) ticks
  // without hearing from a leader (§5.2). Must be > heartbeat_tick.
  uint64_t election_tick = 10;
  uint64_t heartbeat_tick = 1;  // the leader sends heartbeats every heartbeat_tick ticks
  // Replication flow control per follower in the Replicate state: at most this many MsgApp
  // messages, and this many entry bytes (0: no byte limit), unacknowledged at a time.
  size_t max_inflight_msgs = 256;
  uint64_t max_inflight_bytes = 0;
  // Entry bytes per MsgApp (at least one entry is always sent).
  uint64_t max_size_per_msg = 1 << 20;
  // Payload bytes the leader accepts into its log beyond the commit index; propose() past it
  // returns resource_exhausted. 0: no cap.
  uint64_t max_uncommitted_entries_bytes = 64 << 20;
  // Entry bytes of committed entries per Ready (at least one entry).
  uint64_t max_committed_bytes_per_ready = 64 << 20;
  // ReadIndex requests waiting at the leader (for the no-op to commit, or for a heartbeat
  // quorum); read_index() past it returns resource_exhausted.
  size_t max_pending_reads = 4096;
  // A follower in the Snapshot state that acknowledged no new chunk for this many ticks (a chunk
  // or its acknowledgement was lost, or the follower refused the snapshot) is probed again, which
  // restarts the transfer if the snapshot is still needed; the follower resumes from the bytes it
  // holds. Must be > 0.
  uint64_t snapshot_timeout_ticks = 50;
  // Snapshot transfer in chunks (§7 Figure 13): the leader sends a snapshot in kSnap messages of
  // at most max_snapshot_chunk_bytes data bytes each, one at a time. Must be > 0.
  uint64_t max_snapshot_chunk_bytes = 1 << 20;
  // The largest snapshot this node accepts from a leader, in bytes of Snapshot::data: the chunks
  // are assembled in memory, so this bounds that buffer. A snapshot that grows past it is refused
  // (kSnapResp with reject) and its chunks are dropped. Must be > 0.
  uint64_t max_snapshot_bytes = 1ULL << 30;
  bool pre_vote = true;      // thesis §9.6
  bool check_quorum = true;  // thesis §6.2: a leader without a quorum for election_tick steps down
  ReadOnlyOption read_only_option = ReadOnlyOption::kSafe;
  // The bounded clock drift assumption of lease reads: over any election_tick ticks of the
  // leader's clock, no other node's clock advances election_tick ticks sooner than
  // max_clock_drift_ticks leader ticks earlier. The lease is shortened by this much. Must be
  // < election_tick with kLeaseBased.
  uint64_t max_clock_drift_ticks = 2;
  // Coalesce proposals: when true, propose() only appends, and the MsgApp to each follower goes
  // out when ready() is called (one message for every proposal since the last Ready). When false
  // each proposal is sent on its own at once.
  bool batch_append = true;
  // The index the host's state machine has already applied (etcd's Config.Applied), e.g. read
  // back from a durable applied index at restart: committed entries are handed out from
  // applied + 1 on. 0: from the storage's first index (everything after the snapshot is
  // re-applied). The storage's initial_state().conf_state must then be the membership as of
  // this index. create() returns invalid_argument when it lies outside
  // [first_index() - 1, hard state commit].
  uint64_t applied = 0;
  Mutation mutation = Mutation::kNone;  // TEST-ONLY, see Mutation
};

enum class Role { kFollower, kPreCandidate, kCandidate, kLeader };
std::string_view role_name(Role role);

struct SoftState {
  uint64_t leader = kNoNode;
  Role role = Role::kFollower;
  friend bool operator==(const SoftState&, const SoftState&) = default;
};

// A linearizable read that may be served once the state machine has applied through `index`.
struct ReadState {
  uint64_t index = 0;
  std::string context;
  friend bool operator==(const ReadState&, const ReadState&) = default;
};

// Everything the host must do after the calls since the last advance(). See the loop above.
struct Ready {
  std::optional<SoftState> soft_state;  // set when leader or role changed (not persisted)
  std::optional<HardState> hard_state;  // set when it changed: persist
  std::vector<Entry> entries;           // persist (append, overwriting a conflicting suffix)
  std::optional<Snapshot> snapshot;     // persist and install
  // Send only after hard_state, entries and snapshot of this same Ready are durable: votes and
  // acknowledgements (kVoteResp, kAppResp) promise persisted state (§5.1 "persistent state ...
  // updated on stable storage before responding to RPCs"), and the leader counts its own log
  // toward commitment as soon as it appends.
  std::vector<Message> messages;
  // Committed entries to apply in order, after this Ready's entries are durable. Entries of type
  // kConfChange take effect inside Raft when advance() is called; one that does not decode or is
  // invalid against the configuration at that point is skipped by every node alike.
  std::vector<Entry> committed_entries;
  std::vector<ReadState> read_states;  // serve when applied index >= ReadState::index

  bool empty() const;
};

class Raft {
 public:
  // Builds a node from `storage`'s initial state and log. `storage` and `rng` are borrowed and
  // must outlive the Raft. invalid_argument for a bad configuration (id 0, election_tick <=
  // heartbeat_tick, heartbeat_tick 0, max_inflight_msgs 0, a snapshot timeout, chunk size or
  // snapshot size limit of 0, kLeaseBased without check_quorum or with
  // max_clock_drift_ticks >= election_tick) or an inconsistent initial state.
  static Result<std::unique_ptr<Raft>> create(const RaftConfig& config, const Storage* storage,
                                              Rng* rng);

  // Feeds a message from the network. Messages not addressed to this node, from node 0, with term
  // 0, from an unknown sender where it matters (a response at the leader), with a stale term or an
  // impossible index are ignored or answered as the protocol says; the returned status is
  // invalid_argument for such input and ok otherwise. Never crashes on input.
  Status step(const Message& m);
  // Advances logical time by one tick (election timeout, heartbeats, CheckQuorum, leases).
  void tick();

  // Appends `data` to the log (leader only). Errors: unavailable "not leader (leader hint: N)"
  // with N = leader() (0 if unknown); unavailable during a leadership transfer;
  // resource_exhausted when the uncommitted bytes would pass max_uncommitted_entries_bytes.
  Status propose(std::string data);
  // Proposes a membership change (leader only); it takes effect on each node when applied. Same
  // errors as propose(), plus unavailable while an earlier change is not applied yet (thesis
  // §4.1: one change at a time), and invalid_argument when `cc` is not valid against the current
  // configuration (see apply_conf_change) or exceeds kMaxConfChanges/kMaxConfChangeContextBytes.
  Status propose_conf_change(const ConfChange& cc);
  // Requests a linearizable read (thesis §6.4). When confirmed, a ReadState{index, ctx} appears in
  // a later Ready. On a follower the request is forwarded to the leader (unavailable if none is
  // known); a lost forward is not retried: the host retries on a timeout. Errors: already_exists
  // for a context already pending at the leader, invalid_argument for an empty context,
  // resource_exhausted past max_pending_reads, unavailable while a leadership transfer is
  // pending.
  Status read_index(std::string ctx);
  // Hands leadership to `to` (thesis §3.10): catch it up, then send kTimeoutNow. Proposals are
  // refused until the transfer completes or aborts after election_tick ticks. Errors:
  // unavailable on a non-leader; invalid_argument when `to` is not a voter.
  Status transfer_leadership(uint64_t to);
  // The host could not reach `to` (a message to it was lost with its connection): a pipelining
  // follower falls back to probing, and a snapshot transfer to it is abandoned (its chunks may be
  // lost); after the next probe a new transfer resumes from the chunks the follower acknowledges.
  // The follower's acknowledgements, not the transport, report a delivered snapshot.
  void report_unreachable(uint64_t to);

  bool has_ready() const;
  // Collects the pending work. Must be followed by advance() with the same Ready before the next
  // ready() call (a caller bug otherwise: asserted).
  Ready ready();
  // The host persisted, sent and applied `rd`. Applies committed membership changes.
  void advance(const Ready& rd);

  uint64_t id() const { return config_.id; }
  uint64_t term() const { return term_; }
  uint64_t vote() const { return vote_; }
  uint64_t leader() const { return lead_; }
  Role role() const { return role_; }
  uint64_t committed() const { return log_.committed(); }
  uint64_t applied() const { return log_.applied(); }
  uint64_t last_index() const { return log_.last_index(); }
  uint64_t lead_transferee() const { return lead_transferee_; }
  ConfState conf_state() const { return tracker_config_.to_conf_state(); }
  // The leader's view of a follower; nullptr when unknown or not leader.
  const Progress* progress(uint64_t id) const;
  uint64_t uncommitted_bytes() const { return uncommitted_bytes_; }
  // Whether a lease read would be served now (leader with a valid lease).
  bool lease_valid() const;

 private:
  Raft(const RaftConfig& config, const Storage* storage, Rng* rng);
  Status load(const InitialState& state);

  void become_follower(uint64_t term, uint64_t lead);
  void become_pre_candidate();
  void become_candidate();
  void become_leader();
  void reset(uint64_t term);
  void reset_randomized_election_timeout();
  bool promotable() const;
  bool has_unapplied_conf_change() const;
  void campaign(bool pre_vote, bool transfer);
  VoteResult poll(uint64_t id, bool granted);
  bool in_lease() const;

  void tick_election();
  void tick_heartbeat();
  Status step_leader(const Message& m);
  Status step_candidate(const Message& m);
  Status step_follower(const Message& m);
  void handle_vote_request(const Message& m);
  void handle_append_entries(const Message& m);
  void handle_heartbeat(const Message& m);
  void handle_snapshot(const Message& m);
  void send_snapshot_ack(uint64_t to, const SnapshotMeta& meta, uint64_t held_bytes, bool reject);
  void handle_append_response(const Message& m, Progress& pr);
  Status handle_snapshot_response(const Message& m, Progress& pr);
  void handle_heartbeat_response(const Message& m, Progress& pr);
  void handle_read_index_request(uint64_t from, std::string ctx);
  bool restore(const Snapshot& snap);

  void send(Message m);
  // Sends entries (or a snapshot) to `to` if its progress allows; true if a message went out.
  bool maybe_send_append(uint64_t to, bool send_if_empty);
  bool send_snapshot(uint64_t to, Progress& pr);
  void send_snapshot_chunk(uint64_t to, Progress& pr);
  uint64_t snapshot_chunk_count(const Snapshot& snap) const;
  void send_heartbeat(uint64_t to, const std::string& ctx);
  void bcast_append();
  void bcast_heartbeat(const std::string& ctx);
  bool maybe_commit();
  bool committed_in_current_term() const;
  Status append_entry(Entry e);
  void abort_leader_transfer() { lead_transferee_ = kNoNode; }
  void hand_off_leadership();
  void send_timeout_now(uint64_t to);

  void apply_config(const TrackerConfig& config);
  void apply_committed_conf_change(const Entry& e);
  void release_pending_reads();
  void respond_read(uint64_t from, uint64_t index, std::string ctx);
  HardState hard_state_for_ready() const;
  SoftState soft_state() const { return SoftState{lead_, role_}; }

  RaftConfig config_;
  Rng* rng_;
  RaftLog log_;

  uint64_t term_ = 0;
  uint64_t vote_ = kNoNode;
  uint64_t lead_ = kNoNode;
  Role role_ = Role::kFollower;

  TrackerConfig tracker_config_;
  ProgressMap progress_;
  std::map<uint64_t, bool> votes_;

  uint64_t election_elapsed_ = 0;
  uint64_t heartbeat_elapsed_ = 0;
  uint64_t randomized_election_timeout_ = 0;
  uint64_t now_tick_ = 1;  // logical clock for leases; starts at 1 so 0 means "never acked"

  uint64_t lead_transferee_ = kNoNode;
  bool sent_timeout_now_in_term_ = false;  // disables lease reads for the rest of the term
  uint64_t pending_conf_index_ = 0;
  uint64_t uncommitted_bytes_ = 0;
  bool pending_bcast_ = false;

  // ReadIndex rounds in the order they were started (thesis §6.4 step 2).
  struct PendingRead {
    uint64_t index = 0;
    uint64_t from = kNoNode;
    std::string ctx;
    std::set<uint64_t> acks;
  };
  std::deque<PendingRead> pending_reads_;
  // Requests that arrived before the leader committed an entry of its term: (from, ctx).
  std::deque<std::pair<uint64_t, std::string>> reads_before_commit_;

  // Follower: the snapshot being received (§7 Figure 13), from which leader in which term, and
  // its bytes so far (at most max_snapshot_bytes). Dropped when the term changes.
  struct IncomingSnapshot {
    uint64_t from = kNoNode;
    uint64_t term = 0;
    SnapshotMeta meta;
    std::string data;
  };
  std::optional<IncomingSnapshot> incoming_snapshot_;
  // Leader: the snapshot the transfers in progress send, shared so that concurrent transfers of
  // the same snapshot hold one copy; it is freed when the last of them ends.
  std::weak_ptr<const Snapshot> outgoing_snapshot_;

  std::vector<Message> msgs_;
  std::vector<ReadState> read_states_;
  HardState prev_hard_state_;
  SoftState prev_soft_state_;
  bool ready_outstanding_ = false;
};

}  // namespace meld::consensus
