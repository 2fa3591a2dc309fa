#include "storage/ts_store.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <condition_variable>
#include <limits>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "base/assert.h"
#include "base/log.h"
#include "base/rng.h"
#include "base/thread_name.h"
#include "base/varint.h"
#include "storage/ts_wal.h"
#include "timeseries/merge.h"

namespace meld::storage {
namespace {

constexpr int64_t kNoBlock = std::numeric_limits<int64_t>::min();
constexpr size_t kLateSampleBytes = sizeof(ts::Sample);
// Engine scans are paged; a page holds at most this many entries.
constexpr size_t kScanPageEntries = 256;
// The log is range-deleted once this many records, or kWalTruncateBytes, are no longer needed
// (fewer, larger range deletions), and always when no head needs any record.
constexpr uint64_t kWalTruncateRecords = 64;
constexpr size_t kWalTruncateBytes = 4 << 20;
// Seals are committed in batches of about this size (an engine batch is bounded).
constexpr size_t kMaintenanceBatchBytes = 16 << 20;
// Samples waiting for the sealer at most; a seal past it waits (backpressure on writes).
constexpr size_t kSealerQueuedSamplesMax = 8 << 20;
// The seal marker: u64 seq, u32 offset, i64 open block, u8 has_sealed, i64 sealed_max_ms.
constexpr size_t kMarkerBytes = 8 + 4 + 8 + 1 + 8;

uint64_t flip(int64_t v) {
  return static_cast<uint64_t>(v) ^ (uint64_t{1} << 63);
}

int64_t unflip(uint64_t v) {
  return static_cast<int64_t>(v ^ (uint64_t{1} << 63));
}

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

// The first millisecond of a time block (timestamps t with floor_div(t, duration_ms) == block),
// clamped to the int64 range.
int64_t block_start_ms(int64_t block, int64_t duration_ms) {
  int64_t start = 0;
  if (__builtin_mul_overflow(block, duration_ms, &start)) {
    return block < 0 ? std::numeric_limits<int64_t>::min() : std::numeric_limits<int64_t>::max();
  }
  return start;
}

// Calls fn(key, value) for every entry in [start, end), page by page. fn returns false to stop.
template <typename Fn>
Status scan_all(Engine& engine, std::string start, const std::string& end, Fn&& fn,
                Family family = Family::kTs) {
  std::vector<std::pair<std::string, std::string>> page;
  bool more = true;
  while (more) {
    MELD_RETURN_IF_ERROR(engine.scan(family, start, end, kScanPageEntries, &page, &more));
    for (auto& [key, value] : page) {
      if (!fn(key, value)) return Status::ok();
    }
    if (page.empty()) break;
    start = page.back().first;
    start.push_back('\0');
  }
  return Status::ok();
}

// Appends to *out the samples of the series' blocks in one time block that lie in
// [min_ms, max_ms], in time order, until *out holds samples_cap. With keys, appends every sample
// of each block that overlaps the range (none filtered) and the blocks' keys, for a rewrite.
Status read_blocks(Engine& engine, ts::BlockDecoder& decoder, uint32_t ref, int64_t block,
                   int64_t min_ms, int64_t max_ms, size_t samples_cap, std::vector<ts::Sample>* out,
                   std::vector<std::string>* keys) {
  // Blocks of one series in one time block do not overlap, so block i holds samples before
  // block i+1's first timestamp: of the blocks that start at or before max_ms, those whose
  // successor starts at or before min_ms are skipped.
  std::vector<std::pair<std::string, std::string>> candidates;
  std::string end = ts_keys::block(block, ref, max_ms);
  end.push_back('\0');
  Status scanned = scan_all(
      engine, ts_keys::block(block, ref, std::numeric_limits<int64_t>::min()), end,
      [&](const std::string& key, const std::string& value) {
        if (!candidates.empty() && unflip(get_u64_be(std::string_view(key).substr(13))) <= min_ms) {
          candidates.clear();
        }
        candidates.emplace_back(key, value);
        return true;
      });
  MELD_RETURN_IF_ERROR(scanned);
  std::vector<ts::Sample> decoded;
  for (auto& [key, value] : candidates) {
    if (out->size() >= samples_cap) break;
    Status s = decoder.decode(value, &decoded);
    if (!s.is_ok()) {
      return Status::corruption("time-series block of series ref " + std::to_string(ref) + ": " +
                                s.message());
    }
    // Decoded blocks are in time order: the samples inside [min_ms, max_ms] (all of them when
    // the keys are wanted) are one run, appended at once.
    auto from = decoded.begin();
    auto to = decoded.end();
    if (keys == nullptr) {
      from = std::lower_bound(decoded.begin(), decoded.end(), min_ms,
                              [](const ts::Sample& x, int64_t ms) { return x.timestamp_ms < ms; });
      to = std::upper_bound(from, decoded.end(), max_ms,
                            [](int64_t ms, const ts::Sample& x) { return ms < x.timestamp_ms; });
    }
    const size_t room = samples_cap - out->size();
    if (static_cast<size_t>(to - from) > room) to = from + static_cast<std::ptrdiff_t>(room);
    out->insert(out->end(), from, to);
    if (keys != nullptr) keys->push_back(key);
  }
  return Status::ok();
}

// A series' registry entries: its ref ('R') and the labels under that ref ('N').
struct RegistryEntry {
  uint32_t ref = 0;
  std::string canonical;
};

// The registry entries of series_id; nullopt when the store never had it. corruption for a
// malformed entry or a ref without labels.
Result<std::optional<RegistryEntry>> read_registry(Engine& engine, uint64_t series_id) {
  auto ref_bytes = engine.get(Family::kTs, ts_keys::series(series_id));
  MELD_RETURN_IF_ERROR(ref_bytes.status());
  if (!ref_bytes->has_value()) return std::optional<RegistryEntry>();
  if ((*ref_bytes)->size() != 4) {
    return Status::corruption("time-series registry entry of series " + std::to_string(series_id) +
                              " has " + std::to_string((*ref_bytes)->size()) + " bytes, not 4");
  }
  RegistryEntry entry;
  entry.ref = get_u32_be(**ref_bytes);
  auto canonical = engine.get(Family::kTs, ts_keys::series_by_ref(entry.ref));
  MELD_RETURN_IF_ERROR(canonical.status());
  if (!canonical->has_value()) {
    return Status::corruption("time-series series " + std::to_string(series_id) + " has ref " +
                              std::to_string(entry.ref) + " but no labels under it");
  }
  entry.canonical = std::move(**canonical);
  return std::optional<RegistryEntry>(std::move(entry));
}

// A head as it was sealed: its Gorilla chunk and its late samples, decoded and merged on the
// sealer thread (off the loop thread). Immutable once made; queries read it until the seal is
// committed.
struct SealedHead {
  std::string chunk;             // ts::GorillaChunk bytes, strictly increasing samples
  std::vector<ts::Sample> late;  // any order, duplicates possible

  // The head's samples, merged and strictly increasing. corruption for a chunk that does not
  // decode (it was written by this process: a bug or memory corruption).
  Status samples(std::vector<ts::Sample>* out) const {
    MELD_RETURN_IF_ERROR(ts::decode_chunk(chunk, out));
    if (!late.empty()) *out = ts::merge_samples(*out, late);
    return Status::ok();
  }
};

// The entries beside the samples of the series a batch creates (or carries again, see
// TsStore::write()): per series its registry (id -> ref, ref -> labels) and a posting per label,
// and a label value per distinct label. emit() gives them in key order, without repeats, so
// RocksDB's memtable inserts each one after the previous (cheap), and sorts per kind of key
// instead of all keys as strings: postings are grouped by label first (series written together
// share most labels, and a group's refs come in ascending), ids and refs sort as integers.
// Holds views into the labels and canonical encodings added, which must outlive emit().
class IndexEntries {
 public:
  void add(const ts::Labels& labels, uint64_t id, uint32_t ref, std::string_view canonical) {
    registry_.emplace_back(id, ref);
    by_ref_.emplace_back(ref, canonical);
    for (const ts::Label& label : labels.labels()) {
      postings_[{label.name, label.value}].push_back(ref);
    }
  }

