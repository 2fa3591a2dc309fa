#include "tests/sim/lib/simulation.h"

#include <algorithm>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "base/hash.h"
#include "base/rng.h"
#include "jepsen/history.h"
#include "jepsen/linearizability.h"
#include "tests/sim/lib/kv_state_machine.h"
#include "tests/sim/lib/sim_disk.h"
#include "tests/sim/lib/sim_network.h"

namespace meld::sim {
namespace {

using consensus::ConfChange;
using consensus::ConfChangeSingle;
using consensus::ConfChangeTransition;
using consensus::ConfChangeType;
using consensus::ConfState;
using consensus::Entry;
using consensus::EntryType;
using consensus::Message;
using consensus::Raft;
using consensus::Ready;
using consensus::Role;

constexpr int64_t kTickUs = 1000;  // one undrifted tick
constexpr uint64_t kElectionTicks = 10;
constexpr uint64_t kMaxClockDriftTicks = 2;
// Clocks run at kTickUs * (1 +- kDriftPermille / 1000). Two clocks then differ by at most 16%
// over election_tick ticks, i.e. 1.6 < kMaxClockDriftTicks ticks: the lease assumption holds.
constexpr int64_t kDriftPermille = 80;
constexpr int64_t kSettleTicks = 400;
constexpr int64_t kOpTimeoutTicks = 20;
constexpr size_t kClients = 8;
constexpr size_t kKeys = 3;
constexpr size_t kMaxHistoryOps = 1'000'000;
constexpr int kMaxReadyRounds = 64;
constexpr uint64_t kMaxLinearizabilityStates = 5'000'000;

// Independent streams of the seed, one per component.
enum class Stream : uint64_t { kScenario = 1, kNetwork, kFaults, kClients, kCrash, kRaft };
uint64_t stream_seed(uint64_t seed, Stream stream, uint64_t sub = 0) {
  uint64_t x = seed * 0x9E3779B97F4A7C15ULL +
               static_cast<uint64_t>(stream) * 0xBF58476D1CE4E5B9ULL + sub * 0x94D049BB133111EBULL;
  return SeededRng(x).next_u64();
}

uint64_t entry_hash(const Entry& e) {
  return fast_hash64(e.data, static_cast<uint64_t>(e.type) + 1);
}

// An Rng whose outputs take two values only: Raft's randomized election timeout is then
// election_tick or 1.5 * election_tick, and simultaneous candidacies (split votes) are common.
class CoarseRng final : public Rng {
 public:
  explicit CoarseRng(uint64_t seed) : inner_(seed) {}
  uint64_t next_u64() override { return inner_.next_u64() & (1ULL << 63); }

 private:
  SeededRng inner_;
};

// What a seed chooses once, before the run.
struct Scenario {
  size_t nodes = 3;
  size_t initial_voters = 3;
  bool lease_reads = false;
  NetworkOptions network;
  int64_t fsync_us = 0;  // 0: the sync completes at once
  std::vector<int64_t> tick_period_us;
  int64_t fault_gap_ticks = 30;  // mean ticks between faults
  uint32_t crash_weight = 3, isolate_weight = 3, split_weight = 1, one_way_weight = 1,
           transfer_weight = 1, membership_weight = 1;
  int64_t op_gap_ticks = 2;
  // Forced rare paths (FoundationDB's BUGGIFY): percent chance that a new leader is isolated or
  // crashed within a few ticks of its election, and that a node crashes right after granting a
  // vote; and whether election timeouts take only two values, so that candidates often collide.
  uint32_t strike_new_leader_percent = 0;
  uint32_t crash_after_vote_percent = 0;
  // Permille chance (leaders commit often) that a leader is crashed or isolated right after its
  // commit index moves, before the followers learn it.
  uint32_t strike_after_commit_permille = 0;
  bool coarse_election_timeouts = false;
  // Lease seeds: percent chance to isolate a leader two ticks after each of its CheckQuorum
  // checks (every election_tick of its ticks), once the heartbeats of the check were acked: it
  // then stays leader for the longest time CheckQuorum allows (almost two election timeouts)
  // while the others elect a new leader, which is where a lease without a quorum shows.
  uint32_t isolate_after_check_percent = 0;
  uint64_t compact_threshold = 64;  // applied entries kept in the log before compacting
  consensus::RaftConfig raft;

