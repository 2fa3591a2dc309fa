// The node's storage engine: one RocksDB instance with a column family per kind of data, and a
// single commit thread that folds the write batches of all ranges into one RocksDB write with one
// fsync (group commit). RocksDB stays behind this header: modules above include only this file.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace meld::storage {

// One column family per kind of data. The crdt family merges with "meld.int64_add" (see
// encode_int64) and may also hold plain values under keys that are never merged. The crdt_state
// family holds CRDT states (crdt::encode() outputs, puts and merge operands alike) and merges them
// with "meld.crdt_join" (storage/crdt_join.h). The big_set family belongs to storage::BigSet
// (storage/big_set.h), which alone writes it. The ts_log family holds the time-series store's
// write-ahead records (storage/ts_store.h): short-lived, so never compressed. The others have no
// merge operator.
enum class Family : uint8_t { kRaftLog = 0, kKv, kCrdt, kTs, kMeta, kCrdtState, kBigSet, kTsLog };
inline constexpr size_t kFamilyCount = 8;

// The column family name on disk: "raft_log", "kv", "crdt", "ts", "meta", "crdt_state",
// "big_set", "ts_log".
std::string_view family_name(Family family);

// The crdt family's value and operand encoding: an 8-byte little-endian two's-complement int64.
// Merging adds operands to the value with wrapping (mod 2^64) arithmetic, so increments and
// decrements commute (PN-counter semantics). A merge onto a value that is not 8 bytes replaces it
// (the sum starts from 0): the crdt family's writers keep counters and other values under
// disjoint keys, and this keeps a mistake there from failing RocksDB's flushes.
std::string encode_int64(int64_t value);
// corruption when bytes is not exactly 8 bytes long.
Result<int64_t> decode_int64(std::string_view bytes);

// The smallest key greater than every key that starts with prefix; empty (no upper bound, as
// scan() takes it) when there is none (prefix empty or all 0xff bytes).
std::string prefix_successor(std::string prefix);

// Where commit callbacks run. The server posts them onto its libuv loop thread.
class CompletionExecutor {
 public:
  virtual ~CompletionExecutor() = default;
  // Runs fn soon, on a thread of the executor's choosing. Called from the commit thread; must be
  // thread-safe. Blocking here holds up the commit thread (and so every later commit).
  virtual void post(std::function<void()> fn) = 0;
};

// Runs each callback at once on the posting thread (the commit thread). For tests, bootstrap and
// benchmarks; a callback run this way must not call Engine::close() or Engine::commit_sync().
class InlineExecutor final : public CompletionExecutor {
 public:
  void post(std::function<void()> fn) override { fn(); }
};

// Fault injection for tests: makes the commit thread fail whole commit groups with io_error
// instead of writing them, as a failed RocksDB write would fail them (every batch of the group
// gets the error, Stats::failed_groups counts it, nothing of the group is written), while RocksDB
// itself stays healthy. Shared between a test and the engine through Options::commit_faults.
// Thread-safe.
class CommitFaults {
 public:
  // The next `groups` commit groups the commit thread takes fail (added to any still armed).
  void fail_next_groups(uint64_t groups) { armed_groups_.fetch_add(groups); }
  // Drops the failures still armed.
  void disarm() { armed_groups_.store(0); }
  // The commit thread, once per group: true, consuming one armed failure, when it must fail.
  bool take_failure() {
    uint64_t armed = armed_groups_.load();
    while (armed > 0 && !armed_groups_.compare_exchange_weak(armed, armed - 1)) {
    }
    return armed > 0;
  }

 private:
  std::atomic<uint64_t> armed_groups_{0};
};

struct Options {
  // The data directory; created (with its parents) when missing.
  std::string dir;
  // true: every commit group is fsynced (WAL sync) before its callbacks run. false: OS-buffered,
  // which survives kill -9 of the process but not a power loss.
  bool sync = true;
  // Batches folded into one group commit at most.
  size_t max_group_batches = 1024;
  // Batches waiting for the commit thread at most; commit() returns resource_exhausted past this.
  size_t queue_capacity = 65536;
  // Encoded size of one WriteBatch at most (keys, values and per-operation overhead).
  size_t max_batch_bytes = 64 << 20;
  // Shared LRU block cache of all families.
  size_t block_cache_bytes = 64 << 20;
  // Tests only: commit groups to fail on purpose (see CommitFaults). Null: none.
  std::shared_ptr<CommitFaults> commit_faults;
};

// Writes to apply atomically, across families. Movable, not copyable. Not thread-safe.
class WriteBatch {
 public:
  WriteBatch() = default;
  WriteBatch(WriteBatch&&) noexcept = default;
  WriteBatch& operator=(WriteBatch&&) noexcept = default;
  WriteBatch(const WriteBatch&) = delete;
  WriteBatch& operator=(const WriteBatch&) = delete;

