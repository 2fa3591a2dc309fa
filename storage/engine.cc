#include "storage/engine.h"

#include <rocksdb/cache.h>
#include <rocksdb/convenience.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <filesystem>
#include <future>
#include <mutex>
#include <shared_mutex>
#include <system_error>
#include <thread>

#include "base/bounded_queue.h"
#include "base/log.h"
#include "base/thread_name.h"
#include "crdt/codec.h"
#include "storage/big_set_format.h"
#include "storage/crdt_join.h"
#include "storage/int64_add.h"

namespace meld::storage {
namespace {

constexpr std::array<std::string_view, kFamilyCount> kFamilyNames = {
    "raft_log", "kv", "crdt", "ts", "meta", "crdt_state", "big_set", "ts_log"};

// Memtable bounds: per family, and for all families together (RocksDB flushes the largest
// memtable when the total passes db_write_buffer_size).
constexpr size_t kWriteBufferBytes = 16 << 20;
constexpr int kMaxWriteBuffers = 3;
constexpr size_t kTotalWriteBufferBytes = 64 << 20;
constexpr uint64_t kMaxTotalWalBytes = 256 << 20;
constexpr size_t kInfoLogFilesMax = 4;
constexpr size_t kInfoLogFileBytesMax = 8 << 20;
constexpr double kBloomBitsPerKey = 10;
constexpr size_t kMaxSuccessiveCrdtMerges = 64;
// The ts family's SST layout (measured with meld-bench ts-compare, bench/RESULTS.md): its index
// keys (postings, registry, markers) are small and alike, so larger blocks, rarer restart points
// and a higher zstd level on the bottommost level shrink them by a third; its bottommost level,
// where compacted data lives, gets no bloom filters (1.25 bytes per key; its point reads are
// registry lookups, which the block cache serves).
constexpr size_t kTsBlockBytes = 64 << 10;
constexpr int kTsBlockRestartInterval = 64;
constexpr int kTsBottommostZstdLevel = 9;
// The big_set family's index blocks: a restart point every 16 entries instead of every one. A
// membership test in a 10M-element set binary-searches an index of tens of thousands of
// entries, each probe a cache miss; with restarts every 16 the search probes 4 fewer of them and
// ends in a short sequential scan. crdt-disk at 10M, two alternating pairs: contains 472-489K/s
// against 449-451K/s.
constexpr int kBigSetIndexRestartInterval = 16;

size_t family_index(Family family) {
  size_t index = static_cast<size_t>(family);
  MELD_ASSERT(index < kFamilyCount, "unknown storage family " + std::to_string(index));
  return index;
}

rocksdb::Slice to_slice(std::string_view s) {
  return rocksdb::Slice(s.data(), s.size());
}

// Translates a RocksDB status; context says what was being done ("get from kv in /data").
Status from_rocksdb(const rocksdb::Status& s, const std::string& context) {
  if (s.ok()) return Status::ok();
  std::string message = context + ": " + s.ToString();
  if (s.IsNotFound()) return Status::not_found(std::move(message));
  if (s.IsCorruption()) return Status::corruption(std::move(message));
  if (s.IsIOError()) return Status::io_error(std::move(message));
  if (s.IsBusy()) return Status::busy(std::move(message));
  if (s.IsTryAgain() || s.IsShutdownInProgress()) return Status::unavailable(std::move(message));
  if (s.IsInvalidArgument()) return Status::invalid_argument(std::move(message));
  if (s.IsTimedOut()) return Status::deadline_exceeded(std::move(message));
  if (s.IsAborted()) return Status::aborted(std::move(message));
  return Status::internal(std::move(message));
}

// RocksDB reports a held LOCK file as an IOError: "While lock file: .../LOCK: Resource
// temporarily unavailable" for another process, "lock hold by current process" for another DB
// object in this one. ("While open a file for lock" is a permission problem, not a conflict.)
bool is_lock_conflict(const rocksdb::Status& s) {
  const std::string text = s.ToString();
  return s.IsIOError() && (text.find("While lock file") != std::string::npos ||
                           text.find("lock hold by current process") != std::string::npos);
}

uint32_t read_u32(std::string_view rep, size_t pos) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v |= uint32_t{static_cast<uint8_t>(rep[pos + i])} << (8 * i);
  return v;
}

// A batch waiting for the commit thread: WriteBatch::rep_ and the callback.
struct Pending {
  std::string rep;
  std::function<void(Status)> done;
  // commit_sync's waiter: run done on the commit thread, not through the executor, so a caller on
  // the executor's own thread (bootstrap on the loop) does not wait for itself.
  bool done_on_commit_thread = false;
};

}  // namespace

