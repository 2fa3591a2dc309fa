#include "storage/raft_log_store.h"

#include <algorithm>
#include <string_view>

#include "base/assert.h"
#include "base/varint.h"

namespace meld::storage {

using consensus::ConfState;
using consensus::Entry;
using consensus::EntryType;
using consensus::HardState;
using consensus::Snapshot;
using consensus::SnapshotMeta;

namespace {

constexpr char kApplied = 'a';
constexpr char kEntry = 'e';
constexpr char kHardState = 'h';
constexpr char kSnapshot = 's';
constexpr char kTruncated = 't';

// Entries read from RocksDB per scan call (bounds the memory of one read step).
constexpr size_t kScanPageEntries = 256;

// Decodes the big-endian fields of a stored record; every read checks the remaining length.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool u64(uint64_t* v) {
    if (in_.size() < 8) return false;
    *v = get_u64_be(in_);
    in_.remove_prefix(8);
    return true;
  }
  bool u8(uint8_t* v) {
    if (in_.empty()) return false;
    *v = static_cast<uint8_t>(in_[0]);
    in_.remove_prefix(1);
    return true;
  }
  // A count followed by that many u64; the count is checked against the bytes left before
  // anything is allocated.
  bool u64_list(std::vector<uint64_t>* v) {
    uint64_t n = 0;
    if (!u64(&n) || n > in_.size() / 8) return false;
    v->resize(n);
    for (uint64_t& x : *v) u64(&x);
    return true;
  }
  std::string_view rest() const { return in_; }
  bool done() const { return in_.empty(); }

 private:
  std::string_view in_;
};

void put_list(std::string* out, const std::vector<uint64_t>& v) {
  put_u64_be(v.size(), out);
  for (uint64_t x : v) put_u64_be(x, out);
}

void put_conf_state(std::string* out, const ConfState& cs) {
  put_list(out, cs.voters);
  put_list(out, cs.voters_outgoing);
  put_list(out, cs.learners);
  put_list(out, cs.learners_next);
  out->push_back(cs.auto_leave ? 1 : 0);
}

bool read_conf_state(Reader* r, ConfState* cs) {
  uint8_t auto_leave = 0;
  if (!r->u64_list(&cs->voters) || !r->u64_list(&cs->voters_outgoing) ||
      !r->u64_list(&cs->learners) || !r->u64_list(&cs->learners_next) || !r->u8(&auto_leave) ||
      auto_leave > 1) {
    return false;
  }
  cs->auto_leave = auto_leave == 1;
  return true;
}

std::string encode_entry(const Entry& e) {
  std::string out;
  out.reserve(9 + e.data.size());
  put_u64_be(e.term, &out);
  out.push_back(static_cast<char>(e.type));
  out.append(e.data);
  return out;
}

bool decode_entry(uint64_t index, std::string_view value, Entry* e) {
  Reader r(value);
  uint8_t type = 0;
  if (!r.u64(&e->term) || !r.u8(&type) || type > static_cast<uint8_t>(EntryType::kConfChange)) {
    return false;
  }
  e->index = index;
  e->type = static_cast<EntryType>(type);
  e->data.assign(r.rest());
  return true;
}

std::string encode_snapshot(const Snapshot& snap) {
  std::string out;
  put_u64_be(snap.meta.index, &out);
  put_u64_be(snap.meta.term, &out);
  put_conf_state(&out, snap.meta.conf_state);
  out.append(snap.data);
  return out;
}

bool decode_snapshot(std::string_view value, Snapshot* snap) {
  Reader r(value);
  if (!r.u64(&snap->meta.index) || !r.u64(&snap->meta.term) ||
      !read_conf_state(&r, &snap->meta.conf_state)) {
    return false;
  }
  snap->data.assign(r.rest());
  return true;
}

}  // namespace

RaftLogStore::RaftLogStore(Engine* engine, uint64_t group, const RaftLogOptions& options)
    : engine_(engine), group_(group), options_(options) {}

Result<std::unique_ptr<RaftLogStore>> RaftLogStore::open(Engine* engine, uint64_t group,
                                                         const RaftLogOptions& options) {
  std::unique_ptr<RaftLogStore> store(new RaftLogStore(engine, group, options));
  MELD_RETURN_IF_ERROR(store->load());
  return store;
}

std::string RaftLogStore::key(char kind) const {
  std::string k;
  k.reserve(17);
  put_u64_be(group_, &k);
  k.push_back(kind);
  return k;
}

std::string RaftLogStore::entry_key(uint64_t index) const {
  std::string k = key(kEntry);
  put_u64_be(index, &k);
  return k;
}