  // Calls put(key, value) for every entry.
  template <typename Put>
  void emit(Put&& put) {
    std::string key;
    std::sort(by_ref_.begin(), by_ref_.end());
    by_ref_.erase(std::unique(by_ref_.begin(), by_ref_.end()), by_ref_.end());
    for (const auto& [ref, canonical] : by_ref_) put(ts_keys::series_by_ref(ref), canonical);

    std::vector<std::pair<std::string, std::vector<uint32_t>*>> groups;
    groups.reserve(postings_.size());
    for (auto& [label, refs] : postings_) {
      groups.emplace_back(ts_keys::postings_prefix(label.first, label.second), &refs);
    }
    std::sort(groups.begin(), groups.end());
    for (auto& [prefix, refs] : groups) {
      std::sort(refs->begin(), refs->end());
      refs->erase(std::unique(refs->begin(), refs->end()), refs->end());
      for (uint32_t ref : *refs) {
        key = prefix;
        put_u32_be(ref, &key);
        put(key, "");
      }
    }

    std::sort(registry_.begin(), registry_.end());
    registry_.erase(std::unique(registry_.begin(), registry_.end()), registry_.end());
    std::string ref_bytes;
    for (const auto& [id, ref] : registry_) {
      ref_bytes.clear();
      put_u32_be(ref, &ref_bytes);
      put(ts_keys::series(id), ref_bytes);
    }

    std::vector<std::string> values;
    values.reserve(postings_.size());
    for (const auto& entry : postings_) {
      values.push_back(ts_keys::label_value(entry.first.first, entry.first.second));
    }
    std::sort(values.begin(), values.end());
    for (const std::string& value_key : values) put(value_key, "");
  }

 private:
  struct LabelHash {
    size_t operator()(const std::pair<std::string_view, std::string_view>& label) const {
      const std::hash<std::string_view> hash;
      return hash(label.first) * 0x9E3779B97F4A7C15ULL ^ hash(label.second);
    }
  };
  std::vector<std::pair<uint64_t, uint32_t>> registry_;        // id, ref
  std::vector<std::pair<uint32_t, std::string_view>> by_ref_;  // ref, canonical labels
  std::unordered_map<std::pair<std::string_view, std::string_view>, std::vector<uint32_t>,
                     LabelHash>
      postings_;  // (name, value) -> refs
};

// A seal handed to the sealer thread: one series' head of one time block.
struct SealJob {
  uint64_t job = 0;
  uint32_t ref = 0;  // the series'
  int64_t block = 0;
  bool rewrite = false;  // merge with the sealed blocks the samples overlap
  bool drop = false;     // the block is past retention: write the marker only
  std::shared_ptr<const SealedHead> head;
  size_t sample_count = 0;  // in head, before duplicates are resolved (for the queue bound)
  std::string marker;       // the series' seal marker after this seal
  // The series' registry and index entries, when the record that created the series is not
  // confirmed yet (see TsStore::write()): a block must not reach the disk without its registry.
  std::vector<std::pair<std::string, std::string>> index;
};

}  // namespace

// The sealer thread: encodes seal jobs into blocks (the CPU-heavy part of ingest, off the loop
// thread) and commits them, with their markers, in batches through commit_sync. Jobs are
// committed in the order they were pushed, so a series' markers only move forward, and a
// rewrite reads the blocks after every earlier job is committed. Once a job fails, every later
// one fails too, uncommitted (the store refuses writes from then on, until reopened).
class TsStore::Sealer {
 public:
  Sealer(Engine& engine, int zstd_level, size_t queued_samples_max)
      : engine_(engine), encoder_(zstd_level), queued_samples_max_(queued_samples_max) {
    thread_ = std::thread([this] {
      set_thread_name("meld-ts-sealer");
      run();
    });
  }

  // Commits every queued job, then joins the thread.
  ~Sealer() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    changed_.notify_all();
    thread_.join();
  }

  // Queues a job; waits while more than queued_samples_max samples are queued (backpressure).
  void push(SealJob job) {
    std::unique_lock lock(mu_);
    changed_.wait(lock, [&] { return queued_samples_ <= queued_samples_max_; });
    queued_samples_ += job.sample_count;
    queue_.push_back(std::move(job));
    ++pushed_;
    changed_.notify_all();
  }

  // Waits until every job pushed so far is committed (or failed).
  void wait_idle() {
    std::unique_lock lock(mu_);
    changed_.wait(lock, [&] { return finished_ == pushed_; });
  }

  // The jobs finished since the last call, with the status of their commit.
  std::vector<std::pair<uint64_t, Status>> take_finished() {
    std::lock_guard lock(mu_);
    return std::exchange(finished_jobs_, {});
  }

  uint64_t sealed_blocks() const { return sealed_blocks_.load(); }
  uint64_t rewritten_blocks() const { return rewritten_blocks_.load(); }

 private:
  void run() {
    std::unique_lock lock(mu_);
    for (;;) {
      changed_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, nothing left
      std::vector<SealJob> jobs(std::make_move_iterator(queue_.begin()),
                                std::make_move_iterator(queue_.end()));
      queue_.clear();
      lock.unlock();
      process(jobs);
      lock.lock();
    }
  }

  // Encodes and commits jobs in order, in batches of about kMaintenanceBatchBytes.
  void process(std::vector<SealJob>& jobs) {
    WriteBatch batch;
    std::vector<const SealJob*> in_batch;
    const auto commit = [&] {
      if (in_batch.empty()) return;
      Status s = engine_.commit_sync(std::exchange(batch, WriteBatch()));
      if (!s.is_ok()) failed_ = s;
      finish(in_batch, s);
      in_batch.clear();
    };
    for (const SealJob& job : jobs) {
      if (!failed_.is_ok()) {
        // After a failed job no later one may commit: its marker would cover the samples the
        // failed one did not seal, and replay would skip them.
        finish({&job}, failed_);
        continue;
      }
      std::vector<ts::Sample> head;
      Status s = job.head->samples(&head);
      std::vector<ts::Sample> merged;
      const std::vector<ts::Sample>* sealed = &head;
      // A job's deletes and blocks reach the batch only once all of them are made, so a job that
      // fails leaves nothing behind for the next commit (a half rewrite would lose samples).
      std::vector<std::string> rewritten;
      std::vector<std::pair<std::string, std::string>> blocks;
      if (s.is_ok() && job.rewrite && !job.drop) {
        commit();     // the blocks to rewrite may be in the batch
        s = failed_;  // and when that commit failed, this job fails with it
        if (s.is_ok()) {
          std::vector<ts::Sample> existing;
          s = read_blocks(engine_, decoder_, job.ref, job.block, sealed->front().timestamp_ms,
                          sealed->back().timestamp_ms, SIZE_MAX, &existing, &rewritten);
          merged = ts::merge_samples(existing, *sealed);
          sealed = &merged;
        }
      }
      for (size_t at = 0; s.is_ok() && !job.drop && at < sealed->size();
           at += ts::kBlockSamplesMax) {
        size_t n = std::min<size_t>(ts::kBlockSamplesMax, sealed->size() - at);
        std::string bytes;
        s = encoder_.encode(std::span(*sealed).subspan(at, n), &bytes);
        blocks.emplace_back(ts_keys::block(job.block, job.ref, (*sealed)[at].timestamp_ms),
                            std::move(bytes));
      }
      if (!s.is_ok()) {
        failed_ = s;
        finish({&job}, s);
        continue;
      }
      for (const std::string& key : rewritten) batch.del(Family::kTs, key);
      rewritten_blocks_ += rewritten.size();
      for (const auto& [key, bytes] : blocks) batch.put(Family::kTs, key, bytes);
      sealed_blocks_ += blocks.size();
      batch.put(Family::kTs, ts_keys::seal_marker(job.ref), job.marker);
      for (const auto& [key, value] : job.index) batch.put(Family::kTs, key, value);
      in_batch.push_back(&job);
      if (batch.size_bytes() >= kMaintenanceBatchBytes) commit();
    }
    commit();
  }