std::string_view family_name(Family family) {
  return kFamilyNames[family_index(family)];
}

std::string prefix_successor(std::string prefix) {
  while (!prefix.empty()) {
    auto last = static_cast<unsigned char>(prefix.back());
    if (last != 0xff) {
      prefix.back() = static_cast<char>(last + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return prefix;
}

void WriteBatch::put(Family family, std::string_view key, std::string_view value) {
  append(Op::kPut, family, key, value);
}

void WriteBatch::del(Family family, std::string_view key) {
  append(Op::kDelete, family, key, {});
}

void WriteBatch::merge(Family family, std::string_view key, std::string_view operand) {
  append(Op::kMerge, family, key, operand);
}

void WriteBatch::del_range(Family family, std::string_view begin, std::string_view end) {
  append(Op::kDeleteRange, family, begin, end);
}

void WriteBatch::append(Op op, Family family, std::string_view key, std::string_view value) {
  MELD_ASSERT(key.size() <= UINT32_MAX && value.size() <= UINT32_MAX,
              "WriteBatch key or value over 4 GiB");
  auto put_u32 = [this](size_t n) {
    for (size_t i = 0; i < 4; ++i) rep_.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  };
  rep_.push_back(static_cast<char>(op));
  rep_.push_back(static_cast<char>(family_index(family)));
  put_u32(key.size());
  rep_.append(key);
  put_u32(value.size());
  rep_.append(value);
  ++count_;
  if (family == Family::kCrdt && op == Op::kMerge && value.size() != 8) {
    has_malformed_int64_ = true;
  }
  if ((family == Family::kCrdtState || family == Family::kBigSet) &&
      (op == Op::kPut || op == Op::kMerge) && malformed_crdt_.empty()) {
    Status valid = family == Family::kBigSet ? big_set_format::validate_value(key, value)
                                             : crdt::decode<crdt::Value>(value).status();
    if (!valid.is_ok()) {
      malformed_crdt_ = std::string(family_name(family)) + " value for a " +
                        std::to_string(key.size()) + "-byte key: " + valid.to_string();
    }
  }
}

class Engine::Impl {
 public:
  Impl(const Options& options, CompletionExecutor* executor)
      : options_(options), executor_(executor), queue_(options.queue_capacity) {}

  rocksdb::ColumnFamilyHandle* handle(Family family) const {
    return handles_[family_index(family)];
  }

  // Appends a WriteBatch rep, built by WriteBatch::append, to a RocksDB batch.
  rocksdb::Status append_rep(std::string_view rep, rocksdb::WriteBatch* out) const {
    size_t pos = 0;
    while (pos < rep.size()) {
      MELD_ASSERT(rep.size() - pos >= 10, "truncated WriteBatch rep");
      auto op = static_cast<WriteBatch::Op>(rep[pos]);
      auto family = static_cast<Family>(rep[pos + 1]);
      uint32_t key_size = read_u32(rep, pos + 2);
      MELD_ASSERT(rep.size() - pos - 10 >= key_size, "truncated WriteBatch rep");
      std::string_view key = rep.substr(pos + 6, key_size);
      uint32_t value_size = read_u32(rep, pos + 6 + key_size);
      MELD_ASSERT(rep.size() - pos - 10 - key_size >= value_size, "truncated WriteBatch rep");
      std::string_view value = rep.substr(pos + 10 + key_size, value_size);
      pos += 10 + size_t{key_size} + value_size;
      rocksdb::Status s;
      switch (op) {
        case WriteBatch::Op::kPut:
          s = out->Put(handle(family), to_slice(key), to_slice(value));
          break;
        case WriteBatch::Op::kDelete:
          s = out->Delete(handle(family), to_slice(key));
          break;
        case WriteBatch::Op::kMerge:
          s = out->Merge(handle(family), to_slice(key), to_slice(value));
          break;
        case WriteBatch::Op::kDeleteRange:
          s = out->DeleteRange(handle(family), to_slice(key), to_slice(value));
          break;
        default:
          MELD_ASSERT(false, "unknown WriteBatch op " + std::to_string(static_cast<int>(op)));
      }
      if (!s.ok()) return s;
    }
    return rocksdb::Status::OK();
  }

  // The commit thread: one RocksDB write (and one fsync when options_.sync) per group of up to
  // max_group_batches queued batches, then every callback of the group, in order.
  void run_commits() {
    std::vector<Pending> group;
    group.reserve(options_.max_group_batches);
    rocksdb::WriteBatch write;
    rocksdb::WriteOptions write_options;
    write_options.sync = options_.sync;
    while (queue_.pop_batch(group, options_.max_group_batches)) {
      write.Clear();
      rocksdb::Status s;
      for (const Pending& p : group) {
        s = append_rep(p.rep, &write);
        if (!s.ok()) break;
      }
      if (s.ok() && options_.commit_faults && options_.commit_faults->take_failure()) {
        s = rocksdb::Status::IOError("commit group failed on purpose (Options::commit_faults)");
      }
      if (s.ok()) s = db_->Write(write_options, &write);
      Status status = from_rocksdb(s, "commit to " + options_.dir);
      commit_groups_.fetch_add(1, std::memory_order_relaxed);
      committed_batches_.fetch_add(group.size(), std::memory_order_relaxed);
      if (!status.is_ok()) {
        failed_groups_.fetch_add(1, std::memory_order_relaxed);
        log::error(
            "storage.commit_failed",
            {{"dir", options_.dir}, {"batches", group.size()}, {"error", status.to_string()}});
      }
      for (Pending& p : group) {
        if (p.done_on_commit_thread) {
          p.done(status);
        } else {
          executor_->post([done = std::move(p.done), status] { done(status); });
        }
      }
      group.clear();
    }
  }

  const Options options_;
  CompletionExecutor* const executor_;
  std::unique_ptr<rocksdb::DB> db_;  // null once closed; guarded by db_mu_ for readers
  // One handle per Family, in enum order, then the default family RocksDB insists on.
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  // Readers hold it shared while they use db_; close() takes it exclusively to close db_.
  mutable std::shared_mutex db_mu_;
  BoundedQueue<Pending> queue_;
  std::thread commit_thread_;
  std::atomic<bool> accepting_{true};
  std::mutex close_mu_;
  bool closed_ = false;  // guarded by close_mu_
  std::atomic<uint64_t> commit_groups_{0};
  std::atomic<uint64_t> committed_batches_{0};
  std::atomic<uint64_t> failed_groups_{0};
};

Result<std::unique_ptr<Engine>> Engine::open(const Options& options, CompletionExecutor* executor) {
  MELD_ASSERT(executor != nullptr, "Engine::open needs a CompletionExecutor");
  Result<std::unique_ptr<Engine>> engine = open_database(options, executor);
  if (!engine.is_ok()) {
    log::error("storage.open_failed",
               {{"dir", options.dir}, {"error", engine.status().to_string()}});
  }
  return engine;
}

Result<std::unique_ptr<Engine>> Engine::open_database(const Options& options,
                                                      CompletionExecutor* executor) {
  const std::string& dir = options.dir;
  if (dir.empty()) return Status::invalid_argument("storage data directory not set");
  if (options.max_group_batches == 0 || options.queue_capacity == 0) {
    return Status::invalid_argument("storage for " + dir +
                                    ": max_group_batches and queue_capacity must be > 0");
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return Status::io_error("cannot create data directory " + dir + ": " + ec.message());
  }
  if (!std::filesystem::is_directory(dir, ec)) {
    return Status::io_error("data directory " + dir + " is not a directory");
  }

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.max_background_jobs = 2;
  db_options.db_write_buffer_size = kTotalWriteBufferBytes;
  db_options.max_total_wal_size = kMaxTotalWalBytes;
  db_options.keep_log_file_num = kInfoLogFilesMax;
  db_options.max_log_file_size = kInfoLogFileBytesMax;

  rocksdb::BlockBasedTableOptions table_options;
  table_options.block_cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  table_options.filter_policy.reset(rocksdb::NewBloomFilterPolicy(kBloomBitsPerKey));
  rocksdb::ColumnFamilyOptions base;
  base.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table_options));
  base.write_buffer_size = kWriteBufferBytes;
  base.max_write_buffer_number = kMaxWriteBuffers;

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (size_t i = 0; i < kFamilyCount; ++i) {
    rocksdb::ColumnFamilyOptions cf = base;
    auto family = static_cast<Family>(i);
    if (family == Family::kCrdt) cf.merge_operator = new_int64_add_operator();
    if (family == Family::kCrdtState) {
      cf.merge_operator = new_crdt_join_operator(crdt::DecodeLimits{});
    }
    if (family == Family::kBigSet) {
      cf.merge_operator = new_big_set_merge_operator();
      cf.compaction_filter_factory = new_big_set_compaction_filter_factory();
      rocksdb::BlockBasedTableOptions set_table = table_options;
      set_table.index_block_restart_interval = kBigSetIndexRestartInterval;
      cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(set_table));
    }
    if (family == Family::kCrdtState || family == Family::kBigSet) {
      // A read joins every operand of its key still in the memtables; a hot key (a counter, a set's
      // context) would make that a memtable's worth. Past this many, the write joins them.
      cf.max_successive_merges = kMaxSuccessiveCrdtMerges;
    }
    if (family == Family::kTs) {
      // Sealed time-series blocks are cold and compress well; ZSTD only where it was built in.
      std::vector<rocksdb::CompressionType> supported = rocksdb::GetSupportedCompressions();
      if (std::find(supported.begin(), supported.end(), rocksdb::kZSTD) != supported.end()) {
        cf.bottommost_compression = rocksdb::kZSTD;
        cf.bottommost_compression_opts.enabled = true;
        cf.bottommost_compression_opts.level = kTsBottommostZstdLevel;
      }
      rocksdb::BlockBasedTableOptions ts_table = table_options;
      ts_table.block_size = kTsBlockBytes;
      ts_table.block_restart_interval = kTsBlockRestartInterval;
      cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(ts_table));
      cf.optimize_filters_for_hits = true;
    }
    if (family == Family::kTsLog) {
      // Write-ahead records live until their samples are sealed (seconds to hours) and are
      // mostly float bits: compressing them at every flush and compaction costs CPU for little.
      cf.compression = rocksdb::kNoCompression;
      cf.bottommost_compression = rocksdb::kDisableCompressionOption;
    }
    descriptors.emplace_back(std::string(kFamilyNames[i]), cf);
  }
  descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, base);

  auto impl = std::make_unique<Impl>(options, executor);
  rocksdb::DB* raw_db = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_options, dir, descriptors, &impl->handles_, &raw_db);
  if (is_lock_conflict(s)) {
    return Status::busy("data directory " + dir + " is in use by another process (" + s.ToString() +
                        ")");
  }
  if (!s.ok()) return from_rocksdb(s, "cannot open data directory " + dir);
  impl->db_.reset(raw_db);
  Impl* commits = impl.get();
  impl->commit_thread_ = std::thread([commits] {
    set_thread_name("meld-commit");
    commits->run_commits();
  });
  log::info("storage.open", {{"dir", dir},
                             {"families", kFamilyCount},
                             {"sync", options.sync},
                             {"max_group_batches", options.max_group_batches},
                             {"queue_capacity", options.queue_capacity}});
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Engine::~Engine() {
  close();
}

