// The single-node time-series store on the engine's ts family: a series registry, postings lists
// and label values (the index), a write-ahead log of accepted samples, in-memory head chunks per
// series, and sealed blocks per series per time block.
//
// Series ids and refs: a series' id is xxHash64 of its canonical label set (what writers send);
// when the store first sees a series it also gives it a ref, a dense number (0, 1, 2, ... in
// creation order, never reused) that the index and the blocks use instead of the random 64-bit
// id: postings of sorted small numbers share most of their key bytes, so they cost a few bytes
// each on disk. Queries (postings, all_series, series_labels, samples) speak refs; find_series
// maps a label set to its ref.
//
// Write path: write() validates every sample, appends ONE write-ahead record for the whole call
// (the accepted samples of all its series, each series' sorted by time) to the engine's group
// commit, applies the samples to the heads at once (so a later write and a query see them), and
// runs `done` when the record is durable: acknowledge only then. A head is a Gorilla chunk of
// strictly increasing samples plus a bounded buffer of late ones (a timestamp at or before the
// head's last one); a head that is full, or whose series moves into a newer time block, is
// sealed: its samples, merged with ts::merge_samples' duplicate rule, become ts::BlockEncoder
// blocks, written in one batch with a marker that says which write-ahead samples of that series
// are sealed. Encoding and committing blocks runs on the store's sealer thread (the CPU-heavy
// part of ingest); until a seal is committed its samples stay in memory for queries, and the log
// records they came from stay. Write-ahead records that no head needs any more are
// range-deleted. open() replays the records left, skipping what the markers say is sealed, so
// every acknowledged sample survives kill -9.
//
// Time is cut into blocks of block_duration_ms (one week by default). A write accepts a series'
// samples in its open block (the block of the newest sample it had before the call: a new series
// has none) and any later block; samples in an older block, or older than retention_ms before
// now, are rejected per item. A late sample inside the open block that falls among already sealed
// samples is merged into those blocks when its head is sealed (the blocks it overlaps are
// rewritten). Retention deletes whole blocks: keys start with the block, so every series' data of
// one block is one range deletion.
//
// Memory: each series in memory holds at most head_samples_max samples in its Gorilla chunk (at
// most ts::kChunkBytesMax bytes) and late_samples_max late samples (16 bytes each); all heads
// together are kept under head_bytes_max by sealing every head when it is passed, and the live
// write-ahead log under wal_bytes_max by sealing the heads that hold its oldest records. Sealed
// samples waiting for the sealer thread are bounded too (8M; a seal past that waits). At most
// series_max series are held in memory; a write that would add more is refused per series, whether
// the series is new or stored and not in memory (after a restart, a series is loaded back from
// disk when a write names it; replay loads every series its log records name).
//
// Key layout in the ts family, and the write-ahead records' keys in the ts_log family (integers
// big-endian; "flipped" = sign bit inverted so that negative values sort first): see the ts_keys
// functions below; the records themselves: storage/ts_wal.h. The layout has a version
// (kTsFormatVersion, recorded at the first open); a store of another layout, or one written before
// the version was recorded, is refused at open (invalid_argument) instead of being misread.
//
// Thread: not thread-safe; one thread (the node's loop thread) makes every call. The store runs
// its own sealer thread, which it joins on destruction after committing what it holds. `done`
// runs via the engine's executor. Known limit: a query that scans more than 256 blocks of one
// series in one time block while a late sample rewrites them may miss samples of the rewritten
// blocks (scans are paged, not snapshots).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "storage/engine.h"
#include "timeseries/gorilla.h"
#include "timeseries/labels.h"
#include "timeseries/sample.h"
#include "timeseries/sealed_block.h"