  void finish(const std::vector<const SealJob*>& jobs, const Status& status) {
    if (!status.is_ok()) log::error("ts_store.seal_failed", {{"error", status.to_string()}});
    std::lock_guard lock(mu_);
    for (const SealJob* job : jobs) {
      queued_samples_ -= job->sample_count;
      finished_jobs_.emplace_back(job->job, status);
      ++finished_;
    }
    changed_.notify_all();
  }

  Engine& engine_;
  ts::BlockEncoder encoder_;
  ts::BlockDecoder decoder_;
  const size_t queued_samples_max_;
  std::atomic<uint64_t> sealed_blocks_{0};
  std::atomic<uint64_t> rewritten_blocks_{0};
  Status failed_;  // the first failed job's error: every later job fails with it (sealer thread)

  std::mutex mu_;
  std::condition_variable changed_;
  std::deque<SealJob> queue_;
  size_t queued_samples_ = 0;  // pushed and not finished
  uint64_t pushed_ = 0;
  uint64_t finished_ = 0;
  std::vector<std::pair<uint64_t, Status>> finished_jobs_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts after the members above exist
};

namespace ts_keys {

std::string format_version() {
  return "F";
}

std::string series(uint64_t series_id) {
  std::string k = "R";
  put_u64_be(series_id, &k);
  return k;
}

std::string series_by_ref(uint32_t ref) {
  std::string k = "N";
  put_u32_be(ref, &k);
  return k;
}

std::string next_ref() {
  return "C";
}

std::string label_values_prefix(std::string_view name) {
  std::string k = "V";
  put_u32_be(static_cast<uint32_t>(name.size()), &k);
  k += name;
  return k;
}

std::string label_value(std::string_view name, std::string_view value) {
  std::string k = label_values_prefix(name);
  k += value;
  return k;
}

std::string postings_prefix(std::string_view name, std::string_view value) {
  std::string k = "P";
  put_u32_be(static_cast<uint32_t>(name.size()), &k);
  k += name;
  put_u32_be(static_cast<uint32_t>(value.size()), &k);
  k += value;
  return k;
}

std::string posting(std::string_view name, std::string_view value, uint32_t ref) {
  std::string k = postings_prefix(name, value);
  put_u32_be(ref, &k);
  return k;
}

std::string wal(uint64_t seq) {
  std::string k = "W";
  put_u64_be(seq, &k);
  return k;
}

std::string wal_next_seq() {
  return "M";
}

std::string block_duration() {
  return "D";
}

std::string seal_marker(uint32_t ref) {
  std::string k = "Q";
  put_u32_be(ref, &k);
  return k;
}

std::string block_prefix(int64_t block_index) {
  std::string k = "B";
  put_u64_be(flip(block_index), &k);
  return k;
}

std::string block(int64_t block_index, uint32_t ref, int64_t first_timestamp_ms) {
  std::string k = block_prefix(block_index);
  put_u32_be(ref, &k);
  put_u64_be(flip(first_timestamp_ms), &k);
  return k;
}

}  // namespace ts_keys

// Shared with the callbacks of write-ahead commits: they may run after the store is gone and,
// with an executor that is not the store's thread (benchmarks), on the commit thread.
struct TsStore::WriteCommits {
  // Every record below this seq has completed, committed or failed (callbacks run in commit
  // order, so it only grows).
  std::atomic<uint64_t> completed_below{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  Status failure;  // the first failed record's error; under mu

  void complete(uint64_t seq, const Status& status) {
    if (!status.is_ok()) {
      std::lock_guard lock(mu);
      if (failure.is_ok()) {
        failure =
            Status(status.code(), "a time-series write-ahead commit failed (" + status.to_string() +
                                      "); the store takes writes again once reopened");
      }
      failed.store(true, std::memory_order_release);
    }
    completed_below.store(seq + 1, std::memory_order_release);
  }
  Status first_failure() {
    if (!failed.load(std::memory_order_acquire)) return Status::ok();
    std::lock_guard lock(mu);
    return failure;
  }
};

// The state of one series in memory. Head samples are strictly increasing and newer than every
// sealed sample of the open block; late samples are any others of the open block.
struct TsStore::Series {
  explicit Series(uint64_t series_id, uint32_t series_ref, std::string canonical_encoding,
                  ts::ChunkLimits limits)
      : id(series_id), ref(series_ref), canonical(std::move(canonical_encoding)), head(limits) {}

  uint64_t id;
  uint32_t ref;
  std::string canonical;  // compared on every write: a different label set is a collision
  ts::GorillaChunk head;
  int64_t head_first_ms = 0;  // valid when the head has samples
  int64_t head_last_ms = 0;
  std::vector<ts::Sample> late;
  int64_t open_block = kNoBlock;  // the block of the newest sample seen
  bool has_sealed = false;        // whether the open block has sealed samples
  int64_t sealed_max_ms = 0;      // the newest of them
  // Seal marker: this series' samples in records before marker_seq, and its first marker_offset
  // samples in record marker_seq, are in sealed blocks.
  uint64_t marker_seq = 0;
  uint32_t marker_offset = 0;
  // This series' samples applied so far from record count_seq.
  uint64_t count_seq = UINT64_MAX;
  uint32_t count_in_seq = 0;
  uint64_t oldest_seq = UINT64_MAX;  // the first record the head holds samples of
  // 0 when the series' registry and index entries are committed (it was loaded from disk, or the
  // record that carried them was confirmed); else 1 + the seq of the newest record carrying
  // them. Until confirmed, every record and seal that names the series carries them again.
  uint64_t index_unconfirmed_seq = 0;
  // The last write() call that named this series, and its entry in that call (see write()).
  uint64_t write_call = 0;
  size_t write_entry = 0;
  size_t bytes = 0;  // what the head adds to head_bytes_
  // Seals handed to the sealer and not yet known to be committed: (job, head). Queries read
  // them as late samples (merging is idempotent, so a committed copy on disk does no harm).
  std::vector<std::pair<uint64_t, std::shared_ptr<const SealedHead>>> sealing;

  bool head_empty() const { return head.sample_count() == 0 && late.empty(); }
};

// The series in memory by id: open addressing with linear probing over 16-byte slots of
// (id, series); series are never removed. A lookup reads one slot, then the series: the
// node-based map this replaces took three or four dependent cache misses (6-8% of the loop
// thread's time with 40,000 series in memory). Ids are hashes of label sets that writers choose,
// so the slot comes from the id mixed with a per-process random seed: nobody can aim label sets
// at one probe run.
class TsStore::SeriesTable {
 public:
  SeriesTable() : seed_(os_random_u64()) { resize(kSlotsMin); }

  // The series with this id, or nullptr.
  Series* find(uint64_t id) const {
    for (size_t at = slot_of(id);; at = (at + 1) & mask_) {
      const Slot& slot = slots_[at];
      if (slot.series == nullptr) return nullptr;
      if (slot.id == id) return slot.series;
    }
  }

  // Adds a series whose id the table does not hold; returns it (it stays where it is for the
  // table's life).
  Series* insert(std::unique_ptr<Series> series) {
    MELD_ASSERT(find(series->id) == nullptr, "series inserted twice");
    if ((owned_.size() + 1) * 2 > slots_.size()) resize(slots_.size() * 2);
    place(series.get());
    owned_.push_back(std::move(series));
    return owned_.back().get();
  }

  size_t size() const { return owned_.size(); }

 private:
  static constexpr size_t kSlotsMin = 1024;  // a power of two
  struct Slot {
    uint64_t id = 0;
    Series* series = nullptr;  // nullptr: empty
  };

  size_t slot_of(uint64_t id) const {
    return static_cast<size_t>(((id ^ seed_) * 0x9e3779b97f4a7c15ull) >> shift_);
  }

  void place(Series* series) {
    size_t at = slot_of(series->id);
    while (slots_[at].series != nullptr) at = (at + 1) & mask_;
    slots_[at] = {series->id, series};
  }

