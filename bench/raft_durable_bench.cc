// Committed proposals/s of Raft on the durable log: 3 nodes in this process, each with its own
// Engine (own data directory, fsync on every commit group) holding the RaftLogStores of all
// groups. Node 1 leads every group. The host loop runs in rounds: every node collects the Ready of
// each of its groups and stages it into one batch per group: snapshot, entries and hard state,
// plus the committed entries' state machine writes (kv family) with the applied index. All
// batches go to their engine's commit thread at once, so the batches of all groups on a node
// share fsyncs. Once every batch of the round is durable, the messages are sent (in-process, no
// serialization), the leader's applied proposals counted and each Raft advanced. A proposal's
// latency runs from propose() to the durable apply at the leader.
#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "base/rng.h"
#include "bench/bench.h"
#include "bench/commit_latch.h"
#include "consensus/raft.h"
#include "storage/engine.h"
#include "storage/raft_log_store.h"

namespace meld::bench {
namespace {

using consensus::Entry;
using consensus::EntryType;
using consensus::Message;
using consensus::Raft;
using consensus::RaftConfig;
using consensus::Ready;
using consensus::Role;
using storage::Engine;
using storage::Family;
using storage::RaftLogStore;
using storage::WriteBatch;
using Clock = std::chrono::steady_clock;

constexpr size_t kNodes = 3;
constexpr size_t kPayloadBytes = 64;
// Entries kept per group before compaction, bounding the log.
constexpr uint64_t kCompactEveryEntries = 20000;

struct GroupReplica {
  std::unique_ptr<RaftLogStore> store;
  std::unique_ptr<SeededRng> rng;
  std::unique_ptr<Raft> raft;
};

struct Node {
  std::unique_ptr<Engine> engine;
  std::vector<GroupReplica> groups;
};

struct Outcome {
  uint64_t committed = 0;
  double seconds = 0;
  uint64_t fsyncs = 0;   // commit groups of the three engines (one WAL fsync each)
  uint64_t batches = 0;  // batches in them
  uint64_t rounds = 0;
  std::vector<double> latencies_us;
};

class Cluster {
 public:
  Cluster(std::string root, size_t groups, storage::CompletionExecutor* executor)
      : root_(std::move(root)), groups_(groups), executor_(executor), nodes_(kNodes) {}

  Status open() {
    consensus::Snapshot boot;
    boot.meta.index = 1;
    boot.meta.term = 1;
    for (uint64_t id = 1; id <= kNodes; ++id) boot.meta.conf_state.voters.push_back(id);
    for (size_t n = 0; n < kNodes; ++n) {
      storage::Options options;
      options.dir = root_ + "/node" + std::to_string(n + 1);
      options.sync = true;
      Result<std::unique_ptr<Engine>> engine = Engine::open(options, executor_);
      if (!engine.is_ok()) return engine.status();
      nodes_[n].engine = std::move(*engine);
      WriteBatch bootstrap;
      for (uint64_t g = 0; g < groups_; ++g) {
        GroupReplica r;
        Result<std::unique_ptr<RaftLogStore>> store = RaftLogStore::open(nodes_[n].engine.get(), g);
        if (!store.is_ok()) return store.status();
        r.store = std::move(*store);
        MELD_RETURN_IF_ERROR(r.store->apply_snapshot(boot, &bootstrap));
        r.store->set_hard_state({1, consensus::kNoNode, 1}, &bootstrap);
        r.rng = std::make_unique<SeededRng>(g * kNodes + n + 1);
        RaftConfig config;
        config.id = n + 1;
        config.max_inflight_msgs = 4096;
        Result<std::unique_ptr<Raft>> raft = Raft::create(config, r.store.get(), r.rng.get());
        if (!raft.is_ok()) return raft.status();
        r.raft = std::move(*raft);
        nodes_[n].groups.push_back(std::move(r));
      }
      MELD_RETURN_IF_ERROR(nodes_[n].engine->commit_sync(std::move(bootstrap)));
    }
    return Status::ok();
  }

