#include "storage/engine.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>
#include <rocksdb/db.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <mutex>
#include <thread>

#include "crdt/codec.h"
#include "storage/int64_add.h"
#include "tests/storage/temp_dir.h"

namespace meld::storage {
namespace {

namespace fs = std::filesystem;

using testing::TempDir;

// Holds every callback (and so the commit thread, which posts them) until open() is called.
class GateExecutor final : public CompletionExecutor {
 public:
  void post(std::function<void()> fn) override {
    std::unique_lock lock(mu_);
    ++posts_entered_;
    changed_.notify_all();
    changed_.wait(lock, [&] { return open_; });
    lock.unlock();
    fn();
  }
  // Waits until the commit thread is blocked in post() (or has passed it) n times.
  void wait_for_posts(int n) {
    std::unique_lock lock(mu_);
    changed_.wait(lock, [&] { return posts_entered_ >= n; });
  }
  void open() {
    std::lock_guard lock(mu_);
    open_ = true;
    changed_.notify_all();
  }
  int posts_entered() {
    std::lock_guard lock(mu_);
    return posts_entered_;
  }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  int posts_entered_ = 0;
  bool open_ = false;
};

// Counts callbacks and remembers the first non-ok status.
class CallbackLog {
 public:
  std::function<void(Status)> callback() {
    return [this](Status s) {
      std::lock_guard lock(mu_);
      ++calls_;
      if (!s.is_ok() && first_error_.is_ok()) first_error_ = s;
      changed_.notify_all();
    };
  }
  void wait_for(int n) {
    std::unique_lock lock(mu_);
    changed_.wait(lock, [&] { return calls_ >= n; });
  }
  int calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }
  Status first_error() {
    std::lock_guard lock(mu_);
    return first_error_;
  }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  int calls_ = 0;
  Status first_error_;
};

Options options_for(const std::string& dir) {
  Options options;
  options.dir = dir;
  options.block_cache_bytes = 4 << 20;
  return options;
}

std::unique_ptr<Engine> open_or_die(const Options& options, CompletionExecutor* executor) {
  Result<std::unique_ptr<Engine>> engine = Engine::open(options, executor);
  MELD_ASSERT(engine.is_ok(), engine.status().to_string());
  return std::move(engine).value();
}

WriteBatch one_put(Family family, std::string key, std::string value) {
  WriteBatch batch;
  batch.put(family, key, value);
  return batch;
}

std::optional<std::string> get_or_die(Engine& engine, Family family, std::string_view key) {
  Result<std::optional<std::string>> r = engine.get(family, key);
  MELD_ASSERT(r.is_ok(), r.status().to_string());
  return *r;
}

TEST(StorageEngine, ConcurrentProducersAreGroupCommittedWithOneOkCallbackEach) {
  TempDir tmp;
  InlineExecutor executor;
  auto engine = open_or_die(options_for(tmp.sub("db")), &executor);
  constexpr int kThreads = 8;
  constexpr int kCommitsPerThread = 2000;
  constexpr int kTotal = kThreads * kCommitsPerThread;
  std::vector<std::atomic<int>> ok_calls(kTotal);
  std::atomic<int> error_calls{0};
  std::atomic<int> refused{0};
  std::atomic<int> delivered{0};
  std::vector<std::thread> producers;
  for (int t = 0; t < kThreads; ++t) {
    producers.emplace_back([&, t] {
      for (int i = 0; i < kCommitsPerThread; ++i) {
        int id = t * kCommitsPerThread + i;
        Status s = engine->commit(one_put(Family::kKv, "key-" + std::to_string(id), "v"),
                                  [&, id](Status status) {
                                    (status.is_ok() ? ok_calls[id] : error_calls).fetch_add(1);
                                    delivered.fetch_add(1);
                                  });
        if (!s.is_ok()) refused.fetch_add(1);
      }
    });
  }
  for (std::thread& p : producers) p.join();
  engine->close();  // delivers every queued callback before returning

  EXPECT_EQ(refused.load(), 0);
  EXPECT_EQ(error_calls.load(), 0);
  EXPECT_EQ(delivered.load(), kTotal);
  for (int id = 0; id < kTotal; ++id) ASSERT_EQ(ok_calls[id].load(), 1) << "commit " << id;

  engine = open_or_die(options_for(tmp.sub("db")), &executor);
  for (int id = 0; id < kTotal; ++id) {
    ASSERT_EQ(get_or_die(*engine, Family::kKv, "key-" + std::to_string(id)), "v") << id;
  }
}

TEST(StorageEngine, GroupsHoldManyBatchesUnderConcurrentProducers) {
  TempDir tmp;
  InlineExecutor executor;
  auto engine = open_or_die(options_for(tmp.sub("db")), &executor);
  constexpr int kThreads = 8;
  constexpr int kCommitsPerThread = 2000;
  std::vector<std::thread> producers;
  for (int t = 0; t < kThreads; ++t) {
    producers.emplace_back([&, t] {
      for (int i = 0; i < kCommitsPerThread; ++i) {
        std::string key = std::to_string(t) + "-" + std::to_string(i);
        EXPECT_TRUE(engine->commit(one_put(Family::kKv, key, "v"), [](Status) {}).is_ok());
      }
    });
  }
  for (std::thread& p : producers) p.join();
  engine->close();
  Stats stats = engine->stats();
  EXPECT_EQ(stats.committed_batches, uint64_t{kThreads * kCommitsPerThread});
  EXPECT_LT(stats.commit_groups, stats.committed_batches);
  EXPECT_EQ(stats.failed_groups, 0u);
  EXPECT_TRUE(stats.sync);
}

TEST(StorageEngine, ReopenAfterCloseKeepsEveryFamilysData) {
  TempDir tmp;
  InlineExecutor executor;
  auto engine = open_or_die(options_for(tmp.sub("db")), &executor);
  WriteBatch batch;
  for (Family f : {Family::kRaftLog, Family::kKv, Family::kTs, Family::kMeta}) {
    batch.put(f, "k", "value of " + std::string(family_name(f)));
    batch.put(f, "gone", "x");
    batch.del(f, "gone");
  }
  batch.merge(Family::kCrdt, "k", encode_int64(42));
  ASSERT_TRUE(engine->commit_sync(std::move(batch)).is_ok());
  engine->close();

  engine = open_or_die(options_for(tmp.sub("db")), &executor);
  for (Family f : {Family::kRaftLog, Family::kKv, Family::kTs, Family::kMeta}) {
    EXPECT_EQ(get_or_die(*engine, f, "k"), "value of " + std::string(family_name(f)));
    EXPECT_EQ(get_or_die(*engine, f, "gone"), std::nullopt);
  }
  EXPECT_EQ(get_or_die(*engine, Family::kCrdt, "k"), encode_int64(42));
}

TEST(StorageEngine, FamiliesAreSeparateKeySpaces) {
  TempDir tmp;
  InlineExecutor executor;
  auto engine = open_or_die(options_for(tmp.sub("db")), &executor);
  ASSERT_TRUE(engine->commit_sync(one_put(Family::kKv, "k", "kv")).is_ok());
  EXPECT_EQ(get_or_die(*engine, Family::kKv, "k"), "kv");
  EXPECT_EQ(get_or_die(*engine, Family::kMeta, "k"), std::nullopt);
  EXPECT_EQ(get_or_die(*engine, Family::kRaftLog, "k"), std::nullopt);
}

TEST(StorageEngine, CloseCommitsQueuedBatchesAndDeliversTheirCallbacks) {
  TempDir tmp;
  GateExecutor gate;
  auto engine = open_or_die(options_for(tmp.sub("db")), &gate);
  CallbackLog log;
  ASSERT_TRUE(engine->commit(one_put(Family::kKv, "k0", "v"), log.callback()).is_ok());
  gate.wait_for_posts(1);  // the commit thread now waits in post(); later batches stay queued
  constexpr int kQueued = 50;
  for (int i = 1; i <= kQueued; ++i) {
    ASSERT_TRUE(
        engine->commit(one_put(Family::kKv, "k" + std::to_string(i), "v"), log.callback()).is_ok());
  }
  EXPECT_EQ(engine->stats().queued_batches, uint64_t{kQueued});

  std::thread closer([&] { engine->close(); });
  // close() has begun once commits are refused; only then let the commit thread go on.
  while (engine->commit(WriteBatch(), [](Status) {}).code() != StatusCode::kUnavailable) {
    std::this_thread::yield();
  }
  EXPECT_EQ(log.calls(), 0);
  gate.open();
  closer.join();

  EXPECT_EQ(log.calls(), kQueued + 1);
  EXPECT_TRUE(log.first_error().is_ok()) << log.first_error().to_string();
  InlineExecutor executor;
  engine = open_or_die(options_for(tmp.sub("db")), &executor);
  for (int i = 0; i <= kQueued; ++i) {
    EXPECT_EQ(get_or_die(*engine, Family::kKv, "k" + std::to_string(i)), "v") << i;
  }
}

TEST(StorageEngine, CommitSyncDoesNotWaitForTheExecutor) {
  TempDir tmp;
  GateExecutor gate;  // never opened: a status routed through it would never arrive
  auto engine = open_or_die(options_for(tmp.sub("db")), &gate);
  EXPECT_TRUE(engine->commit_sync(one_put(Family::kKv, "k", "v")).is_ok());
  EXPECT_EQ(gate.posts_entered(), 0);
  EXPECT_EQ(get_or_die(*engine, Family::kKv, "k"), "v");
}

TEST(StorageEngine, CommitAndReadsAfterCloseReturnUnavailable) {
  TempDir tmp;
  InlineExecutor executor;
  auto engine = open_or_die(options_for(tmp.sub("db")), &executor);
  engine->close();
  engine->close();  // idempotent
  bool called = false;
  Status s = engine->commit(one_put(Family::kKv, "k", "v"), [&](Status) { called = true; });
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.to_string();
  EXPECT_EQ(engine->commit_sync(one_put(Family::kKv, "k", "v")).code(), StatusCode::kUnavailable);
  EXPECT_FALSE(called);
  EXPECT_EQ(engine->get(Family::kKv, "k").status().code(), StatusCode::kUnavailable);
  std::vector<std::pair<std::string, std::string>> out;
  bool more = false;
  EXPECT_EQ(engine->scan(Family::kKv, "", "", 10, &out, &more).code(), StatusCode::kUnavailable);
  EXPECT_EQ(engine->flush().code(), StatusCode::kUnavailable);
}

TEST(StorageEngine, CommitReturnsResourceExhaustedWhenTheQueueIsFull) {
  TempDir tmp;
  GateExecutor gate;
  Options options = options_for(tmp.sub("db"));
  options.queue_capacity = 2;
  options.max_group_batches = 1;
  auto engine = open_or_die(options, &gate);
  CallbackLog log;
  ASSERT_TRUE(engine->commit(one_put(Family::kKv, "a", "1"), log.callback()).is_ok());
  gate.wait_for_posts(1);  // "a" is out of the queue; the commit thread is held in post()
  ASSERT_TRUE(engine->commit(one_put(Family::kKv, "b", "2"), log.callback()).is_ok());
  ASSERT_TRUE(engine->commit(one_put(Family::kKv, "c", "3"), log.callback()).is_ok());

  bool refused_called = false;
  Status s = engine->commit(one_put(Family::kKv, "d", "4"), [&](Status) { refused_called = true; });
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s.to_string();

  gate.open();
  engine->close();
  EXPECT_EQ(log.calls(), 3);
  EXPECT_TRUE(log.first_error().is_ok()) << log.first_error().to_string();
  EXPECT_FALSE(refused_called);
}

TEST(StorageEngine, CommitRejectsBatchOverMaxBatchBytes) {
  TempDir tmp;
  InlineExecutor executor;
  Options options = options_for(tmp.sub("db"));
  options.max_batch_bytes = 1000;
  auto engine = open_or_die(options, &executor);
  bool called = false;
  Status s = engine->commit(one_put(Family::kKv, "k", std::string(1000, 'x')),
                            [&](Status) { called = true; });
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.to_string();
  EXPECT_FALSE(called);
  EXPECT_TRUE(engine->commit_sync(one_put(Family::kKv, "k", std::string(900, 'x'))).is_ok());
}

TEST(StorageEngine, OpenCreatesMissingParentDirectories) {
  TempDir tmp;
  InlineExecutor executor;
  auto engine = open_or_die(options_for(tmp.sub("a/b/c")), &executor);
  EXPECT_TRUE(fs::is_directory(tmp.sub("a/b/c")));
}

TEST(StorageEngine, OpenFailsWithIoErrorWhenAFileIsWhereTheDirectoryShouldBe) {
  TempDir tmp;
  std::ofstream(tmp.sub("file")) << "not a directory";
  InlineExecutor executor;
  for (const std::string& dir : {tmp.sub("file"), tmp.sub("file/db")}) {
    Result<std::unique_ptr<Engine>> engine = Engine::open(options_for(dir), &executor);
    EXPECT_EQ(engine.status().code(), StatusCode::kIoError) << engine.status().to_string();
    EXPECT_NE(engine.status().message().find(dir), std::string::npos)
        << engine.status().to_string();
  }
}

TEST(StorageEngine, OpenFailsWithBusyWhileAnotherEngineHoldsTheDirectory) {
  TempDir tmp;
  InlineExecutor executor;
  auto first = open_or_die(options_for(tmp.sub("db")), &executor);
  Result<std::unique_ptr<Engine>> second = Engine::open(options_for(tmp.sub("db")), &executor);
  EXPECT_EQ(second.status().code(), StatusCode::kBusy) << second.status().to_string();
  EXPECT_NE(second.status().message().find("data directory " + tmp.sub("db") + " is in use"),
            std::string::npos)
      << second.status().to_string();
  first->close();
  EXPECT_TRUE(Engine::open(options_for(tmp.sub("db")), &executor).is_ok());
}

TEST(StorageEngine, OpenFailsWithBusyWhileAnotherProcessLocksTheDirectory) {
  TempDir tmp;
  const std::string dir = tmp.sub("db");
  InlineExecutor executor;
  open_or_die(options_for(dir), &executor)->close();
  const std::string lock_path = dir + "/LOCK";
  int ready[2];
  int release[2];
  ASSERT_EQ(pipe(ready), 0);
  ASSERT_EQ(pipe(release), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Only async-signal-safe calls here: take RocksDB's fcntl lock the way another meldd would,
    // report, and hold it until the parent writes to the release pipe.
    int fd = ::open(lock_path.c_str(), O_RDWR);
    struct flock lock = {};
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    char result = (fd >= 0 && fcntl(fd, F_SETLK, &lock) == 0) ? 'y' : 'n';
    if (write(ready[1], &result, 1) != 1) _exit(1);
    char unused;
    if (read(release[0], &unused, 1) != 1) _exit(1);
    _exit(0);
  }
  char locked = 0;
  ASSERT_EQ(read(ready[0], &locked, 1), 1);
  ASSERT_EQ(locked, 'y');

  Result<std::unique_ptr<Engine>> engine = Engine::open(options_for(dir), &executor);
  ASSERT_EQ(write(release[1], "x", 1), 1);
  int child_status = 0;
  ASSERT_EQ(waitpid(child, &child_status, 0), child);
  for (int fd : {ready[0], ready[1], release[0], release[1]}) close(fd);
  EXPECT_EQ(engine.status().code(), StatusCode::kBusy) << engine.status().to_string();
  EXPECT_NE(engine.status().message().find("data directory " + dir + " is in use"),
            std::string::npos)
      << engine.status().to_string();
}

// Creates a database in dir, closes it, then overwrites the file chosen by pick with garbage.
void damage_database(const std::string& dir, const std::function<bool(const fs::path&)>& pick) {
  InlineExecutor executor;
  auto engine = open_or_die(options_for(dir), &executor);
  ASSERT_TRUE(engine->commit_sync(one_put(Family::kKv, "k", "v")).is_ok());
  engine->close();
  int damaged = 0;
  for (const fs::directory_entry& e : fs::directory_iterator(dir)) {
    if (!pick(e.path())) continue;
    std::ofstream(e.path(), std::ios::trunc) << "this is not what RocksDB wrote\n";
    ++damaged;
  }
  ASSERT_EQ(damaged, 1);
}

TEST(StorageEngine, OpenFailsWithCorruptionWhenCurrentIsDamaged) {
  TempDir tmp;
  damage_database(tmp.sub("db"), [](const fs::path& p) { return p.filename() == "CURRENT"; });
  InlineExecutor executor;
  Result<std::unique_ptr<Engine>> engine = Engine::open(options_for(tmp.sub("db")), &executor);
  EXPECT_EQ(engine.status().code(), StatusCode::kCorruption) << engine.status().to_string();
  EXPECT_NE(engine.status().message().find(tmp.sub("db")), std::string::npos);
}

TEST(StorageEngine, OpenFailsWithCorruptionWhenManifestIsDamaged) {
  TempDir tmp;
  damage_database(tmp.sub("db"), [](const fs::path& p) {
    return p.filename().string().rfind("MANIFEST-", 0) == 0;
  });
  InlineExecutor executor;
  Result<std::unique_ptr<Engine>> engine = Engine::open(options_for(tmp.sub("db")), &executor);
  EXPECT_EQ(engine.status().code(), StatusCode::kCorruption) << engine.status().to_string();
  EXPECT_NE(engine.status().message().find(tmp.sub("db")), std::string::npos);
}

TEST(StorageEngine, CrdtMergesSumAcrossFlushCompactionAndReopen) {
  TempDir tmp;
  InlineExecutor executor;
  auto engine = open_or_die(options_for(tmp.sub("db")), &executor);
  int64_t expected = 0;
  auto add_round = [&](int64_t base) {
    for (int64_t i = 0; i < 100; ++i) {
      WriteBatch batch;
      int64_t delta = (i % 3 == 0) ? -(base + i) : base + i;  // decrements commute too
      batch.merge(Family::kCrdt, "counter", encode_int64(delta));
      expected += delta;
      ASSERT_TRUE(engine->commit_sync(std::move(batch)).is_ok());
    }
  };
  add_round(1);
  ASSERT_TRUE(engine->flush().is_ok());
  add_round(1000);
  ASSERT_TRUE(engine->compact().is_ok());
  add_round(-7);
  EXPECT_EQ(decode_int64(*get_or_die(*engine, Family::kCrdt, "counter")).value(), expected);
  ASSERT_TRUE(engine->flush().is_ok());
  ASSERT_TRUE(engine->compact().is_ok());
  EXPECT_EQ(decode_int64(*get_or_die(*engine, Family::kCrdt, "counter")).value(), expected);
  engine->close();
  engine = open_or_die(options_for(tmp.sub("db")), &executor);
  EXPECT_EQ(decode_int64(*get_or_die(*engine, Family::kCrdt, "counter")).value(), expected);
}

TEST(StorageEngine, CrdtMergeAddsToAPutValueAndWraps) {
  TempDir tmp;
  InlineExecutor executor;
  auto engine = open_or_die(options_for(tmp.sub("db")), &executor);
  WriteBatch batch;
  batch.put(Family::kCrdt, "c", encode_int64(std::numeric_limits<int64_t>::max()));
  batch.merge(Family::kCrdt, "c", encode_int64(1));
  ASSERT_TRUE(engine->commit_sync(std::move(batch)).is_ok());
  EXPECT_EQ(decode_int64(*get_or_die(*engine, Family::kCrdt, "c")).value(),
            std::numeric_limits<int64_t>::min());
}

TEST(StorageEngine, CommitRejectsCrdtMergeOperandsThatAreNotInt64) {
  TempDir tmp;
  InlineExecutor executor;
  auto engine = open_or_die(options_for(tmp.sub("db")), &executor);
  WriteBatch bad_merge;
  bad_merge.merge(Family::kCrdt, "c", "abc");
  bool called = false;
  Status s = engine->commit(std::move(bad_merge), [&](Status) { called = true; });
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.to_string();
  EXPECT_FALSE(called);
  WriteBatch mixed;
  mixed.put(Family::kKv, "k", "v");
  mixed.merge(Family::kCrdt, "c", "123456789");
  EXPECT_EQ(engine->commit_sync(std::move(mixed)).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(get_or_die(*engine, Family::kCrdt, "c"), std::nullopt);
  EXPECT_EQ(get_or_die(*engine, Family::kKv, "k"), std::nullopt);  // the batch is all or nothing
}

TEST(StorageEngine, CrdtStateMergesJoinAcrossFlushCompactionAndReopen) {
  TempDir tmp;
  InlineExecutor executor;
  auto engine = open_or_die(options_for(tmp.sub("db")), &executor);
  crdt::PnCounter counter;
  auto increment_round = [&](int64_t amount) {
    for (uint64_t i = 0; i < 50; ++i) {
      WriteBatch batch;
      crdt::PnCounter delta = counter.increment(crdt::ReplicaId{7}, amount);
      batch.merge(Family::kCrdtState, "counter", crdt::encode(delta));
      // A retried write of the same delta: the join counts it once.
      if (i % 5 == 0) batch.merge(Family::kCrdtState, "counter", crdt::encode(delta));
      ASSERT_TRUE(engine->commit_sync(std::move(batch)).is_ok());
    }
  };
  increment_round(3);
  ASSERT_TRUE(engine->flush().is_ok());
  increment_round(-1);
  ASSERT_TRUE(engine->compact().is_ok());
  increment_round(10);
  EXPECT_EQ(get_or_die(*engine, Family::kCrdtState, "counter"), crdt::encode(counter));
  engine->close();
  engine = open_or_die(options_for(tmp.sub("db")), &executor);
  ASSERT_TRUE(engine->compact().is_ok());
  EXPECT_EQ(get_or_die(*engine, Family::kCrdtState, "counter"), crdt::encode(counter));
  EXPECT_EQ(counter.value(), 50 * (3 - 1 + 10));
}

TEST(StorageEngine, CommitRejectsCrdtStateAndBigSetValuesThatDoNotDecode) {
  TempDir tmp;
  InlineExecutor executor;
  auto engine = open_or_die(options_for(tmp.sub("db")), &executor);
  crdt::GCounter counter;
  const std::string good = crdt::encode(counter.increment(crdt::ReplicaId{1}, 1));
  for (Family family : {Family::kCrdtState, Family::kBigSet}) {
    WriteBatch bad_merge;
    bad_merge.merge(family, "c", good);
    bad_merge.merge(family, "c", good.substr(0, good.size() - 1));
    Status s = engine->commit_sync(std::move(bad_merge));
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.to_string();
    WriteBatch bad_put;
    bad_put.put(family, "c", encode_int64(1));
    EXPECT_EQ(engine->commit_sync(std::move(bad_put)).code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(get_or_die(*engine, family, "c"), std::nullopt);  // the batch is all or nothing
    WriteBatch deleted;
    deleted.del(family, "c");
    EXPECT_TRUE(engine->commit_sync(std::move(deleted)).is_ok());
  }
}

TEST(StorageEngine, CrdtPutsMayStoreValuesThatAreNotInt64) {
  TempDir tmp;
  InlineExecutor executor;
  auto engine = open_or_die(options_for(tmp.sub("db")), &executor);
  ASSERT_TRUE(engine->commit_sync(one_put(Family::kCrdt, "set-member", "")).is_ok());
  ASSERT_TRUE(engine->flush().is_ok());
  EXPECT_EQ(get_or_die(*engine, Family::kCrdt, "set-member"), "");
}

// RocksDB fails a flush whose merge fails and then refuses every write, even after a reopen: a
// merge that meets a non-int64 value must not do that.
TEST(StorageEngine, MergeOntoANonInt64ValueReplacesItAndKeepsTheEngineWritable) {
  TempDir tmp;
  InlineExecutor executor;
  auto engine = open_or_die(options_for(tmp.sub("db")), &executor);
  WriteBatch batch;
  batch.put(Family::kCrdt, "k", "not an int64");
  batch.merge(Family::kCrdt, "k", encode_int64(5));
  ASSERT_TRUE(engine->commit_sync(std::move(batch)).is_ok());
  ASSERT_TRUE(engine->flush().is_ok());
  ASSERT_TRUE(engine->compact().is_ok());
  EXPECT_EQ(get_or_die(*engine, Family::kCrdt, "k"), encode_int64(5));
  EXPECT_TRUE(engine->commit_sync(one_put(Family::kKv, "later", "v")).is_ok());
  engine->close();
  engine = open_or_die(options_for(tmp.sub("db")), &executor);
  EXPECT_EQ(get_or_die(*engine, Family::kKv, "later"), "v");
}

// A malformed operand can only come from outside the engine (a damaged or foreign write), so
// the test writes one with RocksDB directly.
TEST(StorageEngine, MalformedCrdtOperandOnDiskMakesGetFailWithCorruption) {
  TempDir tmp;
  const std::string dir = tmp.sub("db");
  InlineExecutor executor;
  auto engine = open_or_die(options_for(dir), &executor);
  WriteBatch good;
  good.merge(Family::kCrdt, "bad", encode_int64(5));
  good.merge(Family::kCrdt, "good", encode_int64(5));
  ASSERT_TRUE(engine->commit_sync(std::move(good)).is_ok());
  engine->close();

  std::vector<rocksdb::ColumnFamilyDescriptor> families = {{rocksdb::kDefaultColumnFamilyName, {}}};
  for (size_t i = 0; i < kFamilyCount; ++i) {
    families.emplace_back(std::string(family_name(static_cast<Family>(i))),
                          rocksdb::ColumnFamilyOptions());
  }
  families[1 + static_cast<size_t>(Family::kCrdt)].options.merge_operator =
      new_int64_add_operator();
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), dir, families, &handles, &raw).ok());
  ASSERT_TRUE(raw->Merge(rocksdb::WriteOptions(), handles[1 + static_cast<size_t>(Family::kCrdt)],
                         "bad", "xyz")
                  .ok());
  for (rocksdb::ColumnFamilyHandle* h : handles)
    ASSERT_TRUE(raw->DestroyColumnFamilyHandle(h).ok());
  ASSERT_TRUE(raw->Close().ok());
  delete raw;