Result<std::optional<std::string>> Engine::get(Family family, std::string_view key) {
  std::shared_lock lock(impl_->db_mu_);
  if (!impl_->db_) return Status::unavailable("storage for " + impl_->options_.dir + " is closed");
  std::string value;
  rocksdb::Status s =
      impl_->db_->Get(rocksdb::ReadOptions(), impl_->handle(family), to_slice(key), &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) {
    return from_rocksdb(
        s, "get from " + std::string(family_name(family)) + " in " + impl_->options_.dir);
  }
  return std::optional<std::string>(std::move(value));
}

Result<std::vector<std::optional<std::string>>> Engine::multi_get(
    Family family, std::span<const std::string> keys) {
  std::shared_lock lock(impl_->db_mu_);
  if (!impl_->db_) return Status::unavailable("storage for " + impl_->options_.dir + " is closed");
  std::vector<rocksdb::Slice> slices;
  slices.reserve(keys.size());
  for (const std::string& key : keys) slices.push_back(to_slice(key));
  std::vector<rocksdb::PinnableSlice> values(keys.size());
  std::vector<rocksdb::Status> statuses(keys.size());
  impl_->db_->MultiGet(rocksdb::ReadOptions(), impl_->handle(family), keys.size(), slices.data(),
                       values.data(), statuses.data());
  std::vector<std::optional<std::string>> result;
  result.reserve(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    if (statuses[i].IsNotFound()) {
      result.emplace_back();
    } else if (!statuses[i].ok()) {
      return from_rocksdb(statuses[i], "multi_get from " + std::string(family_name(family)) +
                                           " in " + impl_->options_.dir);
    } else {
      result.emplace_back(values[i].ToString());
    }
  }
  return result;
}

