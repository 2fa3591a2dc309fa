// Committed proposals/s of the pure Raft library: a 3-node group in this process on
// MemoryStorage, messages handed over in memory (no serialization, no network, no fsync). The
// host loop runs one Ready per node per round, as the real node loop would. A proposal counts
// when the leader applies it; `proposers` proposals are kept outstanding at all times.
#include <chrono>
#include <cstdio>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "base/rng.h"
#include "bench/bench.h"
#include "consensus/raft.h"

namespace meld::bench {
namespace {

using consensus::Entry;
using consensus::EntryType;
using consensus::MemoryStorage;
using consensus::Message;
using consensus::Raft;
using consensus::RaftConfig;
using consensus::Ready;
using consensus::Role;
using Clock = std::chrono::steady_clock;

constexpr size_t kNodes = 3;
constexpr size_t kPayloadBytes = 64;
// Entries kept in each MemoryStorage before it is compacted, bounding memory.
constexpr uint64_t kCompactEveryEntries = 50000;

struct Node {
  std::unique_ptr<MemoryStorage> storage;
  std::unique_ptr<SeededRng> rng;
  std::unique_ptr<Raft> raft;
};

struct Outcome {
  uint64_t committed = 0;
  double seconds = 0;
  uint64_t messages = 0;
  uint64_t rounds = 0;
  std::vector<double> latencies_us;
};

bool run_once(size_t proposers, bool batching, double seconds, Outcome* out) {
  std::vector<Node> nodes(kNodes);
  consensus::Snapshot bootstrap;
  bootstrap.meta.index = 1;
  bootstrap.meta.term = 1;
  for (uint64_t id = 1; id <= kNodes; ++id) bootstrap.meta.conf_state.voters.push_back(id);
  for (uint64_t id = 1; id <= kNodes; ++id) {
    Node& n = nodes[id - 1];
    n.storage = std::make_unique<MemoryStorage>();
    if (!n.storage->apply_snapshot(bootstrap).is_ok()) return false;
    n.storage->set_hard_state({1, consensus::kNoNode, 1});
    n.rng = std::make_unique<SeededRng>(id);
    RaftConfig config;
    config.id = id;
    config.batch_append = batching;
    config.max_inflight_msgs = 4096;
    Result<std::unique_ptr<Raft>> raft = Raft::create(config, n.storage.get(), n.rng.get());
    if (!raft.is_ok()) {
      std::fprintf(stderr, "raft: %s\n", raft.status().to_string().c_str());
      return false;
    }
    n.raft = std::move(*raft);
  }
  std::deque<Message> wire;
  std::deque<Clock::time_point> in_flight;  // proposal times, in log order
  uint64_t leader = 0;
  const std::string payload(kPayloadBytes, 'p');

  // One round: each node handles its Ready, then every message sent is stepped.
  auto round = [&]() -> bool {
    for (Node& n : nodes) {
      if (!n.raft->has_ready()) continue;
      Ready rd = n.raft->ready();
      if (rd.snapshot && !n.storage->apply_snapshot(*rd.snapshot).is_ok()) return false;
      if (!n.storage->append(rd.entries).is_ok()) return false;
      if (rd.hard_state) n.storage->set_hard_state(*rd.hard_state);
      out->messages += rd.messages.size();
      for (Message& m : rd.messages) wire.push_back(std::move(m));
      bool is_leader = n.raft->id() == leader;
      for (const Entry& e : rd.committed_entries) {
        if (!is_leader || e.type != EntryType::kNormal || e.data.empty()) continue;
        if (in_flight.empty()) continue;  // not a timed proposal
        out->latencies_us.push_back(
            std::chrono::duration<double, std::micro>(Clock::now() - in_flight.front()).count());
        ++out->committed;
        in_flight.pop_front();
      }
      n.raft->advance(rd);
      uint64_t applied = n.raft->applied();
      if (applied >= n.storage->first_index() + kCompactEveryEntries) {
        if (!n.storage->compact(applied - kCompactEveryEntries / 2).is_ok()) return false;
      }
    }
    while (!wire.empty()) {
      Message m = std::move(wire.front());
      wire.pop_front();
      nodes[m.to - 1].raft->step(m).ignore();
    }
    ++out->rounds;
    return true;
  };

  // Elect node 1: tick it alone until it wins.
  for (int i = 0; i < 1000 && nodes[0].raft->role() != Role::kLeader; ++i) {
    nodes[0].raft->tick();
    if (!round()) return false;
  }
  if (nodes[0].raft->role() != Role::kLeader) return false;
  leader = 1;
  for (int i = 0; i < 10; ++i) {
    if (!round()) return false;
  }

  out->messages = 0;
  out->rounds = 0;
  Clock::time_point start = Clock::now();
  Clock::time_point deadline =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  Raft& lead = *nodes[0].raft;
  while (Clock::now() < deadline) {
    while (in_flight.size() < proposers) {
      if (!lead.propose(payload).is_ok()) break;
      in_flight.push_back(Clock::now());
    }
    if (!round()) return false;
  }
  out->seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return lead.role() == Role::kLeader;
}

}  // namespace

MELD_BENCH(raft_commit, "raft",
           "committed proposals/s, 3-node in-process group on MemoryStorage, 1 and 256 "
           "outstanding proposals, with and without batching [--seconds N]") {
  double seconds = 3;
  if (!parse_seconds_only("raft", args, &seconds)) return 2;
  report("benchmark", "raft");
  report("nodes", std::to_string(kNodes));
  report("storage", "MemoryStorage (no fsync)");
  report("transport", "in-process queue, no serialization");
  report("payload_bytes", std::to_string(kPayloadBytes));
  report("seconds_per_run", seconds);
  bool ok = true;
  for (bool batching : {true, false}) {
    for (size_t proposers : {size_t{1}, size_t{256}}) {
      Outcome o;
      bool run_ok = run_once(proposers, batching, seconds, &o);
      ok &= run_ok;
      std::printf("\n");
      report("proposers", std::to_string(proposers));
      report("batch_append", batching ? "true" : "false");
      report("committed", std::to_string(o.committed));
      report("committed_per_s", o.seconds > 0 ? static_cast<double>(o.committed) / o.seconds : 0.0);
      report("messages_per_commit",
             o.committed == 0 ? 0.0
                              : static_cast<double>(o.messages) / static_cast<double>(o.committed));
      report("rounds_per_s", o.seconds > 0 ? static_cast<double>(o.rounds) / o.seconds : 0.0);
      report("p50_commit_us", percentile(o.latencies_us, 0.50));
      report("p99_commit_us", percentile(o.latencies_us, 0.99));
      if (!run_ok) report("error", "run failed (leadership lost or storage error)");
    }
  }
  return ok ? 0 : 1;
}

}  // namespace meld::bench
