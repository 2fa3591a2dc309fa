// One scenario per rule of the Raft paper (Ongaro & Ousterhout 2014) and thesis, in the spirit of
// etcd's raft_paper_test: each test names the section and checks the behaviour it requires.
#include <gtest/gtest.h>

#include "consensus/raft.h"
#include "tests/consensus/raft_network.h"

namespace meld::consensus {
namespace {

using testing::Network;
using testing::payloads;
using testing::vote_request;

// A standalone node whose storage holds `terms[i]` at index i+1, for message-level tests; `base`
// is its configuration but for the id.
struct Solo {
  explicit Solo(uint64_t id, std::vector<uint64_t> voters, std::vector<uint64_t> terms = {},
                uint64_t term = 0, const RaftConfig& base = RaftConfig{})
      : rng(id) {
    ConfState cs;
    cs.voters = std::move(voters);
    storage.set_conf_state(cs);
    std::vector<Entry> ents;
    for (size_t i = 0; i < terms.size(); ++i) ents.push_back(Entry{terms[i], i + 1, {}, "x"});
    EXPECT_TRUE(storage.append(ents).is_ok());
    storage.set_hard_state(HardState{term, kNoNode, 0});
    RaftConfig config = base;
    config.id = id;
    Result<std::unique_ptr<Raft>> created = Raft::create(config, &storage, &rng);
    EXPECT_TRUE(created.is_ok()) << created.status().to_string();
    raft = std::move(*created);
  }
  // Steps `m` and returns the messages the node sent in response.
  std::vector<Message> step(Message m) {
    m.to = raft->id();
    EXPECT_TRUE(raft->step(m).is_ok());
    return drain();
  }
  std::vector<Message> drain() {
    if (!raft->has_ready()) return {};
    Ready rd = raft->ready();
    if (rd.snapshot) {
      EXPECT_TRUE(storage.apply_snapshot(*rd.snapshot).is_ok());
    }
    EXPECT_TRUE(storage.append(rd.entries).is_ok());
    if (rd.hard_state) storage.set_hard_state(*rd.hard_state);
    raft->advance(rd);
    return rd.messages;
  }
  MemoryStorage storage;
  SeededRng rng;
  std::unique_ptr<Raft> raft;
};

// ---- §5.1 terms ----------------------------------------------------------------------------

TEST(RaftPaper, S51_HigherTermTurnsLeaderIntoFollower) {
  Network net(3);
  net.elect(1);
  uint64_t term = net.raft(1).term();
  Message m;
  m.type = MessageType::kHeartbeat;
  m.from = 2;
  m.to = 1;
  m.term = term + 5;
  ASSERT_TRUE(net.raft(1).step(m).is_ok());
  EXPECT_EQ(net.raft(1).role(), Role::kFollower);
  EXPECT_EQ(net.raft(1).term(), term + 5);
  EXPECT_EQ(net.raft(1).leader(), 2u);
}

TEST(RaftPaper, S51_StaleTermRequestIsRejectedWithCurrentTerm) {
  Solo node(1, {1, 2, 3}, {1, 1}, 5);
  Message app;
  app.type = MessageType::kApp;
  app.from = 2;
  app.term = 3;
  std::vector<Message> out = node.step(app);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].type, MessageType::kAppResp);
  EXPECT_EQ(out[0].term, 5u);  // the stale leader learns the newer term and steps down
  EXPECT_EQ(node.raft->term(), 5u);
  EXPECT_EQ(node.raft->leader(), kNoNode);
}

// ---- §5.2 leader election ------------------------------------------------------------------

TEST(RaftPaper, S52_FollowerCampaignsAfterRandomizedTimeoutInRange) {
  std::set<uint64_t> timeouts;
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    Network net(3, {}, seed);
    uint64_t ticks = 0;
    while (net.raft(1).role() == Role::kFollower && ticks < 100) {
      net.raft(1).tick();
      ++ticks;
    }
    // PreVote is on by default: the first step is the pre-candidate.
    EXPECT_EQ(net.raft(1).role(), Role::kPreCandidate);
    EXPECT_GE(ticks, 10u);
    EXPECT_LT(ticks, 20u);
    timeouts.insert(ticks);
  }
  EXPECT_GT(timeouts.size(), 3u) << "timeouts are not randomized";
}

TEST(RaftPaper, S52_CandidateWithMajorityBecomesLeaderAndOthersFollow) {
  Network net(5);
  net.elect(1);
  uint64_t term = net.raft(1).term();
  for (uint64_t id = 2; id <= 5; ++id) {
    EXPECT_EQ(net.raft(id).role(), Role::kFollower);
    EXPECT_EQ(net.raft(id).term(), term);
    EXPECT_EQ(net.raft(id).leader(), 1u);
  }
}

