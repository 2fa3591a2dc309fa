// RaftLogStore beyond the shared Storage contract (raft_log_contract_test.cc): agreement with
// MemoryStorage under random operations and reopens, many groups in one engine, the cache rule
// for staged writes, corrupted records, and the durable applied index with a restarting Raft.
#include "storage/raft_log_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "base/rng.h"
#include "consensus/raft.h"
#include "storage/engine.h"
#include "tests/storage/temp_dir.h"

namespace meld::storage {
namespace {

using consensus::ConfState;
using consensus::Entry;
using consensus::EntryType;
using consensus::HardState;
using consensus::MemoryStorage;
using consensus::Snapshot;

std::string be64(uint64_t v) {
  std::string out;
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
  return out;
}

// The raw key of a record (see the layout in raft_log_store.h), for writing damaged records.
std::string raw_key(uint64_t group, char kind) {
  return be64(group) + kind;
}
std::string raw_entry_key(uint64_t group, uint64_t index) {
  return raw_key(group, 'e') + be64(index);
}

class RaftLogStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { open_engine(); }
  void open_engine() {
    engine_.reset();
    Options options;
    options.dir = tmp_.sub("db");
    Result<std::unique_ptr<Engine>> engine = Engine::open(options, &executor_);
    ASSERT_TRUE(engine.is_ok()) << engine.status().to_string();
    engine_ = std::move(*engine);
  }
  std::unique_ptr<RaftLogStore> open(uint64_t group, uint64_t cache_bytes = 1 << 20) {
    RaftLogOptions options;
    options.entry_cache_bytes = cache_bytes;
    Result<std::unique_ptr<RaftLogStore>> store = RaftLogStore::open(engine_.get(), group, options);
    EXPECT_TRUE(store.is_ok()) << store.status().to_string();
    return store.is_ok() ? std::move(*store) : nullptr;
  }
  Status open_status(uint64_t group) { return RaftLogStore::open(engine_.get(), group).status(); }
  void commit(WriteBatch batch) { ASSERT_TRUE(engine_->commit_sync(std::move(batch)).is_ok()); }
  void put_raw(const std::string& key, const std::string& value) {
    WriteBatch b;
    b.put(Family::kRaftLog, key, value);
    commit(std::move(b));
  }
  void append(RaftLogStore& store, uint64_t lo, uint64_t hi, uint64_t term) {
    WriteBatch b;
    ASSERT_TRUE(store.append(ents(lo, hi, term), &b).is_ok());
    commit(std::move(b));
  }
  static std::vector<Entry> ents(uint64_t lo, uint64_t hi, uint64_t term,
                                 const std::string& tag = "") {
    std::vector<Entry> out;
    for (uint64_t i = lo; i <= hi; ++i) {
      out.push_back(Entry{term, i, EntryType::kNormal, tag + "data-" + std::to_string(i)});
    }
    return out;
  }

