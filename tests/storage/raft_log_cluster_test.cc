// A 3-node Raft group whose nodes keep their logs in RaftLogStores on their own Engines, with the
// host loop of consensus/raft.h: each Ready (entries, hard state, snapshot) is committed together
// with the state machine's writes and the applied index, durably, before its messages are sent.
// Nodes restart from what their engine holds (RaftConfig::applied from the stored applied
// index), the leader included; no entry is applied twice and all state machines agree.
#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/rng.h"
#include "consensus/raft.h"
#include "storage/engine.h"
#include "storage/raft_log_store.h"
#include "tests/storage/temp_dir.h"

namespace meld::storage {
namespace {

using consensus::Entry;
using consensus::EntryType;
using consensus::Message;
using consensus::Raft;
using consensus::Ready;
using consensus::Role;

constexpr uint64_t kNodes = 3;
constexpr uint64_t kGroup = 42;

std::string sm_key(uint64_t index) {
  return "sm/" + std::to_string(index);
}

class DurableCluster {
 public:
  DurableCluster() : nodes_(kNodes) {
    for (uint64_t id = 1; id <= kNodes; ++id) start(id, /*bootstrap=*/true);
  }
  ~DurableCluster() {
    for (Node& n : nodes_) {
      if (n.engine) n.engine->close();
    }
  }

  // Stops a node (its Raft, store and engine) and starts it again from its data directory.
  void restart(uint64_t id) {
    Node& n = node(id);
    n.raft.reset();
    n.store.reset();
    n.engine->close();
    n.engine.reset();
    std::erase_if(wire_, [&](const Message& m) { return m.to == id || m.from == id; });
    start(id, /*bootstrap=*/false);
  }

  // Ticks every node until some node leads (bounded); returns its id, 0 if none.
  uint64_t elect() {
    for (int i = 0; i < 500; ++i) {
      for (Node& n : nodes_) {
        if (n.raft->role() == Role::kLeader) return n.raft->id();
      }
      for (Node& n : nodes_) n.raft->tick();
      settle();
    }
    return 0;
  }

  Status propose(uint64_t leader, const std::string& data) {
    MELD_RETURN_IF_ERROR(node(leader).raft->propose(data));
    settle();
    return Status::ok();
  }

  // Runs Readies and delivers messages until quiet (bounded).
  void settle() {
    for (int step = 0; step < 10000; ++step) {
      for (uint64_t id = 1; id <= kNodes; ++id) process_ready(id);
      if (wire_.empty()) return;
      Message m = std::move(wire_.front());
      wire_.pop_front();
      node(m.to).raft->step(m).ignore();
    }
    ADD_FAILURE() << "the cluster did not settle";
  }

  // The state machine of node id: index -> data, as its engine holds it.
  std::map<uint64_t, std::string> state_machine(uint64_t id) {
    std::vector<std::pair<std::string, std::string>> kv;
    bool more = false;
    EXPECT_TRUE(node(id).engine->scan(Family::kKv, "sm/", "sm0", 100000, &kv, &more).is_ok());
    std::map<uint64_t, std::string> out;
    for (const auto& [k, v] : kv) out[std::stoull(k.substr(3))] = v;
    return out;
  }
  const RaftLogStore& store(uint64_t id) { return *node(id).store; }
  Raft& raft(uint64_t id) { return *node(id).raft; }
  int double_applies() const { return double_applies_; }

 private:
  struct Node {
    std::unique_ptr<Engine> engine;
    std::unique_ptr<RaftLogStore> store;
    std::unique_ptr<SeededRng> rng;
    std::unique_ptr<Raft> raft;
  };
  Node& node(uint64_t id) { return nodes_[id - 1]; }