TEST(RaftPaper, S52_CandidateWinsWithMajorityDespiteMinorityDown) {
  Network net(5);
  net.isolate(4);
  net.isolate(5);
  net.elect(1);
  EXPECT_EQ(net.raft(2).leader(), 1u);
}

TEST(RaftPaper, S52_CandidateWithoutMajorityStaysCandidate) {
  Network net(5, [](RaftConfig& c) { c.pre_vote = false; });
  net.isolate(3);
  net.isolate(4);
  net.isolate(5);
  for (int i = 0; i < 25; ++i) net.tick(1);
  EXPECT_EQ(net.raft(1).role(), Role::kCandidate);
}

TEST(RaftPaper, S52_NodeGrantsAtMostOneVotePerTerm) {
  Solo node(1, {1, 2, 3});
  std::vector<Message> first = node.step(vote_request(2, 1, 0, 0));
  ASSERT_EQ(first.size(), 1u);
  EXPECT_FALSE(first[0].reject);
  std::vector<Message> second = node.step(vote_request(3, 1, 0, 0));
  ASSERT_EQ(second.size(), 1u);
  EXPECT_TRUE(second[0].reject);
  // The same candidate asking again (a retransmission) gets the same answer.
  std::vector<Message> again = node.step(vote_request(2, 1, 0, 0));
  ASSERT_EQ(again.size(), 1u);
  EXPECT_FALSE(again[0].reject);
}

TEST(RaftPaper, S52_VoteIsPersistedBeforeTheResponseIsSent) {
  Solo node(1, {1, 2, 3});
  ASSERT_TRUE(node.raft
                  ->step([] {
                    Message m = vote_request(2, 1, 0, 0);
                    m.to = 1;
                    return m;
                  }())
                  .is_ok());
  Ready rd = node.raft->ready();
  ASSERT_TRUE(rd.hard_state.has_value());
  EXPECT_EQ(rd.hard_state->vote, 2u);  // in the same Ready as the vote response
  EXPECT_EQ(rd.messages.size(), 1u);
  node.raft->advance(rd);
}

TEST(RaftPaper, S52_CandidateReturnsToFollowerOnLeaderOfSameTerm) {
  Network net(3, [](RaftConfig& c) { c.pre_vote = false; });
  net.isolate(1);
  for (int i = 0; i < 20 && net.raft(1).role() != Role::kCandidate; ++i) net.tick(1);
  ASSERT_EQ(net.raft(1).role(), Role::kCandidate);
  Message app;
  app.type = MessageType::kApp;
  app.from = 2;
  app.to = 1;
  app.term = net.raft(1).term();
  ASSERT_TRUE(net.raft(1).step(app).is_ok());
  EXPECT_EQ(net.raft(1).role(), Role::kFollower);
  EXPECT_EQ(net.raft(1).leader(), 2u);
}

TEST(RaftPaper, S52_CandidateRejectedByMajorityReturnsToFollower) {
  Solo node(1, {1, 2, 3}, {}, 1);
  node.raft->tick();
  for (int i = 0; i < 30 && node.raft->role() != Role::kPreCandidate; ++i) node.raft->tick();
  ASSERT_EQ(node.raft->role(), Role::kPreCandidate);
  node.drain();
  Message resp;
  resp.type = MessageType::kPreVoteResp;
  resp.from = 2;
  resp.reject = true;
  resp.term = node.raft->term();
  node.step(resp);
  resp.from = 3;
  node.step(resp);
  EXPECT_EQ(node.raft->role(), Role::kFollower);
}

// ---- §5.3 log replication ------------------------------------------------------------------

TEST(RaftPaper, S53_LeaderCommitsOnceMajorityStoredAndFollowersApply) {
  Network net(3);
  net.elect(1);
  ASSERT_TRUE(net.raft(1).propose("a").is_ok());
  net.deliver();
  uint64_t commit = net.raft(1).committed();
  EXPECT_EQ(commit, net.raft(1).last_index());
  // Followers learn the commit index from the next message (§5.3) and apply.
  net.tick_all(2);
  for (uint64_t id = 1; id <= 3; ++id) {
    EXPECT_EQ(payloads(net.node(id).applied), std::vector<std::string>{"a"}) << "node " << id;
  }
}

TEST(RaftPaper, S53_EntryCommitsWithMinorityDown) {
  Network net(5);
  net.elect(1);
  net.isolate(4);
  net.isolate(5);
  ASSERT_TRUE(net.raft(1).propose("a").is_ok());
  net.deliver();
  EXPECT_EQ(net.raft(1).committed(), net.raft(1).last_index());
}

TEST(RaftPaper, S53_EntryDoesNotCommitWithoutMajority) {
  Network net(5);
  net.elect(1);
  net.isolate(3);
  net.isolate(4);
  net.isolate(5);
  uint64_t before = net.raft(1).committed();
  ASSERT_TRUE(net.raft(1).propose("a").is_ok());
  net.deliver();
  EXPECT_EQ(net.raft(1).committed(), before);
}