  testing::TempDir tmp_;
  InlineExecutor executor_;
  std::unique_ptr<Engine> engine_;
};

// Every read both stores answer, over the whole index range in play.
void expect_same_reads(const consensus::Storage& want, const consensus::Storage& got,
                       const std::string& when) {
  SCOPED_TRACE(when);
  ASSERT_EQ(got.first_index(), want.first_index());
  ASSERT_EQ(got.last_index(), want.last_index());
  EXPECT_EQ(got.initial_state()->hard_state, want.initial_state()->hard_state);
  EXPECT_EQ(got.initial_state()->conf_state, want.initial_state()->conf_state);
  EXPECT_EQ(*got.snapshot(), *want.snapshot());
  for (uint64_t i = want.first_index() - 1; i <= want.last_index() + 1; ++i) {
    EXPECT_EQ(got.term(i).status().code(), want.term(i).status().code()) << "term " << i;
    if (want.term(i).is_ok()) {
      EXPECT_EQ(*got.term(i), *want.term(i)) << "term " << i;
    }
  }
  Result<std::vector<Entry>> all =
      got.entries(want.first_index(), want.last_index() + 1, std::numeric_limits<uint64_t>::max());
  ASSERT_TRUE(all.is_ok()) << all.status().to_string();
  EXPECT_EQ(*all, *want.entries(want.first_index(), want.last_index() + 1,
                                std::numeric_limits<uint64_t>::max()));
  uint64_t mid = (want.first_index() + want.last_index()) / 2;
  if (mid >= want.first_index()) {
    EXPECT_EQ(*got.entries(mid, want.last_index() + 1, 200),
              *want.entries(mid, want.last_index() + 1, 200));
  }
}

// Law: under any sequence of appends (with conflicting suffixes), hard states, snapshots and
// compactions, the durable store answers every read as MemoryStorage does, before and after a
// reopen from RocksDB, whatever its cache size.
TEST_F(RaftLogStoreTest, RandomOperationsMatchMemoryStorageAcrossReopens) {
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    SeededRng rng(seed);
    uint64_t cache_bytes = seed % 3 == 0 ? 0 : rng.uniform(2000);
    MemoryStorage model;
    std::unique_ptr<RaftLogStore> store = open(seed, cache_bytes);
    ASSERT_NE(store, nullptr);
    uint64_t term = 1;
    for (int step = 0; step < 150; ++step) {
      WriteBatch b;
      uint64_t op = rng.uniform(10);
      if (op < 6) {
        // Append from a random point at or after the first index, maybe with a new term.
        uint64_t first = model.first_index();
        uint64_t from = first + rng.uniform(model.last_index() + 2 - first);
        if (rng.uniform(3) == 0) ++term;
        std::vector<Entry> batch = ents(from, from + rng.uniform(6), term, std::to_string(step));
        ASSERT_TRUE(model.append(batch).is_ok());
        ASSERT_TRUE(store->append(batch, &b).is_ok());
      } else if (op == 6) {
        HardState hs{term, rng.uniform(4), model.last_index()};
        model.set_hard_state(hs);
        store->set_hard_state(hs, &b);
      } else if (op == 7 && model.last_index() >= model.first_index()) {
        uint64_t index =
            model.first_index() + rng.uniform(model.last_index() - model.first_index() + 1);
        ASSERT_TRUE(model.compact(index).is_ok());
        ASSERT_TRUE(store->compact(index, &b).is_ok());
      } else if (op == 8) {
        Snapshot snap;
        snap.meta.index =
            std::max(model.last_index(), model.snapshot()->meta.index) + rng.uniform(4);
        snap.meta.term = term;
        snap.meta.conf_state.voters = {1, 2, 3 + rng.uniform(3)};
        snap.data = "snapshot at step " + std::to_string(step);
        ASSERT_TRUE(model.apply_snapshot(snap).is_ok());
        ASSERT_TRUE(store->apply_snapshot(snap, &b).is_ok());
      } else {
        uint64_t index = model.last_index();
        Result<Snapshot> snap_index = model.snapshot();
        if (index >= model.first_index() && index >= snap_index->meta.index) {
          ConfState cs;
          cs.voters = {1, 2, 3};
          ASSERT_TRUE(model.create_snapshot(index, cs, "created").is_ok());
          ASSERT_TRUE(store->create_snapshot(index, cs, "created", &b).is_ok());
        }
      }
      commit(std::move(b));
      expect_same_reads(model, *store,
                        "seed " + std::to_string(seed) + " step " + std::to_string(step));
      if (rng.uniform(10) == 0) {
        store = open(seed, cache_bytes);
        ASSERT_NE(store, nullptr);
        expect_same_reads(model, *store, "reopened at step " + std::to_string(step));
      }
      if (HasFatalFailure() || HasNonfatalFailure()) return;
    }
  }
}

TEST_F(RaftLogStoreTest, GroupsInterleavedInOneBatchStayApart) {
  const std::vector<uint64_t> groups = {0, 1, 2, std::numeric_limits<uint64_t>::max()};
  std::vector<std::unique_ptr<RaftLogStore>> stores;
  for (uint64_t g : groups) stores.push_back(open(g));
  for (uint64_t round = 0; round < 5; ++round) {
    WriteBatch b;
    for (size_t k = 0; k < groups.size(); ++k) {
      // Group k holds k+1 entries per round, tagged with its id.
      uint64_t lo = stores[k]->last_index() + 1;
      ASSERT_TRUE(
          stores[k]->append(ents(lo, lo + k, round + 1, std::to_string(groups[k])), &b).is_ok());
      stores[k]->set_hard_state(HardState{round + 1, groups[k], lo}, &b);
    }
    commit(std::move(b));
  }
  // Group 2 rewrites its tail; the other groups are untouched.
  WriteBatch b;
  ASSERT_TRUE(stores[2]->append(ents(4, 4, 9, "2"), &b).is_ok());
  commit(std::move(b));
  stores.clear();
  for (size_t k = 0; k < groups.size(); ++k) {
    std::unique_ptr<RaftLogStore> s = open(groups[k]);
    ASSERT_NE(s, nullptr);
    uint64_t last = k == 2 ? 4 : 5 * (k + 1);
    ASSERT_EQ(s->last_index(), last) << "group " << groups[k];
    Result<std::vector<Entry>> all = s->entries(1, last + 1, std::numeric_limits<uint64_t>::max());
    ASSERT_TRUE(all.is_ok()) << all.status().to_string();
    for (const Entry& e : *all) {
      EXPECT_EQ(e.data.rfind(std::to_string(groups[k]) + "data-", 0), 0u)
          << "group " << groups[k] << " reads " << e.data;
    }
    EXPECT_EQ(s->hard_state().vote, groups[k]);
  }
}