  // slots: a power of two, at least twice the series held.
  void resize(size_t slots) {
    slots_.assign(slots, Slot{});
    mask_ = slots - 1;
    shift_ = 64 - std::countr_zero(slots);
    for (const auto& series : owned_) place(series.get());
  }

  const uint64_t seed_;
  std::vector<Slot> slots_;
  size_t mask_ = 0;
  int shift_ = 0;
  std::vector<std::unique_ptr<Series>> owned_;
};

TsStore::TsStore(Engine& engine, const Clock& clock, TsStoreOptions options)
    : instance_([] {
        static std::atomic<uint64_t> opened{0};
        return ++opened;
      }()),
      engine_(engine),
      clock_(clock),
      options_(options),
      sealer_(std::make_unique<Sealer>(engine, options.block_zstd_level, kSealerQueuedSamplesMax)),
      write_commits_(std::make_shared<WriteCommits>()),
      series_(std::make_unique<SeriesTable>()) {}

// The sealer commits what it holds before it stops.
TsStore::~TsStore() = default;

void TsStore::drain_sealer() {
  for (auto& [job, status] : sealer_->take_finished()) {
    if (!status.is_ok() && failure_.is_ok()) failure_ = status;
    auto it = jobs_in_flight_.find(job);
    MELD_ASSERT(it != jobs_in_flight_.end(), "unknown seal job");
    auto [series_id, oldest_seq] = it->second;
    jobs_in_flight_.erase(it);
    sealing_oldest_seq_.erase(sealing_oldest_seq_.find(oldest_seq));
    auto& sealing = series_->find(series_id)->sealing;
    std::erase_if(sealing, [job = job](const auto& entry) { return entry.first == job; });
  }
  if (failure_.is_ok()) failure_ = write_commits_->first_failure();
}

bool TsStore::index_confirmed(const Series& series) const {
  return series.index_unconfirmed_seq == 0 ||
         (series.index_unconfirmed_seq <=
              write_commits_->completed_below.load(std::memory_order_acquire) &&
          !write_commits_->failed.load(std::memory_order_acquire));
}

Status TsStore::wait_for_seals() {
  sealer_->wait_idle();
  drain_sealer();
  return failure_;
}

Result<std::unique_ptr<TsStore>> TsStore::open(Engine& engine, const Clock& clock,
                                               TsStoreOptions options) {
  if (options.block_duration_ms <= 0) {
    return Status::invalid_argument("time-series block duration must be positive");
  }
  if (options.retention_ms < 0) {
    return Status::invalid_argument("time-series retention must not be negative");
  }
  if (options.head_samples_max == 0 || options.head_samples_max > ts::kChunkSamplesMax) {
    return Status::invalid_argument("time-series head_samples_max must be in [1, " +
                                    std::to_string(ts::kChunkSamplesMax) + "]");
  }
  if (options.late_samples_max == 0 || options.series_max == 0) {
    return Status::invalid_argument("time-series late_samples_max and series_max must be > 0");
  }
  if (options.block_zstd_level < 1 || options.block_zstd_level > 19) {
    return Status::invalid_argument("time-series block zstd level must be in [1, 19]");
  }
  std::unique_ptr<TsStore> store(new TsStore(engine, clock, options));
  MELD_RETURN_IF_ERROR(store->pin_format());
  MELD_RETURN_IF_ERROR(store->replay());
  store->write_commits_->completed_below.store(store->next_seq_);
  return store;
}

int64_t TsStore::block_of(int64_t timestamp_ms) const {
  return floor_div(timestamp_ms, options_.block_duration_ms);
}

void TsStore::add_head_bytes(int64_t delta) {
  head_bytes_ = static_cast<size_t>(static_cast<int64_t>(head_bytes_) + delta);
}

Result<TsStore::Series*> TsStore::load_series(uint64_t series_id) {
  if (Series* series = series_->find(series_id)) return series;
  auto registry = read_registry(engine_, series_id);
  if (!registry.is_ok()) return registry.status();
  if (!registry->has_value()) return static_cast<Series*>(nullptr);
  const uint32_t ref = (*registry)->ref;
  auto marker = engine_.get(Family::kTs, ts_keys::seal_marker(ref));
  if (!marker.is_ok()) return marker.status();
  auto series =
      std::make_unique<Series>(series_id, ref, std::move((*registry)->canonical),
                               ts::ChunkLimits{options_.head_samples_max, ts::kChunkBytesMax});
  if (marker->has_value()) {
    std::string_view m = **marker;
    if (m.size() != kMarkerBytes) {
      return Status::corruption("time-series seal marker of series " + std::to_string(series_id) +
                                " has " + std::to_string(m.size()) + " bytes");
    }
    series->marker_seq = get_u64_be(m);
    series->marker_offset = get_u32_be(m.substr(8));
    series->open_block = unflip(get_u64_be(m.substr(12)));
    series->has_sealed = m[20] != 0;
    series->sealed_max_ms = unflip(get_u64_be(m.substr(21)));
  }
  Series* raw = series_->insert(std::move(series));
  series_by_ref_.emplace(ref, raw);
  return raw;
}

Result<std::unordered_set<uint64_t>> TsStore::series_not_on_disk(
    std::span<const SeriesWrite> series) {
  std::vector<std::string> keys;
  std::vector<uint64_t> ids;
  for (const SeriesWrite& item : series) {
    if (item.labels == nullptr || item.canonical.empty()) continue;  // its id is not known yet
    if (item.hint != nullptr && item.hint->store_ == instance_) continue;
    if (series_->find(item.series_id) != nullptr) continue;
    keys.push_back(ts_keys::series(item.series_id));
    ids.push_back(item.series_id);
  }
  std::unordered_set<uint64_t> absent;
  if (keys.size() < 2) return absent;  // load_series() reads one as cheaply
  auto found = engine_.multi_get(Family::kTs, keys);
  if (!found.is_ok()) return found.status();
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!(*found)[i].has_value()) absent.insert(ids[i]);
  }
  return absent;
}

Status TsStore::pin_format() {
  auto version = engine_.get(Family::kTs, ts_keys::format_version());
  MELD_RETURN_IF_ERROR(version.status());
  if (!version->has_value()) {
    // A new store, or one of the layout from before versions were recorded (keyed by 64-bit
    // series ids), which this build would misread.
    std::vector<std::pair<std::string, std::string>> any;
    bool more = false;
    MELD_RETURN_IF_ERROR(engine_.scan(Family::kTs, "", "", 1, &any, &more));
    if (!any.empty()) {
      return Status::invalid_argument(
          "the time-series data here was written by an older MeldDB (key layout 1, from before "
          "layout versions were recorded); this build reads layout " +
          std::to_string(kTsFormatVersion) +
          " only and does not convert data: start with an empty data directory");
    }
    std::string version_bytes;
    put_u32_be(kTsFormatVersion, &version_bytes);
    std::string duration_bytes;
    put_u64_be(static_cast<uint64_t>(options_.block_duration_ms), &duration_bytes);
    WriteBatch batch;
    batch.put(Family::kTs, ts_keys::format_version(), version_bytes);
    batch.put(Family::kTs, ts_keys::block_duration(), duration_bytes);
    return engine_.commit_sync(std::move(batch));
  }
  if ((*version)->size() != 4) {
    return Status::corruption("time-series recorded layout version is malformed");
  }
  const uint32_t found = get_u32_be(**version);
  if (found != kTsFormatVersion) {
    return Status::invalid_argument("the time-series data here has key layout " +
                                    std::to_string(found) + "; this build reads layout " +
                                    std::to_string(kTsFormatVersion) + " only");
  }
  auto recorded = engine_.get(Family::kTs, ts_keys::block_duration());
  MELD_RETURN_IF_ERROR(recorded.status());
  if (!recorded->has_value() || (*recorded)->size() != 8) {
    return Status::corruption("time-series recorded block duration is missing or malformed");
  }
  const auto pinned_ms = static_cast<int64_t>(get_u64_be(**recorded));
  if (pinned_ms != options_.block_duration_ms) {
    return Status::invalid_argument(
        "time-series data here is cut into blocks of " + std::to_string(pinned_ms) +
        " ms; it cannot be opened with blocks of " + std::to_string(options_.block_duration_ms) +
        " ms (the block duration is fixed when the store is created)");
  }
  return Status::ok();
}