TEST(RaftPaper, S53_FollowerRejectsAppendWhosePreviousEntryDoesNotMatch) {
  Solo node(2, {1, 2, 3}, {1, 1, 2}, 2);
  Message app;
  app.type = MessageType::kApp;
  app.from = 1;
  app.term = 3;
  app.index = 3;
  app.log_term = 3;  // our entry 3 has term 2
  app.entries = {Entry{3, 4, {}, "y"}};
  std::vector<Message> out = node.step(app);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].reject);
  EXPECT_EQ(node.raft->last_index(), 3u);
  // The hint points below the conflicting term so the leader skips it in one round trip.
  EXPECT_EQ(out[0].reject_hint, 3u);
  EXPECT_EQ(out[0].log_term, 2u);
}

TEST(RaftPaper, S53_FollowerDeletesConflictingSuffixAndAppends) {
  Solo node(2, {1, 2, 3}, {1, 2, 2}, 2);
  Message app;
  app.type = MessageType::kApp;
  app.from = 1;
  app.term = 3;
  app.index = 1;
  app.log_term = 1;
  app.entries = {Entry{3, 2, {}, "new"}};
  std::vector<Message> out = node.step(app);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(out[0].reject);
  EXPECT_EQ(out[0].index, 2u);
  EXPECT_EQ(node.raft->last_index(), 2u);
  EXPECT_EQ(*node.storage.term(2), 3u);
}

TEST(RaftPaper, S53_LeaderBringsDivergentAndLaggingFollowersInLine) {
  Network net(5, [](RaftConfig& c) { c.batch_append = false; });
  net.elect(1);
  // Node 1 appends entries nobody else stores, then loses leadership to node 2.
  net.isolate(1);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(net.raft(1).propose("stale").is_ok());
  net.deliver();
  net.elect(2);
  // Node 5 misses what node 2 commits with 3 and 4.
  net.isolate(5);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(net.raft(2).propose("b" + std::to_string(i)).is_ok());
  net.deliver();
  net.heal();
  net.tick_all(3);
  std::vector<std::string> expected = {"b0", "b1", "b2"};
  for (uint64_t id = 1; id <= 5; ++id) {
    EXPECT_EQ(payloads(net.node(id).applied), expected) << "node " << id;
    EXPECT_EQ(net.raft(id).last_index(), net.raft(2).last_index()) << "node " << id;
  }
}

TEST(RaftPaper, S53_FastBacktrackingSkipsAConflictingTermInOneRoundTrip) {
  Network net(3, [](RaftConfig& c) { c.batch_append = false; });
  net.elect(1);
  // Node 1 appends 50 entries nobody else sees, then loses leadership.
  net.isolate(1);
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(net.raft(1).propose("stale").is_ok());
  net.deliver();
  net.elect(2);
  ASSERT_TRUE(net.raft(2).propose("fresh").is_ok());
  net.deliver();
  net.sent().clear();
  net.heal();
  net.tick_all(3);
  size_t rejects = 0;
  for (const Message& m : net.sent_of(MessageType::kAppResp)) rejects += m.reject && m.from == 1;
  EXPECT_LE(rejects, 2u) << "backtracking went entry by entry";
  EXPECT_EQ(net.raft(1).last_index(), net.raft(2).last_index());
  EXPECT_EQ(payloads(net.node(1).applied).back(), "fresh");
}

// ---- §5.4 safety ---------------------------------------------------------------------------

TEST(RaftPaper, S541_VoteDeniedToCandidateWithOlderLastTerm) {
  Solo node(1, {1, 2, 3}, {1, 2}, 2);
  std::vector<Message> out = node.step(vote_request(2, 3, 5, 1));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].reject);
}

TEST(RaftPaper, S541_VoteDeniedToCandidateWithShorterLogOfSameTerm) {
  Solo node(1, {1, 2, 3}, {1, 2, 2}, 2);
  std::vector<Message> out = node.step(vote_request(2, 3, 2, 2));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].reject);
}

TEST(RaftPaper, S541_VoteGrantedToCandidateAtLeastAsUpToDate) {
  Solo node(1, {1, 2, 3}, {1, 2, 2}, 2);
  std::vector<Message> out = node.step(vote_request(2, 3, 3, 2));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(out[0].reject);
  EXPECT_EQ(node.raft->vote(), 2u);
}

TEST(RaftPaper, S541_MutationGrantsVoteToOutOfDateCandidate) {
  Solo node(1, {1, 2, 3}, {1, 2}, 2, RaftConfig{.mutation = Mutation::kVoteWithoutLogCheck});
  std::vector<Message> out = node.step(vote_request(2, 3, 5, 1));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(out[0].reject);
}

