// A tiny in-test cluster: N Raft instances on MemoryStorage, a message queue between them that the
// test can cut, and a host loop that persists, sends and applies each Ready in the documented
// order. Everything is synchronous and deterministic for a seed.
#pragma once

#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <utility>
#include <vector>

#include "base/rng.h"
#include "consensus/raft.h"

namespace meld::consensus::testing {

struct Node {
  std::unique_ptr<MemoryStorage> storage;
  std::unique_ptr<SeededRng> rng;
  std::unique_ptr<Raft> raft;
  RaftConfig config;
  std::vector<Entry> applied;  // every committed entry applied, in order
  std::vector<ReadState> reads;
};

class Network {
 public:
  // Nodes 1..voters are the initial voters, bootstrapped from a snapshot at index 1 that names
  // them; `tweak` adjusts each node's configuration.
  explicit Network(size_t voters, const std::function<void(RaftConfig&)>& tweak = {},
                   uint64_t seed = 1) {
    Snapshot bootstrap;
    bootstrap.meta.index = 1;
    bootstrap.meta.term = 1;
    for (uint64_t id = 1; id <= voters; ++id) bootstrap.meta.conf_state.voters.push_back(id);
    for (uint64_t id = 1; id <= voters; ++id) add_node(id, tweak, seed, &bootstrap);
  }

  // Adds a node; without `bootstrap` it starts empty, as a node joining an existing group does.
  void add_node(uint64_t id, const std::function<void(RaftConfig&)>& tweak = {}, uint64_t seed = 1,
                const Snapshot* bootstrap = nullptr) {
    Node n;
    n.storage = std::make_unique<MemoryStorage>();
    if (bootstrap != nullptr) {
      EXPECT_TRUE(n.storage->apply_snapshot(*bootstrap).is_ok());
      n.storage->set_hard_state(HardState{bootstrap->meta.term, kNoNode, bootstrap->meta.index});
    }
    n.rng = std::make_unique<SeededRng>(seed * 1000 + id);
    n.config.id = id;
    n.config.election_tick = 10;
    n.config.heartbeat_tick = 1;
    if (tweak) tweak(n.config);
    Result<std::unique_ptr<Raft>> raft = Raft::create(n.config, n.storage.get(), n.rng.get());
    EXPECT_TRUE(raft.is_ok()) << raft.status().to_string();
    n.raft = std::move(*raft);
    nodes_[id] = std::move(n);
  }

  // Simulates a crash and restart: the Raft is rebuilt from what its storage holds.
  void restart(uint64_t id) {
    Node& n = nodes_.at(id);
    Result<std::unique_ptr<Raft>> raft = Raft::create(n.config, n.storage.get(), n.rng.get());
    ASSERT_TRUE(raft.is_ok()) << raft.status().to_string();
    n.raft = std::move(*raft);
    n.applied.clear();
  }

  Raft& raft(uint64_t id) { return *nodes_.at(id).raft; }
  Node& node(uint64_t id) { return nodes_.at(id); }
  MemoryStorage& storage(uint64_t id) { return *nodes_.at(id).storage; }

  // Drops messages from `from` to `to` (one direction).
  void cut(uint64_t from, uint64_t to) { cut_.insert({from, to}); }
  void isolate(uint64_t id) {
    for (const auto& [other, n] : nodes_) {
      if (other == id) continue;
      cut(id, other);
      cut(other, id);
    }
  }
  void heal() { cut_.clear(); }

  // Runs every node's Ready: persist (snapshot, entries, hard state), then queue messages, then
  // apply committed entries and collect read states, then advance.
  void process_ready(uint64_t id) {
    Node& n = nodes_.at(id);
    for (int round = 0; round < 64 && n.raft->has_ready(); ++round) {
      Ready rd = n.raft->ready();
      if (rd.snapshot) {
        ASSERT_TRUE(n.storage->apply_snapshot(*rd.snapshot).is_ok());
      }
      ASSERT_TRUE(n.storage->append(rd.entries).is_ok());
      if (rd.hard_state) n.storage->set_hard_state(*rd.hard_state);
      for (Message& m : rd.messages) {
        sent_.push_back(m);
        if (cut_.count({m.from, m.to}) == 0 && nodes_.count(m.to) > 0) {
          queue_.push_back(std::move(m));
        }
      }
      for (const Entry& e : rd.committed_entries) n.applied.push_back(e);
      for (const ReadState& r : rd.read_states) n.reads.push_back(r);
      n.raft->advance(rd);
    }
  }