namespace meld::storage {

inline constexpr int64_t kDefaultTsBlockDurationMs = int64_t{7} * 24 * 3600 * 1000;  // one week
// The ts family's key layout. 2: dense series refs in postings and block keys.
inline constexpr uint32_t kTsFormatVersion = 2;

struct TsStoreOptions {
  // The length of a time block; blocks start at multiples of it (from the Unix epoch).
  int64_t block_duration_ms = kDefaultTsBlockDurationMs;
  // Samples older than now - retention_ms are rejected, and blocks that end before it dropped.
  // 0 keeps everything.
  int64_t retention_ms = 0;
  // Samples in one series' head chunk; in [1, ts::kChunkSamplesMax]. A full head is sealed.
  uint32_t head_samples_max = 4096;
  // Late (out-of-order or duplicate-timestamp) samples buffered per series; a full buffer seals.
  uint32_t late_samples_max = 4096;
  // All heads together, Gorilla bytes plus 16 bytes per late sample.
  size_t head_bytes_max = size_t{512} << 20;
  // Write-ahead records not yet sealed, in bytes.
  size_t wal_bytes_max = size_t{256} << 20;
  // Series held in memory (with their heads) at most.
  size_t series_max = 1000000;
  // zstd level of sealed blocks (1..19).
  int block_zstd_level = 3;
};

// The ts family's keys.
namespace ts_keys {
// 'F' -> the layout version (u32), recorded at the first open.
std::string format_version();
// 'R' id -> the series' ref (u32) (the registry by id).
std::string series(uint64_t series_id);
// 'N' u32 ref -> the series' canonical label encoding (the registry by ref).
std::string series_by_ref(uint32_t ref);
// 'C' -> the next ref to give out (u32), written with every new series.
std::string next_ref();
// 'V' u32 len(name) name value -> "" (the label values of a label name, for regex matchers).
std::string label_value(std::string_view name, std::string_view value);
std::string label_values_prefix(std::string_view name);
// 'P' u32 len(name) name u32 len(value) value u32 ref -> "" (the postings list of name=value).
std::string posting(std::string_view name, std::string_view value, uint32_t ref);
std::string postings_prefix(std::string_view name, std::string_view value);
// 'W' seq -> one write-ahead record, in the ts_log family (stores written before it existed
// kept them in the ts family; open() moves them).
std::string wal(uint64_t seq);
// 'M' -> the next write-ahead sequence number, written whenever the log is truncated.
std::string wal_next_seq();
// 'D' -> the block duration in ms (u64), recorded at the first open: block keys depend on it.
std::string block_duration();
// 'Q' u32 ref -> the seal marker of a series (see ts_store.cc).
std::string seal_marker(uint32_t ref);
// 'B' flipped(block) u32 ref flipped(first timestamp) -> one ts::BlockEncoder block.
std::string block(int64_t block_index, uint32_t ref, int64_t first_timestamp_ms);
// Every block key of one time block starts with this.
std::string block_prefix(int64_t block_index);
}  // namespace ts_keys

struct TsStoreStats {
  uint64_t series_in_memory = 0;
  uint64_t head_bytes = 0;
  uint64_t wal_bytes = 0;         // live write-ahead bytes
  uint64_t wal_records = 0;       // live write-ahead records
  uint64_t sealed_blocks = 0;     // blocks written since open (rewrites included)
  uint64_t rewritten_blocks = 0;  // sealed blocks replaced because late samples fell among them
};

class TsStore {
  struct Series;

 public:
  // Opens the store on engine (borrowed; must outlive the store, and its executor must run
  // callbacks on the thread that uses the store), replaying the write-ahead log into heads.
  // clock gives "now" for retention and must outlive the store. The first open records
  // kTsFormatVersion and block_duration_ms in the store; block keys depend on the latter, so a
  // later open with another value fails instead of misreading them. Errors: invalid_argument for
  // bad options, a block duration other than the recorded one, or data of another layout version
  // (or of a layout from before versions were recorded); the engine's errors; corruption for a
  // write-ahead record, registry entry, recorded version or block duration that does not decode.
  static Result<std::unique_ptr<TsStore>> open(Engine& engine, const Clock& clock,
                                               TsStoreOptions options);
  ~TsStore();
  TsStore(const TsStore&) = delete;
  TsStore& operator=(const TsStore&) = delete;