Status TsStore::replay() {
  auto next = engine_.get(Family::kTs, ts_keys::wal_next_seq());
  MELD_RETURN_IF_ERROR(next.status());
  if (next->has_value()) {
    if ((*next)->size() != 8) return Status::corruption("time-series next log seq is malformed");
    next_seq_ = get_u64_be(**next);
  }
  auto next_ref = engine_.get(Family::kTs, ts_keys::next_ref());
  MELD_RETURN_IF_ERROR(next_ref.status());
  if (next_ref->has_value()) {
    if ((*next_ref)->size() != 4) return Status::corruption("time-series next ref is malformed");
    next_ref_ = get_u32_be(**next_ref);
  }
  // The time blocks that hold data: one seek per block.
  std::string start = "B";
  const std::string blocks_end = prefix_successor("B");
  for (;;) {
    std::vector<std::pair<std::string, std::string>> page;
    bool more = false;
    MELD_RETURN_IF_ERROR(engine_.scan(Family::kTs, start, blocks_end, 1, &page, &more));
    if (page.empty()) break;
    if (page[0].first.size() < 9) return Status::corruption("time-series block key is malformed");
    int64_t block = unflip(get_u64_be(std::string_view(page[0].first).substr(1)));
    blocks_with_data_.insert(block);
    if (block == std::numeric_limits<int64_t>::max()) break;
    start = ts_keys::block_prefix(block + 1);
  }

  bool first = true;
  Status failed;
  std::vector<ts_wal::Entry> entries;
  uint64_t samples = 0;
  Status scanned = scan_all(
      engine_, ts_keys::wal(0), prefix_successor("W"),
      [&](const std::string& key, const std::string& value) {
        if (key.size() != 9) {
          failed = Status::corruption("time-series log key is malformed");
          return false;
        }
        uint64_t seq = get_u64_be(std::string_view(key).substr(1));
        failed = ts_wal::decode_record(seq, value, &entries);
        if (!failed.is_ok()) return false;
        if (first) wal_truncated_below_ = seq;
        first = false;
        for (const ts_wal::Entry& entry : entries) {
          auto series = load_series(entry.series_id);
          if (!series.is_ok() || *series == nullptr) {
            failed = series.is_ok()
                         ? Status::corruption("time-series log record " + std::to_string(seq) +
                                              " names an unknown series")
                         : series.status();
            return false;
          }
          Series& s = **series;
          for (const ts::Sample& sample : entry.samples) {
            if (s.count_seq != seq) {
              s.count_seq = seq;
              s.count_in_seq = 0;
            }
            if (seq < s.marker_seq || (seq == s.marker_seq && s.count_in_seq < s.marker_offset)) {
              ++s.count_in_seq;  // already sealed
              continue;
            }
            failed = apply(s, seq, sample);
            if (!failed.is_ok()) return false;
            ++samples;
          }
        }
        wal_records_.emplace_back(seq, value.size());
        wal_bytes_ += value.size();
        next_seq_ = std::max(next_seq_, seq + 1);
        return true;
      },
      Family::kTsLog);
  MELD_RETURN_IF_ERROR(scanned);
  MELD_RETURN_IF_ERROR(failed);
  // A record and the seals of its samples are separate commits, so a seal can commit its marker
  // (and, for a series that record created, the series' registry) although the record failed.
  // Neither the record's seq nor the series' ref may be given out again: a later record under the
  // seq would have its first samples taken for sealed ones and skipped here, and a later series
  // under the ref would share its postings and blocks. Every seal writes its series' marker, so
  // one pass over the markers (a key per series that ever sealed) finds both.
  MELD_RETURN_IF_ERROR(scan_all(
      engine_, "Q", prefix_successor("Q"), [&](const std::string& key, const std::string& value) {
        if (value.size() != kMarkerBytes || key.size() != 5) {
          failed = Status::corruption("time-series seal marker is malformed");
          return false;
        }
        next_seq_ = std::max(next_seq_, get_u64_be(value) + 1);
        next_ref_ = std::max(next_ref_, get_u32_be(std::string_view(key).substr(1)) + 1);
        return true;
      }));
  MELD_RETURN_IF_ERROR(failed);
  if (first) wal_truncated_below_ = next_seq_;
  MELD_RETURN_IF_ERROR(wait_for_seals());
  WriteBatch batch;
  MELD_RETURN_IF_ERROR(maintain(&batch));
  if (!batch.empty()) MELD_RETURN_IF_ERROR(commit_maintenance(std::move(batch)));
  log::info("ts_store.open", {{"wal_records", wal_records_.size()},
                              {"replayed_samples", samples},
                              {"series_in_memory", series_->size()},
                              {"blocks", blocks_with_data_.size()}});
  return Status::ok();
}

Status TsStore::apply(Series& series, uint64_t seq, const ts::Sample& sample) {
  if (series.count_seq != seq) {
    series.count_seq = seq;
    series.count_in_seq = 0;
  }
  int64_t block = block_of(sample.timestamp_ms);
  if (series.open_block == kNoBlock || block > series.open_block) {
    if (!series.head_empty()) seal(series);
    series.open_block = block;
    series.has_sealed = false;
  } else if (block < series.open_block) {
    return Status::corruption("time-series sample at " + std::to_string(sample.timestamp_ms) +
                              " ms of record " + std::to_string(seq) +
                              " is older than its series' open block");
  }
  if (series.head_empty()) {
    series.oldest_seq = seq;
    head_oldest_seq_.emplace(seq, series.id);
  }
  bool in_order = series.head.sample_count() > 0
                      ? sample.timestamp_ms > series.head_last_ms
                      : !series.has_sealed || sample.timestamp_ms > series.sealed_max_ms;
  if (in_order) {
    if (!series.head.has_room()) {
      seal(series);
      series.oldest_seq = seq;
      head_oldest_seq_.emplace(seq, series.id);
    }
    size_t before = series.head.bytes().size();
    MELD_RETURN_IF_ERROR(series.head.append(sample));
    if (series.head.sample_count() == 1) series.head_first_ms = sample.timestamp_ms;
    series.head_last_ms = sample.timestamp_ms;
    size_t grown = series.head.bytes().size() - before;
    series.bytes += grown;
    add_head_bytes(static_cast<int64_t>(grown));
    ++series.count_in_seq;
    return Status::ok();
  }
  series.late.push_back(sample);
  series.bytes += kLateSampleBytes;
  add_head_bytes(kLateSampleBytes);
  ++series.count_in_seq;
  if (series.late.size() >= options_.late_samples_max) seal(series);
  return Status::ok();
}

