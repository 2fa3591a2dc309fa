// RaftConfig::applied (etcd's Config.Applied): a host whose state machine keeps its applied
// index durably restarts from it instead of re-applying the log from the snapshot on.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/rng.h"
#include "consensus/raft.h"

namespace meld::consensus {
namespace {

// A single-voter log: a snapshot at index 1, entries 2..5 of term 1, all committed.
class RestartFromApplied : public ::testing::Test {
 protected:
  void SetUp() override {
    Snapshot snap;
    snap.meta.index = 1;
    snap.meta.term = 1;
    snap.meta.conf_state.voters = {1};
    ASSERT_TRUE(storage_.apply_snapshot(snap).is_ok());
    std::vector<Entry> ents;
    for (uint64_t i = 2; i <= 5; ++i) {
      ents.push_back(Entry{1, i, EntryType::kNormal, "e" + std::to_string(i)});
    }
    ASSERT_TRUE(storage_.append(ents).is_ok());
    storage_.set_hard_state(HardState{1, 1, 5});
  }

  Result<std::unique_ptr<Raft>> create(uint64_t applied) {
    RaftConfig c;
    c.id = 1;
    c.applied = applied;
    return Raft::create(c, &storage_, &rng_);
  }

  static std::vector<uint64_t> committed_indexes(Raft& raft) {
    std::vector<uint64_t> out;
    if (!raft.has_ready()) return out;
    Ready rd = raft.ready();
    for (const Entry& e : rd.committed_entries) out.push_back(e.index);
    raft.advance(rd);
    return out;
  }

  MemoryStorage storage_;
  SeededRng rng_{1};
};

TEST_F(RestartFromApplied, HandsOutOnlyEntriesAfterTheAppliedIndex) {
  Result<std::unique_ptr<Raft>> raft = create(3);
  ASSERT_TRUE(raft.is_ok()) << raft.status().to_string();
  EXPECT_EQ((*raft)->applied(), 3u);
  EXPECT_EQ(committed_indexes(**raft), (std::vector<uint64_t>{4, 5}));
}

TEST_F(RestartFromApplied, ZeroMeansFromTheFirstIndex) {
  Result<std::unique_ptr<Raft>> raft = create(0);
  ASSERT_TRUE(raft.is_ok()) << raft.status().to_string();
  EXPECT_EQ(committed_indexes(**raft), (std::vector<uint64_t>{2, 3, 4, 5}));
}

TEST_F(RestartFromApplied, AppliedAtTheCommitIndexHandsOutNothing) {
  Result<std::unique_ptr<Raft>> raft = create(5);
  ASSERT_TRUE(raft.is_ok()) << raft.status().to_string();
  EXPECT_TRUE(committed_indexes(**raft).empty());
}

TEST_F(RestartFromApplied, RejectsAnAppliedIndexPastTheCommitIndex) {
  storage_.set_hard_state(HardState{1, 1, 4});
  EXPECT_EQ(create(5).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(RestartFromApplied, RejectsAnAppliedIndexBeforeTheCompactedLog) {
  ASSERT_TRUE(storage_.compact(3).is_ok());
  EXPECT_EQ(create(2).status().code(), StatusCode::kInvalidArgument)
      << "entry 3 is compacted away: the state machine cannot catch up from index 2";
  EXPECT_TRUE(create(3).is_ok());
}

}  // namespace
}  // namespace meld::consensus