  // Keys and values are copied. In the crdt family, merge operands must be encode_int64() output,
  // or commit() rejects the batch with invalid_argument: a malformed operand would fail every
  // later flush that meets it, and with it every write and reopen. Puts there may store any value.
  // In the crdt_state family, puts and merge operands alike must decode with
  // crdt::decode<crdt::Value>() under the default crdt::DecodeLimits, in the big_set family
  // pass big_set_format::validate_value() (storage/big_set_format.h), or commit() rejects the
  // batch with invalid_argument (the check decodes the value, so it costs what a decode costs).
  void put(Family family, std::string_view key, std::string_view value);
  void del(Family family, std::string_view key);
  void merge(Family family, std::string_view key, std::string_view operand);
  // Deletes every key in [begin, end) with one RocksDB range deletion, so its cost does not grow
  // with the number of keys it covers (time-series retention drops whole weeks this way).
  void del_range(Family family, std::string_view begin, std::string_view end);

  // Operations added so far.
  size_t count() const { return count_; }
  // Encoded size: keys, values and a few bytes of framing per operation.
  size_t size_bytes() const { return rep_.size(); }
  bool empty() const { return count_ == 0; }

 private:
  friend class Engine;
  enum class Op : uint8_t { kPut = 0, kDelete, kMerge, kDeleteRange };
  void append(Op op, Family family, std::string_view key, std::string_view value);

  // Operations in order: op byte, family byte, then key and value, each as a 4-byte
  // little-endian length followed by the bytes.
  std::string rep_;
  size_t count_ = 0;
  bool has_malformed_int64_ = false;
  // The first crdt_state or big_set value that does not decode: why, or empty.
  std::string malformed_crdt_;
};

struct Stats {
  uint64_t commit_groups = 0;      // RocksDB writes made by the commit thread
  uint64_t committed_batches = 0;  // batches in those writes (failed ones included)
  uint64_t failed_groups = 0;      // writes RocksDB refused
  uint64_t queued_batches = 0;     // batches waiting for the commit thread now
  uint64_t live_data_bytes = 0;    // RocksDB's estimate of live data in SST files, all families
  std::array<uint64_t, kFamilyCount> sst_file_bytes{};  // SST file sizes per family (enum order)
  bool sync = true;                                     // Options::sync
};

class Engine {
 public:
  // Opens or creates the database in options.dir, creating the directory, and starts the commit
  // thread. executor is borrowed and must outlive the engine. Errors name the directory:
  // io_error when the directory cannot be created or written (or a file is in its place); busy
  // when another process or another Engine in this process holds it; corruption when its files
  // are damaged; invalid_argument for an empty dir or a zero max_group_batches or queue_capacity.
  static Result<std::unique_ptr<Engine>> open(const Options& options, CompletionExecutor* executor);
  ~Engine();  // close()s.
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // The latest committed value of key, or nullopt. Any thread. corruption when a crdt value
  // cannot be merged; unavailable after close().
  Result<std::optional<std::string>> get(Family family, std::string_view key);
  // The latest committed values of keys, (*result)[i] for keys[i], as get() returns each, in one
  // RocksDB MultiGet: one consistent view, with the filter, index and data block lookups of the
  // keys batched. Any thread; the caller bounds keys.size(). Errors as get() (the first key's
  // that failed).
  Result<std::vector<std::optional<std::string>>> multi_get(Family family,
                                                            std::span<const std::string> keys);

  // Replaces *out with the entries with start <= key < end (an empty end means no upper bound),
  // in key order, at most limit of them; *more says whether further entries remain. Any thread.
  Status scan(Family family, std::string_view start, std::string_view end, size_t limit,
              std::vector<std::pair<std::string, std::string>>* out, bool* more);

  // Queues the batch for the commit thread, which writes it atomically in a group with other
  // batches; done(status) then runs via the executor once the batch is durable (per
  // Options::sync) or failed. Callbacks of one group run in commit order. Returns, without ever
  // calling done: resource_exhausted when queue_capacity batches are waiting; invalid_argument
  // for a batch over max_batch_bytes or a malformed crdt, crdt_state or big_set value (see
  // WriteBatch::put); unavailable after
  // close(). Any thread.
  Status commit(WriteBatch batch, std::function<void(Status)> done);

  // commit() and wait for its status; waits for room instead of failing when the queue is full.
  // The status is handed over on the commit thread, not through the executor, so the executor's
  // own thread (the loop, during bootstrap) may call it too. Any thread but the commit thread
  // (so never from a callback run by an InlineExecutor).
  Status commit_sync(WriteBatch batch);

  // Writes the memtables of all families to SST files and waits. Admin and test operation.
  Status flush();
  // Compacts every family over its whole key range and waits. Admin and test operation.
  Status compact();

  Stats stats() const;

  // Stops accepting commits, commits everything already queued (delivering its callbacks), joins
  // the commit thread and closes RocksDB. Idempotent, any thread but the commit thread (so never
  // from a callback run by an InlineExecutor). Later calls fail with unavailable.
  void close();

 private:
  class Impl;
  explicit Engine(std::unique_ptr<Impl> impl);
  // open() without its failure log line.
  static Result<std::unique_ptr<Engine>> open_database(const Options& options,
                                                       CompletionExecutor* executor);
  // commit() and commit_sync(): validates the batch and queues it. A sync_caller waits for room
  // and has done run on the commit thread.
  Status enqueue(WriteBatch batch, std::function<void(Status)> done, bool sync_caller);
  std::unique_ptr<Impl> impl_;
};

}  // namespace meld::storage