Status RaftLogStore::load() {
  auto corrupt = [this](std::string_view what) {
    return Status::corruption("raft log of group " + std::to_string(group_) + ": " +
                              std::string(what) + " record does not decode");
  };
  Result<std::optional<std::string>> v = engine_->get(Family::kRaftLog, key(kHardState));
  if (!v.is_ok()) return v.status();
  if (v->has_value()) {
    Reader r(**v);
    if (!r.u64(&hard_state_.term) || !r.u64(&hard_state_.vote) || !r.u64(&hard_state_.commit) ||
        !r.done()) {
      return corrupt("hard state");
    }
  }
  uint64_t truncated_term = 0;
  v = engine_->get(Family::kRaftLog, key(kTruncated));
  if (!v.is_ok()) return v.status();
  if (v->has_value()) {
    Reader r(**v);
    if (!r.u64(&truncated_index_) || !r.u64(&truncated_term) || !r.done()) {
      return corrupt("truncation");
    }
  }
  v = engine_->get(Family::kRaftLog, key(kSnapshot));
  if (!v.is_ok()) return v.status();
  if (v->has_value()) {
    Snapshot snap;
    if (!decode_snapshot(**v, &snap)) return corrupt("snapshot");
    snapshot_meta_ = std::move(snap.meta);
  }
  v = engine_->get(Family::kRaftLog, key(kApplied));
  if (!v.is_ok()) return v.status();
  if (v->has_value()) {
    Reader r(**v);
    if (!r.u64(&applied_.index) || !read_conf_state(&r, &applied_.conf_state) || !r.done()) {
      return corrupt("applied state");
    }
  }
  last_index_ = truncated_index_;
  term_runs_.assign(1, {truncated_index_, truncated_term});
  return load_entries();
}

// Scans the entries after the truncation point, checking that they are contiguous and that terms
// never decrease, and keeps the newest ones in the cache.
Status RaftLogStore::load_entries() {
  std::string next = entry_key(truncated_index_ + 1);
  const std::string end = key(kEntry + 1);
  std::vector<std::pair<std::string, std::string>> page;
  bool more = true;
  while (more) {
    MELD_RETURN_IF_ERROR(
        engine_->scan(Family::kRaftLog, next, end, kScanPageEntries, &page, &more));
    for (const auto& [k, value] : page) {
      uint64_t index = 0;
      Entry e;
      if (k.size() != 17 || !Reader(std::string_view(k).substr(9)).u64(&index) ||
          !decode_entry(index, value, &e)) {
        return Status::corruption("raft log of group " + std::to_string(group_) +
                                  ": an entry record does not decode");
      }
      if (index != last_index_ + 1 || e.term < term_runs_.back().second) {
        return Status::corruption("raft log of group " + std::to_string(group_) + ": entry " +
                                  std::to_string(index) + " (term " + std::to_string(e.term) +
                                  ") does not follow entry " + std::to_string(last_index_));
      }
      last_index_ = index;
      if (e.term != term_runs_.back().second) term_runs_.emplace_back(index, e.term);
      cache_push(std::move(e));
    }
    if (!page.empty()) next = entry_key(last_index_ + 1);
  }
  return Status::ok();
}

void RaftLogStore::cache_push(Entry e) {
  cache_bytes_ += consensus::entry_bytes(e);
  cache_.push_back(std::move(e));
  while (!cache_.empty() && cache_bytes_ > options_.entry_cache_bytes) {
    cache_bytes_ -= consensus::entry_bytes(cache_.front());
    cache_.pop_front();
  }
}

void RaftLogStore::truncate_from(uint64_t index) {
  while (!cache_.empty() && cache_.back().index >= index) {
    cache_bytes_ -= consensus::entry_bytes(cache_.back());
    cache_.pop_back();
  }
  while (term_runs_.size() > 1 && term_runs_.back().first >= index) term_runs_.pop_back();
}

uint64_t RaftLogStore::term_at(uint64_t i) const {
  auto it = std::upper_bound(term_runs_.begin(), term_runs_.end(), i,
                             [](uint64_t x, const auto& run) { return x < run.first; });
  MELD_ASSERT(it != term_runs_.begin(), "term of an index before the truncation point");
  return std::prev(it)->second;
}

Result<consensus::InitialState> RaftLogStore::initial_state() const {
  const ConfState& cs = applied_.index >= snapshot_meta_.index && applied_.index > 0
                            ? applied_.conf_state
                            : snapshot_meta_.conf_state;
  return consensus::InitialState{hard_state_, cs};
}

uint64_t RaftLogStore::first_index() const {
  return truncated_index_ + 1;
}

uint64_t RaftLogStore::last_index() const {
  return last_index_;
}