Status Engine::scan(Family family, std::string_view start, std::string_view end, size_t limit,
                    std::vector<std::pair<std::string, std::string>>* out, bool* more) {
  out->clear();
  *more = false;
  std::shared_lock lock(impl_->db_mu_);
  if (!impl_->db_) return Status::unavailable("storage for " + impl_->options_.dir + " is closed");
  rocksdb::Slice upper = to_slice(end);
  rocksdb::ReadOptions read_options;
  if (!end.empty()) read_options.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db_->NewIterator(read_options, impl_->handle(family)));
  for (it->Seek(to_slice(start)); it->Valid(); it->Next()) {
    if (out->size() == limit) {
      *more = true;
      break;
    }
    out->emplace_back(it->key().ToString(), it->value().ToString());
  }
  return from_rocksdb(it->status(),
                      "scan of " + std::string(family_name(family)) + " in " + impl_->options_.dir);
}

Status Engine::commit(WriteBatch batch, std::function<void(Status)> done) {
  return enqueue(std::move(batch), std::move(done), false);
}

Status Engine::commit_sync(WriteBatch batch) {
  auto result = std::make_shared<std::promise<Status>>();
  std::future<Status> future = result->get_future();
  MELD_RETURN_IF_ERROR(enqueue(
      std::move(batch), [result](Status s) { result->set_value(std::move(s)); }, true));
  return future.get();
}