// Figure 8: a leader must not commit an entry of an earlier term by counting replicas; it commits
// only once an entry of its own term is stored on a majority.
void run_previous_term_scenario(Mutation mutation, bool expect_commit_of_old_entry) {
  // Node 1 holds an uncommitted entry from term 1 at index 2 and becomes leader in term 2.
  Solo node(1, {1, 2, 3}, {1, 1}, 1, RaftConfig{.mutation = mutation});
  for (int i = 0; i < 30 && node.raft->role() == Role::kFollower; ++i) node.raft->tick();
  node.drain();
  Message grant;
  grant.type = MessageType::kPreVoteResp;
  grant.from = 2;
  grant.term = 2;
  node.step(grant);
  grant.type = MessageType::kVoteResp;
  node.step(grant);
  ASSERT_EQ(node.raft->role(), Role::kLeader);
  ASSERT_EQ(node.raft->last_index(), 3u);  // the no-op of term 2
  // Follower 2 acknowledges up to index 2 (the old entry), not the no-op.
  Message ack;
  ack.type = MessageType::kAppResp;
  ack.from = 2;
  ack.term = 2;
  ack.index = 2;
  node.step(ack);
  EXPECT_EQ(node.raft->committed() >= 2, expect_commit_of_old_entry);
  // Once the no-op (term 2) is on a majority, everything up to it commits (§5.4.2).
  ack.index = 3;
  node.step(ack);
  EXPECT_EQ(node.raft->committed(), 3u);
}

TEST(RaftPaper, S542_LeaderDoesNotCommitPreviousTermEntryByCounting) {
  run_previous_term_scenario(Mutation::kNone, false);
}

TEST(RaftPaper, S542_MutationCommitsPreviousTermEntryByCounting) {
  run_previous_term_scenario(Mutation::kCommitPreviousTerm, true);
}

TEST(RaftPaper, S542_LeaderCompletenessNewLeaderHoldsAllCommittedEntries) {
  Network net(5);
  net.elect(1);
  ASSERT_TRUE(net.raft(1).propose("committed").is_ok());
  net.deliver();
  uint64_t committed = net.raft(1).committed();
  // Leader 1 and two followers vanish; a new leader must still carry the entry.
  net.isolate(1);
  net.tick_all(40);
  uint64_t leader = kNoNode;
  for (uint64_t id = 2; id <= 5; ++id) {
    if (net.raft(id).role() == Role::kLeader) leader = id;
  }
  ASSERT_NE(leader, kNoNode);
  EXPECT_GE(net.raft(leader).last_index(), committed);
  EXPECT_EQ(payloads(net.node(leader).applied), std::vector<std::string>{"committed"});
}

// ---- §8 / thesis §6.4: the leader's no-op --------------------------------------------------

TEST(RaftPaper, S8_NewLeaderAppendsNoopOfItsTerm) {
  Network net(3);
  net.elect(1);
  Result<std::vector<Entry>> last =
      net.storage(1).entries(net.raft(1).last_index(), net.raft(1).last_index() + 1, 1 << 20);
  ASSERT_TRUE(last.is_ok());
  ASSERT_EQ(last->size(), 1u);
  EXPECT_EQ((*last)[0].term, net.raft(1).term());
  EXPECT_TRUE((*last)[0].data.empty());
  EXPECT_EQ(net.raft(1).committed(), net.raft(1).last_index());
}

// ---- §7 log compaction ---------------------------------------------------------------------

TEST(RaftPaper, S7_FarBehindFollowerCatchesUpBySnapshot) {
  Network net(3);
  net.elect(1);
  net.isolate(3);
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(net.raft(1).propose("v" + std::to_string(i)).is_ok());
    net.deliver();
  }
  // The leader snapshots its applied state and compacts the log past what node 3 has.
  uint64_t applied = net.raft(1).applied();
  ASSERT_TRUE(net.storage(1).create_snapshot(applied, net.raft(1).conf_state(), "state").is_ok());
  ASSERT_TRUE(net.storage(1).compact(applied).is_ok());
  net.heal();
  net.sent().clear();
  net.tick_all(3);
  EXPECT_FALSE(net.sent_of(MessageType::kSnap).empty());
  EXPECT_EQ(net.storage(3).snapshot()->data, "state");
  EXPECT_EQ(net.raft(3).committed(), net.raft(1).committed());
  ASSERT_TRUE(net.raft(1).propose("after").is_ok());
  net.tick_all(2);
  EXPECT_EQ(payloads(net.node(3).applied).back(), "after");
}