  // Delivers messages until the network is quiet (bounded).
  void deliver() {
    for (int steps = 0; steps < 200000; ++steps) {
      for (auto& [id, n] : nodes_) process_ready(id);
      if (queue_.empty()) return;
      Message m = std::move(queue_.front());
      queue_.pop_front();
      if (filter_ && !filter_(m)) continue;
      nodes_.at(m.to).raft->step(m).ignore();
    }
    ADD_FAILURE() << "network did not quiesce";
  }

  // Delivers exactly the messages currently queued (one hop), without processing new Readies
  // before they are all stepped.
  void deliver_one_hop() {
    for (auto& [id, n] : nodes_) process_ready(id);
    std::deque<Message> batch;
    batch.swap(queue_);
    for (Message& m : batch) {
      if (filter_ && !filter_(m)) continue;
      nodes_.at(m.to).raft->step(m).ignore();
    }
  }

  void tick(uint64_t id, int times = 1) {
    for (int i = 0; i < times; ++i) {
      raft(id).tick();
      deliver();
    }
  }
  void tick_all(int times = 1) {
    for (int i = 0; i < times; ++i) {
      for (auto& [id, n] : nodes_) n.raft->tick();
      deliver();
    }
  }

  // Ticks every node until `id` is leader (bounded), dropping the vote requests of every other
  // node meanwhile so that only `id` can win; fails the test otherwise.
  void elect(uint64_t id) {
    std::function<bool(const Message&)> saved = filter_;
    filter_ = [&](const Message& m) {
      bool vote = m.type == MessageType::kVote || m.type == MessageType::kPreVote;
      if (vote && m.from != id) return false;
      return !saved || saved(m);
    };
    for (int i = 0; i < 200 && raft(id).role() != Role::kLeader; ++i) {
      for (auto& [other, n] : nodes_) {
        if (other != id || raft(id).role() != Role::kLeader) n.raft->tick();
      }
      deliver();
    }
    filter_ = saved;
    ASSERT_EQ(raft(id).role(), Role::kLeader) << "node " << id << " did not win";
    deliver();
  }

  // The lowest id of a node that believes it is leader; 0 if none.
  uint64_t leader() const {
    for (const auto& [id, n] : nodes_) {
      if (n.raft->role() == Role::kLeader) return id;
    }
    return kNoNode;
  }

  // Messages that any node sent (including dropped ones), for assertions.
  std::vector<Message>& sent() { return sent_; }
  std::vector<Message> sent_of(MessageType type) const {
    std::vector<Message> out;
    for (const Message& m : sent_) {
      if (m.type == type) out.push_back(m);
    }
    return out;
  }
  // A delivery filter: return false to drop a message.
  void set_filter(std::function<bool(const Message&)> filter) { filter_ = std::move(filter); }

  std::map<uint64_t, Node>& nodes() { return nodes_; }
  // Messages sent and not yet delivered, for tests that deliver them in their own order.
  std::deque<Message>& queue() { return queue_; }

 private:
  std::map<uint64_t, Node> nodes_;
  std::set<std::pair<uint64_t, uint64_t>> cut_;
  std::deque<Message> queue_;
  std::vector<Message> sent_;
  std::function<bool(const Message&)> filter_;
};

// Application payloads of the normal, non-empty entries in `entries`.
inline std::vector<std::string> payloads(const std::vector<Entry>& entries) {
  std::vector<std::string> out;
  for (const Entry& e : entries) {
    if (e.type == EntryType::kNormal && !e.data.empty()) out.push_back(e.data);
  }
  return out;
}

// A vote (or pre-vote) request from `from` whose log ends at (last_index, last_term).
inline Message vote_request(uint64_t from, uint64_t term, uint64_t last_index, uint64_t last_term,
                            MessageType type = MessageType::kVote) {
  Message m;
  m.type = type;
  m.from = from;
  m.term = term;
  m.index = last_index;
  m.log_term = last_term;
  return m;
}

}  // namespace meld::consensus::testing
