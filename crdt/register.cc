#include "crdt/register.h"

#include <algorithm>
#include <limits>
#include <tuple>
#include <utility>

#include "crdt/dot_kernel.h"

namespace meld::crdt {

Result<Hlc> HybridClock::now(int64_t wall_ms) {
  if (wall_ms > last_.physical_ms) {
    last_ = Hlc{wall_ms, 0, node_};
    return last_;
  }
  // The wall clock has not moved past the last timestamp (same millisecond, or it went back):
  // keep the physical part and count logically.
  if (last_.logical == std::numeric_limits<uint32_t>::max()) {
    return Status::resource_exhausted("hlc: logical counter exhausted within one millisecond");
  }
  last_ = Hlc{last_.physical_ms, last_.logical + 1, node_};
  return last_;
}

Status HybridClock::observe(Hlc remote, int64_t wall_ms) {
  if (static_cast<__int128>(remote.physical_ms) - wall_ms > max_offset_ms_) {
    return Status::invalid_argument("hlc: remote timestamp " + std::to_string(remote.physical_ms) +
                                    " ms is more than " + std::to_string(max_offset_ms_) +
                                    " ms ahead of local wall time");
  }
  if (remote.physical_ms > last_.physical_ms ||
      (remote.physical_ms == last_.physical_ms && remote.logical > last_.logical)) {
    last_ = Hlc{remote.physical_ms, remote.logical, node_};
  }
  return Status::ok();
}

Result<LwwRegister> LwwRegister::from_parts(Hlc timestamp, std::string value) {
  if (timestamp == Hlc{} && !value.empty()) {
    return Status::invalid_argument("lww register: value without a timestamp");
  }
  LwwRegister r;
  r.timestamp_ = timestamp;
  r.value_ = std::move(value);
  return r;
}

LwwRegister LwwRegister::set(Hlc timestamp, std::string_view value) {
  MELD_ASSERT(timestamp != Hlc{}, "lww write with the zero timestamp");
  LwwRegister delta;
  delta.timestamp_ = timestamp;
  delta.value_ = std::string(value);
  merge(delta);
  return delta;
}

void LwwRegister::merge(const LwwRegister& other) {
  if (std::tie(other.timestamp_, other.value_) > std::tie(timestamp_, value_)) {
    timestamp_ = other.timestamp_;
    value_ = other.value_;
  }
}

Result<MvRegister> MvRegister::from_parts(Entries entries, CausalContext context) {
  for (const auto& [dot, value] : entries) {
    if (!context.contains(dot)) {
      return Status::invalid_argument("mv register: dot " + to_string(dot) + " not in context");
    }
  }
  MvRegister r;
  r.entries_ = std::move(entries);
  r.context_ = std::move(context);
  return r;
}

std::vector<std::string> MvRegister::values() const {
  std::vector<std::string> out;
  for (const auto& [dot, value] : entries_) out.push_back(value);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

MvRegister MvRegister::set(Dot dot, std::string_view value) {
  MELD_ASSERT(dot.counter != 0, "write with the null dot");
  MvRegister delta;
  if (context_.contains(dot)) return delta;
  detail::insert_dots(delta.context_, entries_);
  delta.context_.insert(dot);
  delta.entries_.emplace(dot, std::string(value));
  merge(delta);
  return delta;
}

MvRegister MvRegister::set(ReplicaId replica, std::string_view value) {
  return set(context_.next_dot(replica), value);
}

void MvRegister::merge(const MvRegister& other) {
  detail::join_store(entries_, context_, other.entries_, other.context_);
  context_.merge(other.context_);
}

}  // namespace meld::crdt
