// The writer process of raft_log_crash_test.cc, killed with SIGKILL at a random moment.
//
// Usage: raft_log_crash_writer DIR GROUPS SEED
// Opens the engine in DIR (sync on) and, round-robin over groups 1..GROUPS, keeps appending:
// each step stages entries (term crash_writer_term(index), data crash_writer_data(group, index))
// and the hard state (commit = the new last index) into one batch, and the state machine's writes
// for every entry past the applied index (kv key crash_writer_kv_key(group, index)) with the new
// applied index into a second batch; compaction now and then moves the first index up to below the
// applied index. When a log batch is durable its callback writes (group, last index, term) as three
// native uint64 to stdout. Continues from whatever DIR holds; exits after a minute at the latest.
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/rng.h"
#include "storage/engine.h"
#include "storage/raft_log_store.h"
#include "tests/storage/crash_writer/crash_writer.h"

namespace meld::storage {
namespace {

constexpr int kMaxInflightBatches = 128;
constexpr uint64_t kCompactEveryEntries = 50;
constexpr uint64_t kKeepEntriesBehindApplied = 20;

class Inflight {
 public:
  void add() {
    std::unique_lock lock(mu_);
    room_.wait(lock, [&] { return n_ < kMaxInflightBatches; });
    ++n_;
  }
  void done() {
    std::lock_guard lock(mu_);
    --n_;
    room_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable room_;
  int n_ = 0;
};

int fail(const std::string& what, const Status& s) {
  std::fprintf(stderr, "raft_log_crash_writer: %s: %s\n", what.c_str(), s.to_string().c_str());
  return 1;
}

int run(const std::string& dir, uint64_t groups, uint64_t seed) {
  InlineExecutor executor;
  Options options;
  options.dir = dir;
  options.sync = true;
  // Declared before the engine, so it outlives the callbacks the engine's close() delivers.
  Inflight inflight;
  Result<std::unique_ptr<Engine>> engine = Engine::open(options, &executor);
  if (!engine.is_ok()) return fail("open engine", engine.status());
  std::vector<std::unique_ptr<RaftLogStore>> stores;
  for (uint64_t g = 1; g <= groups; ++g) {
    Result<std::unique_ptr<RaftLogStore>> store = RaftLogStore::open(engine->get(), g);
    if (!store.is_ok()) return fail("open group " + std::to_string(g), store.status());
    stores.push_back(std::move(*store));
  }
  SeededRng rng(seed);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(1);
  while (std::chrono::steady_clock::now() < deadline) {
    for (uint64_t g = 1; g <= groups; ++g) {
      RaftLogStore& store = *stores[g - 1];
      uint64_t lo = store.last_index() + 1;
      uint64_t hi = lo + rng.uniform(4);
      std::vector<consensus::Entry> ents;
      for (uint64_t i = lo; i <= hi; ++i) {
        ents.push_back(
            {crash_writer_term(i), i, consensus::EntryType::kNormal, crash_writer_data(g, i)});
      }
      WriteBatch log;
      Status s = store.append(ents, &log);
      if (!s.is_ok()) return fail("append", s);
      store.set_hard_state({crash_writer_term(hi), 1, hi}, &log);
      uint64_t applied = store.applied_state().index;
      if (applied >= store.first_index() + kCompactEveryEntries) {
        s = store.compact(applied - kKeepEntriesBehindApplied, &log);
        if (!s.is_ok()) return fail("compact", s);
      }
      // Applies every entry past the applied index, as a host does: after a crash the log may
      // hold entries whose state machine batch was lost, and those are applied now.
      WriteBatch sm;
      for (uint64_t i = applied + 1; i <= hi; ++i) {
        sm.put(Family::kKv, crash_writer_kv_key(g, i), crash_writer_data(g, i));
      }
      s = store.set_applied({hi, {}}, &sm);
      if (!s.is_ok()) return fail("set_applied", s);

      inflight.add();
      uint64_t record[3] = {g, hi, crash_writer_term(hi)};
      s = (*engine)->commit(std::move(log), [&inflight, record](Status st) {
        if (st.is_ok() && write(STDOUT_FILENO, record, sizeof(record)) != sizeof(record)) {
          std::_Exit(2);
        }
        inflight.done();
      });
      if (!s.is_ok()) return fail("commit log", s);
      inflight.add();
      s = (*engine)->commit(std::move(sm), [&inflight](Status) { inflight.done(); });
      if (!s.is_ok()) return fail("commit state machine", s);
    }
  }
  (*engine)->close();
  return 0;
}

}  // namespace
}  // namespace meld::storage

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: raft_log_crash_writer DIR GROUPS SEED\n");
    return 2;
  }
  return meld::storage::run(argv[1], std::strtoull(argv[2], nullptr, 10),
                            std::strtoull(argv[3], nullptr, 10));
}
