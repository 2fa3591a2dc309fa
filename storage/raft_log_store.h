// The durable Raft log of one group on the node's Engine (column family kRaftLog): entries, hard
// state, the truncation point, snapshot metadata and the group's applied state. Many groups share
// one Engine; each writes through WriteBatches committed by the Engine's commit thread, so the
// writes of all groups in one commit group share one fsync.
//
// Keys (kRaftLog family), all integers big-endian so that a group's entries sort by index:
//   group(8) 'a'            applied state: applied index + membership as of it
//   group(8) 'e' index(8)   one log entry: term(8) type(1) data
//   group(8) 'h'            hard state: term(8) vote(8) commit(8)
//   group(8) 's'            latest snapshot: index(8) term(8) conf state, then the data
//   group(8) 't'            truncation point (the dummy entry before first_index): index(8) term(8)
//
// Writing. Every write operation stages its changes into the caller's WriteBatch (so a Ready's
// entries, hard state and snapshot, and the state machine's changes, can go into one atomic
// write) and updates this store's in-memory view at once. The caller commits the batch with
// Engine::commit/commit_sync and, per the Raft contract, calls Raft::advance() only after the
// batch is durable (and sends the Ready's messages only then).
//
// Cache consistency rule: reads (the consensus::Storage interface) see staged writes
// immediately, whether or not their batch is committed yet. first_index, last_index, term() and
// initial_state() are answered from memory alone; entries() serves the most recent entries from
// a bounded cache (RaftLogOptions::entry_cache_bytes) and older ones from RocksDB, which holds
// only committed batches. Raft never reads an entry through its Storage before advance() (it
// keeps them in its unstable tail), so with the rule above it never asks for an entry that is
// staged but uncommitted; should any other reader do so after the cache dropped it, entries()
// answers unavailable. A batch whose commit FAILS leaves this view ahead of the disk: the host
// must stop the group and reopen the store (open() rebuilds the view from RocksDB), as a Raft
// node must on any persistence error.
//
// Applied index rule (the bug that diverged etcd 3.5 members): the state machine's changes for
// entries up to index N and set_applied(N, ...) go into ONE WriteBatch, so after any crash the
// stored applied index names exactly the entries whose effects are in the state machine. At
// restart the host passes applied_state().index as RaftConfig::applied, and initial_state()
// reports the membership recorded with it. When installing a snapshot (apply_snapshot), the host
// puts the snapshot's data into the state machine and calls set_applied(snapshot index, its
// ConfState) in the same batch.
//
// Memory per group: the entry cache (bounded by bytes), the snapshot metadata, and one (index,
// term) pair per term change in the log (terms change only at elections).
//
// Thread-safety: not thread-safe; one thread (the group's Raft thread) uses a store. The Engine
// may be shared by any number of stores and threads. Two stores must never be open on the same
// group of one Engine at once.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "consensus/storage.h"
#include "consensus/types.h"
#include "storage/engine.h"

namespace meld::storage {

struct RaftLogOptions {
  // Bytes (consensus::entry_bytes) of the most recent entries kept in memory for entries(); older
  // entries are read from RocksDB. 0 disables the cache.
  uint64_t entry_cache_bytes = 4 << 20;
  // Largest snapshot data accepted by apply_snapshot and create_snapshot (it is stored in one
  // write batch, so it must also fit the Engine's max_batch_bytes).
  uint64_t max_snapshot_bytes = 32 << 20;
};

// What the state machine has applied: the index and the membership as of that index.
struct AppliedState {
  uint64_t index = 0;
  consensus::ConfState conf_state;
  friend bool operator==(const AppliedState&, const AppliedState&) = default;
};

class RaftLogStore final : public consensus::Storage {
 public:
  // Opens the log of `group` (any id, 0 included) in `engine`, rebuilding the in-memory view
  // from RocksDB; a group never written starts empty (first_index 1, last_index 0). engine is
  // borrowed and must outlive the store. Errors: corruption naming the group and record when a
  // stored record does not decode, or the entries are not contiguous from the truncation point
  // or go back in term; unavailable when the engine is closed.
  static Result<std::unique_ptr<RaftLogStore>> open(Engine* engine, uint64_t group,
                                                    const RaftLogOptions& options = {});