void TsStore::seal(Series& series) {
  MELD_ASSERT(!series.head_empty(), "sealing an empty head");
  // The head's time span without decoding it (the sealer thread decodes and merges).
  int64_t first_ms = std::numeric_limits<int64_t>::max();
  int64_t last_ms = std::numeric_limits<int64_t>::min();
  if (series.head.sample_count() > 0) {
    first_ms = series.head_first_ms;
    last_ms = series.head_last_ms;
  }
  for (const ts::Sample& sample : series.late) {
    first_ms = std::min(first_ms, sample.timestamp_ms);
    last_ms = std::max(last_ms, sample.timestamp_ms);
  }
  SealJob job;
  job.job = next_job_++;
  job.ref = series.ref;
  job.block = series.open_block;
  job.sample_count = series.head.sample_count() + series.late.size();
  auto sealed = std::make_shared<SealedHead>(
      SealedHead{std::string(series.head.bytes()), std::move(series.late)});
  job.rewrite = series.has_sealed && first_ms <= series.sealed_max_ms;
  job.drop = retention_dropped_below_ && job.block < *retention_dropped_below_;
  if (!job.drop) blocks_with_data_.insert(job.block);
  series.sealed_max_ms = series.has_sealed ? std::max(series.sealed_max_ms, last_ms) : last_ms;
  series.has_sealed = true;
  series.marker_seq = series.count_seq;
  series.marker_offset = series.count_in_seq;
  put_u64_be(series.marker_seq, &job.marker);
  put_u32_be(series.marker_offset, &job.marker);
  put_u64_be(flip(series.open_block), &job.marker);
  job.marker.push_back(1);
  put_u64_be(flip(series.sealed_max_ms), &job.marker);
  job.head = sealed;
  if (!index_confirmed(series)) {
    // The block must not reach the disk without the registry naming its ref.
    auto labels = ts::Labels::decode_stored(series.canonical);
    MELD_ASSERT(labels.is_ok(), "a series' own canonical labels do not decode");
    IndexEntries index;
    index.add(*labels, series.id, series.ref, series.canonical);
    index.emit([&](std::string_view key, std::string_view value) {
      job.index.emplace_back(std::string(key), std::string(value));
    });
  }

  series.sealing.emplace_back(job.job, std::move(sealed));
  jobs_in_flight_.emplace(job.job, std::make_pair(series.id, series.oldest_seq));
  sealing_oldest_seq_.insert(series.oldest_seq);
  head_oldest_seq_.erase({series.oldest_seq, series.id});
  series.oldest_seq = UINT64_MAX;
  series.head = ts::GorillaChunk(ts::ChunkLimits{options_.head_samples_max, ts::kChunkBytesMax});
  series.late = {};
  add_head_bytes(-static_cast<int64_t>(series.bytes));
  series.bytes = 0;
  sealer_->push(std::move(job));
}

Result<TsStore::WriteResult> TsStore::write(std::span<const SeriesWrite> series,
                                            std::function<void(Status)> done) {
  drain_sealer();
  MELD_RETURN_IF_ERROR(failure_);
  WriteResult result;
  int64_t retention_floor_ms = std::numeric_limits<int64_t>::min();
  if (options_.retention_ms > 0) retention_floor_ms = clock_.wall_ms() - options_.retention_ms;
  const uint64_t call = ++write_calls_;

  // Pass 1: validate every sample against the series' state before this call. Nothing
  // changes until the record is queued. A series' accepted samples, from all the items that
  // name it, become one entry sorted by time, so applying it moves the open block forward only.
  // An item whose samples are all valid and already in time order (the usual case) is used in
  // place; only the others are copied.
  struct Entry {
    uint64_t id;
    const ts::Labels* labels;  // of the series' first item
    SeriesHint* hint;          // of the series' first item, when it has one
    Series* known;             // nullptr for a series new to the store
    std::span<const ts::Sample> samples;
    std::vector<ts::Sample> owned;  // the samples, when they are not the caller's span
    bool sorted;
    uint32_t ref;  // of a new series: given out with the record
  };
  std::vector<Entry> entries;
  entries.reserve(series.size());
  // Series new to the store: id -> (canonical encoding, index in entries).
  std::unordered_map<uint64_t, std::pair<std::string, size_t>> new_series;
  size_t total_samples = 0;
  // Ids of this call's series that are neither in memory nor on disk; looked up (one MultiGet)
  // when the first series not in memory comes, so a call that names only known series pays
  // nothing for it.
  std::optional<std::unordered_set<uint64_t>> not_on_disk;
  for (uint32_t i = 0; i < series.size(); ++i) {
    const SeriesWrite& item = series[i];
    auto whole = [&](Status status) {
      result.errors.push_back({i, kWholeSeries, std::move(status)});
    };
    if (item.labels == nullptr) {
      whole(Status::invalid_argument("no metric name (__name__ label)"));
      continue;
    }
    if (item.samples.empty()) {
      whole(Status::invalid_argument("series has no samples"));
      continue;
    }
    std::string computed;
    std::string_view canonical = item.canonical;
    uint64_t id = item.series_id;
    if (canonical.empty()) {
      computed = item.labels->encode();
      canonical = computed;
      id = ts::series_id_of_encoding(computed);
    }
    // A hint this store filled names the series, whose label set it compared then.
    const bool hinted = item.hint != nullptr && item.hint->store_ == instance_;
    Series* stored = hinted ? item.hint->series_ : series_->find(id);
    auto fresh = stored == nullptr ? new_series.find(id) : new_series.end();
    if (stored == nullptr && fresh == new_series.end()) {
      // Loaded from disk or new: either way one more series in memory.
      if (series_->size() + new_series.size() >= options_.series_max) {
        whole(Status::resource_exhausted("the store holds " + std::to_string(series_->size()) +
                                         " series in memory, limit " +
                                         std::to_string(options_.series_max)));
        continue;
      }
      if (!not_on_disk) {
        auto absent = series_not_on_disk(series.subspan(i));
        if (!absent.is_ok()) return absent.status();
        not_on_disk = std::move(absent).value();
      }
      if (!not_on_disk->contains(id)) {
        auto loaded = load_series(id);
        if (!loaded.is_ok()) return loaded.status();
        stored = *loaded;
      }
    }
    const std::string* taken = stored != nullptr           ? &stored->canonical
                               : fresh != new_series.end() ? &fresh->second.first
                                                           : nullptr;
    if (!hinted && taken != nullptr && *taken != canonical) {
      whole(Status::already_exists("series id " + std::to_string(id) + " of " +
                                   item.labels->to_string() +
                                   " is taken by another label set (a 64-bit hash collision); "
                                   "this series is refused"));
      continue;
    }
    // A label set the store holds (or took earlier in this call) had its metric name checked.
    if (taken == nullptr && item.labels->metric_name().empty()) {
      whole(Status::invalid_argument("no metric name (__name__ label)"));
      continue;
    }
    if (taken == nullptr && new_series.size() >= UINT32_MAX - next_ref_) {
      whole(Status::resource_exhausted("the store has given out all " + std::to_string(UINT32_MAX) +
                                       " series refs; it takes no new series"));
      continue;
    }
    const int64_t open = stored != nullptr ? stored->open_block : kNoBlock;
    const auto too_old = [&](int64_t ts) {
      return ts < retention_floor_ms || (open != kNoBlock && block_of(ts) < open);
    };
    // The fast check: every sample valid, timestamps never decreasing.
    const int64_t open_from_ms = open == kNoBlock
                                     ? std::numeric_limits<int64_t>::min()
                                     : block_start_ms(open, options_.block_duration_ms);
    const int64_t floor_ms = std::max(retention_floor_ms, open_from_ms);
    bool all_valid = true;
    bool sorted = true;
    int64_t previous_ms = std::numeric_limits<int64_t>::min();
    for (const ts::Sample& s : item.samples) {
      all_valid = all_valid && s.timestamp_ms >= floor_ms;
      sorted = sorted && s.timestamp_ms >= previous_ms;
      previous_ms = s.timestamp_ms;
    }
    std::span<const ts::Sample> valid = item.samples;
    std::vector<ts::Sample> filtered;
    if (!all_valid) {
      filtered.reserve(item.samples.size());
      for (uint32_t j = 0; j < item.samples.size(); ++j) {
        int64_t ts = item.samples[j].timestamp_ms;
        if (!too_old(ts)) {
          filtered.push_back(item.samples[j]);
        } else if (ts < retention_floor_ms) {
          result.errors.push_back(
              {i, j,
               Status::invalid_argument("sample at " + std::to_string(ts) +
                                        " ms is older than the retention of " +
                                        std::to_string(options_.retention_ms) + " ms")});
        } else {
          result.errors.push_back(
              {i, j,
               Status::invalid_argument("sample at " + std::to_string(ts) +
                                        " ms is older than the series' open time block (from " +
                                        std::to_string(open_from_ms) + " ms)")});
        }
      }
      if (filtered.empty()) continue;
      valid = filtered;
    }
    total_samples += valid.size();
    size_t at = entries.size();
    bool first = true;
    if (stored != nullptr) {
      first = stored->write_call != call;
      if (first) {
        stored->write_call = call;
        stored->write_entry = at;
      }
      at = stored->write_entry;
    } else if (fresh != new_series.end()) {
      first = false;
      at = fresh->second.second;
    } else {
      new_series.emplace(id, std::make_pair(std::string(canonical), at));
    }
    if (first) {
      Entry& entry =
          entries.emplace_back(Entry{id, item.labels, item.hint, stored, valid, {}, sorted, 0});
      if (!filtered.empty()) {
        entry.owned = std::move(filtered);
        entry.samples = entry.owned;
      }
    } else {
      // The series' second item in this call: its entry owns the samples of all of them.
      Entry& entry = entries[at];
      if (entry.owned.empty()) entry.owned.assign(entry.samples.begin(), entry.samples.end());
      entry.owned.insert(entry.owned.end(), valid.begin(), valid.end());
      entry.samples = entry.owned;
      entry.sorted = false;
    }
  }
  if (entries.empty()) return result;

  // The record and the index entries of new series, in one batch, the index entries in key order
  // (IndexEntries): while many series are new the commit thread's memtable inserts were the limit.
  WriteBatch batch;
  const uint64_t seq = next_seq_;
  IndexEntries index;
  bool carried_again = false;  // index entries of a series this store made earlier
  std::string record;
  record.reserve(ts_wal::record_bytes_max(entries.size(), total_samples));
  ts_wal::start_record(entries.size(), &record);
  for (Entry& entry : entries) {
    if (!entry.sorted) {
      if (entry.owned.empty()) entry.owned.assign(entry.samples.begin(), entry.samples.end());
      std::stable_sort(
          entry.owned.begin(), entry.owned.end(),
          [](const ts::Sample& a, const ts::Sample& b) { return a.timestamp_ms < b.timestamp_ms; });
      entry.samples = entry.owned;
    }
    ts_wal::append_entry(entry.id, entry.samples, &record);
    result.accepted += entry.samples.size();
    if (entry.known != nullptr) {
      // A record may name a series only if its registry is durable with it: until the record
      // that created the series is confirmed (it may yet fail), this one carries it again.
      if (index_confirmed(*entry.known)) {
        entry.known->index_unconfirmed_seq = 0;
      } else {
        index.add(*entry.labels, entry.id, entry.known->ref, entry.known->canonical);
        entry.known->index_unconfirmed_seq = seq + 1;
        carried_again = true;
      }
      continue;
    }
    entry.ref = next_ref_++;
    index.add(*entry.labels, entry.id, entry.ref, new_series.at(entry.id).first);
  }
  index.emit(
      [&](std::string_view key, std::string_view value) { batch.put(Family::kTs, key, value); });
  if (!new_series.empty() || carried_again) {
    std::string next_ref_bytes;
    put_u32_be(next_ref_, &next_ref_bytes);
    batch.put(Family::kTs, ts_keys::next_ref(), next_ref_bytes);
  }
  batch.put(Family::kTsLog, ts_keys::wal(seq), record);
  // A failed record poisons the store (drain_sealer() reads it back into failure_): the series
  // it created and the samples it carried are in memory but not on disk.
  MELD_RETURN_IF_ERROR(engine_.commit(
      std::move(batch), [commits = write_commits_, seq, done = std::move(done)](Status status) {
        commits->complete(seq, status);
        done(std::move(status));
      }));
  ++next_seq_;
  wal_records_.emplace_back(seq, record.size());
  wal_bytes_ += record.size();

  // Pass 2: apply, in the record's order (replay repeats it). Seals go into a batch committed
  // after the record.
  for (Entry& entry : entries) {
    if (entry.known != nullptr) continue;
    auto made =
        std::make_unique<Series>(entry.id, entry.ref, std::move(new_series.at(entry.id).first),
                                 ts::ChunkLimits{options_.head_samples_max, ts::kChunkBytesMax});
    made->index_unconfirmed_seq = seq + 1;
    entry.known = series_->insert(std::move(made));
    series_by_ref_.emplace(entry.ref, entry.known);
  }
  WriteBatch maintenance;
  Status applied;
  for (const Entry& entry : entries) {
    if (entry.hint != nullptr) {
      entry.hint->store_ = instance_;
      entry.hint->series_ = entry.known;
    }
    Series& s = *entry.known;
    for (const ts::Sample& sample : entry.samples) {
      applied = apply(s, seq, sample);
      if (!applied.is_ok()) break;
    }
    if (!applied.is_ok()) break;
  }
  if (applied.is_ok()) applied = maintain(&maintenance);
  if (applied.is_ok() && !maintenance.empty()) {
    applied = commit_maintenance(std::move(maintenance));
  }
  if (!applied.is_ok()) {
    failure_ = applied;
    log::error("ts_store.failed", {{"error", applied.to_string()}});
  }
  return result;
}