  // Where a caller that writes one label set again and again lets the store keep the series it
  // found for it: passed with that label set on every write to this store, it spares the store
  // the lookup by id and the comparison of label sets. It belongs to one label set for its whole
  // life. Starts empty; only the store fills it (on a write that stores samples of the series).
  class SeriesHint {
   private:
    friend class TsStore;
    uint64_t store_ = 0;  // the instance_ of the store that filled it
    Series* series_ = nullptr;
  };
  struct SeriesWrite {
    const ts::Labels* labels = nullptr;  // borrowed for the call; must have a metric name
    std::span<const ts::Sample> samples;
    // Optional, for callers that cache them: labels->encode() and its series id. Empty: the
    // store computes both.
    std::string_view canonical;
    uint64_t series_id = 0;
    // Optional: the label set's hint (see SeriesHint); requires canonical and series_id.
    SeriesHint* hint = nullptr;
  };
  static constexpr uint32_t kWholeSeries = UINT32_MAX;
  struct ItemError {
    uint32_t series = 0;  // index into write()'s series
    uint32_t sample = 0;  // index into its samples, or kWholeSeries
    Status status;
  };
  struct WriteResult {
    uint64_t accepted = 0;
    std::vector<ItemError> errors;
  };

  // Stores the valid samples of every valid series and reports the others item by item:
  // invalid_argument for a series without samples or a sample in a block older than the series'
  // open block or past retention; already_exists for a label set whose id is taken by another
  // (a 64-bit hash collision: the second label set is refused, never merged); resource_exhausted
  // past series_max or when every ref (2^32 - 1 series) has been given out. When accepted > 0,
  // done(status) runs once via the engine's executor when the samples are durable (or the commit
  // failed); otherwise done is never called. Fails as a whole, calling nothing, with the engine's
  // error when the record cannot be queued (nothing is applied then) or with the error of an
  // earlier failed seal or write-ahead commit (the store refuses writes after one: its memory and
  // disk disagree until it is reopened). A record or seal that names a series whose creating
  // record is not confirmed yet carries the series' registry and index entries again, so writes
  // in flight behind a record that fails never leave a record naming an unknown series.
  Result<WriteResult> write(std::span<const SeriesWrite> series, std::function<void(Status)> done);

  // Seals every head (e.g. before a clean shutdown or to measure the compacted size) and waits
  // until that is durable. Must not be called from a callback the engine runs inline.
  Status seal_all();

  // Waits until every head sealed so far is committed by the sealer thread; the first seal
  // failure, if any. For tests, benchmarks and shutdown; writes never need it.
  Status wait_for_seals();

  // Deletes the blocks that end before now - retention_ms (nothing when retention_ms is 0) and
  // waits. Writes also do this, at most once per time block.
  Status enforce_retention();

  // The index. Each returns at most limit entries and reports resource_exhausted past it.
  // Refs of the series whose label name has exactly this value, in ref order.
  Status postings(std::string_view name, std::string_view value, size_t limit,
                  std::vector<uint64_t>* refs);
  // The values the label name has in any series, in byte order.
  Status label_values(std::string_view name, size_t limit, std::vector<std::string>* values);
  // The same, restricted to the values v with min <= v <= max (byte order): one range scan.
  Status label_values(std::string_view name, std::string_view min, std::string_view max,
                      size_t limit, std::vector<std::string>* values);
  // Every series' ref, in ref order.
  Status all_series(size_t limit, std::vector<uint64_t>* refs);
  // The labels of a series; not_found for an unknown ref.
  Result<ts::Labels> series_labels(uint64_t ref);
  // The ref of the series with exactly these labels, or nullopt when the store has none (also
  // when another label set holds their id: a hash collision).
  Result<std::optional<uint64_t>> find_series(const ts::Labels& labels);

  // Replaces *samples with the series' (by ref) samples with min_ms <= timestamp <= max_ms,
  // strictly increasing, duplicates resolved by ts::merge_samples' rule: sealed blocks, the head
  // and its late samples together. At most samples_max of them, the earliest; *more says whether
  // further samples remain in the range. corruption for a block that does not decode.
  Status samples(uint64_t ref, int64_t min_ms, int64_t max_ms, size_t samples_max,
                 std::vector<ts::Sample>* samples, bool* more);