Status Engine::enqueue(WriteBatch batch, std::function<void(Status)> done, bool sync_caller) {
  const std::string& dir = impl_->options_.dir;
  if (!impl_->accepting_.load()) return Status::unavailable("storage for " + dir + " is closed");
  if (batch.size_bytes() > impl_->options_.max_batch_bytes) {
    return Status::invalid_argument("write batch of " + std::to_string(batch.size_bytes()) +
                                    " bytes is over the limit of " +
                                    std::to_string(impl_->options_.max_batch_bytes));
  }
  if (batch.has_malformed_int64_) {
    return Status::invalid_argument(
        "write batch merges a crdt operand that is not an 8-byte int64");
  }
  if (!batch.malformed_crdt_.empty()) {
    return Status::invalid_argument("write batch holds a malformed CRDT: " + batch.malformed_crdt_);
  }
  Pending pending{std::move(batch.rep_), std::move(done), sync_caller};
  bool queued = sync_caller ? impl_->queue_.push(std::move(pending))
                            : impl_->queue_.try_push(std::move(pending));
  if (queued) return Status::ok();
  // close() clears accepting_ before it closes the queue, so a closed queue is seen here.
  if (!impl_->accepting_.load()) return Status::unavailable("storage for " + dir + " is closed");
  return Status::resource_exhausted("storage commit queue for " + dir + " is full (" +
                                    std::to_string(impl_->queue_.capacity()) + " batches)");
}