  // Node 1 campaigns in every group until it leads them all.
  Status elect() {
    for (int i = 0; i < 1000; ++i) {
      bool all = true;
      for (GroupReplica& r : nodes_[0].groups) {
        if (r.raft->role() != Role::kLeader) {
          r.raft->tick();
          all = false;
        }
      }
      if (all) break;
      MELD_RETURN_IF_ERROR(round(nullptr));
    }
    for (GroupReplica& r : nodes_[0].groups) {
      if (r.raft->role() != Role::kLeader) return Status::unavailable("node 1 did not win");
    }
    for (int i = 0; i < 10; ++i) MELD_RETURN_IF_ERROR(round(nullptr));
    return Status::ok();
  }

  Status run(size_t proposers_per_group, double seconds, Outcome* out) {
    in_flight_.assign(groups_, {});
    const std::string payload(kPayloadBytes, 'p');
    auto [groups0, batches0] = engine_totals();
    Clock::time_point start = Clock::now();
    Clock::time_point deadline =
        start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    while (Clock::now() < deadline) {
      for (uint64_t g = 0; g < groups_; ++g) {
        Raft& lead = *nodes_[0].groups[g].raft;
        while (in_flight_[g].size() < proposers_per_group && lead.propose(payload).is_ok()) {
          in_flight_[g].push_back(Clock::now());
        }
      }
      MELD_RETURN_IF_ERROR(round(out));
      ++out->rounds;
    }
    out->seconds = std::chrono::duration<double>(Clock::now() - start).count();
    auto [groups1, batches1] = engine_totals();
    out->fsyncs = groups1 - groups0;
    out->batches = batches1 - batches0;
    for (GroupReplica& r : nodes_[0].groups) {
      if (r.raft->role() != Role::kLeader) return Status::aborted("node 1 lost leadership");
    }
    return Status::ok();
  }

  void close() {
    for (Node& n : nodes_) {
      if (n.engine) n.engine->close();
    }
  }

 private:
  std::pair<uint64_t, uint64_t> engine_totals() const {
    uint64_t groups = 0, batches = 0;
    for (const Node& n : nodes_) {
      storage::Stats s = n.engine->stats();
      groups += s.commit_groups;
      batches += s.committed_batches;
    }
    return {groups, batches};
  }

  // One round: persist every Ready (all engines at once), then send, count, advance, deliver.
  Status round(Outcome* out) {
    struct Pending {
      size_t node;
      uint64_t group;
      Ready rd;
    };
    std::vector<Pending> readies;
    CommitLatch latch;
    // Every queued commit calls back into latch: wait for them even when a later step fails.
    auto persist = [&]() -> Status {
      for (size_t n = 0; n < kNodes; ++n) {
        for (uint64_t g = 0; g < groups_; ++g) {
          GroupReplica& r = nodes_[n].groups[g];
          if (!r.raft->has_ready()) continue;
          Ready rd = r.raft->ready();
          WriteBatch log;
          if (rd.snapshot) MELD_RETURN_IF_ERROR(r.store->apply_snapshot(*rd.snapshot, &log));
          MELD_RETURN_IF_ERROR(r.store->append(rd.entries, &log));
          if (rd.hard_state) r.store->set_hard_state(*rd.hard_state, &log);
          uint64_t applied = r.store->applied_state().index;
          if (applied >= r.store->first_index() + kCompactEveryEntries) {
            MELD_RETURN_IF_ERROR(r.store->compact(applied - kCompactEveryEntries / 2, &log));
          }
          if (!rd.committed_entries.empty()) {
            // The state machine's writes and the applied index join the Ready's own batch: one
            // atomic write, so they are durable no earlier than the entries they apply.
            for (const Entry& e : rd.committed_entries) {
              if (e.type == EntryType::kNormal && !e.data.empty()) {
                log.put(Family::kKv, "g" + std::to_string(g) + "/" + std::to_string(e.index),
                        e.data);
              }
            }
            MELD_RETURN_IF_ERROR(r.store->set_applied(
                {rd.committed_entries.back().index, r.raft->conf_state()}, &log));
          }
          MELD_RETURN_IF_ERROR(commit(n, std::move(log), &latch));
          readies.push_back({n, g, std::move(rd)});
        }
      }
      return Status::ok();
    };
    Status persisted = persist();
    Status committed = latch.wait();
    MELD_RETURN_IF_ERROR(persisted);
    MELD_RETURN_IF_ERROR(committed);
    Clock::time_point now = Clock::now();
    for (Pending& p : readies) {
      for (Message& m : p.rd.messages) wire_.push_back({p.group, std::move(m)});
      if (out != nullptr && p.node == 0) {
        for (const Entry& e : p.rd.committed_entries) {
          if (e.type != EntryType::kNormal || e.data.empty() || in_flight_[p.group].empty()) {
            continue;
          }
          out->latencies_us.push_back(
              std::chrono::duration<double, std::micro>(now - in_flight_[p.group].front()).count());
          in_flight_[p.group].pop_front();
          ++out->committed;
        }
      }
      nodes_[p.node].groups[p.group].raft->advance(p.rd);
    }
    while (!wire_.empty()) {
      auto [g, m] = std::move(wire_.front());
      wire_.pop_front();
      nodes_[m.to - 1].groups[g].raft->step(m).ignore();
    }
    return Status::ok();
  }