  TsStoreStats stats() const;
  const TsStoreOptions& options() const { return options_; }

 private:
  class SeriesTable;
  TsStore(Engine& engine, const Clock& clock, TsStoreOptions options);

  // Records the layout version and block_duration_ms at the first open; checks them afterwards.
  Status pin_format();
  Status replay();
  int64_t block_of(int64_t timestamp_ms) const;
  // The series state for id, loading it from disk (registry and seal marker) when it is not in
  // memory; nullptr when the series was never stored. corruption for undecodable entries.
  Result<Series*> load_series(uint64_t series_id);
  // The ids of the items (those that give their id) that name a series neither in memory nor on
  // disk, found with one MultiGet of their registry entries: write() creates these without a
  // read each, which a batch of new series (churn) would otherwise pay one by one. write() calls
  // it at its first item not in memory, for that item and the later ones.
  Result<std::unordered_set<uint64_t>> series_not_on_disk(std::span<const SeriesWrite> series);
  // Adds one sample of the write-ahead record seq to the series' head (sealing it first when it
  // is full or the sample starts a newer block).
  Status apply(Series& series, uint64_t seq, const ts::Sample& sample);
  // Hands the head (merged with its late samples) to the sealer and empties it.
  void seal(Series& series);
  // Forgets the seals the sealer has committed; records the first failure.
  void drain_sealer();
  // Seals what the memory and log bounds require, truncates the log, drops expired blocks.
  Status maintain(WriteBatch* batch);
  void truncate_wal(WriteBatch* batch);
  Status commit_maintenance(WriteBatch batch);
  void add_head_bytes(int64_t delta);
  // The label values in the keys [start, end) of name's value keys (see label_values()).
  Status scan_label_values(std::string_view name, const std::string& start, const std::string& end,
                           size_t limit, std::vector<std::string>* values);

  // This store among all opened in the process (1, 2, 3, ...): a hint filled by a store that is
  // gone names a series that is gone, even when a new store sits at the same address.
  const uint64_t instance_;
  Engine& engine_;
  const Clock& clock_;
  TsStoreOptions options_;
  ts::BlockDecoder decoder_;  // queries'
  class Sealer;
  std::unique_ptr<Sealer> sealer_;
  // What the write-ahead commits' callbacks report back to the store (see write()).
  struct WriteCommits;
  std::shared_ptr<WriteCommits> write_commits_;
  // Whether the series' registry and index entries are known to be committed.
  bool index_confirmed(const Series& series) const;
  uint64_t next_job_ = 0;
  uint64_t write_calls_ = 0;  // write() calls so far
  // Seal jobs handed to the sealer: job -> (series id, first log record its samples came from).
  std::unordered_map<uint64_t, std::pair<uint64_t, uint64_t>> jobs_in_flight_;
  std::multiset<uint64_t> sealing_oldest_seq_;           // the second of each jobs_in_flight_ entry
  std::unique_ptr<SeriesTable> series_;                  // every series in memory, by id
  std::unordered_map<uint32_t, Series*> series_by_ref_;  // the same, by ref
  uint32_t next_ref_ = 0;
  // (first write-ahead seq a head still needs, series id) of every non-empty head.
  std::set<std::pair<uint64_t, uint64_t>> head_oldest_seq_;
  // Live write-ahead records: (seq, bytes), oldest first.
  std::deque<std::pair<uint64_t, size_t>> wal_records_;
  uint64_t next_seq_ = 0;
  uint64_t wal_truncated_below_ = 0;  // records below this seq are deleted
  size_t wal_bytes_ = 0;
  size_t head_bytes_ = 0;
  // Blocks below this index have been dropped by retention.
  std::optional<int64_t> retention_dropped_below_;
  // Time blocks that have sealed blocks on disk (queries visit only these).
  std::set<int64_t> blocks_with_data_;
  // The first failed seal, maintenance or write-ahead commit; writes are refused after it, until
  // the store is opened again.
  Status failure_;
};

}  // namespace meld::storage