Status TsStore::maintain(WriteBatch* batch) {
  std::vector<uint64_t> to_seal;
  if (head_bytes_ > options_.head_bytes_max) {
    for (const auto& [seq, id] : head_oldest_seq_) to_seal.push_back(id);
  } else if (wal_bytes_ > options_.wal_bytes_max) {
    // Seal the heads that hold the oldest half of the live log.
    size_t bytes = 0;
    uint64_t cut = 0;
    for (const auto& [seq, size] : wal_records_) {
      cut = seq;
      bytes += size;
      if (bytes >= wal_bytes_ / 2) break;
    }
    for (auto it = head_oldest_seq_.begin(); it != head_oldest_seq_.end() && it->first <= cut;
         ++it) {
      to_seal.push_back(it->second);
    }
  }
  for (uint64_t id : to_seal) seal(*series_->find(id));
  truncate_wal(batch);

  if (options_.retention_ms > 0) {
    int64_t below = block_of(clock_.wall_ms() - options_.retention_ms);
    if (!retention_dropped_below_ || below > *retention_dropped_below_) {
      // Seals already handed over may write into the blocks about to be dropped.
      MELD_RETURN_IF_ERROR(wait_for_seals());
      batch->del_range(Family::kTs, "B", ts_keys::block_prefix(below));
      if (!blocks_with_data_.empty() && *blocks_with_data_.begin() < below) {
        log::info("ts_store.retention_dropped",
                  {{"blocks_before_ms", block_start_ms(below, options_.block_duration_ms)}});
      }
      retention_dropped_below_ = below;
      blocks_with_data_.erase(blocks_with_data_.begin(), blocks_with_data_.lower_bound(below));
    }
  }
  return Status::ok();
}

void TsStore::truncate_wal(WriteBatch* batch) {
  uint64_t needed = next_seq_;
  if (!head_oldest_seq_.empty()) needed = std::min(needed, head_oldest_seq_.begin()->first);
  if (!sealing_oldest_seq_.empty()) needed = std::min(needed, *sealing_oldest_seq_.begin());
  if (needed <= wal_truncated_below_) return;
  size_t bytes = 0;
  for (auto it = wal_records_.begin(); it != wal_records_.end() && it->first < needed; ++it) {
    bytes += it->second;
  }
  if (needed < next_seq_ && needed - wal_truncated_below_ < kWalTruncateRecords &&
      bytes < kWalTruncateBytes) {
    return;
  }
  batch->del_range(Family::kTsLog, ts_keys::wal(wal_truncated_below_), ts_keys::wal(needed));
  std::string next;
  put_u64_be(next_seq_, &next);
  batch->put(Family::kTs, ts_keys::wal_next_seq(), next);
  while (!wal_records_.empty() && wal_records_.front().first < needed) {
    wal_bytes_ -= wal_records_.front().second;
    wal_records_.pop_front();
  }
  wal_truncated_below_ = needed;
}

Status TsStore::commit_maintenance(WriteBatch batch) {
  return engine_.commit_sync(std::move(batch));
}

Status TsStore::seal_all() {
  drain_sealer();
  MELD_RETURN_IF_ERROR(failure_);
  std::vector<uint64_t> ids;
  for (const auto& [seq, id] : head_oldest_seq_) ids.push_back(id);
  for (uint64_t id : ids) seal(*series_->find(id));
  MELD_RETURN_IF_ERROR(wait_for_seals());
  WriteBatch batch;
  truncate_wal(&batch);
  if (batch.empty()) return Status::ok();
  return commit_maintenance(std::move(batch));
}