  Status commit(size_t node, WriteBatch batch, CommitLatch* latch) {
    latch->add();
    Status s =
        nodes_[node].engine->commit(std::move(batch), [latch](Status st) { latch->done(st); });
    if (!s.is_ok()) latch->done(Status::ok());
    return s;
  }

  std::string root_;
  size_t groups_;
  storage::CompletionExecutor* executor_;
  std::vector<Node> nodes_;
  std::deque<std::pair<uint64_t, Message>> wire_;
  std::vector<std::deque<Clock::time_point>> in_flight_;  // per group, proposal times in order
};

struct Case {
  size_t groups;
  size_t proposers_per_group;
};

}  // namespace

MELD_BENCH(raft_durable, "raft-durable",
           "committed proposals/s and commit latency, 3-node in-process Raft on RaftLogStore "
           "with fsync, 1 and 16 groups, 1 and 256 outstanding proposals [--seconds N]") {
  double seconds = 3;
  if (!parse_seconds_only("raft-durable", args, &seconds)) return 2;
  report("benchmark", "raft-durable");
  report("nodes", std::to_string(kNodes));
  report("storage", "RaftLogStore on one Engine per node, sync (WAL fsync per commit group)");
  report("transport", "in-process queue, no serialization");
  report("payload_bytes", std::to_string(kPayloadBytes));
  report("seconds_per_run", seconds);
  const std::vector<Case> cases = {{1, 1}, {1, 256}, {16, 1}, {16, 16}};
  bool ok = true;
  for (const Case& c : cases) {
    std::string root =
        (std::filesystem::temp_directory_path() / "meld-raft-durable-XXXXXX").string();
    if (mkdtemp(root.data()) == nullptr) {
      std::perror("raft-durable: mkdtemp");
      return 1;
    }
    storage::InlineExecutor executor;
    Outcome o;
    Status s;
    {
      Cluster cluster(root, c.groups, &executor);
      s = cluster.open();
      if (s.is_ok()) s = cluster.elect();
      if (s.is_ok()) s = cluster.run(c.proposers_per_group, seconds, &o);
      cluster.close();
    }
    std::error_code ec;
    std::filesystem::remove_all(root, ec);
    std::printf("\n");
    report("groups", std::to_string(c.groups));
    report("proposers", std::to_string(c.groups * c.proposers_per_group));
    report("committed", std::to_string(o.committed));
    report("committed_per_s", o.seconds > 0 ? static_cast<double>(o.committed) / o.seconds : 0);
    report("p50_commit_us", percentile(o.latencies_us, 0.50));
    report("p99_commit_us", percentile(o.latencies_us, 0.99));
    report("rounds_per_s", o.seconds > 0 ? static_cast<double>(o.rounds) / o.seconds : 0);
    report(
        "fsyncs_per_commit",
        o.committed == 0 ? 0.0 : static_cast<double>(o.fsyncs) / static_cast<double>(o.committed));
    report("batches_per_fsync",
           o.fsyncs == 0 ? 0.0 : static_cast<double>(o.batches) / static_cast<double>(o.fsyncs));
    if (!s.is_ok()) {
      report("error", s.to_string());
      ok = false;
    }
  }
  return ok ? 0 : 1;
}

}  // namespace meld::bench