  std::string describe() const {
    std::string s = "nodes=" + std::to_string(nodes) + " voters=" + std::to_string(initial_voters);
    s += lease_reads ? " reads=lease" : " reads=read-index";
    s += " fsync_us=" + std::to_string(fsync_us);
    s += " delay_us=" + std::to_string(network.min_delay_us) + ".." +
         std::to_string(network.max_delay_us);
    s += " loss=" + std::to_string(network.loss_probability).substr(0, 4);
    s += " dup=" + std::to_string(network.duplicate_probability).substr(0, 4);
    s += " fault_gap_ticks=" + std::to_string(fault_gap_ticks);
    s += " inflight=" + std::to_string(raft.max_inflight_msgs);
    s += " batch=" + std::to_string(raft.batch_append);
    s += " snap_chunk=" + std::to_string(raft.max_snapshot_chunk_bytes);
    s += " strike=" + std::to_string(strike_new_leader_percent) +
         " crash_after_vote=" + std::to_string(crash_after_vote_percent) +
         " strike_after_commit_permille=" + std::to_string(strike_after_commit_permille) +
         " coarse_timeouts=" + std::to_string(coarse_election_timeouts);
    return s;
  }
};

Scenario choose_scenario(const SimOptions& options) {
  SeededRng rng(stream_seed(options.seed, Stream::kScenario));
  Scenario sc;
  constexpr size_t kSizes[] = {3, 5, 7};
  sc.nodes = options.nodes != 0 ? options.nodes : kSizes[rng.uniform(3)];
  sc.initial_voters = sc.nodes == 7 ? 5 : sc.nodes;  // 7-node groups start with two learners
  sc.lease_reads = rng.uniform(100) < 40;
  sc.network.min_delay_us = rng.between(50, 400);
  // Delays and fsyncs stay well below the election timeout (10 ms), as Raft needs to be live.
  sc.network.max_delay_us = sc.network.min_delay_us + rng.between(100, 1500);
  constexpr double kLoss[] = {0, 0, 0.01, 0.05};
  constexpr double kDup[] = {0, 0.01, 0.03};
  sc.network.loss_probability = kLoss[rng.uniform(4)];
  sc.network.duplicate_probability = kDup[rng.uniform(3)];
  sc.network.max_in_flight_per_link = 64;
  sc.fsync_us = rng.uniform(2) == 0 ? 0 : rng.between(50, 1000);
  for (size_t i = 0; i < sc.nodes; ++i) {
    sc.tick_period_us.push_back(kTickUs + rng.between(-kDriftPermille, kDriftPermille));
  }
  sc.fault_gap_ticks = rng.between(10, 50);
  sc.crash_weight = static_cast<uint32_t>(rng.between(1, 6));
  sc.isolate_weight = static_cast<uint32_t>(rng.between(1, 6));
  sc.split_weight = static_cast<uint32_t>(rng.between(0, 2));
  sc.one_way_weight = static_cast<uint32_t>(rng.between(0, 2));
  sc.transfer_weight = static_cast<uint32_t>(rng.between(0, 2));
  sc.membership_weight = static_cast<uint32_t>(rng.between(0, 2));
  // Lease seeds keep clients busy: a stale lease read shows only if it follows a write acked by
  // the new leader within the few ticks that the old leader's CheckQuorum leaves.
  sc.op_gap_ticks = sc.lease_reads ? 1 : rng.between(1, 3);
  sc.compact_threshold = static_cast<uint64_t>(rng.between(16, 200));
  sc.strike_new_leader_percent =
      rng.uniform(3) == 0 ? 0 : static_cast<uint32_t>(rng.between(20, 70));
  sc.crash_after_vote_percent =
      rng.uniform(2) == 0 ? 0 : static_cast<uint32_t>(rng.between(10, 50));
  sc.coarse_election_timeouts = rng.uniform(3) == 0;
  sc.strike_after_commit_permille =
      rng.uniform(2) == 0 ? 0 : static_cast<uint32_t>(rng.between(5, 50));
  sc.isolate_after_check_percent = sc.lease_reads ? static_cast<uint32_t>(rng.between(20, 60)) : 0;

  consensus::RaftConfig& rc = sc.raft;
  rc.election_tick = kElectionTicks;
  rc.heartbeat_tick = 1;
  constexpr size_t kInflight[] = {2, 16, 256};
  rc.max_inflight_msgs = kInflight[rng.uniform(3)];
  rc.max_size_per_msg = rng.uniform(2) == 0 ? 64 : 1 << 20;  // 64: one entry per message
  rc.max_uncommitted_entries_bytes = rng.uniform(2) == 0 ? 1024 : 64 << 20;
  rc.batch_append = rng.uniform(2) == 0;
  rc.read_only_option =
      sc.lease_reads ? consensus::ReadOnlyOption::kLeaseBased : consensus::ReadOnlyOption::kSafe;
  rc.max_clock_drift_ticks = kMaxClockDriftTicks;
  // Snapshots (about 50 bytes here) go whole in some seeds and in chunks of a few bytes in
  // others, so that lost, duplicated and reordered chunks happen.
  constexpr uint64_t kSnapshotChunkBytes[] = {1 << 20, 16, 5};
  rc.max_snapshot_chunk_bytes = kSnapshotChunkBytes[rng.uniform(3)];
  rc.mutation = options.mutation;
  return sc;
}

struct Node {
  uint64_t id = 0;
  std::unique_ptr<SimDisk> disk;
  std::unique_ptr<Rng> rng;
  std::unique_ptr<Raft> raft;  // null while the node is down
  KvStateMachine sm;
  int64_t tick_period_us = kTickUs;
  int64_t next_tick_us = 0;
  int64_t restart_us = 0;            // while down
  std::optional<int64_t> strike_us;  // a forced fault aimed at this node
  bool strike_crash = false;         // the forced fault crashes (else isolates) it
  std::optional<Ready> syncing;
  int64_t sync_done_us = 0;
  uint64_t recorded_commit = 0;
  uint64_t incarnation = 0;
  uint64_t leader_ticks = 0;  // ticks since it last became leader; 0 when not leader
};

struct PendingOp {
  jepsen::HistoryRecorder::OpId history_id = 0;
  uint64_t op_id = 0;
  size_t client = 0;
  uint64_t node = 0;
  jepsen::OpFunction function = jepsen::OpFunction::kRead;
  std::string key;
  int64_t deadline_us = 0;
  std::optional<uint64_t> read_index;  // reads: confirmed, waiting for the apply
};

struct Client {
  int64_t process = 0;
  int64_t next_op_us = 0;
  bool busy = false;
};

struct AckedWrite {
  uint64_t op_id = 0;
  uint64_t index = 0;
  uint64_t hash = 0;
};

struct CommitRecord {
  uint64_t term = 0;
  uint64_t hash = 0;
  uint64_t commit_term = 0;  // an upper bound of the term in which the entry was committed
};

enum class Ev : uint8_t {
  kTick,
  kDeliver,
  kSend,
  kDrop,
  kCrash,
  kRestart,
  kIsolate,
  kSplit,
  kOneWay,
  kHeal,
  kTransfer,
  kConfChange,
  kSync,
  kInvoke,
  kComplete,
  kLeader,
  kCompact,
  kSettle,
};
constexpr const char* kEvNames[] = {
    "tick",    "deliver", "send",     "drop",   "crash",    "restart",
    "isolate", "split",   "one_way",  "heal",   "transfer", "conf_change",
    "sync",    "invoke",  "complete", "leader", "compact",  "settle",
};

class Simulation {
 public:
  explicit Simulation(const SimOptions& options)
      : options_(options),
        sc_(choose_scenario(options)),
        network_(sc_.network, stream_seed(options.seed, Stream::kNetwork)),
        fault_rng_(stream_seed(options.seed, Stream::kFaults)),
        client_rng_(stream_seed(options.seed, Stream::kClients)),
        crash_rng_(stream_seed(options.seed, Stream::kCrash)),
        recorder_(kMaxHistoryOps) {}