Status TsStore::enforce_retention() {
  drain_sealer();
  MELD_RETURN_IF_ERROR(failure_);
  WriteBatch batch;
  MELD_RETURN_IF_ERROR(maintain(&batch));
  if (batch.empty()) return Status::ok();
  return commit_maintenance(std::move(batch));
}

Status TsStore::postings(std::string_view name, std::string_view value, size_t limit,
                         std::vector<uint64_t>* refs) {
  refs->clear();
  std::string prefix = ts_keys::postings_prefix(name, value);
  Status over;
  MELD_RETURN_IF_ERROR(scan_all(
      engine_, prefix, prefix_successor(prefix), [&](const std::string& key, const std::string&) {
        if (key.size() != prefix.size() + 4) return true;
        if (refs->size() >= limit) {
          over = Status::resource_exhausted("more than " + std::to_string(limit) + " series have " +
                                            std::string(name) + "=\"" + std::string(value) + "\"");
          return false;
        }
        refs->push_back(get_u32_be(std::string_view(key).substr(prefix.size())));
        return true;
      }));
  return over;
}

Status TsStore::label_values(std::string_view name, size_t limit,
                             std::vector<std::string>* values) {
  const std::string prefix = ts_keys::label_values_prefix(name);
  return scan_label_values(name, prefix, prefix_successor(prefix), limit, values);
}

Status TsStore::label_values(std::string_view name, std::string_view min, std::string_view max,
                             size_t limit, std::vector<std::string>* values) {
  if (min > max) {
    values->clear();
    return Status::ok();
  }
  // The first key past name=max is name=max followed by a zero byte.
  std::string end = ts_keys::label_value(name, max);
  end.push_back('\0');
  return scan_label_values(name, ts_keys::label_value(name, min), end, limit, values);
}

Status TsStore::scan_label_values(std::string_view name, const std::string& start,
                                  const std::string& end, size_t limit,
                                  std::vector<std::string>* values) {
  values->clear();
  const size_t prefix_bytes = ts_keys::label_values_prefix(name).size();
  Status over;
  MELD_RETURN_IF_ERROR(
      scan_all(engine_, start, end, [&](const std::string& key, const std::string&) {
        if (values->size() >= limit) {
          over = Status::resource_exhausted("label " + std::string(name) + " has more than " +
                                            std::to_string(limit) + " values");
          return false;
        }
        values->push_back(key.substr(prefix_bytes));
        return true;
      }));
  return over;
}

Status TsStore::all_series(size_t limit, std::vector<uint64_t>* refs) {
  refs->clear();
  Status over;
  MELD_RETURN_IF_ERROR(scan_all(
      engine_, "N", prefix_successor("N"), [&](const std::string& key, const std::string&) {
        if (key.size() != 5) return true;
        if (refs->size() >= limit) {
          over = Status::resource_exhausted("more than " + std::to_string(limit) + " series");
          return false;
        }
        refs->push_back(get_u32_be(std::string_view(key).substr(1)));
        return true;
      }));
  return over;
}

// Queries call this for every series they select. The bytes are the store's own (encode() of
// labels validated when the series was written, or read back from the registry), so
// decode_stored() checks their structure but not Prometheus' character rules again.
Result<ts::Labels> TsStore::series_labels(uint64_t ref) {
  if (ref > UINT32_MAX) return Status::not_found("no series with ref " + std::to_string(ref));
  if (auto it = series_by_ref_.find(static_cast<uint32_t>(ref)); it != series_by_ref_.end()) {
    return ts::Labels::decode_stored(it->second->canonical);
  }
  auto canonical = engine_.get(Family::kTs, ts_keys::series_by_ref(static_cast<uint32_t>(ref)));
  MELD_RETURN_IF_ERROR(canonical.status());
  if (!canonical->has_value()) {
    return Status::not_found("no series with ref " + std::to_string(ref));
  }
  return ts::Labels::decode_stored(**canonical);
}

Result<std::optional<uint64_t>> TsStore::find_series(const ts::Labels& labels) {
  const std::string canonical = labels.encode();
  const uint64_t id = ts::series_id_of_encoding(canonical);
  if (const Series* series = series_->find(id)) {
    if (series->canonical != canonical) return std::optional<uint64_t>();
    return std::optional<uint64_t>(series->ref);
  }
  auto registry = read_registry(engine_, id);
  MELD_RETURN_IF_ERROR(registry.status());
  if (!registry->has_value() || (*registry)->canonical != canonical) {
    return std::optional<uint64_t>();
  }
  return std::optional<uint64_t>((*registry)->ref);
}

Status TsStore::samples(uint64_t ref, int64_t min_ms, int64_t max_ms, size_t samples_max,
                        std::vector<ts::Sample>* samples, bool* more) {
  drain_sealer();
  samples->clear();
  *more = false;
  if (options_.retention_ms > 0) {
    min_ms = std::max(min_ms, clock_.wall_ms() - options_.retention_ms);
  }
  if (min_ms > max_ms || ref > UINT32_MAX) return Status::ok();
  // The run (blocks, then the head: strictly increasing together) is cut after samples_max + 1
  // samples; the late samples up to the cut then decide which samples_max come first.
  const size_t cap = samples_max == SIZE_MAX ? SIZE_MAX : samples_max + 1;
  int64_t first_block = block_of(min_ms);
  int64_t last_block = block_of(max_ms);
  for (auto it = blocks_with_data_.lower_bound(first_block);
       it != blocks_with_data_.end() && *it <= last_block && samples->size() < cap; ++it) {
    MELD_RETURN_IF_ERROR(read_blocks(engine_, decoder_, static_cast<uint32_t>(ref), *it, min_ms,
                                     max_ms, cap, samples, nullptr));
  }
  // A block rewritten between two scan pages can show up twice; the run must be a set.
  if (std::adjacent_find(samples->begin(), samples->end(), [](const auto& a, const auto& b) {
        return a.timestamp_ms >= b.timestamp_ms;
      }) != samples->end()) {
    ts::sort_and_resolve(samples);
  }
  auto found = series_by_ref_.find(static_cast<uint32_t>(ref));
  if (found != series_by_ref_.end() &&
      (!found->second->head_empty() || !found->second->sealing.empty())) {
    const Series& s = *found->second;
    if (s.head.sample_count() > 0 && samples->size() < cap) {
      auto it = ts::GorillaIterator::open(s.head.bytes());
      MELD_RETURN_IF_ERROR(it.status());
      samples->reserve(samples->size() + std::min<size_t>(s.head.sample_count(), cap));
      ts::Sample sample;
      while (samples->size() < cap && it->next(&sample)) {
        if (sample.timestamp_ms >= min_ms && sample.timestamp_ms <= max_ms) {
          samples->push_back(sample);
        }
      }
      MELD_RETURN_IF_ERROR(it->status());
    }
    int64_t cut_ms = samples->size() == cap ? samples->back().timestamp_ms : max_ms;
    std::vector<ts::Sample> late;
    for (const ts::Sample& sample : s.late) {
      if (sample.timestamp_ms >= min_ms && sample.timestamp_ms <= cut_ms) late.push_back(sample);
    }
    std::vector<ts::Sample> sealed_samples;
    for (const auto& [job, sealed] : s.sealing) {
      MELD_RETURN_IF_ERROR(sealed->samples(&sealed_samples));
      for (const ts::Sample& sample : sealed_samples) {
        if (sample.timestamp_ms >= min_ms && sample.timestamp_ms <= cut_ms) late.push_back(sample);
      }
    }
    if (!late.empty()) *samples = ts::merge_samples(*samples, std::move(late));
  }
  if (samples->size() > samples_max) {
    samples->resize(samples_max);
    *more = true;
  }
  return Status::ok();
}

TsStoreStats TsStore::stats() const {
  TsStoreStats stats;
  stats.sealed_blocks = sealer_->sealed_blocks();
  stats.rewritten_blocks = sealer_->rewritten_blocks();
  stats.series_in_memory = series_->size();
  stats.head_bytes = head_bytes_;
  stats.wal_bytes = wal_bytes_;
  stats.wal_records = wal_records_.size();
  return stats;
}

}  // namespace meld::storage
