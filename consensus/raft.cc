#include "consensus/raft.h"

#include <algorithm>
#include <array>
#include <limits>
#include <utility>

namespace meld::consensus {
namespace {

// Context of the vote requests of an election started by kTimeoutNow: such an election may
// disrupt a leader on purpose, so followers grant it even inside a leader lease (thesis §3.10).
constexpr std::string_view kTransferContext = "transfer";

constexpr std::array<std::pair<Mutation, std::string_view>, 6> kMutationNames = {{
    {Mutation::kNone, "none"},
    {Mutation::kVoteWithoutLogCheck, "vote-without-log-check"},
    {Mutation::kCommitPreviousTerm, "commit-previous-term"},
    {Mutation::kReadBeforeNoopCommit, "read-before-noop-commit"},
    {Mutation::kForgetPersistVote, "forget-persist-vote"},
    {Mutation::kLeaseWithoutCheckQuorum, "lease-without-check-quorum"},
}};

bool is_vote_request(MessageType t) {
  return t == MessageType::kVote || t == MessageType::kPreVote;
}

bool is_from_leader(MessageType t) {
  return t == MessageType::kApp || t == MessageType::kHeartbeat || t == MessageType::kSnap;
}

}  // namespace

std::string_view mutation_name(Mutation m) {
  for (const auto& [value, name] : kMutationNames) {
    if (value == m) return name;
  }
  return "unknown";
}

std::optional<Mutation> mutation_from_name(std::string_view name) {
  for (const auto& [value, n] : kMutationNames) {
    if (n == name) return value;
  }
  return std::nullopt;
}

std::vector<Mutation> all_mutations() {
  std::vector<Mutation> out;
  for (const auto& entry : kMutationNames) {
    if (entry.first != Mutation::kNone) out.push_back(entry.first);
  }
  return out;
}

std::string_view role_name(Role role) {
  switch (role) {
    case Role::kFollower:
      return "follower";
    case Role::kPreCandidate:
      return "pre_candidate";
    case Role::kCandidate:
      return "candidate";
    case Role::kLeader:
      return "leader";
  }
  return "unknown";
}

bool Ready::empty() const {
  return !soft_state && !hard_state && entries.empty() && !snapshot && messages.empty() &&
         committed_entries.empty() && read_states.empty();
}

Result<std::unique_ptr<Raft>> Raft::create(const RaftConfig& config, const Storage* storage,
                                           Rng* rng) {
  if (config.id == kNoNode) return Status::invalid_argument("raft: id must be non-zero");
  if (config.heartbeat_tick == 0) return Status::invalid_argument("raft: heartbeat_tick is 0");
  if (config.election_tick <= config.heartbeat_tick) {
    return Status::invalid_argument("raft: election_tick must exceed heartbeat_tick");
  }
  if (config.max_inflight_msgs == 0) {
    return Status::invalid_argument("raft: max_inflight_msgs is 0");
  }
  if (config.max_pending_reads == 0) {
    return Status::invalid_argument("raft: max_pending_reads is 0");
  }
  if (config.snapshot_timeout_ticks == 0 || config.max_snapshot_chunk_bytes == 0 ||
      config.max_snapshot_bytes == 0) {
    return Status::invalid_argument(
        "raft: snapshot_timeout_ticks, max_snapshot_chunk_bytes and max_snapshot_bytes must be > "
        "0");
  }
  if (config.read_only_option == ReadOnlyOption::kLeaseBased) {
    if (!config.check_quorum) {
      return Status::invalid_argument("raft: lease-based reads require check_quorum");
    }
    if (config.max_clock_drift_ticks >= config.election_tick) {
      return Status::invalid_argument("raft: max_clock_drift_ticks must be < election_tick");
    }
  }
  Result<InitialState> state = storage->initial_state();
  if (!state.is_ok()) return state.status();
  std::unique_ptr<Raft> raft(new Raft(config, storage, rng));
  MELD_RETURN_IF_ERROR(raft->load(*state));
  return raft;
}

Raft::Raft(const RaftConfig& config, const Storage* storage, Rng* rng)
    : config_(config), rng_(rng), log_(storage) {}

Status Raft::load(const InitialState& state) {
  const HardState& hs = state.hard_state;
  if (hs.commit < log_.committed() || hs.commit > log_.last_index()) {
    return Status::invalid_argument("raft: hard state commit " + std::to_string(hs.commit) +
                                    " outside the stored log");
  }
  Result<TrackerConfig> cfg = config_from_conf_state(state.conf_state);
  if (!cfg.is_ok()) return cfg.status();
  log_.commit_to(hs.commit);
  if (config_.applied != 0) {
    if (config_.applied + 1 < log_.first_index() || config_.applied > hs.commit) {
      return Status::invalid_argument("raft: applied index " + std::to_string(config_.applied) +
                                      " outside [first index - 1, commit " +
                                      std::to_string(hs.commit) + "]");
    }
    log_.applied_to(config_.applied);
  }
  become_follower(hs.term, kNoNode);
  vote_ = hs.vote;
  apply_config(*cfg);
  prev_hard_state_ = hs;
  prev_soft_state_ = soft_state();
  return Status::ok();
}

// ---- roles -------------------------------------------------------------------------------

void Raft::reset(uint64_t term) {
  if (term_ != term) {
    term_ = term;
    vote_ = kNoNode;
    // A partial snapshot belongs to the leader of the old term (§7 Figure 13 is per leader).
    incoming_snapshot_.reset();
  }
  lead_ = kNoNode;
  election_elapsed_ = 0;
  heartbeat_elapsed_ = 0;
  reset_randomized_election_timeout();
  abort_leader_transfer();
  sent_timeout_now_in_term_ = false;
  votes_.clear();
  uint64_t last = log_.last_index();
  for (auto& [id, pr] : progress_) {
    bool learner = pr.is_learner;
    pr = Progress(last + 1, config_.max_inflight_msgs, config_.max_inflight_bytes);
    pr.is_learner = learner;
    if (id == config_.id) pr.match = last;
  }
  pending_conf_index_ = 0;
  uncommitted_bytes_ = 0;
  pending_bcast_ = false;
  pending_reads_.clear();
  reads_before_commit_.clear();
}

// §5.2: election timeouts are chosen randomly from a fixed interval to split votes rarely.
void Raft::reset_randomized_election_timeout() {
  randomized_election_timeout_ = config_.election_tick + rng_->uniform(config_.election_tick);
}

void Raft::become_follower(uint64_t term, uint64_t lead) {
  reset(term);
  lead_ = lead;
  role_ = Role::kFollower;
}

// Thesis §9.6: a pre-candidate asks whether it could win before disturbing anyone; its term and
// vote do not change.
void Raft::become_pre_candidate() {
  MELD_ASSERT(role_ != Role::kLeader, "leader cannot become pre-candidate");
  votes_.clear();
  lead_ = kNoNode;
  role_ = Role::kPreCandidate;
  reset_randomized_election_timeout();
}

// §5.2: increment the term, vote for self.
void Raft::become_candidate() {
  MELD_ASSERT(role_ != Role::kLeader, "leader cannot become candidate");
  reset(term_ + 1);
  vote_ = config_.id;
  role_ = Role::kCandidate;
}

void Raft::become_leader() {
  MELD_ASSERT(role_ == Role::kCandidate, "only a candidate becomes leader");
  reset(term_);
  lead_ = config_.id;
  role_ = Role::kLeader;
  auto self = progress_.find(config_.id);
  MELD_ASSERT(self != progress_.end(), "leader without its own progress");
  self->second.become_replicate();
  self->second.recent_active = true;
  // Conservatively, no membership change until everything in the log so far is applied.
  pending_conf_index_ = log_.last_index();
  // Thesis §6.4 / §8: a new leader commits a blank entry of its own term at once; only then does
  // it know which entries are committed (§5.4.2) and may serve reads.
  Status s = append_entry(Entry{});
  MELD_ASSERT(s.is_ok(), "the no-op never hits the uncommitted cap: " + s.to_string());
}

bool Raft::promotable() const {
  return tracker_config_.voters.contains(config_.id) && !log_.unstable_snapshot().has_value();
}

bool Raft::has_unapplied_conf_change() const {
  // Bounded by the committed-but-unapplied entries, read one page at a time.
  uint64_t lo = std::max(log_.applied() + 1, log_.first_index());
  uint64_t hi = log_.committed() + 1;
  while (lo < hi) {
    Result<std::vector<Entry>> ents = log_.slice(lo, hi, config_.max_committed_bytes_per_ready);
    if (!ents.is_ok() || ents->empty()) return false;
    for (const Entry& e : *ents) {
      if (e.type == EntryType::kConfChange) return true;
    }
    lo = ents->back().index + 1;
  }
  return false;
}

void Raft::campaign(bool pre_vote, bool transfer) {
  if (role_ == Role::kLeader || !promotable()) return;
  // A node must not campaign while it has committed membership changes it has not applied: it
  // would count votes under a stale configuration.
  if (has_unapplied_conf_change()) return;
  uint64_t vote_term = 0;
  MessageType type;
  if (pre_vote) {
    become_pre_candidate();
    vote_term = term_ + 1;
    type = MessageType::kPreVote;
  } else {
    become_candidate();
    vote_term = term_;
    type = MessageType::kVote;
  }
  if (poll(config_.id, true) == VoteResult::kWon) {
    // A single-voter group wins at once.
    if (pre_vote) {
      campaign(false, transfer);
    } else {
      become_leader();
      bcast_append();
    }
    return;
  }
  for (uint64_t id : tracker_config_.voters.ids()) {
    if (id == config_.id) continue;
    Message m;
    m.type = type;
    m.to = id;
    m.term = vote_term;
    m.index = log_.last_index();
    m.log_term = log_.last_term();
    if (transfer) m.context = std::string(kTransferContext);
    send(std::move(m));
  }
}

VoteResult Raft::poll(uint64_t id, bool granted) {
  if (tracker_config_.voters.contains(id)) votes_.emplace(id, granted);
  return tracker_config_.voters.vote_result([this](uint64_t voter) {
    auto it = votes_.find(voter);
    return it == votes_.end() ? -1 : (it->second ? 1 : 0);
  });
}

// Thesis §4.2.3 (disruptive servers) and §6.4.1 (leases): a node that heard from a leader within
// the minimum election timeout ignores vote requests. Under lease reads a node also waits one
// election timeout after it starts, since it may have acknowledged a leader before a restart.
bool Raft::in_lease() const {
  if (!config_.check_quorum) return false;
  if (lead_ != kNoNode && election_elapsed_ < config_.election_tick) return true;
  return config_.read_only_option == ReadOnlyOption::kLeaseBased &&
         now_tick_ <= config_.election_tick;
}

// ---- time ----------------------------------------------------------------------------------

void Raft::tick() {
  ++now_tick_;
  if (role_ == Role::kLeader) {
    tick_heartbeat();
  } else {
    tick_election();
  }
}

void Raft::tick_election() {
  ++election_elapsed_;
  // A node that cannot campaign keeps counting, so that its lease on the last leader expires and
  // it grants votes to others (thesis §4.2.3 only protects a live leader).
  if (promotable() && election_elapsed_ >= randomized_election_timeout_) {
    election_elapsed_ = 0;
    campaign(config_.pre_vote, false);
  }
}

void Raft::tick_heartbeat() {
  ++heartbeat_elapsed_;
  ++election_elapsed_;
  if (election_elapsed_ >= config_.election_tick) {
    election_elapsed_ = 0;
    if (config_.check_quorum) {
      // Thesis §6.2: a leader that did not hear from a quorum within an election timeout steps
      // down, so that clients can find the real leader and leases stay sound.
      VoteResult active = tracker_config_.voters.vote_result([this](uint64_t id) {
        if (id == config_.id) return 1;
        auto it = progress_.find(id);
        return it != progress_.end() && it->second.recent_active ? 1 : 0;
      });
      for (auto& [id, pr] : progress_) pr.recent_active = id == config_.id;
      // A leader handing off after its removal serves no reads or proposals, so it may outlive
      // a quorum loss: it is the one node that can tell the remaining voters the change
      // committed.
      bool handing_off = !tracker_config_.voters.contains(config_.id);
      if (active != VoteResult::kWon && !handing_off) {
        become_follower(term_, kNoNode);
        return;
      }
    }
    // Thesis §3.10: a transfer that did not finish within an election timeout is abandoned;
    // a leader that is no longer a voter tries again with another target.
    abort_leader_transfer();
    if (!tracker_config_.voters.contains(config_.id)) hand_off_leadership();
    if (role_ != Role::kLeader) return;
  }
  for (auto& [id, pr] : progress_) {
    if (pr.state != ProgressState::kSnapshot) continue;
    if (++pr.snapshot_elapsed_ticks >= config_.snapshot_timeout_ticks) pr.become_probe();
  }
  if (heartbeat_elapsed_ >= config_.heartbeat_tick) {
    heartbeat_elapsed_ = 0;
    // Re-send the newest pending ReadIndex context so a lost heartbeat does not stall reads.
    bcast_heartbeat(pending_reads_.empty() ? std::string() : pending_reads_.back().ctx);
  }
}

// ---- messages ------------------------------------------------------------------------------

Status Raft::step(const Message& m) {
  if (m.to != config_.id) return Status::invalid_argument("raft: message for another node");
  if (m.from == kNoNode || m.from == config_.id) {
    return Status::invalid_argument("raft: message from an invalid sender");
  }
  if (m.term == 0) return Status::invalid_argument("raft: message without a term");

  if (m.term > term_) {
    if (is_vote_request(m.type) && m.context != kTransferContext && in_lease()) {
      return Status::ok();  // §4.2.3: ignored, not rejected
    }
    if (m.type == MessageType::kPreVote) {
      // A pre-vote request does not change our term (thesis §9.6).
    } else if (m.type == MessageType::kPreVoteResp && !m.reject) {
      // The granted pre-vote carries the term we will campaign in; ours changes only then.
    } else {
      // §5.1: a higher term makes every node a follower of that term.
      become_follower(m.term, is_from_leader(m.type) ? m.from : kNoNode);
    }
  } else if (m.term < term_) {
    if ((config_.check_quorum || config_.pre_vote) && is_from_leader(m.type)) {
      // A stale leader (e.g. after a partition healed) learns the new term from this response
      // and steps down; without it, CheckQuorum/PreVote could leave it isolated forever. For a
      // snapshot chunk this is Figure 13 step 1, "reply immediately if term < currentTerm".
      Message resp;
      resp.type = MessageType::kAppResp;
      resp.to = m.from;
      send(std::move(resp));
    } else if (m.type == MessageType::kPreVote) {
      Message resp;
      resp.type = MessageType::kPreVoteResp;
      resp.to = m.from;
      resp.reject = true;
      send(std::move(resp));
    }
    return Status::ok();  // §5.1: stale-term requests are rejected
  }

  if (is_vote_request(m.type)) {
    handle_vote_request(m);
    return Status::ok();
  }
  switch (role_) {
    case Role::kLeader:
      return step_leader(m);
    case Role::kPreCandidate:
    case Role::kCandidate:
      return step_candidate(m);
    case Role::kFollower:
      return step_follower(m);
  }
  return Status::ok();
}

void Raft::handle_vote_request(const Message& m) {
  // We can vote for m.from if we already did in this term, or we have not voted and know of no
  // leader; a pre-vote for a later term is always considered.
  bool can_vote = vote_ == m.from || (vote_ == kNoNode && lead_ == kNoNode) ||
                  (m.type == MessageType::kPreVote && m.term > term_);
  // §5.4.1 election restriction: only for a candidate whose log is at least as up to date.
  bool up_to_date =
      config_.mutation == Mutation::kVoteWithoutLogCheck || log_.is_up_to_date(m.index, m.log_term);
  Message resp;
  resp.type = m.type == MessageType::kVote ? MessageType::kVoteResp : MessageType::kPreVoteResp;
  resp.to = m.from;
  if (can_vote && up_to_date) {
    resp.term = m.term;
    if (m.type == MessageType::kVote) {
      election_elapsed_ = 0;
      vote_ = m.from;
    }
  } else {
    resp.reject = true;
  }
  send(std::move(resp));
}

Status Raft::step_leader(const Message& m) {
  auto it = progress_.find(m.from);
  if (it == progress_.end()) return Status::invalid_argument("raft: message from unknown node");
  Progress& pr = it->second;
  switch (m.type) {
    case MessageType::kAppResp:
      if (m.index > log_.last_index() && !m.reject) {
        return Status::invalid_argument("raft: append response past our last index");
      }
      handle_append_response(m, pr);
      return Status::ok();
    case MessageType::kHeartbeatResp:
      handle_heartbeat_response(m, pr);
      return Status::ok();
    case MessageType::kSnapResp:
      return handle_snapshot_response(m, pr);
    case MessageType::kReadIndex:
      handle_read_index_request(m.from, m.context);
      return Status::ok();
    case MessageType::kApp:
    case MessageType::kHeartbeat:
    case MessageType::kSnap:
      // §5.2 allows one leader per term: another one in our term is impossible input.
      return Status::invalid_argument("raft: leader message from another leader of our term");
    default:
      return Status::ok();
  }
}

Status Raft::step_candidate(const Message& m) {
  switch (m.type) {
    case MessageType::kApp:
      // §5.2: a leader of our term exists; return to follower.
      become_follower(m.term, m.from);
      handle_append_entries(m);
      return Status::ok();
    case MessageType::kHeartbeat:
      become_follower(m.term, m.from);
      handle_heartbeat(m);
      return Status::ok();
    case MessageType::kSnap:
      become_follower(m.term, m.from);
      handle_snapshot(m);
      return Status::ok();
    case MessageType::kPreVoteResp:
    case MessageType::kVoteResp: {
      bool expected = (role_ == Role::kPreCandidate && m.type == MessageType::kPreVoteResp) ||
                      (role_ == Role::kCandidate && m.type == MessageType::kVoteResp);
      if (!expected) return Status::ok();
      VoteResult result = poll(m.from, !m.reject);
      if (result == VoteResult::kWon) {
        if (role_ == Role::kPreCandidate) {
          campaign(false, false);
        } else {
          become_leader();
          bcast_append();
        }
      } else if (result == VoteResult::kLost) {
        become_follower(term_, kNoNode);
      }
      return Status::ok();
    }
    default:
      return Status::ok();
  }
}

Status Raft::step_follower(const Message& m) {
  switch (m.type) {
    case MessageType::kApp:
      election_elapsed_ = 0;
      lead_ = m.from;
      handle_append_entries(m);
      return Status::ok();
    case MessageType::kHeartbeat:
      election_elapsed_ = 0;
      lead_ = m.from;
      handle_heartbeat(m);
      return Status::ok();
    case MessageType::kSnap:
      election_elapsed_ = 0;
      lead_ = m.from;
      handle_snapshot(m);
      return Status::ok();
    case MessageType::kTimeoutNow:
      // Thesis §3.10: the leader asks us to start an election at once, skipping PreVote.
      if (m.from != lead_) return Status::invalid_argument("raft: timeout-now from a non-leader");
      campaign(false, true);
      return Status::ok();
    case MessageType::kReadIndexResp:
      if (m.from != lead_) return Status::ok();  // from a former leader: the host retries
      // The index may be past our log: the host serves the read once it has applied that far.
      if (read_states_.size() < config_.max_pending_reads) {
        read_states_.push_back(ReadState{m.index, m.context});
      }
      return Status::ok();
    default:
      return Status::ok();
  }
}

void Raft::handle_append_entries(const Message& m) {
  Message resp;
  resp.type = MessageType::kAppResp;
  resp.to = m.from;
  resp.lease_tick = m.lease_tick;
  if (m.index < log_.committed()) {
    // Everything up to our commit index already matches (§5.4.3 log matching): tell the leader.
    resp.index = log_.committed();
    send(std::move(resp));
    return;
  }
  if (std::optional<uint64_t> last_new =
          log_.maybe_append(m.index, m.log_term, m.commit, m.entries)) {
    resp.index = *last_new;
    send(std::move(resp));
    return;
  }
  // §5.3: reject, with a hint so the leader can skip a whole conflicting term per round trip
  // instead of one entry: the largest index <= m.index whose term is <= m.log_term.
  uint64_t hint = log_.find_conflict_by_term(std::min(m.index, log_.last_index()), m.log_term);
  resp.index = m.index;
  resp.reject = true;
  resp.reject_hint = hint;
  resp.log_term = log_.term_or_zero(hint);
  send(std::move(resp));
}

void Raft::handle_heartbeat(const Message& m) {
  // The leader sends min(our match, its commit), so this index is in our log with its term.
  if (m.commit <= log_.last_index()) log_.commit_to(m.commit);
  Message resp;
  resp.type = MessageType::kHeartbeatResp;
  resp.to = m.from;
  resp.context = m.context;
  resp.lease_tick = m.lease_tick;
  send(std::move(resp));
}

// One chunk of InstallSnapshot (§7 Figure 13; thesis §5.1 Figure 5.3). Every chunk is a sign of
// life from the leader (step_follower resets the election timer). The chunks of one snapshot are
// appended in order; anything else is answered with how much we hold, so that the leader sends
// the right chunk next.
void Raft::handle_snapshot(const Message& m) {
  const SnapshotMeta& meta = m.snapshot.meta;
  if (meta.index <= log_.committed() || log_.match_term(meta.index, meta.term)) {
    // Our log already covers the snapshot. Figure 13 step 6: "If existing log entry has same
    // index and term as snapshot's last included entry, retain log entries following it": only
    // the commit index moves. Answered at any chunk, so the leader stops sending the rest.
    incoming_snapshot_.reset();
    if (meta.index > log_.committed()) log_.commit_to(meta.index);
    Message resp;
    resp.type = MessageType::kAppResp;
    resp.to = m.from;
    resp.index = log_.committed();
    send(std::move(resp));
    return;
  }
  IncomingSnapshot* in = incoming_snapshot_ ? &*incoming_snapshot_ : nullptr;
  bool same = in != nullptr && in->from == m.from && in->term == m.term &&
              in->meta.index == meta.index && in->meta.term == meta.term;
  if (!same) {
    // Figure 13 step 2: a new snapshot starts at offset 0, and replaces a partial one unless
    // that one is newer (then this is a stale chunk of an earlier transfer). A chunk of a
    // snapshot we hold nothing of, past offset 0, is acknowledged as 0 bytes held.
    bool newer_partial =
        in != nullptr && in->from == m.from && in->term == m.term && in->meta.index > meta.index;
    if (m.snapshot_offset != 0 || newer_partial) {
      send_snapshot_ack(m.from, meta, 0, false);
      return;
    }
    incoming_snapshot_ = IncomingSnapshot{m.from, m.term, meta, {}};
    in = &*incoming_snapshot_;
  }
  uint64_t held = in->data.size();
  if (m.snapshot_offset == held) {
    if (m.snapshot.data.size() > config_.max_snapshot_bytes - held) {
      // Past the buffer's bound: refuse the snapshot rather than grow without limit.
      incoming_snapshot_.reset();
      send_snapshot_ack(m.from, meta, 0, true);
      return;
    }
    in->data.append(m.snapshot.data);
    if (m.snapshot_done) {
      // Figure 13 steps 5, 7 and 8: the snapshot is complete; discard the log and install it.
      Snapshot snap{in->meta, std::move(in->data)};
      incoming_snapshot_.reset();
      Message resp;
      resp.type = MessageType::kAppResp;
      resp.to = m.from;
      resp.index = restore(snap) ? log_.last_index() : log_.committed();
      send(std::move(resp));
      return;
    }
  }
  // A duplicate (offset below what we hold) or a chunk after a lost one (above it) is ignored.
  send_snapshot_ack(m.from, meta, in->data.size(), false);
}

void Raft::send_snapshot_ack(uint64_t to, const SnapshotMeta& meta, uint64_t held_bytes,
                             bool reject) {
  Message resp;
  resp.type = MessageType::kSnapResp;
  resp.to = to;
  resp.index = meta.index;
  resp.log_term = meta.term;
  resp.snapshot_offset = held_bytes;
  resp.reject = reject;
  send(std::move(resp));
}

// §7 Figure 13 steps 7-8: discard the log and take the snapshot's state and configuration.
// Precondition: the snapshot is past our commit index. False if its configuration is malformed.
bool Raft::restore(const Snapshot& snap) {
  MELD_ASSERT(snap.meta.index > log_.committed(), "restoring a snapshot the log covers");
  Result<TrackerConfig> cfg = config_from_conf_state(snap.meta.conf_state);
  if (!cfg.is_ok() || cfg->voters.incoming.empty()) return false;
  // The snapshot's configuration may not include us: a joining (or re-added) node learns the
  // configuration this way, and the change that adds it follows in the log. A node that is not a
  // voter there never campaigns, so installing it is safe either way.
  log_.restore(snap);
  apply_config(*cfg);
  return true;
}

void Raft::handle_append_response(const Message& m, Progress& pr) {
  pr.recent_active = true;
  if (m.lease_tick <= now_tick_) pr.lease_acked_tick = std::max(pr.lease_acked_tick, m.lease_tick);
  if (m.reject) {
    uint64_t next_probe = m.index;
    if (m.log_term > 0) {
      // Skip every entry of ours whose term is above the follower's hint term.
      next_probe = log_.find_conflict_by_term(m.reject_hint, m.log_term);
    }
    if (pr.maybe_decrease_to(m.index, next_probe)) {
      if (pr.state == ProgressState::kReplicate) pr.become_probe();
      maybe_send_append(m.from, false);
    }
    return;
  }
  bool was_paused = pr.is_paused();
  if (!pr.maybe_update(m.index)) return;
  switch (pr.state) {
    case ProgressState::kProbe:
      pr.become_replicate();
      break;
    case ProgressState::kSnapshot:
      if (pr.match + 1 >= log_.first_index()) {
        pr.become_probe();
        pr.become_replicate();
      }
      break;
    case ProgressState::kReplicate:
      pr.inflights.free_le(m.index);
      break;
  }
  if (maybe_commit()) {
    bcast_append();
  } else if (was_paused) {
    maybe_send_append(m.from, false);
  }
  // Pipelining: keep sending while the in-flight window has room (bounded by that window).
  while (maybe_send_append(m.from, false)) {
  }
  if (m.from == lead_transferee_ && pr.match == log_.last_index()) send_timeout_now(m.from);
}

Status Raft::handle_snapshot_response(const Message& m, Progress& pr) {
  pr.recent_active = true;
  if (pr.state != ProgressState::kSnapshot || pr.snapshot == nullptr ||
      m.index != pr.snapshot->meta.index || m.log_term != pr.snapshot->meta.term) {
    return Status::ok();  // about an earlier transfer
  }
  if (m.reject) {
    // The follower refused the snapshot (too large for it): send nothing more of it. The
    // snapshot timeout probes again later, when the snapshot to send may differ.
    pr.snapshot.reset();
    return Status::ok();
  }
  uint64_t chunk_bytes = config_.max_snapshot_chunk_bytes;
  uint64_t acked = m.snapshot_offset / chunk_bytes;
  // The follower only ever holds whole chunks, and never all of them (the last one installs).
  if (m.snapshot_offset % chunk_bytes != 0 || acked >= snapshot_chunk_count(*pr.snapshot)) {
    return Status::invalid_argument("raft: snapshot acknowledgement at an impossible offset");
  }
  if (acked <= pr.snapshot_chunks_acked) return Status::ok();  // old or duplicate
  pr.snapshot_chunks_acked = acked;
  // A restarted transfer: the follower already holds more than we sent; go on from there.
  pr.snapshot_chunks_sent = std::max(pr.snapshot_chunks_sent, acked);
  pr.snapshot_elapsed_ticks = 0;
  send_snapshot_chunk(m.from, pr);
  return Status::ok();
}

void Raft::handle_heartbeat_response(const Message& m, Progress& pr) {
  pr.recent_active = true;
  pr.probe_sent = false;
  if (m.lease_tick <= now_tick_) pr.lease_acked_tick = std::max(pr.lease_acked_tick, m.lease_tick);
  // A lagging follower gets an append even if it carries no new entry: if earlier messages were
  // lost, its rejection moves next back to where it really is.
  if (pr.state == ProgressState::kReplicate && pr.inflights.full()) {
    // The follower is alive but the window is full: acknowledgements were probably lost. Free
    // one slot so that one append goes out; its answer (or rejection) resynchronizes.
    pr.inflights.free_first_one();
  }
  if (pr.match < log_.last_index()) maybe_send_append(m.from, true);
  if (m.context.empty() || pending_reads_.empty()) return;
  // Thesis §6.4 step 3: the heartbeat round for a ReadIndex request; a quorum of acks confirms
  // leadership for it and for every request started before it.
  auto it = std::find_if(pending_reads_.begin(), pending_reads_.end(),
                         [&](const PendingRead& r) { return r.ctx == m.context; });
  if (it == pending_reads_.end()) return;
  it->acks.insert(m.from);
  VoteResult result = tracker_config_.voters.vote_result(
      [&](uint64_t id) { return it->acks.count(id) > 0 ? 1 : -1; });
  if (result != VoteResult::kWon) return;
  auto end = std::next(it);
  std::vector<PendingRead> confirmed(std::make_move_iterator(pending_reads_.begin()),
                                     std::make_move_iterator(end));
  pending_reads_.erase(pending_reads_.begin(), end);
  for (PendingRead& r : confirmed) respond_read(r.from, r.index, std::move(r.ctx));
}

// ---- reads ---------------------------------------------------------------------------------

Status Raft::read_index(std::string ctx) {
  if (ctx.empty()) return Status::invalid_argument("raft: read_index needs a non-empty context");
  if (role_ != Role::kLeader) {
    if (lead_ == kNoNode) return Status::unavailable("raft: no known leader to read from");
    Message m;
    m.type = MessageType::kReadIndex;
    m.to = lead_;
    m.context = std::move(ctx);
    send(std::move(m));
    return Status::ok();
  }
  if (lead_transferee_ != kNoNode) {
    return Status::unavailable("raft: leadership transfer in progress");
  }
  for (const PendingRead& r : pending_reads_) {
    if (r.ctx == ctx) return Status::already_exists("raft: read context already pending");
  }
  if (pending_reads_.size() + reads_before_commit_.size() >= config_.max_pending_reads) {
    return Status::resource_exhausted("raft: too many pending reads");
  }
  handle_read_index_request(config_.id, std::move(ctx));
  return Status::ok();
}

bool Raft::committed_in_current_term() const {
  return log_.term_or_zero(log_.committed()) == term_;
}

void Raft::handle_read_index_request(uint64_t from, std::string ctx) {
  if (ctx.empty() || lead_transferee_ != kNoNode) return;
  if (pending_reads_.size() + reads_before_commit_.size() >= config_.max_pending_reads) return;
  // Thesis §6.4 step 1: until the leader has committed an entry of its own term it does not know
  // the commit index of its predecessors; requests wait for the no-op.
  if (!committed_in_current_term() && config_.mutation != Mutation::kReadBeforeNoopCommit) {
    reads_before_commit_.emplace_back(from, std::move(ctx));
    return;
  }
  uint64_t index = log_.committed();
  bool single_voter = !tracker_config_.voters.is_joint() &&
                      tracker_config_.voters.incoming.size() == 1 &&
                      tracker_config_.voters.incoming.count(config_.id) == 1;
  if (single_voter || (config_.read_only_option == ReadOnlyOption::kLeaseBased && lease_valid())) {
    respond_read(from, index, std::move(ctx));
    return;
  }
  for (const PendingRead& r : pending_reads_) {
    if (r.ctx == ctx) return;  // a duplicate forwarded request: the first one answers
  }
  PendingRead read;
  read.index = index;
  read.from = from;
  read.ctx = ctx;
  read.acks.insert(config_.id);
  pending_reads_.push_back(std::move(read));
  bcast_heartbeat(ctx);
}

void Raft::respond_read(uint64_t from, uint64_t index, std::string ctx) {
  if (from == config_.id) {
    read_states_.push_back(ReadState{index, std::move(ctx)});
    return;
  }
  Message m;
  m.type = MessageType::kReadIndexResp;
  m.to = from;
  m.index = index;
  m.context = std::move(ctx);
  send(std::move(m));
}

void Raft::release_pending_reads() {
  if (reads_before_commit_.empty() || !committed_in_current_term()) return;
  std::deque<std::pair<uint64_t, std::string>> waiting;
  waiting.swap(reads_before_commit_);
  for (auto& [from, ctx] : waiting) handle_read_index_request(from, std::move(ctx));
}

bool Raft::lease_valid() const {
  if (role_ != Role::kLeader || !committed_in_current_term() || lead_transferee_ != kNoNode ||
      sent_timeout_now_in_term_) {
    return false;
  }
  if (config_.mutation == Mutation::kLeaseWithoutCheckQuorum) return true;
  if (!config_.check_quorum) return false;
  // The lease starts at the newest tick t such that a quorum acknowledged a message we sent at
  // t or later: those followers will not vote for anyone else for election_tick of their ticks
  // after receiving it. Shorten by the drift bound (thesis §6.4.1).
  uint64_t start = tracker_config_.voters.committed_index([this](uint64_t id) -> uint64_t {
    if (id == config_.id) return now_tick_;
    auto it = progress_.find(id);
    return it == progress_.end() ? 0 : it->second.lease_acked_tick;
  });
  if (start == 0 || start == std::numeric_limits<uint64_t>::max()) return false;
  return now_tick_ < start + config_.election_tick - config_.max_clock_drift_ticks;
}

// ---- replication ---------------------------------------------------------------------------

void Raft::send(Message m) {
  m.from = config_.id;
  if (m.term == 0) m.term = term_;
  msgs_.push_back(std::move(m));
}

bool Raft::maybe_send_append(uint64_t to, bool send_if_empty) {
  auto it = progress_.find(to);
  if (it == progress_.end() || to == config_.id) return false;
  Progress& pr = it->second;
  if (pr.is_paused()) return false;
  uint64_t prev_index = pr.next - 1;
  Result<uint64_t> prev_term = log_.term(prev_index);
  if (!prev_term.is_ok()) return send_snapshot(to, pr);  // §7: the entries are compacted
  std::vector<Entry> ents;
  if (pr.next <= log_.last_index()) {
    Result<std::vector<Entry>> got =
        log_.slice(pr.next, log_.last_index() + 1, config_.max_size_per_msg);
    if (!got.is_ok()) return send_snapshot(to, pr);
    ents = std::move(*got);
  }
  if (ents.empty() && !send_if_empty) return false;
  uint64_t bytes = 0;
  for (const Entry& e : ents) bytes += entry_bytes(e);
  Message m;
  m.type = MessageType::kApp;
  m.to = to;
  m.index = prev_index;
  m.log_term = *prev_term;
  m.commit = log_.committed();
  m.lease_tick = now_tick_;
  pr.sent_entries(ents.empty() ? prev_index : ents.back().index, ents.size(), bytes);
  m.entries = std::move(ents);
  send(std::move(m));
  return true;
}

bool Raft::send_snapshot(uint64_t to, Progress& pr) {
  Result<Snapshot> snap = log_.snapshot();
  // Still being prepared: the next heartbeat response tries again.
  if (!snap.is_ok() || snap->empty()) return false;
  std::shared_ptr<const Snapshot> shared = outgoing_snapshot_.lock();
  if (shared == nullptr || shared->meta != snap->meta) {
    shared = std::make_shared<const Snapshot>(std::move(*snap));
    outgoing_snapshot_ = shared;
  }
  pr.become_snapshot(std::move(shared));
  send_snapshot_chunk(to, pr);
  return true;
}

// §7 Figure 13: the chunks go out in order, each at its byte offset, the last one marked done,
// one at a time: the next goes out when the follower acknowledged the previous one. An empty
// snapshot is one empty chunk.
void Raft::send_snapshot_chunk(uint64_t to, Progress& pr) {
  if (pr.snapshot == nullptr) return;
  const Snapshot& snap = *pr.snapshot;
  uint64_t chunks = snapshot_chunk_count(snap);
  if (pr.snapshot_chunks_sent > pr.snapshot_chunks_acked || pr.snapshot_chunks_sent == chunks) {
    return;  // a chunk is in flight, or all went out
  }
  uint64_t chunk_bytes = config_.max_snapshot_chunk_bytes;
  uint64_t offset = pr.snapshot_chunks_sent * chunk_bytes;
  Message m;
  m.type = MessageType::kSnap;
  m.to = to;
  m.snapshot.meta = snap.meta;
  m.snapshot.data = snap.data.substr(offset, chunk_bytes);
  m.snapshot_offset = offset;
  m.snapshot_done = ++pr.snapshot_chunks_sent == chunks;
  send(std::move(m));
}

uint64_t Raft::snapshot_chunk_count(const Snapshot& snap) const {
  uint64_t size = snap.data.size();
  uint64_t chunk_bytes = config_.max_snapshot_chunk_bytes;
  return std::max<uint64_t>(1, size / chunk_bytes + (size % chunk_bytes != 0 ? 1 : 0));
}

void Raft::send_heartbeat(uint64_t to, const std::string& ctx) {
  auto it = progress_.find(to);
  if (it == progress_.end()) return;
  Message m;
  m.type = MessageType::kHeartbeat;
  m.to = to;
  // Never more than the follower is known to have: it may not have the leader's commit index.
  m.commit = std::min(it->second.match, log_.committed());
  m.context = ctx;
  m.lease_tick = now_tick_;
  send(std::move(m));
}

void Raft::bcast_append() {
  for (auto& [id, pr] : progress_) {
    if (id == config_.id) continue;
    if (!maybe_send_append(id, true)) continue;
    while (maybe_send_append(id, false)) {
    }
  }
}

void Raft::bcast_heartbeat(const std::string& ctx) {
  for (const auto& [id, pr] : progress_) {
    if (id != config_.id) send_heartbeat(id, ctx);
  }
}

// §5.3/§5.4.2: the leader commits the largest index a quorum has stored, but only if that entry
// is from its current term; earlier entries then commit indirectly (Figure 8).
bool Raft::maybe_commit() {
  uint64_t index = tracker_config_.voters.committed_index([this](uint64_t id) -> uint64_t {
    auto it = progress_.find(id);
    return it == progress_.end() ? 0 : it->second.match;
  });
  if (index == std::numeric_limits<uint64_t>::max() || index <= log_.committed()) return false;
  if (config_.mutation != Mutation::kCommitPreviousTerm && log_.term_or_zero(index) != term_) {
    return false;
  }
  log_.commit_to(index);
  release_pending_reads();
  return true;
}

Status Raft::append_entry(Entry e) {
  uint64_t bytes = e.data.size();
  uint64_t cap = config_.max_uncommitted_entries_bytes;
  // Always admit one entry when nothing is uncommitted, so that a single large entry can pass.
  if (cap != 0 && uncommitted_bytes_ > 0 && uncommitted_bytes_ + bytes > cap) {
    return Status::resource_exhausted("raft: uncommitted entries at the cap of " +
                                      std::to_string(cap) + " bytes");
  }
  e.term = term_;
  e.index = log_.last_index() + 1;
  uint64_t last = log_.append({std::move(e)});
  uncommitted_bytes_ += bytes;
  progress_.at(config_.id).maybe_update(last);
  maybe_commit();  // a single-voter group commits at once
  return Status::ok();
}

Status Raft::propose(std::string data) {
  if (role_ != Role::kLeader) {
    return Status::unavailable("raft: not leader (leader hint: " + std::to_string(lead_) + ")");
  }
  if (lead_transferee_ != kNoNode) {
    return Status::unavailable("raft: leadership transfer to " + std::to_string(lead_transferee_) +
                               " in progress");
  }
  MELD_RETURN_IF_ERROR(append_entry(Entry{0, 0, EntryType::kNormal, std::move(data)}));
  if (config_.batch_append) {
    pending_bcast_ = true;
  } else {
    bcast_append();
  }
  return Status::ok();
}

Status Raft::propose_conf_change(const ConfChange& cc) {
  if (role_ != Role::kLeader) {
    return Status::unavailable("raft: not leader (leader hint: " + std::to_string(lead_) + ")");
  }
  if (lead_transferee_ != kNoNode) {
    return Status::unavailable("raft: leadership transfer in progress");
  }
  // Thesis §4.1: one membership change at a time; the next waits until this one is applied.
  if (pending_conf_index_ > log_.applied()) {
    return Status::unavailable("raft: an earlier membership change is not applied yet");
  }
  if (cc.changes.size() > kMaxConfChanges || cc.context.size() > kMaxConfChangeContextBytes) {
    return Status::invalid_argument("raft: conf change too large");
  }
  Result<TrackerConfig> next = apply_conf_change(tracker_config_, cc);
  if (!next.is_ok()) return next.status();
  MELD_RETURN_IF_ERROR(append_entry(Entry{0, 0, EntryType::kConfChange, encode_conf_change(cc)}));
  pending_conf_index_ = log_.last_index();
  bcast_append();
  return Status::ok();
}

Status Raft::transfer_leadership(uint64_t to) {
  if (role_ != Role::kLeader) {
    return Status::unavailable("raft: not leader (leader hint: " + std::to_string(lead_) + ")");
  }
  if (to == config_.id) return Status::ok();
  if (!tracker_config_.voters.contains(to) || progress_.count(to) == 0) {
    return Status::invalid_argument("raft: transfer target " + std::to_string(to) +
                                    " is not a voter");
  }
  if (lead_transferee_ == to) return Status::ok();
  lead_transferee_ = to;
  // Thesis §3.10: the transfer must finish within an election timeout.
  election_elapsed_ = 0;
  Progress& pr = progress_.at(to);
  if (pr.match == log_.last_index()) {
    send_timeout_now(to);
  } else {
    maybe_send_append(to, true);
  }
  return Status::ok();
}

void Raft::send_timeout_now(uint64_t to) {
  // The forced election may happen whenever the message arrives, even after the transfer was
  // abandoned, and it overrides the followers' leases.
  sent_timeout_now_in_term_ = true;
  Message m;
  m.type = MessageType::kTimeoutNow;
  m.to = to;
  send(std::move(m));
}

void Raft::report_unreachable(uint64_t to) {
  if (role_ != Role::kLeader) return;
  auto it = progress_.find(to);
  if (it == progress_.end()) return;
  Progress& pr = it->second;
  if (pr.state == ProgressState::kReplicate) {
    pr.become_probe();
  } else if (pr.state == ProgressState::kSnapshot) {
    // The follower may not have the snapshot: probe from its match, and wait for its answer to
    // the next heartbeat before probing (a new transfer then resumes where the follower is).
    pr.pending_snapshot = 0;
    pr.become_probe();
    pr.probe_sent = true;
  }
}

const Progress* Raft::progress(uint64_t id) const {
  if (role_ != Role::kLeader) return nullptr;
  auto it = progress_.find(id);
  return it == progress_.end() ? nullptr : &it->second;
}

// ---- membership ----------------------------------------------------------------------------

void Raft::apply_config(const TrackerConfig& config) {
  tracker_config_ = config;
  std::set<uint64_t> members = config.voters.ids();
  members.insert(config.learners.begin(), config.learners.end());
  members.insert(config.learners_next.begin(), config.learners_next.end());
  for (auto it = progress_.begin(); it != progress_.end();) {
    it = members.count(it->first) > 0 ? std::next(it) : progress_.erase(it);
  }
  uint64_t last = log_.last_index();
  for (uint64_t id : members) {
    auto [it, added] =
        progress_.try_emplace(id, last + 1, config_.max_inflight_msgs, config_.max_inflight_bytes);
    Progress& pr = it->second;
    // A new member starts active so that CheckQuorum gives it one timeout to answer.
    if (added) pr.recent_active = true;
    if (added && id == config_.id) pr.match = last;
    pr.is_learner = config.learners.count(id) > 0 || config.learners_next.count(id) > 0;
  }
  if (role_ != Role::kLeader) return;
  if (!config.voters.contains(config_.id)) {
    hand_off_leadership();
    return;
  }
  if (lead_transferee_ != kNoNode && !config.voters.contains(lead_transferee_)) {
    abort_leader_transfer();
  }
  // The quorum changed: the commit index may move, and new members need the log.
  maybe_commit();
  bcast_append();
}

// Thesis §4.2.2: a leader removed from the voters steps down once the change is committed (here:
// applied). Stepping down silently can leave the remaining voters unaware that the change
// committed, with a log too short to win the removed leader's vote: with two voters left that
// blocks elections for good. So the leader hands off instead: it stops accepting proposals, brings
// the most up-to-date remaining voter level with its log (which carries the commit index) and
// sends it kTimeoutNow; it becomes a follower when that voter's higher term reaches it.
void Raft::hand_off_leadership() {
  uint64_t target = kNoNode;
  uint64_t target_match = 0;
  for (uint64_t id : tracker_config_.voters.ids()) {
    auto it = progress_.find(id);
    if (id == config_.id || it == progress_.end()) continue;
    if (target == kNoNode || it->second.match > target_match) {
      target = id;
      target_match = it->second.match;
    }
  }
  if (target == kNoNode) {
    become_follower(term_, kNoNode);
    return;
  }
  lead_transferee_ = target;
  if (target_match == log_.last_index()) {
    send_timeout_now(target);
  } else {
    maybe_send_append(target, true);
  }
}

// A committed change that does not decode or is invalid against the configuration is a no-op.
// Every node applies the same entries to the same configuration, so all of them skip it alike;
// the application sees the entry and may report it.
void Raft::apply_committed_conf_change(const Entry& e) {
  Result<ConfChange> cc = decode_conf_change(e.data);
  if (!cc.is_ok()) return;
  Result<TrackerConfig> next = apply_conf_change(tracker_config_, *cc);
  if (next.is_ok()) apply_config(*next);
}

// ---- Ready ---------------------------------------------------------------------------------

HardState Raft::hard_state_for_ready() const {
  HardState hs{term_, vote_, log_.committed()};
  if (config_.mutation == Mutation::kForgetPersistVote) {
    // The bug: a vote cast is never reported for persistence.
    hs.vote = term_ == prev_hard_state_.term ? prev_hard_state_.vote : kNoNode;
  }
  return hs;
}

bool Raft::has_ready() const {
  if (ready_outstanding_) return false;
  return pending_bcast_ || soft_state() != prev_soft_state_ ||
         hard_state_for_ready() != prev_hard_state_ || !log_.unstable_entries().empty() ||
         log_.unstable_snapshot().has_value() || !msgs_.empty() || !read_states_.empty() ||
         log_.has_next_committed_entries();
}

Ready Raft::ready() {
  MELD_ASSERT(!ready_outstanding_, "ready() called again before advance()");
  if (pending_bcast_) {
    pending_bcast_ = false;
    bcast_append();
  }
  Ready rd;
  if (soft_state() != prev_soft_state_) rd.soft_state = soft_state();
  HardState hs = hard_state_for_ready();
  if (hs != prev_hard_state_) rd.hard_state = hs;
  rd.entries = log_.unstable_entries();
  rd.snapshot = log_.unstable_snapshot();
  rd.committed_entries = log_.next_committed_entries(config_.max_committed_bytes_per_ready);
  rd.messages = std::move(msgs_);
  msgs_.clear();
  rd.read_states = std::move(read_states_);
  read_states_.clear();
  ready_outstanding_ = true;
  return rd;
}

void Raft::advance(const Ready& rd) {
  MELD_ASSERT(ready_outstanding_, "advance() without a ready()");
  ready_outstanding_ = false;
  if (rd.soft_state) prev_soft_state_ = *rd.soft_state;
  if (rd.hard_state) prev_hard_state_ = *rd.hard_state;
  if (rd.snapshot) {
    log_.stable_snapshot_to(rd.snapshot->meta.index);
    log_.applied_to(rd.snapshot->meta.index);
  }
  if (!rd.entries.empty()) log_.stable_to(rd.entries.back().index, rd.entries.back().term);
  for (const Entry& e : rd.committed_entries) {
    if (e.index <= log_.applied()) continue;
    if (role_ == Role::kLeader) {
      uncommitted_bytes_ -= std::min<uint64_t>(uncommitted_bytes_, e.data.size());
    }
    if (e.type == EntryType::kConfChange) apply_committed_conf_change(e);
    log_.applied_to(e.index);
  }
  // Thesis §4.3: once the joint configuration is applied, the leader proposes leaving it.
  if (role_ == Role::kLeader && tracker_config_.auto_leave &&
      log_.applied() >= pending_conf_index_) {
    if (append_entry(Entry{0, 0, EntryType::kConfChange, encode_conf_change(ConfChange{})})
            .is_ok()) {
      pending_conf_index_ = log_.last_index();
      bcast_append();
    }
  }
}

}  // namespace meld::consensus