  SimResult run();

 private:
  bool violated() const { return !result_.invariant.empty(); }
  void violate(std::string invariant, std::string detail);
  void trace(Ev ev, uint64_t a = 0, uint64_t b = 0, uint64_t c = 0, uint64_t d = 0);

  void boot();
  void start_node(Node& n);
  std::optional<int64_t> next_event_us() const;
  void run_one_event();
  std::vector<uint64_t> all_ids() const;
  std::vector<uint64_t> up_ids() const;
  Node* leader_node();

  // Host loop.
  void pump(Node& n);
  void complete_sync(Node& n);
  void deliver(Message m);
  void send(const Message& m);
  void apply_entry(Node& n, const Entry& e);
  void install_snapshot(Node& n, const consensus::Snapshot& snap);
  void serve_reads(Node& n);
  void maybe_compact(Node& n);

  // Invariants.
  void observe_roles();
  void record_durable(Node& n, const std::vector<DiskBatch>& batches);
  void record_commits(Node& n, const consensus::HardState& hs);
  void check_leader_completeness(Node& n, uint64_t term, uint64_t noop_index);
  void record_applied(Node& n, uint64_t index, uint64_t digest, const char* how);
  void final_checks();

  // Faults.
  void inject_fault();
  void crash(Node& n, int64_t max_down_ticks);
  void membership_change(Node& leader);
  void settle();

  // Clients.
  void client_invoke(size_t c);
  void finish_op(std::map<uint64_t, PendingOp>::iterator it, jepsen::OpOutcome outcome,
                 std::optional<int64_t> read_value);
  void give_up_ops_at(uint64_t node);

  SimOptions options_;
  Scenario sc_;
  SimNetwork network_;
  SeededRng fault_rng_;
  SeededRng client_rng_;
  SeededRng crash_rng_;
  jepsen::HistoryRecorder recorder_;
  SimResult result_;

  std::map<uint64_t, Node> nodes_;
  int64_t now_us_ = 0;
  int64_t chaos_end_us_ = 0;
  int64_t end_us_ = 0;
  bool settling_ = false;
  int64_t next_fault_us_ = 0;
  std::optional<int64_t> heal_us_;

  std::vector<Client> clients_;
  std::map<uint64_t, PendingOp> pending_;  // by op id
  uint64_t next_op_id_ = 1;
  int64_t next_process_ = 0;
  std::vector<int64_t> last_written_;  // per key, the value of the latest write invoked
  std::vector<AckedWrite> acked_;