  engine = open_or_die(options_for(dir), &executor);
  Result<std::optional<std::string>> bad = engine->get(Family::kCrdt, "bad");
  EXPECT_EQ(bad.status().code(), StatusCode::kCorruption) << bad.status().to_string();
  EXPECT_EQ(get_or_die(*engine, Family::kCrdt, "good"), encode_int64(5));
  EXPECT_EQ(
      engine->multi_get(Family::kCrdt, std::vector<std::string>{"good", "bad"}).status().code(),
      StatusCode::kCorruption);
  std::vector<std::pair<std::string, std::string>> out;
  bool more = false;
  EXPECT_EQ(engine->scan(Family::kCrdt, "", "", 10, &out, &more).code(), StatusCode::kCorruption);
}

TEST(StorageEngine, MultiGetReturnsEveryKeysValueAsGetDoes) {
  TempDir tmp;
  InlineExecutor executor;
  auto engine = open_or_die(options_for(tmp.sub("db")), &executor);
  WriteBatch flushed;
  flushed.put(Family::kKv, "b", "in an sst");
  flushed.merge(Family::kCrdt, "n", encode_int64(2));
  ASSERT_TRUE(engine->commit_sync(std::move(flushed)).is_ok());
  ASSERT_TRUE(engine->flush().is_ok());
  WriteBatch recent;
  recent.put(Family::kKv, "a", "in the memtable");
  recent.put(Family::kKv, "deleted", "x");
  recent.del(Family::kKv, "deleted");
  recent.put(Family::kMeta, "c", "other family");
  recent.merge(Family::kCrdt, "n", encode_int64(3));
  ASSERT_TRUE(engine->commit_sync(std::move(recent)).is_ok());

  // Unsorted, with a duplicate, an absent key, a deleted one and one of another family.
  const std::vector<std::string> keys = {"b", "c", "a", "deleted", "b", "absent"};
  Result<std::vector<std::optional<std::string>>> values = engine->multi_get(Family::kKv, keys);
  ASSERT_TRUE(values.is_ok()) << values.status().to_string();
  const std::vector<std::optional<std::string>> expected = {
      "in an sst", std::nullopt, "in the memtable", std::nullopt, "in an sst", std::nullopt};
  EXPECT_EQ(*values, expected);
  // Merge operands are merged as get() merges them, across the memtable and an SST.
  EXPECT_EQ(engine->multi_get(Family::kCrdt, std::vector<std::string>{"n"}).value(),
            (std::vector<std::optional<std::string>>{encode_int64(5)}));
  EXPECT_TRUE(engine->multi_get(Family::kKv, {}).value().empty());
  engine->close();
  EXPECT_EQ(engine->multi_get(Family::kKv, keys).status().code(), StatusCode::kUnavailable);
}