TEST(RaftPaper, S7_SnapshotCoveredByOurLogOnlyMovesCommit) {
  Solo node(2, {1, 2, 3}, {1, 1, 1}, 1);
  Message snap;
  snap.type = MessageType::kSnap;
  snap.from = 1;
  snap.term = 1;
  snap.snapshot.meta.index = 2;
  snap.snapshot.meta.term = 1;
  snap.snapshot.meta.conf_state.voters = {1, 2, 3};
  snap.snapshot.data = "first chunk of many";  // answered at once: the rest is not needed
  std::vector<Message> out = node.step(snap);
  EXPECT_EQ(node.raft->committed(), 2u);
  EXPECT_EQ(node.raft->last_index(), 3u);  // entries after the snapshot are retained
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].type, MessageType::kAppResp);
  EXPECT_EQ(out[0].index, 2u);
}

// ---- §7 Figure 13 (thesis §5.1, Figure 5.3): InstallSnapshot in chunks ---------------------
//
// Follower side: node 2 (log of two entries of term 1, current term 2) receives chunks of 8 bytes
// from leader 1 of term 2; a 26-byte snapshot is the chunks at offsets 0, 8, 16 and 24.

constexpr std::string_view kAlphabet = "abcdefghijklmnopqrstuvwxyz";

Snapshot make_snapshot(uint64_t index, std::string_view data = kAlphabet) {
  Snapshot snap;
  snap.meta.index = index;
  snap.meta.term = 1;
  snap.meta.conf_state.voters = {1, 2, 3};
  snap.data = std::string(data);
  return snap;
}

// The kSnap message with the bytes of `snap` from `offset` (at most 8), from leader `from` in
// `term`; done when it reaches the end.
Message chunk(const Snapshot& snap, uint64_t offset, uint64_t from = 1, uint64_t term = 2) {
  Message m;
  m.type = MessageType::kSnap;
  m.from = from;
  m.term = term;
  m.snapshot.meta = snap.meta;
  m.snapshot.data = snap.data.substr(offset, 8);
  m.snapshot_offset = offset;
  m.snapshot_done = offset + 8 >= snap.data.size();
  return m;
}

// The follower's one answer to `m`.
Message answer(Solo& node, const Message& m) {
  std::vector<Message> out = node.step(m);
  EXPECT_EQ(out.size(), 1u);
  return out.empty() ? Message{} : out[0];
}

// A kSnapResp acknowledging `held` bytes of the snapshot at `index` (or refusing it).
Message snap_ack(uint64_t index, uint64_t held, bool reject = false) {
  Message m;
  m.type = MessageType::kSnapResp;
  m.from = 2;
  m.to = 1;
  m.term = 2;
  m.index = index;
  m.log_term = 1;
  m.snapshot_offset = held;
  m.reject = reject;
  return m;
}

Solo lagging_follower(const RaftConfig& base = RaftConfig{}) {
  return Solo(2, {1, 2, 3}, {1, 1}, 2, base);
}

TEST(RaftPaper, S7_ChunksAreAssembledInOrderAndInstalledWithTheLast) {
  Solo node = lagging_follower();
  Snapshot snap = make_snapshot(10);
  for (uint64_t offset : {0, 8, 16}) {
    EXPECT_EQ(answer(node, chunk(snap, offset)), snap_ack(10, offset + 8)) << offset;
    EXPECT_EQ(node.raft->committed(), 0u) << "nothing installed before the last chunk";
  }
  Message done = answer(node, chunk(snap, 24));
  EXPECT_EQ(done.type, MessageType::kAppResp);
  EXPECT_EQ(done.index, 10u);
  EXPECT_EQ(node.storage.snapshot()->data, kAlphabet);
  EXPECT_EQ(node.raft->committed(), 10u);
  EXPECT_EQ(node.raft->last_index(), 10u);  // Figure 13 step 7: the log is discarded
}

TEST(RaftPaper, S7_EveryChunkIsASignOfLifeThatResetsTheElectionTimer) {
  Solo node = lagging_follower();
  Snapshot snap = make_snapshot(10, std::string(64, 'x'));
  for (uint64_t offset = 0; offset < 64; offset += 8) {
    // Nine ticks stay below the shortest election timeout (election_tick = 10) each time.
    for (int t = 0; t < 9; ++t) node.raft->tick();
    answer(node, chunk(snap, offset));
    EXPECT_EQ(node.raft->role(), Role::kFollower);
  }
  EXPECT_EQ(node.raft->committed(), 10u);
}

TEST(RaftPaper, S7_DuplicateChunkIsIgnoredAndTheHeldBytesAcknowledged) {
  Solo node = lagging_follower();
  Snapshot snap = make_snapshot(10);
  answer(node, chunk(snap, 0));
  EXPECT_EQ(answer(node, chunk(snap, 0)), snap_ack(10, 8));
  answer(node, chunk(snap, 8));
  EXPECT_EQ(answer(node, chunk(snap, 0)), snap_ack(10, 16));
  EXPECT_EQ(answer(node, chunk(snap, 8)), snap_ack(10, 16));
  answer(node, chunk(snap, 16));
  answer(node, chunk(snap, 24));
  EXPECT_EQ(node.storage.snapshot()->data, kAlphabet);
  // The last chunk again, after the install: the log covers it now.
  Message late = answer(node, chunk(snap, 24));
  EXPECT_EQ(late.type, MessageType::kAppResp);
  EXPECT_EQ(late.index, 10u);
}

