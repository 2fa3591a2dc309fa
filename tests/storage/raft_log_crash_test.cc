// Crash tests of the durable Raft log: a real writer process (crash_writer/) appends to several
// groups through group commit with fsync and reports every acknowledged batch on a pipe; this
// test kills it with SIGKILL at a random moment, reopens the engine and checks the invariants,
// then lets the next writer continue on the same data directory.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/rng.h"
#include "storage/engine.h"
#include "storage/raft_log_store.h"
#include "tests/storage/crash_writer/crash_writer.h"
#include "tests/storage/temp_dir.h"

namespace meld::storage {
namespace {

constexpr uint64_t kGroups = 4;
constexpr int kIterations = 6;
using Clock = std::chrono::steady_clock;

// A started writer: killed and reaped when it goes out of scope, also on a failed assertion.
class Writer {
 public:
  Writer(const std::string& dir, uint64_t seed) {
    int fds[2];
    MELD_ASSERT(pipe(fds) == 0, "pipe failed");
    // Everything the child needs is prepared before fork: it only calls async-signal-safe
    // functions before execv.
    std::string groups = std::to_string(kGroups);
    std::string seed_arg = std::to_string(seed);
    const char* path = MELD_RAFT_LOG_CRASH_WRITER;
    char* const argv[] = {const_cast<char*>(path), const_cast<char*>(dir.c_str()),
                          const_cast<char*>(groups.c_str()), const_cast<char*>(seed_arg.c_str()),
                          nullptr};
    pid_ = fork();
    MELD_ASSERT(pid_ >= 0, "fork failed");
    if (pid_ == 0) {
      dup2(fds[1], STDOUT_FILENO);
      close(fds[0]);
      close(fds[1]);
      execv(path, argv);
      _exit(127);
    }
    close(fds[1]);
    fd_ = fds[0];
  }
  ~Writer() {
    kill_and_reap();
    close(fd_);
  }
  // Reads what arrives until `until` (or EOF), appending to *bytes. false on EOF.
  bool read_until(Clock::time_point until, std::string* bytes) {
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
      if (left.count() <= 0) return true;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      ssize_t n = read(fd_, buf, sizeof(buf));
      if (n <= 0) return false;
      bytes->append(buf, static_cast<size_t>(n));
    }
  }
  // SIGKILL, then the records the writer sent before it died; returns its wait status.
  int kill_and_drain(std::string* bytes) {
    kill_and_reap();
    char buf[4096];
    ssize_t n;
    while ((n = read(fd_, buf, sizeof(buf))) > 0) bytes->append(buf, static_cast<size_t>(n));
    return status_;
  }

 private:
  void kill_and_reap() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, &status_, 0);
    pid_ = -1;
  }
  pid_t pid_ = -1;
  int fd_ = -1;
  int status_ = 0;
};

// The invariants after a crash, for one group.
void check_group(Engine* engine, uint64_t g, uint64_t acked) {
  SCOPED_TRACE("group " + std::to_string(g));
  RaftLogOptions options;
  options.entry_cache_bytes = 0;  // every entry read back from RocksDB
  Result<std::unique_ptr<RaftLogStore>> opened = RaftLogStore::open(engine, g, options);
  ASSERT_TRUE(opened.is_ok()) << opened.status().to_string();
  const RaftLogStore& store = **opened;
  uint64_t first = store.first_index();
  uint64_t last = store.last_index();
  EXPECT_GE(last, acked) << "an acknowledged entry was lost";
  EXPECT_LE(store.hard_state().commit, last);
  // Contiguous from first_index to last_index, each entry with the term and data written.
  Result<std::vector<consensus::Entry>> all =
      store.entries(first, last + 1, std::numeric_limits<uint64_t>::max());
  ASSERT_TRUE(all.is_ok()) << all.status().to_string();
  ASSERT_EQ(all->size(), last + 1 - first);
  for (const consensus::Entry& e : *all) {
    ASSERT_EQ(e.term, crash_writer_term(e.index)) << "entry " << e.index;
    ASSERT_EQ(e.data, crash_writer_data(g, e.index));
  }
  if (first > 1) {
    EXPECT_EQ(*store.term(first - 1), crash_writer_term(first - 1));
  }
  // The applied index names exactly the entries whose writes are in the state machine.
  uint64_t applied = store.applied_state().index;
  EXPECT_LE(applied, store.hard_state().commit);
  EXPECT_LE(first - 1, applied) << "compacted past the applied index";
  std::vector<std::pair<std::string, std::string>> kv;
  bool more = false;
  ASSERT_TRUE(engine
                  ->scan(Family::kKv, crash_writer_kv_key(g, 0), crash_writer_kv_key(g + 1, 0),
                         applied + 2, &kv, &more)
                  .is_ok());
  ASSERT_EQ(kv.size(), applied) << "state machine entries vs the applied index";
  for (uint64_t i = 1; i <= applied; ++i) {
    ASSERT_EQ(kv[i - 1].first, crash_writer_kv_key(g, i));
    ASSERT_EQ(kv[i - 1].second, crash_writer_data(g, i));
  }
}

TEST(RaftLogCrash, KillNineKeepsAcknowledgedEntriesAndTheAppliedIndexConsistent) {
  testing::TempDir tmp;
  const std::string dir = tmp.sub("db");
  SeededRng rng(20261122);
  std::map<uint64_t, uint64_t> acked;  // group -> highest acknowledged index
  for (int iteration = 0; iteration < kIterations; ++iteration) {
    SCOPED_TRACE("iteration " + std::to_string(iteration));
    std::string bytes;
    {
      Writer writer(dir, rng.uniform(std::numeric_limits<uint64_t>::max()));
      // Wait for the first acknowledgement, then kill after a random 10-300 ms of writing.
      Clock::time_point give_up = Clock::now() + std::chrono::seconds(20);
      while (bytes.empty() && Clock::now() < give_up) {
        ASSERT_TRUE(writer.read_until(Clock::now() + std::chrono::milliseconds(20), &bytes))
            << "the writer exited before its first acknowledgement";
      }
      ASSERT_FALSE(bytes.empty()) << "no acknowledgement within 20 s";
      writer.read_until(Clock::now() + std::chrono::milliseconds(10 + rng.uniform(290)), &bytes);
      int status = writer.kill_and_drain(&bytes);
      ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
          << "the writer ended on its own (status " << status << ")";
    }
    uint64_t records = bytes.size() / (3 * sizeof(uint64_t));
    for (uint64_t r = 0; r < records; ++r) {
      uint64_t rec[3];
      std::memcpy(rec, bytes.data() + r * sizeof(rec), sizeof(rec));
      ASSERT_GE(rec[0], 1u);
      ASSERT_LE(rec[0], kGroups);
      ASSERT_EQ(rec[2], crash_writer_term(rec[1]));
      acked[rec[0]] = std::max(acked[rec[0]], rec[1]);
    }
    InlineExecutor executor;
    Options options;
    options.dir = dir;
    Result<std::unique_ptr<Engine>> engine = Engine::open(options, &executor);
    ASSERT_TRUE(engine.is_ok()) << engine.status().to_string();
    for (uint64_t g = 1; g <= kGroups; ++g) check_group(engine->get(), g, acked[g]);
    if (HasFailure()) return;
  }
  for (uint64_t g = 1; g <= kGroups; ++g) {
    EXPECT_GT(acked[g], 0u) << "group " << g << " never acknowledged a write";
  }
}

}  // namespace
}  // namespace meld::storage