TEST(StorageEngine, ScanHonoursStartEndLimitAndMore) {
  TempDir tmp;
  InlineExecutor executor;
  auto engine = open_or_die(options_for(tmp.sub("db")), &executor);
  WriteBatch batch;
  for (char c = 'a'; c <= 'j'; ++c) batch.put(Family::kKv, std::string(1, c), std::string(2, c));
  batch.put(Family::kMeta, "c", "other family");
  ASSERT_TRUE(engine->commit_sync(std::move(batch)).is_ok());

  std::vector<std::pair<std::string, std::string>> out;
  bool more = true;
  auto keys = [&] {
    std::string k;
    for (const auto& [key, value] : out) {
      EXPECT_EQ(value, key + key);
      k += key;
    }
    return k;
  };
  ASSERT_TRUE(engine->scan(Family::kKv, "c", "g", 10, &out, &more).is_ok());
  EXPECT_EQ(keys(), "cdef");
  EXPECT_FALSE(more);
  ASSERT_TRUE(engine->scan(Family::kKv, "c", "g", 2, &out, &more).is_ok());
  EXPECT_EQ(keys(), "cd");
  EXPECT_TRUE(more);
  ASSERT_TRUE(engine->scan(Family::kKv, "c", "g", 4, &out, &more).is_ok());
  EXPECT_EQ(keys(), "cdef");
  EXPECT_FALSE(more);
  ASSERT_TRUE(engine->scan(Family::kKv, "bb", "", 100, &out, &more).is_ok());
  EXPECT_EQ(keys(), "cdefghij");
  EXPECT_FALSE(more);
  ASSERT_TRUE(engine->scan(Family::kKv, "", "", 0, &out, &more).is_ok());
  EXPECT_EQ(keys(), "");
  EXPECT_TRUE(more);
  ASSERT_TRUE(engine->scan(Family::kKv, "x", "", 5, &out, &more).is_ok());
  EXPECT_EQ(keys(), "");
  EXPECT_FALSE(more);
}