  std::map<uint64_t, uint64_t> leader_of_term_;
  std::map<uint64_t, uint64_t> leader_noop_;  // term -> index of its leader's no-op
  std::map<std::pair<uint64_t, uint64_t>, std::pair<uint64_t, uint64_t>> durable_entries_;
  std::map<uint64_t, CommitRecord> committed_;
  std::map<uint64_t, uint64_t> applied_digest_;
};

void Simulation::violate(std::string invariant, std::string detail) {
  if (violated()) return;
  result_.invariant = std::move(invariant);
  result_.detail = "t=" + std::to_string(now_us_) + "us " + detail;
}

void Simulation::trace(Ev ev, uint64_t a, uint64_t b, uint64_t c, uint64_t d) {
  ++result_.events;
  uint64_t words[] = {static_cast<uint64_t>(now_us_), static_cast<uint64_t>(ev), a, b, c, d};
  for (uint64_t w : words) result_.trace_hash = (result_.trace_hash ^ w) * 0x100000001B3ULL;
  if (options_.trace != nullptr) {
    *options_.trace << now_us_ << " " << kEvNames[static_cast<size_t>(ev)] << " " << a << " " << b
                    << " " << c << " " << d << "\n";
  }
}

std::vector<uint64_t> Simulation::all_ids() const {
  std::vector<uint64_t> ids;
  for (const auto& [id, n] : nodes_) ids.push_back(id);
  return ids;
}

std::vector<uint64_t> Simulation::up_ids() const {
  std::vector<uint64_t> ids;
  for (const auto& [id, n] : nodes_) {
    if (n.raft) ids.push_back(id);
  }
  return ids;
}

Node* Simulation::leader_node() {
  Node* best = nullptr;
  for (auto& [id, n] : nodes_) {
    if (n.raft && n.raft->role() == Role::kLeader &&
        (best == nullptr || n.raft->term() > best->raft->term())) {
      best = &n;
    }
  }
  return best;
}

// ---- setup -----------------------------------------------------------------------------------

void Simulation::boot() {
  // Every node starts from the same bootstrap snapshot at index 1 naming the initial membership.
  consensus::Snapshot bootstrap;
  bootstrap.meta.index = 1;
  bootstrap.meta.term = 1;
  for (uint64_t id = 1; id <= sc_.nodes; ++id) {
    (id <= sc_.initial_voters ? bootstrap.meta.conf_state.voters
                              : bootstrap.meta.conf_state.learners)
        .push_back(id);
  }
  bootstrap.data = KvStateMachine::at_index(1).encode();
  for (uint64_t id = 1; id <= sc_.nodes; ++id) {
    consensus::MemoryStorage initial;
    Status s = initial.apply_snapshot(bootstrap);
    MELD_ASSERT(s.is_ok(), s.to_string());
    initial.set_hard_state(consensus::HardState{1, consensus::kNoNode, 1});
    Node& n = nodes_[id];
    n.id = id;
    n.disk = std::make_unique<SimDisk>(initial);
    n.tick_period_us = sc_.tick_period_us[id - 1];
    start_node(n);
    // Clocks start out of phase.
    n.next_tick_us = fault_rng_.between(1, n.tick_period_us);
  }
  applied_digest_[1] = KvStateMachine::at_index(1).digest();
  for (size_t c = 0; c < kClients; ++c) {
    clients_.push_back(Client{next_process_++, client_rng_.between(1, 20 * kTickUs), false});
  }
  last_written_.assign(kKeys, 0);
}

// Builds the node's Raft and state machine from what its disk holds (a boot or a restart).
void Simulation::start_node(Node& n) {
  ++n.incarnation;
  n.rng = std::make_unique<SeededRng>(
      stream_seed(options_.seed, Stream::kRaft, n.id * 1'000'003 + n.incarnation));
  consensus::RaftConfig config = sc_.raft;
  config.id = n.id;
  const consensus::MemoryStorage& storage = n.disk->storage();
  Result<consensus::Snapshot> snap = storage.snapshot();
  MELD_ASSERT(snap.is_ok(), snap.status().to_string());
  Result<KvStateMachine> sm = KvStateMachine::decode(snap->data);
  if (!sm.is_ok()) {
    violate("restart", "node " + std::to_string(n.id) + ": " + sm.status().to_string());
    return;
  }
  n.sm = std::move(*sm);
  Result<std::unique_ptr<Raft>> raft = Raft::create(config, &storage, n.rng.get());
  if (!raft.is_ok()) {
    violate("restart", "node " + std::to_string(n.id) +
                           " cannot restart from its durable state: " + raft.status().to_string());
    return;
  }
  n.raft = std::move(*raft);
  n.syncing.reset();
  n.recorded_commit = storage.initial_state()->hard_state.commit;
  n.next_tick_us = now_us_ + n.tick_period_us;
}

// ---- the event loop --------------------------------------------------------------------------

std::optional<int64_t> Simulation::next_event_us() const {
  std::optional<int64_t> best;
  auto consider = [&](int64_t t) {
    if (!best || t < *best) best = t;
  };
  if (!settling_) consider(std::min(next_fault_us_, chaos_end_us_));
  if (heal_us_) consider(*heal_us_);
  for (const auto& [id, n] : nodes_) {
    if (!n.raft) {
      consider(n.restart_us);
      continue;
    }
    if (n.syncing) consider(n.sync_done_us);
    if (n.strike_us) consider(*n.strike_us);
    consider(n.next_tick_us);
  }
  if (std::optional<int64_t> t = network_.next_delivery_us()) consider(*t);
  for (const auto& [op_id, op] : pending_) consider(op.deadline_us);
  if (!settling_) {
    for (const Client& c : clients_) {
      if (!c.busy) consider(c.next_op_us);
    }
  }
  return best;
}

// Handles exactly one due event, in a fixed order among simultaneous ones.
void Simulation::run_one_event() {
  if (!settling_ && now_us_ >= chaos_end_us_) {
    settle();
    return;
  }
  if (heal_us_ && *heal_us_ <= now_us_) {
    heal_us_.reset();
    network_.heal();
    trace(Ev::kHeal);
    return;
  }
  for (auto& [id, n] : nodes_) {
    if (!n.raft && n.restart_us <= now_us_) {
      start_node(n);
      trace(Ev::kRestart, id, n.incarnation);
      return;
    }
  }
  for (auto& [id, n] : nodes_) {
    if (n.raft && n.strike_us && *n.strike_us <= now_us_) {
      n.strike_us.reset();
      if (n.strike_crash) {
        crash(n, 5);
      } else {
        std::vector<uint64_t> all = all_ids();
        network_.heal();
        network_.isolate({id}, std::set<uint64_t>(all.begin(), all.end()));
        heal_us_ = now_us_ + fault_rng_.between(2, 40) * kTickUs;
        trace(Ev::kIsolate, id);
      }
      return;
    }
  }
  if (!settling_ && next_fault_us_ <= now_us_) {
    inject_fault();
    next_fault_us_ = now_us_ + fault_rng_.between(1, 2 * sc_.fault_gap_ticks) * kTickUs;
    return;
  }
  for (auto& [id, n] : nodes_) {
    if (n.raft && n.syncing && n.sync_done_us <= now_us_) {
      complete_sync(n);
      return;
    }
  }
  for (auto& [id, n] : nodes_) {
    if (n.raft && n.next_tick_us <= now_us_) {
      n.next_tick_us += n.tick_period_us;
      n.raft->tick();
      trace(Ev::kTick, id);
      n.leader_ticks = n.raft->role() == Role::kLeader ? n.leader_ticks + 1 : 0;
      if (!settling_ && !heal_us_ && n.leader_ticks % kElectionTicks == 2 && n.leader_ticks > 0 &&
          fault_rng_.uniform(100) < sc_.isolate_after_check_percent) {
        std::vector<uint64_t> all = all_ids();
        network_.isolate({id}, std::set<uint64_t>(all.begin(), all.end()));
        heal_us_ = now_us_ + fault_rng_.between(25, 60) * kTickUs;
        trace(Ev::kIsolate, id);
      }
      return;
    }
  }
  if (std::optional<Delivery> d = network_.pop_due(now_us_)) {
    deliver(std::move(d->message));
    return;
  }
  for (auto it = pending_.begin(); it != pending_.end(); ++it) {
    if (it->second.deadline_us <= now_us_) {
      // A write or cas whose outcome is unknown is `info`; a read that did not return had no
      // effect and fails.
      bool read = it->second.function == jepsen::OpFunction::kRead;
      finish_op(it, read ? jepsen::OpOutcome::kFail : jepsen::OpOutcome::kInfo, std::nullopt);
      return;
    }
  }
  if (!settling_) {
    for (size_t c = 0; c < clients_.size(); ++c) {
      if (!clients_[c].busy && clients_[c].next_op_us <= now_us_) {
        client_invoke(c);
        return;
      }
    }
  }
}

SimResult Simulation::run() {
  result_.seed = options_.seed;
  result_.nodes = sc_.nodes;
  result_.scenario = sc_.describe();
  chaos_end_us_ = static_cast<int64_t>(options_.steps) * kTickUs;
  end_us_ = chaos_end_us_ + kSettleTicks * kTickUs;
  next_fault_us_ = fault_rng_.between(kElectionTicks * 3, kElectionTicks * 6) * kTickUs;
  boot();
  while (!violated()) {
    std::optional<int64_t> t = next_event_us();
    if (!t || *t > end_us_) break;
    now_us_ = std::max(now_us_, *t);
    run_one_event();
    observe_roles();
    for (auto& [id, n] : nodes_) pump(n);
    observe_roles();
  }
  now_us_ = end_us_;
  if (!violated()) final_checks();
  result_.messages_delivered = network_.stats().delivered;
  result_.simulated_us = now_us_;
  result_.history_ops = recorder_.size();
  return result_;
}

// ---- the host loop ---------------------------------------------------------------------------

void Simulation::pump(Node& n) {
  for (int round = 0; round < kMaxReadyRounds && !violated(); ++round) {
    if (!n.raft || n.syncing || !n.raft->has_ready()) return;
    Ready rd = n.raft->ready();
    // 1. Persist: the whole Ready is one atomic write, not yet durable.
    DiskBatch batch{rd.snapshot, rd.entries, rd.hard_state, std::nullopt};
    Status s = n.disk->write(std::move(batch));
    if (!s.is_ok()) {
      violate("storage",
              "node " + std::to_string(n.id) + " cannot persist its Ready: " + s.to_string());
      return;
    }
    if (rd.hard_state) {
      bool advanced = rd.hard_state->commit > n.recorded_commit;
      record_commits(n, *rd.hard_state);
      if (advanced && !settling_ && !n.strike_us && n.raft->role() == Role::kLeader &&
          fault_rng_.uniform(1000) < sc_.strike_after_commit_permille) {
        n.strike_us = now_us_ + fault_rng_.between(0, kTickUs);
        n.strike_crash = fault_rng_.uniform(2) == 0;
      }
    }
    for (const Entry& e : rd.entries) {
      auto lead = leader_of_term_.find(e.term);
      if (e.type == EntryType::kNormal && e.data.empty() && lead != leader_of_term_.end() &&
          lead->second == n.id && leader_noop_.count(e.term) == 0) {
        leader_noop_[e.term] = e.index;
        check_leader_completeness(n, e.term, e.index);
      }
    }
    n.syncing = std::move(rd);
    // 2. Sync; everything else waits for it.
    n.sync_done_us = now_us_ + sc_.fsync_us;
    if (sc_.fsync_us > 0) return;
    complete_sync(n);
  }
}

void Simulation::complete_sync(Node& n) {
  Ready rd = std::move(*n.syncing);
  n.syncing.reset();
  Result<std::vector<DiskBatch>> synced = n.disk->sync();
  if (!synced.is_ok()) {
    violate("storage", "node " + std::to_string(n.id) + " sync: " + synced.status().to_string());
    return;
  }
  trace(Ev::kSync, n.id, synced->size());
  record_durable(n, *synced);
  // 3. Send, now that what the messages promise is durable.
  bool granted_vote = false;
  for (const Message& m : rd.messages) {
    send(m);
    granted_vote |= m.type == consensus::MessageType::kVoteResp && !m.reject;
  }
  if (granted_vote && !settling_ && !n.strike_us &&
      fault_rng_.uniform(100) < sc_.crash_after_vote_percent) {
    n.strike_us = now_us_ + fault_rng_.between(0, kTickUs);
    n.strike_crash = true;
  }
  // 4. Apply.
  if (rd.snapshot) install_snapshot(n, *rd.snapshot);
  for (const Entry& e : rd.committed_entries) {
    if (violated()) return;
    if (e.index <= n.sm.applied_index()) continue;
    apply_entry(n, e);
  }
  for (const consensus::ReadState& rs : rd.read_states) {
    if (rs.context.size() < 2 || rs.context[0] != 'r') continue;
    auto it = pending_.find(std::stoull(rs.context.substr(1)));
    if (it == pending_.end() || it->second.node != n.id || it->second.read_index) continue;
    it->second.read_index = rs.index;
  }
  n.raft->advance(rd);
  serve_reads(n);
  maybe_compact(n);
}

void Simulation::send(const Message& m) {
  if (m.type == consensus::MessageType::kSnap &&
      m.snapshot.data.size() > sc_.raft.max_snapshot_chunk_bytes) {
    violate("snapshot chunk bound", "node " + std::to_string(m.from) + " sent a chunk of " +
                                        std::to_string(m.snapshot.data.size()) + " bytes");
    return;
  }
  SendOutcome out = network_.send(m, now_us_);
  trace(Ev::kSend, m.from, m.to, static_cast<uint64_t>(m.type), static_cast<uint64_t>(out));
  Node& from = nodes_.at(m.from);
  if (out == SendOutcome::kCut) {
    // The transport tells Raft what a failed connection would (etcd's ReportUnreachable).
    from.raft->report_unreachable(m.to);
  }
}

void Simulation::deliver(Message m) {
  auto it = nodes_.find(m.to);
  if (it == nodes_.end() || !it->second.raft) {
    trace(Ev::kDrop, m.from, m.to, static_cast<uint64_t>(m.type));
    return;
  }
  trace(Ev::kDeliver, m.from, m.to, static_cast<uint64_t>(m.type), m.term);
  if (m.type == consensus::MessageType::kSnap) ++result_.snapshot_chunks_delivered;
  // Bad or stale input is refused by the library with a status; it is not a fault of the run.
  it->second.raft->step(m).ignore();
}

void Simulation::apply_entry(Node& n, const Entry& e) {
  if (e.index != n.sm.applied_index() + 1) {
    violate("apply order", "node " + std::to_string(n.id) + " got committed entry " +
                               std::to_string(e.index) + " after applying " +
                               std::to_string(n.sm.applied_index()));
    return;
  }
  Result<ApplyResult> r = n.sm.apply(e);
  if (!r.is_ok()) {
    violate("apply", "node " + std::to_string(n.id) + ": " + r.status().to_string());
    return;
  }
  record_applied(n, e.index, n.sm.digest(), "applied");
  if (!r->command) return;
  auto it = pending_.find(r->command->op_id);
  if (it == pending_.end() || it->second.node != n.id) return;
  if (r->took_effect) {
    if (r->command->kind == CommandKind::kWrite) {
      acked_.push_back(AckedWrite{r->command->op_id, e.index, entry_hash(e)});
    }
    finish_op(it, jepsen::OpOutcome::kOk, std::nullopt);
  } else {
    finish_op(it, jepsen::OpOutcome::kFail, std::nullopt);  // a cas that found another value
  }
}

void Simulation::install_snapshot(Node& n, const consensus::Snapshot& snap) {
  Result<KvStateMachine> sm = KvStateMachine::decode(snap.data);
  if (!sm.is_ok() || sm->applied_index() != snap.meta.index) {
    violate("snapshot", "node " + std::to_string(n.id) + " received an unusable snapshot at " +
                            std::to_string(snap.meta.index));
    return;
  }
  n.sm = std::move(*sm);
  ++result_.snapshots_installed;
  if (snap.data.size() > sc_.raft.max_snapshot_chunk_bytes) ++result_.chunked_snapshots_installed;
  record_applied(n, snap.meta.index, n.sm.digest(), "installed a snapshot at");
}

void Simulation::serve_reads(Node& n) {
  for (auto it = pending_.begin(); it != pending_.end();) {
    auto next = std::next(it);
    const PendingOp& op = it->second;
    if (op.node == n.id && op.read_index && *op.read_index <= n.sm.applied_index()) {
      finish_op(it, jepsen::OpOutcome::kOk, n.sm.get(op.key));
    }
    it = next;
  }
}

// Snapshots the state machine and compacts the log through the applied index once
// compact_threshold applied entries pile up. The log is always compacted right to the snapshot:
// Raft restarts from the snapshot's membership and re-applies the committed entries after
// first_index() - 1, so a snapshot newer than that would apply membership changes twice.
void Simulation::maybe_compact(Node& n) {
  const consensus::MemoryStorage& storage = n.disk->storage();
  uint64_t applied = n.sm.applied_index();
  if (applied < storage.first_index() + sc_.compact_threshold) return;
  Compaction c{applied, n.raft->conf_state(), n.sm.encode(), applied};
  Status s = n.disk->write(DiskBatch{std::nullopt, {}, std::nullopt, std::move(c)});
  if (!s.is_ok()) {
    violate("storage", "node " + std::to_string(n.id) + " compaction: " + s.to_string());
    return;
  }
  trace(Ev::kCompact, n.id, applied);
}

// ---- invariants ------------------------------------------------------------------------------

void Simulation::observe_roles() {
  for (auto& [id, n] : nodes_) {
    if (!n.raft || n.raft->role() != Role::kLeader) continue;
    uint64_t term = n.raft->term();
    auto [it, inserted] = leader_of_term_.emplace(term, id);
    if (inserted) {
      trace(Ev::kLeader, id, term);
      if (!settling_ && fault_rng_.uniform(100) < sc_.strike_new_leader_percent) {
        n.strike_us = now_us_ + fault_rng_.between(0, 8 * kTickUs);
        n.strike_crash = fault_rng_.uniform(2) == 0;
      }
    } else if (it->second != id) {
      violate("election safety", "nodes " + std::to_string(it->second) + " and " +
                                     std::to_string(id) + " were both leader of term " +
                                     std::to_string(term));
    }
  }
}

void Simulation::record_durable(Node& n, const std::vector<DiskBatch>& batches) {
  const consensus::MemoryStorage& d = n.disk->durable();
  for (const DiskBatch& b : batches) {
    for (const Entry& e : b.entries) {
      // Only entries still in the durable log (a later batch may have replaced them).
      if (e.index < d.first_index() || e.index > d.last_index()) continue;
      Result<uint64_t> term = d.term(e.index);
      if (!term.is_ok() || *term != e.term) continue;
      Result<uint64_t> prev = d.term(e.index - 1);
      if (!prev.is_ok()) continue;
      std::pair<uint64_t, uint64_t> rec{entry_hash(e), *prev};
      auto [it, inserted] = durable_entries_.emplace(std::pair{e.index, e.term}, rec);
      if (!inserted && it->second != rec) {
        violate("log matching", "node " + std::to_string(n.id) + " durably holds entry " +
                                    std::to_string(e.index) + " of term " + std::to_string(e.term) +
                                    (it->second.first != rec.first
                                         ? " with another payload"
                                         : " after an entry of term " + std::to_string(rec.second) +
                                               " (not " + std::to_string(it->second.second) + ")") +
                                    " than another node");
        return;
      }
    }
  }
}

void Simulation::record_commits(Node& n, const consensus::HardState& hs) {
  const consensus::MemoryStorage& s = n.disk->storage();
  uint64_t from = std::max(n.recorded_commit + 1, s.first_index());
  for (uint64_t i = from; i <= hs.commit && i <= s.last_index(); ++i) {
    Result<std::vector<Entry>> ents = s.entries(i, i + 1, std::numeric_limits<uint64_t>::max());
    MELD_ASSERT(ents.is_ok() && ents->size() == 1, "committed entry missing from storage");
    const Entry& e = (*ents)[0];
    auto [it, inserted] = committed_.emplace(i, CommitRecord{e.term, entry_hash(e), hs.term});
    if (inserted) continue;
    if (it->second.term != e.term || it->second.hash != entry_hash(e)) {
      violate("commit safety", "node " + std::to_string(n.id) + " committed index " +
                                   std::to_string(i) + " with an entry of term " +
                                   std::to_string(e.term) + ", already committed with term " +
                                   std::to_string(it->second.term));
      return;
    }
    it->second.commit_term = std::min(it->second.commit_term, hs.term);
  }
  n.recorded_commit = std::max(n.recorded_commit, hs.commit);
}

void Simulation::check_leader_completeness(Node& n, uint64_t term, uint64_t noop_index) {
  const consensus::MemoryStorage& s = n.disk->storage();
  for (const auto& [index, rec] : committed_) {
    if (rec.commit_term >= term || index < s.first_index()) continue;
    bool present = false;
    if (index < noop_index) {
      Result<std::vector<Entry>> ents = s.entries(index, index + 1, 1 << 20);
      present = ents.is_ok() && ents->size() == 1 && (*ents)[0].term == rec.term &&
                entry_hash((*ents)[0]) == rec.hash;
    }
    if (!present) {
      violate("leader completeness",
              "node " + std::to_string(n.id) + " became leader of term " + std::to_string(term) +
                  " (no-op at " + std::to_string(noop_index) + ") without entry " +
                  std::to_string(index) + " of term " + std::to_string(rec.term) +
                  ", committed by term " + std::to_string(rec.commit_term));
      return;
    }
  }
}

void Simulation::record_applied(Node& n, uint64_t index, uint64_t digest, const char* how) {
  auto [it, inserted] = applied_digest_.emplace(index, digest);
  if (!inserted && it->second != digest) {
    violate("state machine safety", "node " + std::to_string(n.id) + " " + how + " index " +
                                        std::to_string(index) +
                                        " with a different history than another node");
  }
}

void Simulation::final_checks() {
  Node* leader = leader_node();
  if (leader == nullptr) {
    violate("liveness", "no leader after " + std::to_string(kSettleTicks) + " calm ticks");
    return;
  }
  ConfState cs = leader->raft->conf_state();
  std::set<uint64_t> members(cs.voters.begin(), cs.voters.end());
  members.insert(cs.learners.begin(), cs.learners.end());
  uint64_t applied = leader->sm.applied_index();
  for (uint64_t id : members) {
    const Node& n = nodes_.at(id);
    if (!(n.sm == leader->sm)) {
      violate("convergence", "after settling, member " + std::to_string(id) + " applied through " +
                                 std::to_string(n.sm.applied_index()) + ", leader " +
                                 std::to_string(leader->id) + " through " +
                                 std::to_string(applied) + " (or their states differ)");
      return;
    }
  }
  for (const AckedWrite& w : acked_) {
    auto c = committed_.find(w.index);
    if (w.index > applied || (c != committed_.end() && c->second.hash != w.hash)) {
      violate("acknowledged write lost", "op " + std::to_string(w.op_id) +
                                             " acknowledged at index " + std::to_string(w.index) +
                                             " is not in the final state");
      return;
    }
  }
  jepsen::CheckOptions opts;
  opts.max_states = kMaxLinearizabilityStates;
  jepsen::RegisterModel model;
  jepsen::History history = recorder_.history();
  Result<jepsen::CheckResult> check = jepsen::check_linearizability(history, model, opts);
  if (!check.is_ok()) {
    violate("history", check.status().to_string());
    return;
  }
  if (check->outcome == jepsen::CheckOutcome::kNotLinearizable) {
    violate("linearizability", check->explanation);
  }
  result_.linearizability_unknown = check->outcome == jepsen::CheckOutcome::kUnknown;
}

// ---- faults ----------------------------------------------------------------------------------

void Simulation::inject_fault() {
  uint32_t weights[] = {sc_.crash_weight,   sc_.isolate_weight,  sc_.split_weight,
                        sc_.one_way_weight, sc_.transfer_weight, sc_.membership_weight};
  uint32_t total = 0;
  for (uint32_t w : weights) total += w;
  if (total == 0) return;
  uint64_t pick = fault_rng_.uniform(total);
  size_t kind = 0;
  while (pick >= weights[kind]) pick -= weights[kind++];
  std::vector<uint64_t> up = up_ids();
  Node* leader = leader_node();
  // Faults aim at the leader more often than not: that is where the interesting bugs are.
  auto target = [&]() -> uint64_t {
    if (leader != nullptr && fault_rng_.uniform(100) < 60) return leader->id;
    return up.empty() ? 1 : up[fault_rng_.uniform(up.size())];
  };
  // One partition at a time, each lasting until its own heal.
  auto schedule_heal = [&] { heal_us_ = now_us_ + fault_rng_.between(5, 80) * kTickUs; };
  if (kind >= 1 && kind <= 3 && heal_us_) return;
  std::vector<uint64_t> all = all_ids();
  std::set<uint64_t> everyone(all.begin(), all.end());
  switch (kind) {
    case 0: {  // crash; a majority stays up so that the group can make progress
      if (up.size() * 2 <= sc_.nodes + 1 || up.empty()) return;
      crash(nodes_.at(target()), 60);
      return;
    }
    case 1: {
      uint64_t id = target();
      network_.isolate({id}, everyone);
      trace(Ev::kIsolate, id);
      schedule_heal();
      return;
    }
    case 2: {
      std::set<uint64_t> side;
      for (uint64_t id : all) {
        if (fault_rng_.uniform(2) == 0) side.insert(id);
      }
      network_.isolate(side, everyone);
      trace(Ev::kSplit, side.size());
      schedule_heal();
      return;
    }
    case 3: {  // asymmetric: the node can still receive but not send, or the other way round
      uint64_t id = target();
      bool outbound = fault_rng_.uniform(2) == 0;
      for (uint64_t other : all) {
        if (other == id) continue;
        outbound ? network_.cut(id, other) : network_.cut(other, id);
      }
      trace(Ev::kOneWay, id, outbound);
      schedule_heal();
      return;
    }
    case 4: {
      if (leader == nullptr) return;
      ConfState cs = leader->raft->conf_state();
      uint64_t to = cs.voters[fault_rng_.uniform(cs.voters.size())];
      Status s = leader->raft->transfer_leadership(to);
      trace(Ev::kTransfer, leader->id, to, s.is_ok());
      return;
    }
    default:
      if (leader != nullptr) membership_change(*leader);
      return;
  }
}

void Simulation::crash(Node& n, int64_t max_down_ticks) {
  size_t keep = crash_rng_.uniform(n.disk->unsynced_batches() + 1);
  Result<std::vector<DiskBatch>> kept = n.disk->crash(keep);
  if (!kept.is_ok()) {
    violate("storage", "node " + std::to_string(n.id) + " crash: " + kept.status().to_string());
    return;
  }
  record_durable(n, *kept);
  n.raft.reset();
  n.syncing.reset();
  n.restart_us = now_us_ + fault_rng_.between(1, max_down_ticks) * kTickUs;
  n.strike_us.reset();
  trace(Ev::kCrash, n.id, keep);
  give_up_ops_at(n.id);
}

void Simulation::membership_change(Node& leader) {
  ConfState cs = leader.raft->conf_state();
  if (!cs.voters_outgoing.empty()) return;  // joint: the leader leaves it on its own
  std::vector<uint64_t> absent;
  for (const auto& [id, n] : nodes_) {
    if (std::count(cs.voters.begin(), cs.voters.end(), id) == 0 &&
        std::count(cs.learners.begin(), cs.learners.end(), id) == 0) {
      absent.push_back(id);
    }
  }
  size_t min_voters = sc_.nodes == 3 ? 2 : 3;
  auto pick = [&](const std::vector<uint64_t>& v) { return v[fault_rng_.uniform(v.size())]; };
  ConfChange cc;
  switch (fault_rng_.uniform(4)) {
    case 0:  // add a node that left, as a learner
      if (absent.empty()) return;
      cc.changes.push_back({ConfChangeType::kAddLearner, pick(absent)});
      break;
    case 1:  // promote a learner
      if (cs.learners.empty()) return;
      cc.changes.push_back({ConfChangeType::kAddVoter, pick(cs.learners)});
      break;
    case 2:  // demote or remove a voter (possibly the leader itself)
      if (cs.voters.size() <= min_voters) return;
      cc.changes.push_back(
          {fault_rng_.uniform(2) == 0 ? ConfChangeType::kRemoveNode : ConfChangeType::kAddLearner,
           pick(cs.voters)});
      break;
    default:  // swap a voter for a learner through a joint configuration
      if (cs.learners.empty()) return;
      cc.transition = fault_rng_.uniform(2) == 0 ? ConfChangeTransition::kAuto
                                                 : ConfChangeTransition::kJointImplicit;
      cc.changes.push_back({ConfChangeType::kAddVoter, pick(cs.learners)});
      cc.changes.push_back({ConfChangeType::kAddLearner, pick(cs.voters)});
      break;
  }
  Status s = leader.raft->propose_conf_change(cc);
  trace(Ev::kConfChange, leader.id, static_cast<uint64_t>(cc.changes[0].type),
        cc.changes[0].node_id, s.is_ok());
}

void Simulation::settle() {
  settling_ = true;
  trace(Ev::kSettle);
  network_.heal();
  heal_us_.reset();
  network_.set_loss(0, 0);
  for (auto& [id, n] : nodes_) {
    if (!n.raft) n.restart_us = now_us_;
    n.strike_us.reset();
  }
}

// ---- clients ---------------------------------------------------------------------------------

void Simulation::client_invoke(size_t c) {
  std::vector<uint64_t> up = up_ids();
  Client& client = clients_[c];
  client.next_op_us = now_us_ + client_rng_.between(1, 2 * sc_.op_gap_ticks) * kTickUs;
  if (up.empty()) return;
  // Clients mostly talk to a node that believes it leads (possibly a deposed one).
  std::vector<uint64_t> leaders;
  for (uint64_t id : up) {
    if (nodes_.at(id).raft->role() == Role::kLeader) leaders.push_back(id);
  }
  uint64_t node = !leaders.empty() && client_rng_.uniform(100) < 60
                      ? leaders[client_rng_.uniform(leaders.size())]
                      : up[client_rng_.uniform(up.size())];
  size_t key_index = client_rng_.uniform(kKeys);
  uint64_t kind = client_rng_.uniform(100);
  jepsen::Op op;
  op.process = client.process;
  op.key = "k" + std::to_string(key_index);
  op.function = kind < 40   ? jepsen::OpFunction::kRead
                : kind < 80 ? jepsen::OpFunction::kWrite
                            : jepsen::OpFunction::kCas;
  uint64_t op_id = next_op_id_++;
  op.value = static_cast<int64_t>(op_id);
  op.expected = last_written_[key_index];
  op.invoke_time = now_us_;
  Result<jepsen::HistoryRecorder::OpId> hid = recorder_.invoke(op);
  MELD_ASSERT(hid.is_ok(), hid.status().to_string());
  PendingOp p{*hid, op_id, c, node, op.function, op.key, now_us_ + kOpTimeoutTicks * kTickUs, {}};
  auto it = pending_.emplace(op_id, std::move(p)).first;
  client.busy = true;
  Raft& raft = *nodes_.at(node).raft;
  Status s;
  if (op.function == jepsen::OpFunction::kRead) {
    s = raft.read_index("r" + std::to_string(op_id));
  } else {
    Command cmd{op_id,
                op.function == jepsen::OpFunction::kWrite ? CommandKind::kWrite : CommandKind::kCas,
                op.key, op.value, op.expected};
    if (cmd.kind == CommandKind::kWrite) last_written_[key_index] = op.value;
    s = raft.propose(encode_command(cmd));
  }
  trace(Ev::kInvoke, op_id, node, static_cast<uint64_t>(op.function), s.is_ok());
  // Refused before anything was appended or sent: it did not happen.
  if (!s.is_ok()) finish_op(it, jepsen::OpOutcome::kFail, std::nullopt);
}

void Simulation::finish_op(std::map<uint64_t, PendingOp>::iterator it, jepsen::OpOutcome outcome,
                           std::optional<int64_t> read_value) {
  const PendingOp& op = it->second;
  Status s;
  switch (outcome) {
    case jepsen::OpOutcome::kOk:
      s = recorder_.complete_ok(op.history_id, read_value, now_us_);
      break;
    case jepsen::OpOutcome::kFail:
      s = recorder_.complete_fail(op.history_id, now_us_);
      break;
    case jepsen::OpOutcome::kInfo:
      s = recorder_.complete_info(op.history_id, now_us_);
      break;
  }
  MELD_ASSERT(s.is_ok(), s.to_string());
  trace(Ev::kComplete, op.op_id, static_cast<uint64_t>(outcome), read_value.value_or(-1));
  Client& client = clients_[op.client];
  client.busy = false;
  // An info op retires its process (Jepsen): the client continues as a new one.
  if (outcome == jepsen::OpOutcome::kInfo) client.process = next_process_++;
  pending_.erase(it);
}

void Simulation::give_up_ops_at(uint64_t node) {
  for (auto it = pending_.begin(); it != pending_.end();) {
    auto next = std::next(it);
    if (it->second.node == node) {
      bool read = it->second.function == jepsen::OpFunction::kRead;
      finish_op(it, read ? jepsen::OpOutcome::kFail : jepsen::OpOutcome::kInfo, std::nullopt);
    }
    it = next;
  }
}

}  // namespace

SimResult run_simulation(const SimOptions& options) {
  Simulation sim(options);
  return sim.run();
}

}  // namespace meld::sim
