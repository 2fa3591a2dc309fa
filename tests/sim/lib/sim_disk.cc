#include "tests/sim/lib/sim_disk.h"

#include <algorithm>
#include <utility>

namespace meld::sim {

SimDisk::SimDisk(const consensus::MemoryStorage& initial) : live_(initial), durable_(initial) {}

Status SimDisk::apply(consensus::MemoryStorage* storage, const DiskBatch& batch) {
  if (batch.snapshot) MELD_RETURN_IF_ERROR(storage->apply_snapshot(*batch.snapshot));
  MELD_RETURN_IF_ERROR(storage->append(batch.entries));
  if (batch.hard_state) storage->set_hard_state(*batch.hard_state);
  if (batch.compaction) {
    const Compaction& c = *batch.compaction;
    Result<consensus::Snapshot> snap =
        storage->create_snapshot(c.snapshot_index, c.conf_state, c.data);
    if (!snap.is_ok()) return snap.status();
    MELD_RETURN_IF_ERROR(storage->compact(c.compact_index));
  }
  return Status::ok();
}

Status SimDisk::write(DiskBatch batch) {
  // Validate on a copy first, so that a rejected batch leaves the node's view untouched.
  consensus::MemoryStorage next = live_;
  MELD_RETURN_IF_ERROR(apply(&next, batch));
  live_ = std::move(next);
  unsynced_.push_back(std::move(batch));
  return Status::ok();
}

Result<std::vector<DiskBatch>> SimDisk::make_durable(size_t count) {
  std::vector<DiskBatch> done;
  for (size_t i = 0; i < count; ++i) {
    MELD_RETURN_IF_ERROR(apply(&durable_, unsynced_[i]));
    done.push_back(std::move(unsynced_[i]));
  }
  unsynced_.clear();
  return done;
}

Result<std::vector<DiskBatch>> SimDisk::sync() {
  return make_durable(unsynced_.size());
}

Result<std::vector<DiskBatch>> SimDisk::crash(size_t keep) {
  Result<std::vector<DiskBatch>> kept = make_durable(std::min(keep, unsynced_.size()));
  live_ = durable_;
  return kept;
}

}  // namespace meld::sim