TEST(StorageEngine, DeleteRangeRemovesExactlyTheKeysInTheRangeAcrossFlushAndReopen) {
  TempDir tmp;
  InlineExecutor executor;
  auto engine = open_or_die(options_for(tmp.sub("db")), &executor);
  WriteBatch batch;
  for (char c = 'a'; c <= 'j'; ++c) batch.put(Family::kTs, std::string(1, c) + "x", "v");
  batch.put(Family::kKv, "d", "other family");
  ASSERT_TRUE(engine->commit_sync(std::move(batch)).is_ok());
  ASSERT_TRUE(engine->flush().is_ok());
  WriteBatch range;
  range.del_range(Family::kTs, "c", "f");
  ASSERT_TRUE(engine->commit_sync(std::move(range)).is_ok());
  engine->close();
  engine = open_or_die(options_for(tmp.sub("db")), &executor);

  std::vector<std::pair<std::string, std::string>> out;
  bool more = true;
  ASSERT_TRUE(engine->scan(Family::kTs, "", "", 100, &out, &more).is_ok());
  std::string keys;
  for (const auto& [key, value] : out) keys += key.substr(0, 1);
  EXPECT_EQ(keys, "abfghij");
  EXPECT_EQ(engine->get(Family::kKv, "d")->value_or(""), "other family");
}