TEST(RaftPaper, S7_ChunkPastTheHeldBytesOrOfAnUnknownSnapshotIsIgnored) {
  Solo node = lagging_follower();
  Snapshot snap = make_snapshot(10);
  // Offset past the buffer: a chunk in between was lost.
  EXPECT_EQ(answer(node, chunk(snap, 8)), snap_ack(10, 0));
  answer(node, chunk(snap, 0));
  EXPECT_EQ(answer(node, chunk(snap, 24)), snap_ack(10, 8));
  EXPECT_EQ(node.raft->committed(), 0u);
  // A chunk past offset 0 of a snapshot we hold nothing of.
  Snapshot other = make_snapshot(12);
  EXPECT_EQ(answer(node, chunk(other, 16)), snap_ack(12, 0));
  // The partial snapshot is intact: the transfer goes on.
  answer(node, chunk(snap, 8));
  answer(node, chunk(snap, 16));
  answer(node, chunk(snap, 24));
  EXPECT_EQ(node.storage.snapshot()->data, kAlphabet);
}

TEST(RaftPaper, S7_NewerSnapshotSupersedesAPartialOne) {
  Solo node = lagging_follower();
  Snapshot old_snap = make_snapshot(10);
  Snapshot new_snap = make_snapshot(12, "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
  answer(node, chunk(old_snap, 0));
  answer(node, chunk(old_snap, 8));
  // Figure 13 step 2: a new snapshot begins at offset 0 and replaces the partial one.
  EXPECT_EQ(answer(node, chunk(new_snap, 0)), snap_ack(12, 8));
  // Chunks of the older snapshot, late, are stale: even its first one does not start it again.
  EXPECT_EQ(answer(node, chunk(old_snap, 16)), snap_ack(10, 0));
  EXPECT_EQ(answer(node, chunk(old_snap, 0)), snap_ack(10, 0));
  for (uint64_t offset : {8, 16, 24}) answer(node, chunk(new_snap, offset));
  EXPECT_EQ(node.storage.snapshot()->meta.index, 12u);
  EXPECT_EQ(node.storage.snapshot()->data, "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
}

TEST(RaftPaper, S7_TermChangeDiscardsAPartialSnapshot) {
  Solo node = lagging_follower();
  Snapshot snap = make_snapshot(10);
  answer(node, chunk(snap, 0));
  answer(node, chunk(snap, 8));
  // Leader 3 takes over in term 3 (its first message is a heartbeat).
  Message hb;
  hb.type = MessageType::kHeartbeat;
  hb.from = 3;
  hb.term = 3;
  answer(node, hb);
  // The old leader's chunks are stale now (Figure 13 step 1: the reply carries the newer term),
  // and the new leader's continuation finds nothing held.
  Message stale = answer(node, chunk(snap, 16, 1, 2));
  EXPECT_EQ(stale.type, MessageType::kAppResp);
  EXPECT_EQ(stale.term, 3u);
  Message resp = answer(node, chunk(snap, 16, 3, 3));
  EXPECT_EQ(resp.snapshot_offset, 0u);
  EXPECT_EQ(resp.to, 3u);
  for (uint64_t offset : {0, 8, 16, 24}) answer(node, chunk(snap, offset, 3, 3));
  EXPECT_EQ(node.storage.snapshot()->data, kAlphabet);
}

TEST(RaftPaper, S7_SnapshotOverTheSizeLimitIsRefused) {
  RaftConfig config;
  config.max_snapshot_bytes = 20;
  Solo node = lagging_follower(config);
  Snapshot snap = make_snapshot(10);  // 26 bytes
  answer(node, chunk(snap, 0));
  answer(node, chunk(snap, 8));
  EXPECT_EQ(answer(node, chunk(snap, 16)), snap_ack(10, 0, /*reject=*/true));
  // Its buffer is gone: the last chunk finds nothing held and installs nothing.
  EXPECT_EQ(answer(node, chunk(snap, 24)), snap_ack(10, 0));
  EXPECT_EQ(node.raft->committed(), 0u);
  EXPECT_EQ(node.storage.snapshot()->meta.index, 0u);
}

// Leader side: a 3-node group whose leader compacted its log past what node 3 holds, so that node
// 3 catches up by a snapshot of `data`, in chunks of 4 bytes.

constexpr std::string_view kLeaderState = "state-of-the-machine";  // 20 bytes: 5 chunks

void chunked(RaftConfig& c) {
  c.max_snapshot_chunk_bytes = 4;
}

void leave_node_3_behind_a_snapshot(Network& net, std::string_view data = kLeaderState) {
  net.elect(1);
  net.isolate(3);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(net.raft(1).propose("v" + std::to_string(i)).is_ok());
    net.deliver();
  }
  uint64_t applied = net.raft(1).applied();
  ASSERT_TRUE(
      net.storage(1).create_snapshot(applied, net.raft(1).conf_state(), std::string(data)).is_ok());
  ASSERT_TRUE(net.storage(1).compact(applied).is_ok());
}

std::vector<Message> snapshot_traffic(Network& net) {
  std::vector<Message> out;
  for (const Message& m : net.sent()) {
    if (m.type == MessageType::kSnap || m.type == MessageType::kSnapResp) out.push_back(m);
  }
  return out;
}

std::vector<uint64_t> chunk_offsets(Network& net) {
  std::vector<uint64_t> out;
  for (const Message& m : net.sent_of(MessageType::kSnap)) out.push_back(m.snapshot_offset);
  return out;
}

TEST(RaftPaper, S7_LeaderSendsBoundedChunksOneAtATimeEachAckDrivingTheNext) {
  Network net(3, chunked);
  leave_node_3_behind_a_snapshot(net);
  net.heal();
  net.sent().clear();
  net.tick_all(3);
  std::vector<Message> traffic = snapshot_traffic(net);
  ASSERT_EQ(traffic.size(), 9u);  // five chunks, four acknowledgements (the last gets kAppResp)
  std::string assembled;
  for (size_t i = 0; i < traffic.size(); ++i) {
    const Message& m = traffic[i];
    if (i % 2 == 1) {  // a chunk never goes out before the previous one is acknowledged
      EXPECT_EQ(m.type, MessageType::kSnapResp) << i;
      EXPECT_EQ(m.snapshot_offset, assembled.size()) << i;
      continue;
    }
    EXPECT_EQ(m.type, MessageType::kSnap) << i;
    EXPECT_EQ(m.to, 3u);
    EXPECT_LE(m.snapshot.data.size(), 4u) << i;
    EXPECT_EQ(m.snapshot_offset, assembled.size()) << i;
    EXPECT_EQ(m.snapshot_done, i == traffic.size() - 1) << i;
    EXPECT_EQ(m.snapshot.meta.index, net.storage(1).snapshot()->meta.index);
    assembled += m.snapshot.data;
  }
  EXPECT_EQ(assembled, kLeaderState);
  EXPECT_EQ(net.storage(3).snapshot()->data, kLeaderState);
  EXPECT_EQ(net.raft(3).committed(), net.raft(1).committed());
  ASSERT_NE(net.raft(1).progress(3), nullptr);
  EXPECT_EQ(net.raft(1).progress(3)->state, ProgressState::kReplicate);
}

TEST(RaftPaper, S7_LostChunkIsResentAfterTheSnapshotTimeoutFromWhatTheFollowerHolds) {
  Network net(3, [](RaftConfig& c) {
    chunked(c);
    c.snapshot_timeout_ticks = 20;
  });
  leave_node_3_behind_a_snapshot(net);
  bool dropped = false;
  net.set_filter([&](const Message& m) {
    if (m.type != MessageType::kSnap || m.snapshot_offset != 8 || dropped) return true;
    dropped = true;
    return false;
  });
  net.heal();
  net.tick_all(5);
  ASSERT_TRUE(dropped);
  EXPECT_EQ(net.storage(3).snapshot()->meta.index, 1u) << "stalled: chunk 8 was lost";
  EXPECT_EQ(net.raft(1).progress(3)->state, ProgressState::kSnapshot);
  net.sent().clear();
  net.tick_all(20);
  EXPECT_EQ(net.storage(3).snapshot()->data, kLeaderState);
  // The transfer restarted at offset 0; the follower acknowledged the 8 bytes it held, so the
  // leader went on from there instead of sending everything again.
  EXPECT_EQ(chunk_offsets(net), (std::vector<uint64_t>{0, 8, 12, 16}));
}

TEST(RaftPaper, S7_LeaderChangeMidTransferDiscardsThePartialSnapshot) {
  Network net(3, chunked);
  leave_node_3_behind_a_snapshot(net, "one:0123456789abcde");
  // Node 2 compacts too, with a snapshot whose bytes differ from the first one's.
  uint64_t applied = net.raft(2).applied();
  ASSERT_EQ(applied, net.raft(1).applied());
  ASSERT_TRUE(net.storage(2)
                  .create_snapshot(applied, net.raft(2).conf_state(), "two:0123456789abcde")
                  .is_ok());
  ASSERT_TRUE(net.storage(2).compact(applied).is_ok());
  // Leader 1's chunk at offset 8 never arrives: node 3 holds 8 bytes of its snapshot.
  net.set_filter([](const Message& m) {
    return !(m.type == MessageType::kSnap && m.from == 1 && m.snapshot_offset == 8);
  });
  net.heal();
  net.tick_all(3);
  ASSERT_EQ(net.storage(3).snapshot()->meta.index, 1u);
  // Leadership moves to node 2 (thesis §3.10) in a new term.
  ASSERT_TRUE(net.raft(1).transfer_leadership(2).is_ok());
  net.deliver();
  ASSERT_EQ(net.raft(2).role(), Role::kLeader);
  net.tick_all(3);
  // Node 3 installed node 2's snapshot from its first byte, not a splice of the two.
  EXPECT_EQ(net.storage(3).snapshot()->data, "two:0123456789abcde");
  ASSERT_TRUE(net.raft(2).propose("after").is_ok());
  net.tick_all(2);
  EXPECT_EQ(payloads(net.node(3).applied).back(), "after");
}

TEST(RaftPaper, S7_RefusedSnapshotStopsTheTransferUntilTheTimeout) {
  Network net(3, [](RaftConfig& c) {
    chunked(c);
    c.snapshot_timeout_ticks = 20;
    if (c.id == 3) c.max_snapshot_bytes = 10;
  });
  leave_node_3_behind_a_snapshot(net);
  net.heal();
  net.sent().clear();
  net.tick_all(5);
  // Chunks at 0 and 4 fit in 10 bytes; the one at 8 does not, and is refused.
  EXPECT_EQ(chunk_offsets(net), (std::vector<uint64_t>{0, 4, 8}));
  std::vector<Message> acks = net.sent_of(MessageType::kSnapResp);
  ASSERT_FALSE(acks.empty());
  EXPECT_TRUE(acks.back().reject);
  EXPECT_EQ(net.storage(3).snapshot()->meta.index, 1u);
  EXPECT_EQ(net.raft(1).role(), Role::kLeader);
  net.sent().clear();
  net.tick_all(25);  // past the snapshot timeout: one more attempt, refused again
  EXPECT_EQ(chunk_offsets(net), (std::vector<uint64_t>{0, 4, 8}));
}

TEST(RaftPaper, S7_BadSnapshotAcknowledgementsAreRejectedNotFatal) {
  Network net(3, chunked);
  leave_node_3_behind_a_snapshot(net);
  net.heal();
  // Hold node 3's acknowledgements back, so that the leader has a transfer in progress.
  net.set_filter([](const Message& m) { return m.type != MessageType::kSnapResp; });
  net.tick_all(2);
  ASSERT_EQ(net.raft(1).progress(3)->state, ProgressState::kSnapshot);
  uint64_t index = net.storage(1).snapshot()->meta.index;
  Message ack;
  ack.type = MessageType::kSnapResp;
  ack.from = 3;
  ack.to = 1;
  ack.term = net.raft(1).term();
  ack.index = index;
  ack.log_term = net.storage(1).snapshot()->meta.term;
  ack.snapshot_offset = 3;  // not a chunk boundary
  EXPECT_EQ(net.raft(1).step(ack).code(), StatusCode::kInvalidArgument);
  ack.snapshot_offset = 20;  // the whole snapshot: that is acknowledged by kAppResp
  EXPECT_EQ(net.raft(1).step(ack).code(), StatusCode::kInvalidArgument);
  ack.snapshot_offset = 1u << 30;
  EXPECT_EQ(net.raft(1).step(ack).code(), StatusCode::kInvalidArgument);
  ack.index = index + 7;  // another snapshot: ignored
  ack.snapshot_offset = 4;
  EXPECT_TRUE(net.raft(1).step(ack).is_ok());
  EXPECT_EQ(net.raft(1).role(), Role::kLeader);
  net.set_filter({});
  net.tick_all(60);  // past the snapshot timeout: the transfer starts over and completes
  EXPECT_EQ(net.storage(3).snapshot()->data, kLeaderState);
}

TEST(RaftPaper, S7_UnreachableFollowerTransferResumesAfterTheNextProbe) {
  Network net(3, chunked);
  leave_node_3_behind_a_snapshot(net);
  net.set_filter(
      [](const Message& m) { return !(m.type == MessageType::kSnap && m.snapshot_offset == 8); });
  net.heal();
  net.tick_all(3);
  ASSERT_EQ(net.raft(1).progress(3)->state, ProgressState::kSnapshot);
  // The transport lost the connection: the transfer is abandoned for a probe.
  net.raft(1).report_unreachable(3);
  EXPECT_EQ(net.raft(1).progress(3)->state, ProgressState::kProbe);
  net.set_filter({});
  net.sent().clear();
  net.tick_all(3);
  EXPECT_EQ(net.storage(3).snapshot()->data, kLeaderState);
  EXPECT_EQ(chunk_offsets(net), (std::vector<uint64_t>{0, 8, 12, 16}));
}

}  // namespace
}  // namespace meld::consensus