Status Engine::flush() {
  std::shared_lock lock(impl_->db_mu_);
  if (!impl_->db_) return Status::unavailable("storage for " + impl_->options_.dir + " is closed");
  std::vector<rocksdb::ColumnFamilyHandle*> families(impl_->handles_.begin(),
                                                     impl_->handles_.begin() + kFamilyCount);
  rocksdb::FlushOptions flush_options;
  flush_options.wait = true;
  return from_rocksdb(impl_->db_->Flush(flush_options, families),
                      "flush of " + impl_->options_.dir);
}

Status Engine::compact() {
  std::shared_lock lock(impl_->db_mu_);
  if (!impl_->db_) return Status::unavailable("storage for " + impl_->options_.dir + " is closed");
  rocksdb::CompactRangeOptions compact_options;
  // Rewrite the bottommost level too, so merge operands there are folded into values.
  compact_options.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  for (size_t i = 0; i < kFamilyCount; ++i) {
    rocksdb::Status s =
        impl_->db_->CompactRange(compact_options, impl_->handles_[i], nullptr, nullptr);
    if (!s.ok()) {
      return from_rocksdb(
          s, "compaction of " + std::string(kFamilyNames[i]) + " in " + impl_->options_.dir);
    }
  }
  return Status::ok();
}

Stats Engine::stats() const {
  Stats stats;
  stats.commit_groups = impl_->commit_groups_.load(std::memory_order_relaxed);
  stats.committed_batches = impl_->committed_batches_.load(std::memory_order_relaxed);
  stats.failed_groups = impl_->failed_groups_.load(std::memory_order_relaxed);
  stats.queued_batches = impl_->queue_.size();
  stats.sync = impl_->options_.sync;
  std::shared_lock lock(impl_->db_mu_);
  if (!impl_->db_) return stats;
  for (size_t i = 0; i < kFamilyCount; ++i) {
    uint64_t bytes = 0;
    if (impl_->db_->GetIntProperty(impl_->handles_[i],
                                   rocksdb::DB::Properties::kEstimateLiveDataSize, &bytes)) {
      stats.live_data_bytes += bytes;
    }
    if (impl_->db_->GetIntProperty(impl_->handles_[i], rocksdb::DB::Properties::kTotalSstFilesSize,
                                   &bytes)) {
      stats.sst_file_bytes[i] = bytes;
    }
  }
  return stats;
}

void Engine::close() {
  std::lock_guard close_lock(impl_->close_mu_);
  if (impl_->closed_) return;
  MELD_ASSERT(std::this_thread::get_id() != impl_->commit_thread_.get_id(),
              "Engine::close() called on the commit thread");
  impl_->accepting_.store(false);
  impl_->queue_.close();
  impl_->commit_thread_.join();

  std::unique_lock db_lock(impl_->db_mu_);
  Status status;
  for (rocksdb::ColumnFamilyHandle* h : impl_->handles_) {
    rocksdb::Status s = impl_->db_->DestroyColumnFamilyHandle(h);
    if (status.is_ok()) status = from_rocksdb(s, "close of " + impl_->options_.dir);
  }
  impl_->handles_.clear();
  rocksdb::Status s = impl_->db_->Close();
  if (status.is_ok()) status = from_rocksdb(s, "close of " + impl_->options_.dir);
  impl_->db_.reset();
  impl_->closed_ = true;
  log::info("storage.close", {{"dir", impl_->options_.dir},
                              {"commit_groups", impl_->commit_groups_.load()},
                              {"committed_batches", impl_->committed_batches_.load()},
                              {"failed_groups", impl_->failed_groups_.load()},
                              {"status", status.to_string()}});
}

}  // namespace meld::storage