TEST(StoragePrefixSuccessor, IsTheFirstKeyAfterEveryKeyWithThePrefix) {
  EXPECT_EQ(prefix_successor("ab"), "ac");
  EXPECT_EQ(prefix_successor(std::string("a\xff\xff", 3)), "b");
  EXPECT_EQ(prefix_successor(std::string("\xff", 1)), "");
  EXPECT_EQ(prefix_successor(""), "");
}

TEST(Int64Encoding, IsEightBytesLittleEndian) {
  EXPECT_EQ(encode_int64(0x0102), std::string("\x02\x01\0\0\0\0\0\0", 8));
  EXPECT_EQ(encode_int64(-1), std::string(8, '\xff'));
}

RC_GTEST_PROP(Int64Encoding, DecodeInvertsEncode, (int64_t value)) {
  Result<int64_t> decoded = decode_int64(encode_int64(value));
  RC_ASSERT(decoded.is_ok());
  RC_ASSERT(*decoded == value);
}

TEST(Int64Encoding, DecodeRejectsWrongSizeWithCorruption) {
  EXPECT_EQ(decode_int64("1234567").status().code(), StatusCode::kCorruption);
  EXPECT_EQ(decode_int64("123456789").status().code(), StatusCode::kCorruption);
  EXPECT_EQ(decode_int64("").status().code(), StatusCode::kCorruption);
}

