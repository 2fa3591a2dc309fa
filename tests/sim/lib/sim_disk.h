// A simulated disk holding one node's Raft storage. Writes land at once in the node's view of
// the disk (`storage()`, which its Raft reads, as a page cache would serve them) and become
// durable only at the next sync(). A crash keeps the durable image plus a prefix of the unsynced
// write batches (one batch is one atomic write, as one RocksDB WriteBatch is) and loses the rest.
//
// Single-threaded. The Storage that storage() returns keeps its address for the disk's lifetime,
// so a Raft may borrow it; after crash() the Raft must be rebuilt from it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "consensus/storage.h"
#include "consensus/types.h"

namespace meld::sim {

// Log compaction (§7): record a snapshot of the state machine at `snapshot_index`, then drop the
// log through `compact_index` (<= snapshot_index).
struct Compaction {
  uint64_t snapshot_index = 0;
  consensus::ConfState conf_state;
  std::string data;
  uint64_t compact_index = 0;
};

// One atomic write: what one Raft Ready asks to persist, or a compaction.
struct DiskBatch {
  std::optional<consensus::Snapshot> snapshot;
  std::vector<consensus::Entry> entries;
  std::optional<consensus::HardState> hard_state;
  std::optional<Compaction> compaction;
};

class SimDisk {
 public:
  // Starts with `initial` already durable (a bootstrapped or empty node).
  explicit SimDisk(const consensus::MemoryStorage& initial);

  // The node's view: durable plus unsynced writes.
  const consensus::MemoryStorage& storage() const { return live_; }
  // What survives a crash right now.
  const consensus::MemoryStorage& durable() const { return durable_; }

  // Writes `batch` (not yet durable). An error means the batch is invalid for the stored log
  // (e.g. entries leaving a gap); nothing is written then.
  Status write(DiskBatch batch);
  // Makes every written batch durable and returns them in write order.
  Result<std::vector<DiskBatch>> sync();
  // Loses all but the first `keep` unsynced batches (clamped to their number), which become
  // durable; the node's view becomes the durable image. Returns the batches kept.
  Result<std::vector<DiskBatch>> crash(size_t keep);
  size_t unsynced_batches() const { return unsynced_.size(); }

 private:
  static Status apply(consensus::MemoryStorage* storage, const DiskBatch& batch);
  Result<std::vector<DiskBatch>> make_durable(size_t count);

  consensus::MemoryStorage live_;
  consensus::MemoryStorage durable_;
  std::vector<DiskBatch> unsynced_;
};

}  // namespace meld::sim
