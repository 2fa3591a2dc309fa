#include "crdt/counter.h"

#include <iterator>
#include <limits>
#include <utility>

namespace meld::crdt {

template <typename Amount>
Result<DotCounter<Amount>> DotCounter<Amount>::from_parts(std::map<ReplicaId, Prefix> prefixes,
                                                          std::map<Dot, Amount> pending) {
  DotCounter c;
  c.prefixes_ = std::move(prefixes);
  c.pending_ = std::move(pending);
  for (const auto& [replica, prefix] : c.prefixes_) {
    if (prefix.counter == 0) return Status::invalid_argument("counter: empty prefix entry");
  }
  for (const auto& [dot, amount] : c.pending_) {
    if (dot.counter <= c.covered(dot.replica) + 1) {
      return Status::invalid_argument("counter: pending dot " + to_string(dot) +
                                      " is covered or contiguous with its prefix");
    }
  }
  return c;
}

template <typename Amount>
uint64_t DotCounter<Amount>::covered(ReplicaId replica) const {
  auto it = prefixes_.find(replica);
  return it == prefixes_.end() ? 0 : it->second.counter;
}

template <typename Amount>
Amount DotCounter<Amount>::value() const {
  uint64_t sum = 0;
  for (const auto& [replica, prefix] : prefixes_) sum += prefix.sum;
  for (const auto& [dot, amount] : pending_) sum += static_cast<uint64_t>(amount);
  return static_cast<Amount>(sum);
}

template <typename Amount>
bool DotCounter<Amount>::has_applied(Dot dot) const {
  return dot.counter != 0 && (dot.counter <= covered(dot.replica) || pending_.contains(dot));
}

template <typename Amount>
DotCounter<Amount> DotCounter<Amount>::increment(Dot dot, Amount amount) {
  MELD_ASSERT(dot.counter != 0, "increment with the null dot");
  DotCounter delta;
  if (has_applied(dot)) return delta;
  delta.pending_.emplace(dot, amount);
  delta.compact();
  merge(delta);
  return delta;
}

template <typename Amount>
DotCounter<Amount> DotCounter<Amount>::increment(ReplicaId replica, Amount amount) {
  uint64_t max = covered(replica);
  auto it = pending_.upper_bound(Dot{replica, std::numeric_limits<uint64_t>::max()});
  if (it != pending_.begin() && std::prev(it)->first.replica == replica) {
    max = std::prev(it)->first.counter;
  }
  return increment(Dot{replica, max + 1}, amount);
}

template <typename Amount>
void DotCounter<Amount>::merge(const DotCounter& other) {
  for (const auto& [replica, theirs] : other.prefixes_) {
    auto [it, inserted] = prefixes_.try_emplace(replica, theirs);
    Prefix& mine = it->second;
    // A longer prefix covers the shorter one. Equal prefixes hold equal sums unless a caller
    // reused a dot for a different amount; max keeps even that case deterministic.
    if (theirs.counter > mine.counter ||
        (theirs.counter == mine.counter && theirs.sum > mine.sum)) {
      mine = theirs;
    }
  }
  for (const auto& [dot, amount] : other.pending_) {
    if (dot.counter > covered(dot.replica)) pending_.emplace(dot, amount);
  }
  compact();
}

template <typename Amount>
void DotCounter<Amount>::compact() {
  for (auto it = pending_.begin(); it != pending_.end();) {
    const Dot dot = it->first;
    uint64_t n = covered(dot.replica);
    if (dot.counter > n + 1) {
      ++it;
      continue;
    }
    if (dot.counter == n + 1) {
      Prefix& prefix = prefixes_[dot.replica];
      prefix.counter = dot.counter;
      prefix.sum += static_cast<uint64_t>(it->second);
    }
    it = pending_.erase(it);
  }
}

template class DotCounter<uint64_t>;
template class DotCounter<int64_t>;

}  // namespace meld::crdt