  void start(uint64_t id, bool bootstrap) {
    Node& n = node(id);
    Options options;
    options.dir = tmp_.sub("node" + std::to_string(id));
    Result<std::unique_ptr<Engine>> engine = Engine::open(options, &executor_);
    ASSERT_TRUE(engine.is_ok()) << engine.status().to_string();
    n.engine = std::move(*engine);
    Result<std::unique_ptr<RaftLogStore>> store = RaftLogStore::open(n.engine.get(), kGroup);
    ASSERT_TRUE(store.is_ok()) << store.status().to_string();
    n.store = std::move(*store);
    if (bootstrap) {
      consensus::Snapshot boot;
      boot.meta.index = 1;
      boot.meta.term = 1;
      boot.meta.conf_state.voters = {1, 2, 3};
      WriteBatch b;
      ASSERT_TRUE(n.store->apply_snapshot(boot, &b).is_ok());
      n.store->set_hard_state({1, consensus::kNoNode, 1}, &b);
      ASSERT_TRUE(n.engine->commit_sync(std::move(b)).is_ok());
    }
    n.rng = std::make_unique<SeededRng>(id * 7 + ++starts_);
    consensus::RaftConfig config;
    config.id = id;
    config.applied = n.store->applied_state().index;
    Result<std::unique_ptr<Raft>> raft = Raft::create(config, n.store.get(), n.rng.get());
    ASSERT_TRUE(raft.is_ok()) << raft.status().to_string();
    n.raft = std::move(*raft);
  }

  void process_ready(uint64_t id) {
    Node& n = node(id);
    for (int round = 0; round < 64 && n.raft->has_ready(); ++round) {
      Ready rd = n.raft->ready();
      WriteBatch b;
      if (rd.snapshot) {
        ASSERT_TRUE(n.store->apply_snapshot(*rd.snapshot, &b).is_ok());
      }
      ASSERT_TRUE(n.store->append(rd.entries, &b).is_ok());
      if (rd.hard_state) n.store->set_hard_state(*rd.hard_state, &b);
      for (const Entry& e : rd.committed_entries) {
        if (e.type != EntryType::kNormal || e.data.empty()) continue;
        Result<std::optional<std::string>> had = n.engine->get(Family::kKv, sm_key(e.index));
        ASSERT_TRUE(had.is_ok());
        if (had->has_value()) ++double_applies_;
        b.put(Family::kKv, sm_key(e.index), e.data);
      }
      if (!rd.committed_entries.empty()) {
        ASSERT_TRUE(
            n.store->set_applied({rd.committed_entries.back().index, n.raft->conf_state()}, &b)
                .is_ok());
      }
      ASSERT_TRUE(n.engine->commit_sync(std::move(b)).is_ok());
      for (Message& m : rd.messages) wire_.push_back(std::move(m));
      n.raft->advance(rd);
    }
  }

  testing::TempDir tmp_;
  InlineExecutor executor_;
  std::vector<Node> nodes_;
  std::deque<Message> wire_;
  uint64_t starts_ = 0;
  int double_applies_ = 0;
};

TEST(RaftOnDurableLogs, NodesRestartFromTheirEnginesWithoutReapplyingOrLosingEntries) {
  DurableCluster c;
  std::vector<std::string> proposed;
  auto propose_some = [&](int count) {
    uint64_t leader = c.elect();
    ASSERT_NE(leader, 0u) << "no leader";
    for (int i = 0; i < count; ++i) {
      std::string data = "write-" + std::to_string(proposed.size());
      ASSERT_TRUE(c.propose(leader, data).is_ok());
      proposed.push_back(data);
    }
  };
  propose_some(20);
  c.restart(2);
  propose_some(20);
  uint64_t leader = c.elect();
  c.restart(leader);  // the leader itself: the others elect a new one
  propose_some(20);
  for (uint64_t id = 1; id <= kNodes; ++id) c.restart(id);
  propose_some(5);
  c.settle();

  EXPECT_EQ(c.double_applies(), 0) << "entries applied again after a restart";
  std::map<uint64_t, std::string> sm1 = c.state_machine(1);
  std::vector<std::string> applied;
  for (const auto& [index, data] : sm1) applied.push_back(data);
  EXPECT_EQ(applied, proposed) << "every proposal applied once, in order";
  for (uint64_t id = 2; id <= kNodes; ++id) {
    EXPECT_EQ(c.state_machine(id), sm1) << "node " << id;
  }
  for (uint64_t id = 1; id <= kNodes; ++id) {
    EXPECT_EQ(c.store(id).applied_state().index, c.raft(id).applied()) << "node " << id;
    EXPECT_LE(c.store(id).hard_state().commit, c.store(id).last_index());
  }
}

}  // namespace
}  // namespace meld::storage