TEST_F(RaftLogStoreTest, StagedWritesAreVisibleBeforeTheirBatchCommits) {
  std::unique_ptr<RaftLogStore> store = open(1);
  append(*store, 1, 3, 1);
  WriteBatch b;
  ASSERT_TRUE(store->append(ents(3, 5, 2), &b).is_ok());
  store->set_hard_state(HardState{2, 1, 4}, &b);
  EXPECT_EQ(store->last_index(), 5u);
  EXPECT_EQ(*store->term(3), 2u);
  EXPECT_EQ(*store->entries(3, 6, std::numeric_limits<uint64_t>::max()), ents(3, 5, 2));
  EXPECT_EQ(store->initial_state()->hard_state.commit, 4u);
  // RocksDB holds the committed batches only: a reopen before the commit sees the old log.
  EXPECT_EQ(open(1)->last_index(), 3u);
  commit(std::move(b));
  EXPECT_EQ(*open(1)->entries(3, 6, std::numeric_limits<uint64_t>::max()), ents(3, 5, 2));
}

TEST_F(RaftLogStoreTest, AStagedEntryOutsideTheCacheReadsAsUnavailableUntilCommitted) {
  std::unique_ptr<RaftLogStore> store = open(1, /*cache_bytes=*/0);
  append(*store, 1, 2, 1);
  WriteBatch b;
  ASSERT_TRUE(store->append(ents(3, 4, 1), &b).is_ok());
  EXPECT_EQ(store->entries(3, 5, 1000).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(*store->entries(1, 3, 1000), ents(1, 2, 1)) << "committed entries read from RocksDB";
  commit(std::move(b));
  EXPECT_EQ(*store->entries(3, 5, 1000), ents(3, 4, 1));
}

TEST_F(RaftLogStoreTest, AStagedSnapshotIsUnavailableUntilCommitted) {
  std::unique_ptr<RaftLogStore> store = open(1);
  append(*store, 1, 4, 1);
  WriteBatch b;
  ASSERT_TRUE(store->create_snapshot(3, ConfState{{1}, {}, {}, {}, false}, "sm", &b).is_ok());
  EXPECT_EQ(store->snapshot().status().code(), StatusCode::kUnavailable);
  commit(std::move(b));
  ASSERT_TRUE(store->snapshot().is_ok());
  EXPECT_EQ(store->snapshot()->data, "sm");
}

TEST_F(RaftLogStoreTest, OversizedSnapshotsAreRefused) {
  RaftLogOptions options;
  options.max_snapshot_bytes = 8;
  Result<std::unique_ptr<RaftLogStore>> opened = RaftLogStore::open(engine_.get(), 1, options);
  ASSERT_TRUE(opened.is_ok()) << opened.status().to_string();
  RaftLogStore* store = opened->get();
  append(*store, 1, 2, 1);
  WriteBatch b;
  Snapshot snap;
  snap.meta.index = 5;
  snap.meta.term = 1;
  snap.data = "nine byte";
  EXPECT_EQ(store->apply_snapshot(snap, &b).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store->create_snapshot(2, {}, "nine byte", &b).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(store->last_index(), 2u);
}

TEST_F(RaftLogStoreTest, AppendRefusesEntriesGoingBackInTerm) {
  std::unique_ptr<RaftLogStore> store = open(1);
  append(*store, 1, 3, 2);
  WriteBatch b;
  EXPECT_EQ(store->append(ents(4, 4, 1), &b).code(), StatusCode::kInvalidArgument);
  std::vector<Entry> mixed = ents(4, 5, 3);
  mixed[1].term = 2;
  EXPECT_EQ(store->append(mixed, &b).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(store->last_index(), 3u);
}

// ---- corrupted records: a corruption status naming the group, never a crash ---------------

TEST_F(RaftLogStoreTest, UndecodableRecordsFailTheOpenWithCorruption) {
  struct Damage {
    std::string what;
    std::string key;
    std::string value;
  };
  const std::vector<Damage> damages = {
      {"entry too short", raw_entry_key(5, 3), "short"},
      {"entry of unknown type", raw_entry_key(5, 3), be64(1) + '\x07' + "x"},
      {"hard state of the wrong size", raw_key(5, 'h'), be64(1) + be64(2)},
      {"truncation of the wrong size", raw_key(5, 't'), be64(1)},
      {"snapshot list count past the record", raw_key(5, 's'), be64(1) + be64(1) + be64(1 << 30)},
      {"snapshot with a bad auto_leave", raw_key(5, 's'),
       be64(1) + be64(1) + be64(0) + be64(0) + be64(0) + be64(0) + '\x05'},
      {"applied state with trailing bytes", raw_key(5, 'a'),
       be64(1) + be64(0) + be64(0) + be64(0) + be64(0) + '\x00' + "junk"},
      {"entry key of the wrong size", raw_key(5, 'e') + "xyz", be64(1) + '\x00'},
      {"a gap: entry 5 after entry 2", raw_entry_key(5, 5), be64(1) + '\x00'},
      {"a term going back", raw_entry_key(5, 3), be64(0) + '\x00'},
  };
  for (const Damage& d : damages) {
    SCOPED_TRACE(d.what);
    // Group 5 holds entries 1..2 of term 1, then one damaged record is written.
    WriteBatch wipe;
    for (char kind : {'a', 'h', 's', 't'}) wipe.del(Family::kRaftLog, raw_key(5, kind));
    for (uint64_t i = 1; i <= 5; ++i) wipe.del(Family::kRaftLog, raw_entry_key(5, i));
    wipe.del(Family::kRaftLog, raw_key(5, 'e') + "xyz");
    commit(std::move(wipe));
    std::unique_ptr<RaftLogStore> store = open(5);
    append(*store, 1, 2, 1);
    put_raw(d.key, d.value);
    Status s = open_status(5);
    EXPECT_EQ(s.code(), StatusCode::kCorruption) << s.to_string();
    EXPECT_NE(s.message().find("group 5"), std::string::npos) << s.to_string();
  }
  EXPECT_TRUE(open_status(6).is_ok()) << "other groups are unaffected";
}

TEST_F(RaftLogStoreTest, AnEntryDamagedAfterOpenReadsAsCorruption) {
  std::unique_ptr<RaftLogStore> store = open(1, /*cache_bytes=*/0);
  append(*store, 1, 4, 1);
  put_raw(raw_entry_key(1, 2), "x");
  Result<std::vector<Entry>> got = store->entries(1, 5, 1000);
  EXPECT_EQ(got.status().code(), StatusCode::kCorruption) << got.status().to_string();
  WriteBatch b;
  b.del(Family::kRaftLog, raw_entry_key(1, 3));
  commit(std::move(b));
  got = store->entries(3, 5, 1000);
  EXPECT_EQ(got.status().code(), StatusCode::kCorruption) << "a missing entry is lost data";
}

TEST_F(RaftLogStoreTest, ADamagedSnapshotReadsAsCorruption) {
  std::unique_ptr<RaftLogStore> store = open(1);
  append(*store, 1, 2, 1);
  put_raw(raw_key(1, 's'), "garbage");
  EXPECT_EQ(store->snapshot().status().code(), StatusCode::kCorruption);
}

// ---- the applied index ---------------------------------------------------------------------

TEST_F(RaftLogStoreTest, SetAppliedRefusesGoingBackOrPastTheCommitIndex) {
  std::unique_ptr<RaftLogStore> store = open(1);
  append(*store, 1, 5, 1);
  WriteBatch b;
  store->set_hard_state(HardState{1, 0, 4}, &b);
  EXPECT_EQ(store->set_applied(AppliedState{5, {}}, &b).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(store->set_applied(AppliedState{3, {}}, &b).is_ok());
  EXPECT_EQ(store->set_applied(AppliedState{2, {}}, &b).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store->applied_state().index, 3u);
}

TEST_F(RaftLogStoreTest, TheAppliedStateCommitsAtomicallyWithTheStateMachine) {
  std::unique_ptr<RaftLogStore> store = open(1);
  append(*store, 1, 3, 1);
  WriteBatch hs;
  store->set_hard_state(HardState{1, 0, 3}, &hs);
  commit(std::move(hs));
  AppliedState applied{3, ConfState{{1, 2}, {}, {3}, {}, false}};
  WriteBatch sm;
  sm.put(Family::kKv, "k", "v3");
  ASSERT_TRUE(store->set_applied(applied, &sm).is_ok());
  // Not committed: neither the value nor the applied index is on disk.
  EXPECT_EQ(open(1)->applied_state().index, 0u);
  EXPECT_FALSE(engine_->get(Family::kKv, "k")->has_value());
  commit(std::move(sm));
  engine_->close();
  open_engine();
  std::unique_ptr<RaftLogStore> reopened = open(1);
  EXPECT_EQ(reopened->applied_state(), applied);
  EXPECT_EQ(**engine_->get(Family::kKv, "k"), "v3");
  EXPECT_EQ(reopened->initial_state()->conf_state, applied.conf_state)
      << "the membership as of the applied index, which is past the (empty) snapshot";
}

// A single-voter Raft group on the durable store whose state machine (a counter of applied
// entries in the kv family) commits with the applied index. After a restart from the stored
// applied index, no entry is applied twice.
TEST_F(RaftLogStoreTest, RaftRestartsFromTheDurableAppliedIndex) {
  auto run = [&](int proposals, std::vector<uint64_t>* applied_indexes) {
    std::unique_ptr<RaftLogStore> store = open(1);
    if (store->last_index() == 0) {
      Snapshot boot;
      boot.meta.index = 1;
      boot.meta.term = 1;
      boot.meta.conf_state.voters = {1};
      WriteBatch b;
      ASSERT_TRUE(store->apply_snapshot(boot, &b).is_ok());
      store->set_hard_state(HardState{1, 0, 1}, &b);
      commit(std::move(b));
    }
    SeededRng rng(1);
    consensus::RaftConfig config;
    config.id = 1;
    config.applied = store->applied_state().index;
    Result<std::unique_ptr<consensus::Raft>> raft =
        consensus::Raft::create(config, store.get(), &rng);
    ASSERT_TRUE(raft.is_ok()) << raft.status().to_string();
    for (int i = 0; i < 30 && (*raft)->role() != consensus::Role::kLeader; ++i) (*raft)->tick();
    ASSERT_EQ((*raft)->role(), consensus::Role::kLeader);
    for (int i = 0; i < proposals; ++i) ASSERT_TRUE((*raft)->propose("p").is_ok());
    for (int round = 0; round < 10 && (*raft)->has_ready(); ++round) {
      consensus::Ready rd = (*raft)->ready();
      WriteBatch log;
      ASSERT_TRUE(store->append(rd.entries, &log).is_ok());
      if (rd.hard_state) store->set_hard_state(*rd.hard_state, &log);
      commit(std::move(log));
      if (!rd.committed_entries.empty()) {
        WriteBatch sm;
        for (const Entry& e : rd.committed_entries) {
          applied_indexes->push_back(e.index);
          sm.put(Family::kKv, "applied-" + std::to_string(e.index), e.data);
        }
        ASSERT_TRUE(
            store
                ->set_applied(
                    AppliedState{rd.committed_entries.back().index, (*raft)->conf_state()}, &sm)
                .is_ok());
        commit(std::move(sm));
      }
      (*raft)->advance(rd);
    }
  };
  std::vector<uint64_t> first_run, second_run;
  run(3, &first_run);
  ASSERT_FALSE(first_run.empty());
  run(2, &second_run);
  ASSERT_FALSE(second_run.empty());
  EXPECT_GT(second_run.front(), first_run.back()) << "entries applied before the restart again";
  std::vector<std::pair<std::string, std::string>> kv;
  bool more = false;
  ASSERT_TRUE(engine_->scan(Family::kKv, "applied-", "applied.", 100, &kv, &more).is_ok());
  EXPECT_EQ(kv.size(), first_run.size() + second_run.size());
}

}  // namespace
}  // namespace meld::storage
