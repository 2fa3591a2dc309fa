// The behavioural contract of consensus::Storage and its write operations, run against
// MemoryStorage and against the durable RaftLogStore: with its entry cache, without it (every
// entries() read goes to RocksDB), and reopened from RocksDB after every write.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "consensus/storage.h"
#include "storage/engine.h"
#include "storage/raft_log_store.h"
#include "tests/storage/temp_dir.h"

namespace meld::storage {
namespace {

using consensus::ConfState;
using consensus::Entry;
using consensus::EntryType;
using consensus::HardState;
using consensus::Snapshot;

class MemoryLog {
 public:
  const consensus::Storage& storage() const { return storage_; }
  Status append(const std::vector<Entry>& ents) { return storage_.append(ents); }
  void set_hard_state(const HardState& hs) { storage_.set_hard_state(hs); }
  Status apply_snapshot(const Snapshot& snap) { return storage_.apply_snapshot(snap); }
  Result<Snapshot> create_snapshot(uint64_t index, const ConfState& cs, std::string data) {
    return storage_.create_snapshot(index, cs, std::move(data));
  }
  Status compact(uint64_t index) { return storage_.compact(index); }

 private:
  consensus::MemoryStorage storage_;
};

// Each write is staged, committed with commit_sync, and (kReopen) followed by a reopen of the
// store, so every read of the contract is then answered from what RocksDB holds.
template <uint64_t kCacheBytes, bool kReopen>
class DurableLog {
 public:
  DurableLog() {
    Options options;
    options.dir = tmp_.sub("db");
    Result<std::unique_ptr<Engine>> engine = Engine::open(options, &executor_);
    MELD_ASSERT(engine.is_ok(), engine.status().to_string());
    engine_ = std::move(*engine);
    reopen();
  }
  const consensus::Storage& storage() const { return *store_; }
  Status append(const std::vector<Entry>& ents) {
    return write([&](WriteBatch* b) { return store_->append(ents, b); });
  }
  void set_hard_state(const HardState& hs) {
    Status s = write([&](WriteBatch* b) {
      store_->set_hard_state(hs, b);
      return Status::ok();
    });
    MELD_ASSERT(s.is_ok(), s.to_string());
  }
  Status apply_snapshot(const Snapshot& snap) {
    return write([&](WriteBatch* b) { return store_->apply_snapshot(snap, b); });
  }
  Result<Snapshot> create_snapshot(uint64_t index, const ConfState& cs, std::string data) {
    Result<Snapshot> out = Status::internal("not run");
    Status s = write([&](WriteBatch* b) {
      out = store_->create_snapshot(index, cs, std::move(data), b);
      return out.status();
    });
    if (!s.is_ok()) return s;
    return out;
  }
  Status compact(uint64_t index) {
    return write([&](WriteBatch* b) { return store_->compact(index, b); });
  }

 private:
  template <typename F>
  Status write(F stage) {
    WriteBatch batch;
    MELD_RETURN_IF_ERROR(stage(&batch));
    MELD_RETURN_IF_ERROR(engine_->commit_sync(std::move(batch)));
    if (kReopen) reopen();
    return Status::ok();
  }
  void reopen() {
    store_.reset();
    RaftLogOptions options;
    options.entry_cache_bytes = kCacheBytes;
    Result<std::unique_ptr<RaftLogStore>> store = RaftLogStore::open(engine_.get(), 7, options);
    MELD_ASSERT(store.is_ok(), store.status().to_string());
    store_ = std::move(*store);
  }