Result<uint64_t> RaftLogStore::term(uint64_t i) const {
  if (i < truncated_index_) return Status::not_found(std::string(consensus::kCompactedMessage));
  if (i > last_index_) {
    return Status::unavailable("index " + std::to_string(i) + " past the last index");
  }
  return term_at(i);
}

Status RaftLogStore::read_entries(uint64_t lo, uint64_t hi, uint64_t max_bytes, uint64_t* bytes,
                                  std::vector<Entry>* out, bool* stopped) const {
  std::vector<std::pair<std::string, std::string>> page;
  uint64_t next = lo;
  while (next < hi) {
    bool more = false;
    size_t want = static_cast<size_t>(std::min<uint64_t>(hi - next, kScanPageEntries));
    MELD_RETURN_IF_ERROR(
        engine_->scan(Family::kRaftLog, entry_key(next), entry_key(hi), want, &page, &more));
    if (page.empty()) {
      return Status::unavailable("raft log of group " + std::to_string(group_) + ": entry " +
                                 std::to_string(next) + " is not committed to the engine yet");
    }
    for (const auto& [k, value] : page) {
      Entry e;
      if (k != entry_key(next)) {
        return Status::corruption("raft log of group " + std::to_string(group_) + ": entry " +
                                  std::to_string(next) + " is missing");
      }
      if (!decode_entry(next, value, &e)) {
        return Status::corruption("raft log of group " + std::to_string(group_) + ": entry " +
                                  std::to_string(next) + " does not decode");
      }
      *bytes += consensus::entry_bytes(e);
      if (!out->empty() && *bytes > max_bytes) {
        *stopped = true;
        return Status::ok();
      }
      out->push_back(std::move(e));
      ++next;
    }
  }
  return Status::ok();
}

Result<std::vector<Entry>> RaftLogStore::entries(uint64_t lo, uint64_t hi,
                                                 uint64_t max_bytes) const {
  if (lo <= truncated_index_) return Status::not_found(std::string(consensus::kCompactedMessage));
  if (hi > last_index_ + 1 || lo > hi) {
    return Status::unavailable("entries [" + std::to_string(lo) + ", " + std::to_string(hi) +
                               ") past the last index");
  }
  std::vector<Entry> out;
  uint64_t bytes = 0;
  uint64_t cache_first = cache_.empty() ? last_index_ + 1 : cache_.front().index;
  if (lo < cache_first) {
    bool stopped = false;
    MELD_RETURN_IF_ERROR(
        read_entries(lo, std::min(hi, cache_first), max_bytes, &bytes, &out, &stopped));
    if (stopped) return out;
  }
  for (uint64_t i = std::max(lo, cache_first); i < hi; ++i) {
    const Entry& e = cache_[i - cache_first];
    bytes += consensus::entry_bytes(e);
    if (!out.empty() && bytes > max_bytes) break;
    out.push_back(e);
  }
  return out;
}

Result<Snapshot> RaftLogStore::snapshot() const {
  Result<std::optional<std::string>> v = engine_->get(Family::kRaftLog, key(kSnapshot));
  if (!v.is_ok()) return v.status();
  Snapshot snap;
  if (v->has_value() && !decode_snapshot(**v, &snap)) {
    return Status::corruption("raft log of group " + std::to_string(group_) +
                              ": snapshot record does not decode");
  }
  if (snap.meta != snapshot_meta_) {
    return Status::unavailable("raft log of group " + std::to_string(group_) +
                               ": the latest snapshot is not committed yet");
  }
  return snap;
}

Status RaftLogStore::append(const std::vector<Entry>& ents, WriteBatch* batch) {
  if (ents.empty()) return Status::ok();
  for (size_t k = 1; k < ents.size(); ++k) {
    if (ents[k].index != ents[k - 1].index + 1 || ents[k].term < ents[k - 1].term) {
      return Status::invalid_argument("append: entries not consecutive or going back in term");
    }
  }
  if (ents.back().index <= truncated_index_) return Status::ok();  // all compacted already
  if (ents.front().index > last_index_ + 1) {
    return Status::invalid_argument("append leaves a gap after index " +
                                    std::to_string(last_index_));
  }
  size_t skip = ents.front().index <= truncated_index_
                    ? static_cast<size_t>(truncated_index_ + 1 - ents.front().index)
                    : 0;
  uint64_t start = ents[skip].index;
  if (ents[skip].term < term_at(start - 1)) {
    return Status::invalid_argument("append: entry " + std::to_string(start) +
                                    " has a lower term than the entry before it");
  }
  uint64_t new_last = ents.back().index;
  for (uint64_t i = new_last + 1; i <= last_index_; ++i) batch->del(Family::kRaftLog, entry_key(i));
  truncate_from(start);
  for (size_t k = skip; k < ents.size(); ++k) {
    const Entry& e = ents[k];
    batch->put(Family::kRaftLog, entry_key(e.index), encode_entry(e));
    if (e.term != term_runs_.back().second) term_runs_.emplace_back(e.index, e.term);
    cache_push(e);
  }
  last_index_ = new_last;
  return Status::ok();
}

