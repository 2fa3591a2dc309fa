#include "storage/crdt_join.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>
#include <rocksdb/db.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "crdt/codec.h"
#include "crdt/map.h"

namespace meld::storage {
namespace {

namespace fs = std::filesystem;

// One RocksDB with the meld.crdt_join operator on its default column family, in a fresh directory
// removed at the end.
class JoinDb {
 public:
  JoinDb() {
    std::string pattern = (fs::temp_directory_path() / "meld-crdt-join-XXXXXX").string();
    MELD_ASSERT(mkdtemp(pattern.data()) != nullptr, "mkdtemp failed");
    path_ = pattern;
    rocksdb::Options options;
    options.create_if_missing = true;
    options.merge_operator = new_crdt_join_operator(crdt::DecodeLimits{});
    rocksdb::DB* db = nullptr;
    rocksdb::Status s = rocksdb::DB::Open(options, path_.string(), &db);
    MELD_ASSERT(s.ok(), s.ToString());
    db_.reset(db);
  }
  ~JoinDb() {
    db_.reset();
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  rocksdb::DB& db() { return *db_; }

 private:
  fs::path path_;
  std::unique_ptr<rocksdb::DB> db_;
};

JoinDb& shared_db() {
  static JoinDb db;
  return db;
}

std::string get(rocksdb::DB& db, const std::string& key) {
  std::string value;
  rocksdb::Status s = db.Get(rocksdb::ReadOptions(), key, &value);
  RC_ASSERT(s.ok());
  return value;
}

// Deltas written as merge operands (some twice, some as a Put of a full state), with flushes and
// compactions in between: the value read is the in-memory join of all of them, byte for byte.
template <typename State, typename Mutate>
void merging_through_rocksdb_equals_merging_in_memory(const std::string& key, Mutate mutate) {
  rocksdb::DB& db = shared_db().db();
  std::vector<State> replicas(3);
  State expected;
  int steps = *rc::gen::inRange(1, 25);
  for (int i = 0; i < steps; ++i) {
    State& replica = replicas[*rc::gen::inRange(0, 3)];
    State delta = mutate(replica, static_cast<uint64_t>(i + 1));
    expected.merge(delta);
    switch (*rc::gen::inRange(0, 10)) {
      case 0:
        RC_ASSERT(db.Flush(rocksdb::FlushOptions()).ok());
        break;
      case 1:
        RC_ASSERT(db.CompactRange(rocksdb::CompactRangeOptions(), nullptr, nullptr).ok());
        break;
      case 2:  // a retried write: the same delta again
        RC_ASSERT(db.Merge(rocksdb::WriteOptions(), key, crdt::encode(delta)).ok());
        break;
      default:
        break;
    }
    RC_ASSERT(db.Merge(rocksdb::WriteOptions(), key, crdt::encode(delta)).ok());
  }
  // A full state written as an operand (anti-entropy) changes nothing it already includes.
  RC_ASSERT(db.Merge(rocksdb::WriteOptions(), key, crdt::encode(replicas[0])).ok());
  RC_ASSERT(get(db, key) == crdt::encode(expected));
  RC_ASSERT(db.CompactRange(rocksdb::CompactRangeOptions(), nullptr, nullptr).ok());
  RC_ASSERT(get(db, key) == crdt::encode(expected));
}

std::string fresh_key(const char* prefix) {
  static uint64_t n = 0;
  return prefix + std::to_string(++n);
}

RC_GTEST_PROP(CrdtJoin, PnCounterMergedThroughRocksDbEqualsInMemoryJoin, ()) {
  auto amounts = *rc::gen::container<std::vector<int64_t>>(40, rc::gen::inRange<int64_t>(-9, 10));
  merging_through_rocksdb_equals_merging_in_memory<crdt::PnCounter>(
      fresh_key("counter-"), [&](crdt::PnCounter& c, uint64_t seq) {
        return c.increment(crdt::Dot{0x5e55, seq}, amounts[seq % amounts.size()]);
      });
}

// Adds and removes of four elements under request ids, for either kind of set.
template <typename Set>
void set_updates_merged_through_rocksdb(const char* prefix) {
  auto ops = *rc::gen::container<std::vector<int>>(40, rc::gen::inRange(0, 8));
  merging_through_rocksdb_equals_merging_in_memory<Set>(
      fresh_key(prefix), [&](Set& s, uint64_t seq) {
        int op = ops[seq % ops.size()];
        std::string element = "e" + std::to_string(op % 4);
        return op < 4 ? s.add(crdt::Dot{0x5e55, seq}, element)
                      : s.remove(crdt::Dot{0x5e55, seq}, element);
      });
}

RC_GTEST_PROP(CrdtJoin, AwSetMergedThroughRocksDbEqualsInMemoryJoin, ()) {
  set_updates_merged_through_rocksdb<crdt::AwSet>("set-");
}

RC_GTEST_PROP(CrdtJoin, RwSetMergedThroughRocksDbEqualsInMemoryJoin, ()) {
  set_updates_merged_through_rocksdb<crdt::RwSet>("rwset-");
}

RC_GTEST_PROP(CrdtJoin, GCounterMergedThroughRocksDbEqualsInMemoryJoin, ()) {
  auto amounts = *rc::gen::container<std::vector<uint64_t>>(40, rc::gen::inRange<uint64_t>(0, 10));
  merging_through_rocksdb_equals_merging_in_memory<crdt::GCounter>(
      fresh_key("gcounter-"), [&](crdt::GCounter& c, uint64_t seq) {
        return c.increment(crdt::Dot{0x5e55, seq}, amounts[seq % amounts.size()]);
      });
}

RC_GTEST_PROP(CrdtJoin, LwwRegisterMergedThroughRocksDbEqualsInMemoryJoin, ()) {
  auto times = *rc::gen::container<std::vector<int64_t>>(40, rc::gen::inRange<int64_t>(1, 6));
  merging_through_rocksdb_equals_merging_in_memory<crdt::LwwRegister>(
      fresh_key("lww-"), [&](crdt::LwwRegister& r, uint64_t seq) {
        // Equal physical times and logical parts: the node and then the value break the tie.
        crdt::Hlc at{times[seq % times.size()], 0, static_cast<crdt::ReplicaId>(seq % 3)};
        return r.set(at, "v" + std::to_string(seq % 5));
      });
}

RC_GTEST_PROP(CrdtJoin, MvRegisterMergedThroughRocksDbEqualsInMemoryJoin, ()) {
  merging_through_rocksdb_equals_merging_in_memory<crdt::MvRegister>(
      fresh_key("mv-"), [&](crdt::MvRegister& r, uint64_t seq) {
        return r.set(crdt::Dot{0x5e55, seq}, "v" + std::to_string(seq % 5));
      });
}

RC_GTEST_PROP(CrdtJoin, NestedMapMergedThroughRocksDbEqualsInMemoryJoin, ()) {
  auto ops = *rc::gen::container<std::vector<int>>(40, rc::gen::inRange(0, 6));
  merging_through_rocksdb_equals_merging_in_memory<crdt::OrMap>(
      fresh_key("map-"), [&](crdt::OrMap& m, uint64_t seq) {
        const crdt::Dot dot{0x5e55, seq};
        const int op = ops[seq % ops.size()];
        const crdt::MapKey counter{"n", crdt::Kind::kPnCounter};
        const crdt::MapKey set{"s", crdt::Kind::kAwSet};
        const crdt::MapKey inner{"m", crdt::Kind::kMap};
        switch (op) {
          case 0:
            return m.remove(dot, counter);
          case 1:
            return m.remove(inner);
          case 2: {
            crdt::Value v = m.current(set);
            auto delta = m.update(dot, set, crdt::Value(v.get<crdt::AwSet>()->add(dot, "x")));
            RC_ASSERT(delta.is_ok());
            return std::move(delta).value();
          }
          case 3: {
            crdt::Value v = m.current(inner);
            crdt::OrMap* nested = v.get<crdt::OrMap>();
            crdt::Value c = nested->current(counter);
            auto nested_delta = nested->update(
                dot, counter, crdt::Value(c.get<crdt::PnCounter>()->increment(dot, 2)));
            RC_ASSERT(nested_delta.is_ok());
            auto delta = m.update(dot, inner, crdt::Value(std::move(nested_delta).value()));
            RC_ASSERT(delta.is_ok());
            return std::move(delta).value();
          }
          default: {
            crdt::Value v = m.current(counter);
            auto delta =
                m.update(dot, counter, crdt::Value(v.get<crdt::PnCounter>()->increment(dot, op)));
            RC_ASSERT(delta.is_ok());
            return std::move(delta).value();
          }
        }
      });
}

TEST(CrdtJoin, AnUndecodableOperandIsACorruptionOnRead) {
  rocksdb::DB& db = shared_db().db();
  crdt::PnCounter c;
  ASSERT_TRUE(
      db.Merge(rocksdb::WriteOptions(), "bad", crdt::encode(c.increment(crdt::Dot{1, 1}, 1))).ok());
  ASSERT_TRUE(db.Merge(rocksdb::WriteOptions(), "bad", "not a crdt").ok());
  std::string value;
  EXPECT_TRUE(db.Get(rocksdb::ReadOptions(), "bad", &value).IsCorruption());
  ASSERT_TRUE(db.Delete(rocksdb::WriteOptions(), "bad").ok());
}

TEST(CrdtJoin, OperandsOfDifferentKindsJoinToTheGreaterKindInEitherOrder) {
  rocksdb::DB& db = shared_db().db();
  crdt::PnCounter c;
  crdt::AwSet s;
  const std::string counter = crdt::encode(c.increment(crdt::Dot{1, 1}, 1));
  const std::string set = crdt::encode(s.add(crdt::Dot{1, 2}, "x"));
  ASSERT_GT(crdt::Kind::kAwSet, crdt::Kind::kPnCounter);
  auto read = [&db] {
    std::string value;
    EXPECT_TRUE(db.Get(rocksdb::ReadOptions(), "mixed", &value).ok());
    return value;
  };
  for (const auto& [first, second] : {std::pair{counter, set}, std::pair{set, counter}}) {
    ASSERT_TRUE(db.Merge(rocksdb::WriteOptions(), "mixed", first).ok());
    ASSERT_TRUE(db.Merge(rocksdb::WriteOptions(), "mixed", second).ok());
    EXPECT_EQ(read(), crdt::encode(s));
    ASSERT_TRUE(db.Flush(rocksdb::FlushOptions()).ok());
    EXPECT_EQ(read(), crdt::encode(s));
    ASSERT_TRUE(db.Delete(rocksdb::WriteOptions(), "mixed").ok());
  }
}

TEST(CrdtJoin, AnUndecodableBaseValueIsReplaced) {
  rocksdb::DB& db = shared_db().db();
  ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), "base", "plain value").ok());
  crdt::PnCounter c;
  crdt::PnCounter delta = c.increment(crdt::Dot{1, 1}, 7);
  ASSERT_TRUE(db.Merge(rocksdb::WriteOptions(), "base", crdt::encode(delta)).ok());
  std::string value;
  ASSERT_TRUE(db.Get(rocksdb::ReadOptions(), "base", &value).ok());
  EXPECT_EQ(value, crdt::encode(c));
}

}  // namespace
}  // namespace meld::storage