  // consensus::Storage (see there). initial_state()'s conf_state is the applied state's when it
  // is at or past the snapshot, else the snapshot's. entries() may also return corruption (a
  // stored entry does not decode or is missing) or unavailable (see the cache rule above).
  // snapshot() reads the data from RocksDB: unavailable while the latest snapshot is staged but
  // not committed yet, corruption when the stored record does not decode.
  Result<consensus::InitialState> initial_state() const override;
  Result<std::vector<consensus::Entry>> entries(uint64_t lo, uint64_t hi,
                                                uint64_t max_bytes) const override;
  Result<uint64_t> term(uint64_t i) const override;
  uint64_t first_index() const override;
  uint64_t last_index() const override;
  Result<consensus::Snapshot> snapshot() const override;

  uint64_t group() const { return group_; }
  const consensus::HardState& hard_state() const { return hard_state_; }
  // The applied state last staged or read at open; index 0 when none was ever written.
  const AppliedState& applied_state() const { return applied_; }

  // The write operations below stage into *batch (see the rule above) and leave the store and
  // the batch unchanged when they return an error. Removing entries (a replaced suffix,
  // compact, apply_snapshot) stages one delete per entry: compact long logs in steps to keep a
  // batch under the Engine's max_batch_bytes.

  // Appends entries (Ready::entries), replacing the stored suffix from entries[0].index on: keys
  // past the new last index are deleted. Entries at or before the truncation point are skipped.
  // invalid_argument when the entries are not consecutive, would leave a gap after last_index(),
  // or go back in term relative to the entry before them.
  Status append(const std::vector<consensus::Entry>& entries, WriteBatch* batch);
  // Records the hard state (Ready::hard_state).
  void set_hard_state(const consensus::HardState& hs, WriteBatch* batch);
  // Replaces the whole log with `snap` (Ready::snapshot): deletes every entry, records the
  // snapshot and moves the truncation point to it. invalid_argument when it is older than the
  // current snapshot or its data exceeds max_snapshot_bytes.
  Status apply_snapshot(const consensus::Snapshot& snap, WriteBatch* batch);
  // Records a snapshot of the state machine at `index` (<= the applied index) and returns it.
  // invalid_argument when index is outside [snapshot index, last_index()] or at or before the
  // truncation point while the term there is unknown, or data exceeds max_snapshot_bytes.
  Result<consensus::Snapshot> create_snapshot(uint64_t index, const consensus::ConfState& cs,
                                              std::string data, WriteBatch* batch);
  // Deletes the entries through `index`: first_index() becomes index+1 and the term of `index`
  // is kept for the log-matching check. ok (nothing staged) when already compacted that far;
  // invalid_argument past last_index().
  Status compact(uint64_t index, WriteBatch* batch);
  // Records the applied state; put it in the batch holding the state machine's changes for the
  // entries through applied.index (see the rule above). invalid_argument when the index goes
  // backwards or passes the hard state's commit index.
  Status set_applied(const AppliedState& applied, WriteBatch* batch);

 private:
  RaftLogStore(Engine* engine, uint64_t group, const RaftLogOptions& options);
  Status load();
  Status load_entries();
  std::string key(char kind) const;
  std::string entry_key(uint64_t index) const;
  // Reads stored entries [lo, hi) from RocksDB into *out, adding to *bytes, stopping past
  // max_bytes (but at least one entry overall). *stopped says whether max_bytes stopped it.
  Status read_entries(uint64_t lo, uint64_t hi, uint64_t max_bytes, uint64_t* bytes,
                      std::vector<consensus::Entry>* out, bool* stopped) const;
  void cache_push(consensus::Entry e);
  // Drops cached entries and term runs at or after `index`.
  void truncate_from(uint64_t index);
  uint64_t term_at(uint64_t i) const;  // precondition: first_index()-1 <= i <= last_index()

  Engine* engine_;
  uint64_t group_;
  RaftLogOptions options_;

  consensus::HardState hard_state_;
  consensus::SnapshotMeta snapshot_meta_;  // of the latest snapshot (index 0: none)
  AppliedState applied_;
  uint64_t truncated_index_ = 0;  // first_index() - 1
  uint64_t last_index_ = 0;
  // (first index, term) of each run of equal terms, covering [truncated_index_, last_index_].
  std::vector<std::pair<uint64_t, uint64_t>> term_runs_;
  // The most recent entries, contiguous and ending at last_index_ when not empty.
  std::deque<consensus::Entry> cache_;
  uint64_t cache_bytes_ = 0;
};

}  // namespace meld::storage