  testing::TempDir tmp_;
  InlineExecutor executor_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<RaftLogStore> store_;
};

template <typename Log>
class StorageContract : public ::testing::Test {
 protected:
  const consensus::Storage& s() const { return log_.storage(); }
  // Entries [lo, hi] of term `term`, with data naming their index.
  static std::vector<Entry> ents(uint64_t lo, uint64_t hi, uint64_t term) {
    std::vector<Entry> out;
    for (uint64_t i = lo; i <= hi; ++i) {
      out.push_back(Entry{term, i, EntryType::kNormal, "data-" + std::to_string(i)});
    }
    return out;
  }
  std::vector<uint64_t> terms(uint64_t lo, uint64_t hi) const {
    std::vector<uint64_t> out;
    for (uint64_t i = lo; i <= hi; ++i) {
      Result<uint64_t> t = s().term(i);
      EXPECT_TRUE(t.is_ok()) << "term(" << i << "): " << t.status().to_string();
      out.push_back(t.is_ok() ? *t : 0);
    }
    return out;
  }
  Log log_;
};

using Logs = ::testing::Types<MemoryLog, DurableLog<1 << 20, false>, DurableLog<0, false>,
                              DurableLog<100, true>>;
class LogNames {
 public:
  template <typename T>
  static std::string GetName(int i) {
    const char* names[] = {"Memory", "DurableCached", "DurableUncached", "DurableReopened"};
    return names[i];
  }
};
TYPED_TEST_SUITE(StorageContract, Logs, LogNames);

TYPED_TEST(StorageContract, StartsEmpty) {
  EXPECT_EQ(this->s().first_index(), 1u);
  EXPECT_EQ(this->s().last_index(), 0u);
  EXPECT_EQ(*this->s().term(0), 0u);
  EXPECT_EQ(this->s().term(1).status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(this->s().entries(1, 1, 100)->empty());
  EXPECT_EQ(this->s().initial_state()->hard_state, HardState{});
  EXPECT_TRUE(this->s().snapshot()->empty());
}

TYPED_TEST(StorageContract, AppendedEntriesReadBack) {
  ASSERT_TRUE(this->log_.append(this->ents(1, 5, 1)).is_ok());
  ASSERT_TRUE(this->log_.append(this->ents(6, 8, 2)).is_ok());
  EXPECT_EQ(this->s().last_index(), 8u);
  EXPECT_EQ(this->terms(0, 8), (std::vector<uint64_t>{0, 1, 1, 1, 1, 1, 2, 2, 2}));
  Result<std::vector<Entry>> got = this->s().entries(3, 7, UINT64_MAX);
  ASSERT_TRUE(got.is_ok()) << got.status().to_string();
  std::vector<Entry> want = this->ents(3, 5, 1);
  want.push_back(this->ents(6, 6, 2)[0]);
  EXPECT_EQ(*got, want);
}

TYPED_TEST(StorageContract, EntriesStopAtMaxBytesButReturnAtLeastOne) {
  ASSERT_TRUE(this->log_.append(this->ents(1, 10, 1)).is_ok());
  uint64_t one = consensus::entry_bytes(this->ents(1, 1, 1)[0]);
  EXPECT_EQ(this->s().entries(2, 10, 3 * one)->size(), 3u);
  EXPECT_EQ(this->s().entries(2, 10, 3 * one + 1)->size(), 3u);
  EXPECT_EQ(this->s().entries(2, 10, 0)->size(), 1u);
  EXPECT_EQ(this->s().entries(2, 10, UINT64_MAX)->size(), 8u);
}

TYPED_TEST(StorageContract, ReadsPastTheEndAreUnavailable) {
  ASSERT_TRUE(this->log_.append(this->ents(1, 3, 1)).is_ok());
  EXPECT_EQ(this->s().term(4).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(this->s().entries(2, 5, UINT64_MAX).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(this->s().entries(3, 2, UINT64_MAX).status().code(), StatusCode::kUnavailable);
}

TYPED_TEST(StorageContract, AppendReplacesAConflictingSuffix) {
  ASSERT_TRUE(this->log_.append(this->ents(1, 6, 1)).is_ok());
  ASSERT_TRUE(this->log_.append(this->ents(4, 4, 2)).is_ok());
  EXPECT_EQ(this->s().last_index(), 4u) << "entries 5 and 6 belong to the replaced suffix";
  EXPECT_EQ(this->terms(1, 4), (std::vector<uint64_t>{1, 1, 1, 2}));
  EXPECT_EQ(this->s().term(5).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(*this->s().entries(4, 5, UINT64_MAX), this->ents(4, 4, 2));
  // The log grows again past the old end without any stale entry showing through.
  ASSERT_TRUE(this->log_.append(this->ents(5, 7, 3)).is_ok());
  EXPECT_EQ(this->terms(1, 7), (std::vector<uint64_t>{1, 1, 1, 2, 3, 3, 3}));
}

TYPED_TEST(StorageContract, AppendRefusesAGap) {
  ASSERT_TRUE(this->log_.append(this->ents(1, 3, 1)).is_ok());
  EXPECT_EQ(this->log_.append(this->ents(5, 6, 1)).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(this->s().last_index(), 3u);
}

TYPED_TEST(StorageContract, CompactionMovesTheFirstIndexAndKeepsTheTermThere) {
  ASSERT_TRUE(this->log_.append(this->ents(1, 4, 1)).is_ok());
  ASSERT_TRUE(this->log_.append(this->ents(5, 8, 2)).is_ok());
  ASSERT_TRUE(this->log_.compact(5).is_ok());
  EXPECT_EQ(this->s().first_index(), 6u);
  EXPECT_EQ(this->s().last_index(), 8u);
  EXPECT_EQ(*this->s().term(5), 2u);
  EXPECT_TRUE(consensus::is_compacted(this->s().term(4).status()));
  EXPECT_TRUE(consensus::is_compacted(this->s().entries(5, 7, UINT64_MAX).status()));
  EXPECT_EQ(*this->s().entries(6, 9, UINT64_MAX), this->ents(6, 8, 2));
  EXPECT_TRUE(this->log_.compact(3).is_ok()) << "already compacted: a no-op";
  EXPECT_EQ(this->s().first_index(), 6u);
  EXPECT_EQ(this->log_.compact(9).code(), StatusCode::kInvalidArgument);
}

TYPED_TEST(StorageContract, AppendSkipsEntriesAlreadyCompacted) {
  ASSERT_TRUE(this->log_.append(this->ents(1, 5, 1)).is_ok());
  ASSERT_TRUE(this->log_.compact(3).is_ok());
  ASSERT_TRUE(this->log_.append(this->ents(2, 7, 1)).is_ok());
  EXPECT_EQ(this->s().first_index(), 4u);
  EXPECT_EQ(*this->s().entries(4, 8, UINT64_MAX), this->ents(4, 7, 1));
  ASSERT_TRUE(this->log_.append(this->ents(1, 2, 1)).is_ok());
  EXPECT_EQ(this->s().last_index(), 7u) << "wholly compacted entries change nothing";
}

TYPED_TEST(StorageContract, AppliedSnapshotReplacesTheLog) {
  ASSERT_TRUE(this->log_.append(this->ents(1, 5, 1)).is_ok());
  Snapshot snap;
  snap.meta.index = 10;
  snap.meta.term = 3;
  snap.meta.conf_state.voters = {1, 2, 3};
  snap.meta.conf_state.learners = {4};
  snap.data = "state machine";
  ASSERT_TRUE(this->log_.apply_snapshot(snap).is_ok());
  EXPECT_EQ(this->s().first_index(), 11u);
  EXPECT_EQ(this->s().last_index(), 10u);
  EXPECT_EQ(*this->s().term(10), 3u);
  EXPECT_TRUE(consensus::is_compacted(this->s().term(5).status()));
  EXPECT_EQ(*this->s().snapshot(), snap);
  EXPECT_EQ(this->s().initial_state()->conf_state, snap.meta.conf_state);
  ASSERT_TRUE(this->log_.append(this->ents(11, 12, 3)).is_ok());
  EXPECT_EQ(*this->s().entries(11, 13, UINT64_MAX), this->ents(11, 12, 3));

  Snapshot older = snap;
  older.meta.index = 9;
  EXPECT_EQ(this->log_.apply_snapshot(older).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(this->s().last_index(), 12u);
}

TYPED_TEST(StorageContract, CreatedSnapshotRecordsTheTermAtItsIndex) {
  ASSERT_TRUE(this->log_.append(this->ents(1, 3, 1)).is_ok());
  ASSERT_TRUE(this->log_.append(this->ents(4, 6, 2)).is_ok());
  ConfState cs;
  cs.voters = {1, 2};
  Result<Snapshot> snap = this->log_.create_snapshot(4, cs, "at four");
  ASSERT_TRUE(snap.is_ok()) << snap.status().to_string();
  EXPECT_EQ(snap->meta.index, 4u);
  EXPECT_EQ(snap->meta.term, 2u);
  EXPECT_EQ(*this->s().snapshot(), *snap);
  EXPECT_EQ(this->s().first_index(), 1u) << "creating a snapshot does not compact";
  EXPECT_EQ(this->log_.create_snapshot(7, cs, "").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(this->log_.create_snapshot(3, cs, "").status().code(), StatusCode::kInvalidArgument)
      << "older than the current snapshot";
}

TYPED_TEST(StorageContract, HardStateIsTheInitialState) {
  ASSERT_TRUE(this->log_.append(this->ents(1, 3, 1)).is_ok());
  this->log_.set_hard_state(HardState{5, 2, 3});
  EXPECT_EQ(this->s().initial_state()->hard_state, (HardState{5, 2, 3}));
}

}  // namespace
}  // namespace meld::storage
