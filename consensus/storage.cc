#include "consensus/storage.h"

#include <string>

namespace meld::consensus {

MemoryStorage::MemoryStorage() : entries_(1) {}

Result<InitialState> MemoryStorage::initial_state() const {
  return InitialState{hard_state_, snapshot_.meta.conf_state};
}

uint64_t MemoryStorage::first_index() const {
  return entries_[0].index + 1;
}

uint64_t MemoryStorage::last_index() const {
  return entries_[0].index + entries_.size() - 1;
}

Result<uint64_t> MemoryStorage::term(uint64_t i) const {
  uint64_t offset = entries_[0].index;
  if (i < offset) return Status::not_found(std::string(kCompactedMessage));
  if (i - offset >= entries_.size()) {
    return Status::unavailable("index " + std::to_string(i) + " past the last index");
  }
  return entries_[i - offset].term;
}

Result<std::vector<Entry>> MemoryStorage::entries(uint64_t lo, uint64_t hi,
                                                  uint64_t max_bytes) const {
  uint64_t offset = entries_[0].index;
  if (lo <= offset) return Status::not_found(std::string(kCompactedMessage));
  if (hi > last_index() + 1 || lo > hi) {
    return Status::unavailable("entries [" + std::to_string(lo) + ", " + std::to_string(hi) +
                               ") past the last index");
  }
  std::vector<Entry> out;
  uint64_t bytes = 0;
  for (uint64_t i = lo; i < hi; ++i) {
    const Entry& e = entries_[i - offset];
    bytes += entry_bytes(e);
    if (!out.empty() && bytes > max_bytes) break;
    out.push_back(e);
  }
  return out;
}

Result<Snapshot> MemoryStorage::snapshot() const {
  return snapshot_;
}

Status MemoryStorage::append(const std::vector<Entry>& ents) {
  if (ents.empty()) return Status::ok();
  uint64_t first = first_index();
  uint64_t last = ents.back().index;
  if (last < first) return Status::ok();  // all compacted already
  if (ents.front().index > last_index() + 1) {
    return Status::invalid_argument("append leaves a gap after index " +
                                    std::to_string(last_index()));
  }
  size_t skip = ents.front().index < first ? first - ents.front().index : 0;
  uint64_t start = ents[skip].index;
  entries_.resize(start - entries_[0].index);
  entries_.insert(entries_.end(), ents.begin() + static_cast<std::ptrdiff_t>(skip), ents.end());
  return Status::ok();
}

Status MemoryStorage::apply_snapshot(const Snapshot& snap) {
  if (snap.meta.index < snapshot_.meta.index) {
    return Status::invalid_argument("snapshot older than the current one");
  }
  snapshot_ = snap;
  entries_.assign(1, Entry{snap.meta.term, snap.meta.index, EntryType::kNormal, {}});
  return Status::ok();
}

Result<Snapshot> MemoryStorage::create_snapshot(uint64_t index, const ConfState& cs,
                                                std::string data) {
  if (index < snapshot_.meta.index || index > last_index()) {
    return Status::invalid_argument("snapshot index " + std::to_string(index) + " out of range");
  }
  snapshot_.meta.index = index;
  snapshot_.meta.term = entries_[index - entries_[0].index].term;
  snapshot_.meta.conf_state = cs;
  snapshot_.data = std::move(data);
  return snapshot_;
}

Status MemoryStorage::compact(uint64_t index) {
  uint64_t offset = entries_[0].index;
  if (index <= offset) return Status::ok();
  if (index > last_index()) {
    return Status::invalid_argument("compact past the last index " + std::to_string(last_index()));
  }
  // Entry `index` becomes the dummy that keeps its term for the log-matching check (§5.3).
  std::vector<Entry> kept(entries_.begin() + static_cast<std::ptrdiff_t>(index - offset),
                          entries_.end());
  kept[0].data.clear();
  entries_ = std::move(kept);
  return Status::ok();
}

}  // namespace meld::consensus
