// Behaviour beyond the paper's core rules: PreVote, CheckQuorum, flow control, the uncommitted
// cap, ReadIndex and lease reads, membership changes, leadership transfer, bad input, mutations.
#include <gtest/gtest.h>

#include "consensus/raft.h"
#include "tests/consensus/raft_network.h"

namespace meld::consensus {
namespace {

using testing::Network;
using testing::payloads;
using testing::vote_request;

// ---- PreVote and CheckQuorum (thesis §9.6, §6.2, §4.2.3) -----------------------------------

TEST(PreVote, PartitionedNodeDoesNotDisruptTheLeader) {
  Network net(3);
  net.elect(1);
  uint64_t term = net.raft(1).term();
  net.isolate(3);
  net.tick_all(100);
  EXPECT_EQ(net.raft(3).term(), term) << "pre-votes that cannot win must not raise the term";
  net.heal();
  net.tick_all(5);
  EXPECT_EQ(net.raft(1).role(), Role::kLeader);
  EXPECT_EQ(net.raft(1).term(), term);
  EXPECT_EQ(net.raft(3).leader(), 1u);
}

TEST(PreVote, WithoutPreVoteAPartitionedNodeRaisesItsTerm) {
  Network net(3, [](RaftConfig& c) { c.pre_vote = false; });
  net.elect(1);
  uint64_t term = net.raft(1).term();
  net.isolate(3);
  net.tick_all(100);
  EXPECT_GT(net.raft(3).term(), term);
}

TEST(CheckQuorum, IsolatedLeaderStepsDownWithinTwoElectionTimeouts) {
  Network net(3);
  net.elect(1);
  net.isolate(1);
  net.tick(1, 20);
  EXPECT_EQ(net.raft(1).role(), Role::kFollower);
}

TEST(CheckQuorum, LeaderWithQuorumStaysLeader) {
  Network net(3);
  net.elect(1);
  net.isolate(3);
  net.tick_all(50);
  EXPECT_EQ(net.raft(1).role(), Role::kLeader);
}

TEST(CheckQuorum, FollowerInLeaseIgnoresVoteRequests) {
  Network net(3);
  net.elect(1);
  uint64_t term = net.raft(1).term();
  Message vote = vote_request(3, term + 1, /*last_index=*/100, /*last_term=*/term);
  vote.to = 2;
  ASSERT_TRUE(net.raft(2).step(vote).is_ok());
  EXPECT_EQ(net.raft(2).term(), term) << "a vote request inside the lease must be ignored";
  EXPECT_EQ(net.raft(2).vote(), 1u);
}

// ---- replication flow control --------------------------------------------------------------

TEST(FlowControl, FollowerMovesFromProbeToReplicate) {
  Network net(3);
  net.elect(1);
  ASSERT_NE(net.raft(1).progress(2), nullptr);
  EXPECT_EQ(net.raft(1).progress(2)->state, ProgressState::kReplicate);
  EXPECT_EQ(net.raft(1).progress(2)->match, net.raft(1).last_index());
}

TEST(FlowControl, InflightWindowBoundsUnacknowledgedMessagesByCount) {
  Network net(3, [](RaftConfig& c) {
    c.batch_append = false;
    c.max_inflight_msgs = 3;
  });
  net.elect(1);
  net.cut(2, 1);  // node 2 stops acknowledging
  net.sent().clear();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(net.raft(1).propose("p").is_ok());
  net.deliver();
  size_t to_2 = 0;
  for (const Message& m : net.sent_of(MessageType::kApp)) to_2 += m.to == 2;
  EXPECT_EQ(to_2, 3u);
  EXPECT_TRUE(net.raft(1).progress(2)->inflights.full());
  // Acknowledgements open the window again and the rest flows.
  net.heal();
  net.tick_all(3);
  EXPECT_EQ(net.raft(1).progress(2)->match, net.raft(1).last_index());
}

TEST(FlowControl, InflightWindowBoundsUnacknowledgedBytes) {
  Network net(3, [](RaftConfig& c) {
    c.batch_append = false;
    c.max_inflight_bytes = 2000;
  });
  net.elect(1);
  net.cut(2, 1);
  net.sent().clear();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(net.raft(1).propose(std::string(900, 'x')).is_ok());
  net.deliver();
  size_t to_2 = 0;
  for (const Message& m : net.sent_of(MessageType::kApp)) to_2 += m.to == 2;
  EXPECT_EQ(to_2, 3u);  // 924 + 924 < 2000 allows a third; then the window is full
  EXPECT_GE(net.raft(1).progress(2)->inflights.bytes(), 2000u);
}

TEST(FlowControl, BatchingCoalescesProposalsIntoOneMessagePerFollower) {
  Network net(3);  // batch_append is the default
  net.elect(1);
  net.sent().clear();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(net.raft(1).propose("p" + std::to_string(i)).is_ok());
  net.deliver();
  std::vector<Message> apps;
  for (const Message& m : net.sent_of(MessageType::kApp)) {
    if (!m.entries.empty()) apps.push_back(m);
  }
  ASSERT_EQ(apps.size(), 2u);
  EXPECT_EQ(apps[0].entries.size(), 10u);
}

TEST(FlowControl, WithoutBatchingEachProposalIsItsOwnMessage) {
  Network net(3, [](RaftConfig& c) { c.batch_append = false; });
  net.elect(1);
  net.sent().clear();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(net.raft(1).propose("p" + std::to_string(i)).is_ok());
  net.deliver();
  size_t with_entries = 0;
  for (const Message& m : net.sent_of(MessageType::kApp)) with_entries += !m.entries.empty();
  EXPECT_EQ(with_entries, 20u);
}

TEST(FlowControl, MaxSizePerMsgSplitsLargeBatches) {
  Network net(3, [](RaftConfig& c) { c.max_size_per_msg = 1000; });
  net.elect(1);
  net.sent().clear();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(net.raft(1).propose(std::string(300, 'x')).is_ok());
  net.deliver();
  for (const Message& m : net.sent_of(MessageType::kApp)) {
    uint64_t bytes = 0;
    for (const Entry& e : m.entries) bytes += entry_bytes(e);
    EXPECT_TRUE(m.entries.size() <= 1 || bytes <= 1000) << bytes;
  }
  EXPECT_EQ(net.raft(1).committed(), net.raft(1).last_index());
}

TEST(FlowControl, UncommittedCapRefusesProposalsUntilEntriesCommit) {
  Network net(3, [](RaftConfig& c) { c.max_uncommitted_entries_bytes = 1000; });
  net.elect(1);
  net.isolate(1);
  Status s;
  int accepted = 0;
  for (int i = 0; i < 20 && s.is_ok(); ++i) {
    s = net.raft(1).propose(std::string(300, 'x'));
    accepted += s.is_ok();
  }
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s.to_string();
  EXPECT_EQ(accepted, 3);
  EXPECT_LE(net.raft(1).uncommitted_bytes(), 1000u);
  net.heal();
  net.tick_all(3);
  EXPECT_EQ(net.raft(1).uncommitted_bytes(), 0u);
  EXPECT_TRUE(net.raft(1).propose(std::string(300, 'x')).is_ok());
}

TEST(Propose, FollowerRefusesWithLeaderHint) {
  Network net(3);
  net.elect(1);
  Status s = net.raft(2).propose("x");
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("leader hint: 1"), std::string::npos) << s.to_string();
}

// ---- reads (thesis §6.4) -------------------------------------------------------------------

TEST(ReadIndex, LeaderServesAfterHeartbeatQuorum) {
  Network net(3);
  net.elect(1);
  ASSERT_TRUE(net.raft(1).propose("a").is_ok());
  net.deliver();
  ASSERT_TRUE(net.raft(1).read_index("r1").is_ok());
  net.process_ready(1);
  EXPECT_TRUE(net.node(1).reads.empty()) << "served before the heartbeat round";
  net.deliver();
  ASSERT_EQ(net.node(1).reads.size(), 1u);
  EXPECT_EQ(net.node(1).reads[0], (ReadState{net.raft(1).committed(), "r1"}));
}

TEST(ReadIndex, NotServedWithoutAQuorum) {
  Network net(3);
  net.elect(1);
  net.isolate(1);
  ASSERT_TRUE(net.raft(1).read_index("r1").is_ok());
  net.tick(1, 5);
  EXPECT_TRUE(net.node(1).reads.empty());
}

TEST(ReadIndex, FollowerForwardsToLeader) {
  Network net(3);
  net.elect(1);
  ASSERT_TRUE(net.raft(1).propose("a").is_ok());
  net.deliver();
  ASSERT_TRUE(net.raft(2).read_index("f1").is_ok());
  net.deliver();
  ASSERT_EQ(net.node(2).reads.size(), 1u);
  EXPECT_EQ(net.node(2).reads[0].context, "f1");
  EXPECT_EQ(net.node(2).reads[0].index, net.raft(1).committed());
}

TEST(ReadIndex, DuplicateContextIsRefused) {
  Network net(3);
  net.elect(1);
  net.isolate(1);
  ASSERT_TRUE(net.raft(1).read_index("r").is_ok());
  EXPECT_EQ(net.raft(1).read_index("r").code(), StatusCode::kAlreadyExists);
}

TEST(ReadIndex, PendingReadsAreBounded) {
  Network net(3, [](RaftConfig& c) { c.max_pending_reads = 4; });
  net.elect(1);
  net.isolate(1);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(net.raft(1).read_index("r" + std::to_string(i)).is_ok());
  EXPECT_EQ(net.raft(1).read_index("r4").code(), StatusCode::kResourceExhausted);
}

// A new leader whose no-op is not committed yet must hold reads back (thesis §6.4 step 1).
void run_read_before_noop(Mutation mutation, bool expect_early_read) {
  Network net(3, [&](RaftConfig& c) { c.mutation = mutation; });
  net.elect(1);
  ASSERT_TRUE(net.raft(1).propose("a").is_ok());
  net.deliver();
  // Node 2 wins the next term without node 1, but its no-op's acknowledgements are lost.
  net.isolate(1);
  net.set_filter([](const Message& m) { return !(m.type == MessageType::kAppResp && m.to == 2); });
  net.elect(2);
  uint64_t noop_index = net.raft(2).last_index();
  ASSERT_LT(net.raft(2).committed(), noop_index);
  ASSERT_TRUE(net.raft(2).read_index("r").is_ok());
  net.deliver();
  EXPECT_EQ(!net.node(2).reads.empty(), expect_early_read);
  net.set_filter({});
  net.heal();
  net.tick_all(3);
  ASSERT_FALSE(net.node(2).reads.empty());
  if (!expect_early_read) {
    EXPECT_GE(net.node(2).reads[0].index, noop_index);
  }
}

TEST(ReadIndex, NotServedBeforeTheNoopCommits) {
  run_read_before_noop(Mutation::kNone, false);
}

TEST(ReadIndex, MutationServesBeforeTheNoopCommits) {
  run_read_before_noop(Mutation::kReadBeforeNoopCommit, true);
}

void lease_config(RaftConfig& c) {
  c.read_only_option = ReadOnlyOption::kLeaseBased;
}

TEST(LeaseRead, ServedAtOnceWhileTheLeaseHolds) {
  Network net(3, [](RaftConfig& c) { lease_config(c); });
  net.tick_all(12);  // past the startup lease guard
  net.elect(1);
  net.tick_all(1);
  ASSERT_TRUE(net.raft(1).lease_valid());
  net.sent().clear();
  ASSERT_TRUE(net.raft(1).read_index("l").is_ok());
  net.process_ready(1);
  ASSERT_EQ(net.node(1).reads.size(), 1u);
  EXPECT_TRUE(net.sent_of(MessageType::kHeartbeat).empty()) << "a lease read needs no round";
}

TEST(LeaseRead, IsolatedLeaderStopsServingWhenTheLeaseExpires) {
  Network net(3, [](RaftConfig& c) { lease_config(c); });
  net.tick_all(12);
  net.elect(1);
  net.tick_all(1);
  net.isolate(1);
  // Lease = election_tick - max_clock_drift_ticks = 8 ticks after the last acknowledged send.
  net.tick(1, 8);
  EXPECT_FALSE(net.raft(1).lease_valid());
  ASSERT_EQ(net.raft(1).role(), Role::kLeader);  // CheckQuorum has not fired yet
  ASSERT_TRUE(net.raft(1).read_index("l").is_ok());
  net.process_ready(1);
  EXPECT_TRUE(net.node(1).reads.empty());
}

TEST(LeaseRead, MutationServesWithoutAQuorumLease) {
  Network net(3, [](RaftConfig& c) {
    lease_config(c);
    c.mutation = Mutation::kLeaseWithoutCheckQuorum;
  });
  net.tick_all(12);
  net.elect(1);
  net.isolate(1);
  net.tick(1, 8);
  EXPECT_TRUE(net.raft(1).lease_valid());
}

TEST(LeaseRead, NoLeaseReadsInATermOnceTimeoutNowWasSent) {
  Network net(3, [](RaftConfig& c) { lease_config(c); });
  net.tick_all(12);
  net.elect(1);
  net.tick_all(1);
  ASSERT_TRUE(net.raft(1).lease_valid());
  // The transfer target never gets the message in time; the transfer is abandoned.
  net.set_filter([](const Message& m) { return m.type != MessageType::kTimeoutNow; });
  ASSERT_TRUE(net.raft(1).transfer_leadership(2).is_ok());
  net.deliver();
  net.tick_all(11);
  ASSERT_EQ(net.raft(1).lead_transferee(), kNoNode);
  ASSERT_EQ(net.raft(1).role(), Role::kLeader);
  EXPECT_FALSE(net.raft(1).lease_valid()) << "a delayed kTimeoutNow could still depose us";
}

TEST(LeaseRead, RequiresCheckQuorumAndADriftBelowTheElectionTimeout) {
  MemoryStorage storage;
  SeededRng rng(1);
  RaftConfig c;
  c.id = 1;
  c.read_only_option = ReadOnlyOption::kLeaseBased;
  c.check_quorum = false;
  EXPECT_EQ(Raft::create(c, &storage, &rng).status().code(), StatusCode::kInvalidArgument);
  c.check_quorum = true;
  c.max_clock_drift_ticks = c.election_tick;
  EXPECT_EQ(Raft::create(c, &storage, &rng).status().code(), StatusCode::kInvalidArgument);
  c.max_clock_drift_ticks = 2;
  EXPECT_TRUE(Raft::create(c, &storage, &rng).is_ok());
}

// ---- membership (thesis §4) ----------------------------------------------------------------

ConfChange change(std::vector<ConfChangeSingle> changes,
                  ConfChangeTransition t = ConfChangeTransition::kAuto) {
  ConfChange cc;
  cc.transition = t;
  cc.changes = std::move(changes);
  return cc;
}

TEST(Membership, AddedLearnerReceivesTheLogButDoesNotVote) {
  Network net(3);
  net.elect(1);
  net.add_node(4);
  ASSERT_TRUE(net.raft(1).propose_conf_change(change({{ConfChangeType::kAddLearner, 4}})).is_ok());
  net.deliver();
  ASSERT_TRUE(net.raft(1).propose("a").is_ok());
  net.tick_all(3);
  EXPECT_EQ(payloads(net.node(4).applied), std::vector<std::string>{"a"});
  EXPECT_EQ(net.raft(4).conf_state().learners, std::vector<uint64_t>{4});
  // A learner never campaigns.
  net.isolate(4);
  net.tick(4, 50);
  EXPECT_EQ(net.raft(4).role(), Role::kFollower);
}

TEST(Membership, SingleStepAddVoterThenCommitNeedsTheNewMajority) {
  Network net(3);
  net.elect(1);
  net.add_node(4);
  ASSERT_TRUE(net.raft(1).propose_conf_change(change({{ConfChangeType::kAddVoter, 4}})).is_ok());
  net.tick_all(3);
  EXPECT_EQ(net.raft(1).conf_state().voters, (std::vector<uint64_t>{1, 2, 3, 4}));
  // With 4 voters, 1 and 2 alone are not a majority.
  net.isolate(3);
  net.isolate(4);
  uint64_t before = net.raft(1).committed();
  ASSERT_TRUE(net.raft(1).propose("x").is_ok());
  net.deliver();
  EXPECT_EQ(net.raft(1).committed(), before);
}

TEST(Membership, SecondChangeIsRefusedWhileTheFirstIsUnapplied) {
  Network net(3);
  net.elect(1);
  net.isolate(1);
  ASSERT_TRUE(net.raft(1).propose_conf_change(change({{ConfChangeType::kAddLearner, 4}})).is_ok());
  EXPECT_EQ(net.raft(1).propose_conf_change(change({{ConfChangeType::kAddLearner, 5}})).code(),
            StatusCode::kUnavailable);
}

TEST(Membership, JointConsensusCommitNeedsBothMajorities) {
  Network net(3);
  net.elect(1);
  for (uint64_t id : {4, 5}) net.add_node(id);
  // C_old = {1,2,3}, C_new = {1,4,5}; leave the joint configuration explicitly.
  ASSERT_TRUE(net.raft(1)
                  .propose_conf_change(change({{ConfChangeType::kAddVoter, 4},
                                               {ConfChangeType::kAddVoter, 5},
                                               {ConfChangeType::kRemoveNode, 2},
                                               {ConfChangeType::kRemoveNode, 3}},
                                              ConfChangeTransition::kJointExplicit))
                  .is_ok());
  net.tick_all(3);
  ConfState cs = net.raft(1).conf_state();
  ASSERT_EQ(cs.voters, (std::vector<uint64_t>{1, 4, 5}));
  ASSERT_EQ(cs.voters_outgoing, (std::vector<uint64_t>{1, 2, 3}));
  // Only C_old can acknowledge: no commit.
  net.isolate(4);
  net.isolate(5);
  uint64_t before = net.raft(1).committed();
  ASSERT_TRUE(net.raft(1).propose("x").is_ok());
  net.deliver();
  EXPECT_EQ(net.raft(1).committed(), before);
  // Only C_new can acknowledge: still no commit.
  net.heal();
  net.isolate(2);
  net.isolate(3);
  net.deliver();
  EXPECT_EQ(net.raft(1).committed(), before);
  // Both majorities: commit.
  net.heal();
  net.tick_all(2);
  EXPECT_EQ(net.raft(1).committed(), net.raft(1).last_index());
  // Leaving the joint configuration makes C_new alone decide.
  ASSERT_TRUE(net.raft(1).propose_conf_change(ConfChange{}).is_ok());
  net.tick_all(3);
  EXPECT_TRUE(net.raft(1).conf_state().voters_outgoing.empty());
  EXPECT_EQ(net.raft(1).conf_state().voters, (std::vector<uint64_t>{1, 4, 5}));
}

TEST(Membership, AutoJointConfigurationIsLeftByTheLeader) {
  Network net(3);
  net.elect(1);
  for (uint64_t id : {4, 5}) net.add_node(id);
  ASSERT_TRUE(net.raft(1)
                  .propose_conf_change(
                      change({{ConfChangeType::kAddVoter, 4}, {ConfChangeType::kAddVoter, 5}}))
                  .is_ok());
  net.tick_all(5);
  for (uint64_t id = 1; id <= 5; ++id) {
    EXPECT_EQ(net.raft(id).conf_state().voters, (std::vector<uint64_t>{1, 2, 3, 4, 5}));
    EXPECT_TRUE(net.raft(id).conf_state().voters_outgoing.empty()) << "node " << id;
  }
}

TEST(Membership, RemovedLeaderStepsDownAndTheRestElectANewOne) {
  Network net(3);
  net.elect(1);
  ASSERT_TRUE(net.raft(1).propose_conf_change(change({{ConfChangeType::kRemoveNode, 1}})).is_ok());
  net.deliver();
  net.tick_all(1);
  EXPECT_NE(net.raft(1).role(), Role::kLeader);
  net.tick_all(40);
  uint64_t leader = net.leader();
  EXPECT_TRUE(leader == 2 || leader == 3) << leader;
  EXPECT_EQ(net.raft(leader).conf_state().voters, (std::vector<uint64_t>{2, 3}));
}

TEST(Membership, MalformedChangesAreRejected) {
  Network net(3);
  net.elect(1);
  EXPECT_EQ(net.raft(1).propose_conf_change(change({{ConfChangeType::kAddVoter, 0}})).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(net.raft(1).propose_conf_change(ConfChange{}).code(), StatusCode::kInvalidArgument)
      << "leaving a joint configuration that does not exist";
  EXPECT_EQ(net.raft(1)
                .propose_conf_change(change({{ConfChangeType::kRemoveNode, 1},
                                             {ConfChangeType::kRemoveNode, 2},
                                             {ConfChangeType::kRemoveNode, 3}}))
                .code(),
            StatusCode::kInvalidArgument);
}

// ---- leadership transfer (thesis §3.10) ----------------------------------------------------

TEST(Transfer, UpToDateFollowerTakesOverAtOnce) {
  Network net(3);
  net.elect(1);
  ASSERT_TRUE(net.raft(1).transfer_leadership(2).is_ok());
  net.deliver();
  EXPECT_EQ(net.raft(2).role(), Role::kLeader);
  EXPECT_EQ(net.raft(1).role(), Role::kFollower);
  EXPECT_EQ(net.raft(1).leader(), 2u);
}

TEST(Transfer, LaggingFollowerIsCaughtUpFirst) {
  Network net(3);
  net.elect(1);
  net.isolate(3);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(net.raft(1).propose("p").is_ok());
  net.deliver();
  net.heal();
  ASSERT_TRUE(net.raft(1).transfer_leadership(3).is_ok());
  EXPECT_EQ(net.raft(1).propose("q").code(), StatusCode::kUnavailable);
  net.tick_all(2);
  EXPECT_EQ(net.raft(3).role(), Role::kLeader);
  EXPECT_EQ(payloads(net.node(3).applied).size(), 5u);
}

TEST(Transfer, AbortsAfterAnElectionTimeoutIfTheTargetIsGone) {
  Network net(3);
  net.elect(1);
  net.isolate(3);
  ASSERT_TRUE(net.raft(1).propose("p").is_ok());
  net.deliver();
  ASSERT_TRUE(net.raft(1).transfer_leadership(3).is_ok());
  EXPECT_EQ(net.raft(1).lead_transferee(), 3u);
  net.tick(1, 10);
  EXPECT_EQ(net.raft(1).lead_transferee(), kNoNode);
  EXPECT_TRUE(net.raft(1).propose("after").is_ok());
}

TEST(Transfer, TargetMustBeAVoter) {
  Network net(3);
  net.elect(1);
  EXPECT_EQ(net.raft(1).transfer_leadership(9).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(net.raft(2).transfer_leadership(3).code(), StatusCode::kUnavailable);
}

// ---- bad input -----------------------------------------------------------------------------

TEST(BadInput, MalformedMessagesAreRejectedNotFatal) {
  Network net(3);
  net.elect(1);
  Raft& leader = net.raft(1);
  Message m;
  m.type = MessageType::kAppResp;
  m.from = 2;
  m.to = 7;
  m.term = leader.term();
  EXPECT_EQ(leader.step(m).code(), StatusCode::kInvalidArgument) << "wrong recipient";
  m.to = 1;
  m.from = 0;
  EXPECT_EQ(leader.step(m).code(), StatusCode::kInvalidArgument) << "sender 0";
  m.from = 2;
  m.term = 0;
  EXPECT_EQ(leader.step(m).code(), StatusCode::kInvalidArgument) << "term 0";
  m.term = leader.term();
  m.from = 9;
  EXPECT_EQ(leader.step(m).code(), StatusCode::kInvalidArgument) << "unknown sender";
  m.from = 2;
  m.index = 1u << 30;
  EXPECT_EQ(leader.step(m).code(), StatusCode::kInvalidArgument) << "impossible index";
  EXPECT_EQ(leader.role(), Role::kLeader);

  // A follower given non-consecutive entries or a commit past its log stays consistent.
  Message app;
  app.type = MessageType::kApp;
  app.from = 1;
  app.to = 2;
  app.term = leader.term();
  app.index = net.raft(2).last_index();
  app.log_term = leader.term();
  app.entries = {Entry{leader.term(), app.index + 5, {}, "gap"}};
  app.commit = 1u << 30;
  uint64_t last = net.raft(2).last_index();
  EXPECT_TRUE(net.raft(2).step(app).is_ok());
  EXPECT_EQ(net.raft(2).last_index(), last);
  Message hb;
  hb.type = MessageType::kHeartbeat;
  hb.from = 1;
  hb.to = 2;
  hb.term = leader.term();
  hb.commit = 1u << 30;
  EXPECT_TRUE(net.raft(2).step(hb).is_ok());
  EXPECT_LE(net.raft(2).committed(), net.raft(2).last_index());
}

TEST(BadInput, SnapshotWithMalformedConfigurationIsIgnored) {
  Network net(3);
  net.elect(1);
  Message snap;
  snap.type = MessageType::kSnap;
  snap.from = 1;
  snap.to = 2;
  snap.term = net.raft(1).term();
  snap.snapshot.meta.index = 100;
  snap.snapshot.meta.term = 1;
  snap.snapshot.meta.conf_state.voters = {1, 2};
  snap.snapshot.meta.conf_state.learners = {2};  // a learner that is also a voter
  snap.snapshot_done = true;                     // one chunk: the whole snapshot
  EXPECT_TRUE(net.raft(2).step(snap).is_ok());
  EXPECT_LT(net.raft(2).committed(), 100u);
  snap.snapshot.meta.conf_state = ConfState{};        // no voters at all
  snap.snapshot.meta.conf_state.learners_next = {3};  // learners_next while not joint
  EXPECT_TRUE(net.raft(2).step(snap).is_ok());
  EXPECT_LT(net.raft(2).committed(), 100u);
}

TEST(BadInput, InvalidConfigIsRefusedAtCreate) {
  MemoryStorage storage;
  SeededRng rng(1);
  RaftConfig c;
  EXPECT_EQ(Raft::create(c, &storage, &rng).status().code(), StatusCode::kInvalidArgument);
  c.id = 1;
  c.election_tick = 1;
  EXPECT_EQ(Raft::create(c, &storage, &rng).status().code(), StatusCode::kInvalidArgument);
  c.election_tick = 10;
  for (uint64_t RaftConfig::*limit :
       {&RaftConfig::snapshot_timeout_ticks, &RaftConfig::max_snapshot_chunk_bytes,
        &RaftConfig::max_snapshot_bytes}) {
    RaftConfig zero = c;
    zero.*limit = 0;
    EXPECT_EQ(Raft::create(zero, &storage, &rng).status().code(), StatusCode::kInvalidArgument);
  }
  EXPECT_TRUE(Raft::create(c, &storage, &rng).is_ok());
  storage.set_hard_state(HardState{1, 0, 5});  // commit past an empty log
  EXPECT_EQ(Raft::create(c, &storage, &rng).status().code(), StatusCode::kInvalidArgument);
}

// ---- mutations (test-only fault injection) -------------------------------------------------

TEST(Mutations, NamesRoundTrip) {
  EXPECT_EQ(all_mutations().size(), 5u);
  for (Mutation m : all_mutations()) {
    EXPECT_EQ(mutation_from_name(mutation_name(m)), m);
  }
  EXPECT_EQ(mutation_from_name("none"), Mutation::kNone);
  EXPECT_EQ(mutation_from_name("no-such-bug"), std::nullopt);
}

TEST(Mutations, ForgetPersistVoteLetsARestartedNodeVoteTwice) {
  for (Mutation mutation : {Mutation::kNone, Mutation::kForgetPersistVote}) {
    Network net(3, [&](RaftConfig& c) {
      c.mutation = mutation;
      c.pre_vote = false;
    });
    Message vote;
    vote.type = MessageType::kVote;
    vote.from = 2;
    vote.to = 1;
    vote.term = 2;
    vote.index = 1;
    vote.log_term = 1;
    ASSERT_TRUE(net.raft(1).step(vote).is_ok());
    net.process_ready(1);
    EXPECT_EQ(net.storage(1).initial_state()->hard_state.vote,
              mutation == Mutation::kNone ? 2u : 0u);
    net.restart(1);
    vote.from = 3;
    ASSERT_TRUE(net.raft(1).step(vote).is_ok());
    EXPECT_EQ(net.raft(1).vote(), mutation == Mutation::kNone ? 2u : 3u);
  }
}

}  // namespace
}  // namespace meld::consensus
