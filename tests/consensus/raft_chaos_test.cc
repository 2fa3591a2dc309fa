// Random schedules (delivery order, loss, duplication, partitions, crash-restarts) against the
// safety properties of Figure 3: election safety and state machine safety, plus convergence once
// the network heals. A small, fast stand-in until tests/sim exists.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <map>

#include "consensus/raft.h"
#include "tests/consensus/raft_network.h"

namespace meld::consensus {
namespace {

using testing::Network;

bool is_prefix(const std::vector<Entry>& a, const std::vector<Entry>& b) {
  if (a.size() > b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!(a[i] == b[i])) return false;
  }
  return true;
}

void check_safety(Network& net, std::map<uint64_t, uint64_t>& leader_of_term) {
  for (auto& [id, n] : net.nodes()) {
    if (n.raft->role() != Role::kLeader) continue;
    auto [it, fresh] = leader_of_term.emplace(n.raft->term(), id);
    RC_ASSERT(it->second == id);  // election safety: one leader per term
  }
  for (auto& [a, na] : net.nodes()) {
    for (auto& [b, nb] : net.nodes()) {
      // State machine safety: every node applies the same sequence (one is a prefix).
      RC_ASSERT(is_prefix(na.applied, nb.applied) || is_prefix(nb.applied, na.applied));
    }
  }
}

void run_schedule(uint64_t seed, size_t voters, const std::function<void(RaftConfig&)>& tweak) {
  Network net(voters, tweak, seed);
  SeededRng rng(seed);
  std::map<uint64_t, uint64_t> leader_of_term;
  int proposals = 0;
  for (int step = 0; step < 600; ++step) {
    uint64_t node = 1 + rng.uniform(voters);
    uint64_t dice = rng.uniform(100);
    auto& queue = net.queue();
    if (dice < 40) {
      net.raft(node).tick();
    } else if (dice < 80 && !queue.empty()) {
      size_t i = rng.uniform(queue.size());
      Message m = queue[i];
      uint64_t fate = rng.uniform(100);
      if (fate >= 10) queue.erase(queue.begin() + static_cast<std::ptrdiff_t>(i));  // else dup
      if (fate >= 5) net.raft(m.to).step(m).ignore();                               // < 5: lost
    } else if (dice < 90) {
      uint64_t leader = net.leader();
      if (leader != kNoNode) {
        net.raft(leader).propose("v" + std::to_string(proposals++)).ignore();
      }
    } else if (dice < 94) {
      net.raft(node).read_index("r" + std::to_string(step)).ignore();
    } else if (dice < 97) {
      net.heal();
      if (rng.uniform(2) == 0) net.isolate(node);
    } else {
      net.restart(node);
    }
    for (auto& [id, n] : net.nodes()) net.process_ready(id);
    check_safety(net, leader_of_term);
  }
  // Liveness once the network is reliable again: a leader emerges and everyone converges.
  net.heal();
  net.tick_all(60);
  uint64_t leader = net.leader();
  RC_ASSERT(leader != kNoNode);
  RC_ASSERT(net.raft(leader).propose("final").is_ok());
  net.tick_all(5);
  check_safety(net, leader_of_term);
  for (auto& [id, n] : net.nodes()) {
    RC_ASSERT(n.applied.size() == net.node(leader).applied.size());
  }
}

RC_GTEST_PROP(RaftChaos, ThreeNodesStaySafeAndConverge, (uint64_t seed)) {
  run_schedule(seed, 3, {});
}

RC_GTEST_PROP(RaftChaos, FiveNodesWithoutBatchingStaySafeAndConverge, (uint64_t seed)) {
  run_schedule(seed, 5, [](RaftConfig& c) {
    c.batch_append = false;
    c.max_inflight_msgs = 4;
  });
}

RC_GTEST_PROP(RaftChaos, LeaseReadsConfigurationStaysSafe, (uint64_t seed)) {
  run_schedule(seed, 3, [](RaftConfig& c) { c.read_only_option = ReadOnlyOption::kLeaseBased; });
}

}  // namespace
}  // namespace meld::consensus