void RaftLogStore::set_hard_state(const HardState& hs, WriteBatch* batch) {
  std::string value;
  put_u64_be(hs.term, &value);
  put_u64_be(hs.vote, &value);
  put_u64_be(hs.commit, &value);
  batch->put(Family::kRaftLog, key(kHardState), value);
  hard_state_ = hs;
}

Status RaftLogStore::apply_snapshot(const Snapshot& snap, WriteBatch* batch) {
  if (snap.meta.index < snapshot_meta_.index) {
    return Status::invalid_argument("snapshot older than the current one");
  }
  if (snap.data.size() > options_.max_snapshot_bytes) {
    return Status::invalid_argument("snapshot of " + std::to_string(snap.data.size()) +
                                    " bytes is over max_snapshot_bytes");
  }
  for (uint64_t i = truncated_index_ + 1; i <= last_index_; ++i) {
    batch->del(Family::kRaftLog, entry_key(i));
  }
  batch->put(Family::kRaftLog, key(kSnapshot), encode_snapshot(snap));
  std::string truncated;
  put_u64_be(snap.meta.index, &truncated);
  put_u64_be(snap.meta.term, &truncated);
  batch->put(Family::kRaftLog, key(kTruncated), truncated);
  snapshot_meta_ = snap.meta;
  truncated_index_ = snap.meta.index;
  last_index_ = snap.meta.index;
  cache_.clear();
  cache_bytes_ = 0;
  term_runs_.assign(1, {snap.meta.index, snap.meta.term});
  return Status::ok();
}

Result<Snapshot> RaftLogStore::create_snapshot(uint64_t index, const ConfState& cs,
                                               std::string data, WriteBatch* batch) {
  if (index < snapshot_meta_.index || index < truncated_index_ || index > last_index_) {
    return Status::invalid_argument("snapshot index " + std::to_string(index) + " out of range");
  }
  if (data.size() > options_.max_snapshot_bytes) {
    return Status::invalid_argument("snapshot of " + std::to_string(data.size()) +
                                    " bytes is over max_snapshot_bytes");
  }
  Snapshot snap;
  snap.meta.index = index;
  snap.meta.term = term_at(index);
  snap.meta.conf_state = cs;
  snap.data = std::move(data);
  batch->put(Family::kRaftLog, key(kSnapshot), encode_snapshot(snap));
  snapshot_meta_ = snap.meta;
  return snap;
}

Status RaftLogStore::compact(uint64_t index, WriteBatch* batch) {
  if (index <= truncated_index_) return Status::ok();
  if (index > last_index_) {
    return Status::invalid_argument("compact past the last index " + std::to_string(last_index_));
  }
  uint64_t term = term_at(index);
  for (uint64_t i = truncated_index_ + 1; i <= index; ++i) {
    batch->del(Family::kRaftLog, entry_key(i));
  }
  std::string truncated;
  put_u64_be(index, &truncated);
  put_u64_be(term, &truncated);
  batch->put(Family::kRaftLog, key(kTruncated), truncated);
  truncated_index_ = index;
  while (!cache_.empty() && cache_.front().index <= index) {
    cache_bytes_ -= consensus::entry_bytes(cache_.front());
    cache_.pop_front();
  }
  // The run holding `index` now starts there; runs wholly before it go.
  auto keep = std::upper_bound(term_runs_.begin(), term_runs_.end(), index,
                               [](uint64_t x, const auto& run) { return x < run.first; });
  term_runs_.erase(term_runs_.begin(), std::prev(keep));
  term_runs_.front().first = index;
  return Status::ok();
}

Status RaftLogStore::set_applied(const AppliedState& applied, WriteBatch* batch) {
  if (applied.index < applied_.index || applied.index > hard_state_.commit) {
    return Status::invalid_argument("applied index " + std::to_string(applied.index) +
                                    " before the applied index " + std::to_string(applied_.index) +
                                    " or past the commit index " +
                                    std::to_string(hard_state_.commit));
  }
  std::string value;
  put_u64_be(applied.index, &value);
  put_conf_state(&value, applied.conf_state);
  batch->put(Family::kRaftLog, key(kApplied), value);
  applied_ = applied;
  return Status::ok();
}

}  // namespace meld::storage