TEST(StorageWriteBatch, CountsOperationsAndBytes) {
  WriteBatch batch;
  EXPECT_TRUE(batch.empty());
  batch.put(Family::kKv, "key", "value");
  batch.del(Family::kKv, "key");
  batch.merge(Family::kCrdt, "c", encode_int64(1));
  EXPECT_EQ(batch.count(), 3u);
  EXPECT_FALSE(batch.empty());
  EXPECT_GE(batch.size_bytes(), 3u + 5 + 3 + 1 + 8);
  WriteBatch moved = std::move(batch);
  EXPECT_EQ(moved.count(), 3u);
}

TEST(StorageFamily, NamesMatchTheColumnFamilies) {
  EXPECT_EQ(family_name(Family::kRaftLog), "raft_log");
  EXPECT_EQ(family_name(Family::kKv), "kv");
  EXPECT_EQ(family_name(Family::kCrdt), "crdt");
  EXPECT_EQ(family_name(Family::kTs), "ts");
  EXPECT_EQ(family_name(Family::kMeta), "meta");
  EXPECT_EQ(family_name(Family::kCrdtState), "crdt_state");
  EXPECT_EQ(family_name(Family::kBigSet), "big_set");
  EXPECT_EQ(family_name(Family::kTsLog), "ts_log");
}

}  // namespace
}  // namespace meld::storage
