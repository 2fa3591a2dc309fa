#include "crdt/causal_context.h"

#include <iterator>
#include <limits>
#include <optional>
#include <utility>

namespace meld::crdt {

std::string to_string(Dot dot) {
  return "(" + std::to_string(dot.replica) + ", " + std::to_string(dot.counter) + ")";
}

Result<CausalContext> CausalContext::from_parts(std::map<ReplicaId, uint64_t> vector,
                                                std::set<Dot> cloud) {
  CausalContext cc;
  cc.vector_ = std::move(vector);
  cc.cloud_ = std::move(cloud);
  for (const auto& [replica, n] : cc.vector_) {
    if (n == 0) return Status::invalid_argument("causal context: zero version vector entry");
  }
  for (const Dot& dot : cc.cloud_) {
    // Canonical means compacted: a dot at covered + 1 would have moved into the vector.
    if (dot.counter <= cc.covered(dot.replica) + 1) {
      return Status::invalid_argument("causal context: cloud dot " + to_string(dot) +
                                      " is covered or contiguous with the vector");
    }
  }
  return cc;
}

uint64_t CausalContext::covered(ReplicaId replica) const {
  auto it = vector_.find(replica);
  return it == vector_.end() ? 0 : it->second;
}

bool CausalContext::contains(Dot dot) const {
  return dot.counter != 0 && (dot.counter <= covered(dot.replica) || cloud_.contains(dot));
}

Dot CausalContext::next_dot(ReplicaId replica) const {
  uint64_t max = covered(replica);
  // The cloud is ordered by (replica, counter): the last dot up to (replica, max) is the largest
  // of this replica, if any.
  auto it = cloud_.upper_bound(Dot{replica, std::numeric_limits<uint64_t>::max()});
  if (it != cloud_.begin() && std::prev(it)->replica == replica) max = std::prev(it)->counter;
  return Dot{replica, max + 1};
}

bool CausalContext::insert(Dot dot) {
  MELD_ASSERT(dot.counter != 0, "insert of the null dot");
  if (contains(dot)) return false;
  uint64_t& n = vector_[dot.replica];
  if (dot.counter != n + 1) {
    if (n == 0) vector_.erase(dot.replica);
    cloud_.insert(dot);
    return true;
  }
  n = dot.counter;
  // The new entry may make cloud dots of this replica contiguous.
  auto it = cloud_.lower_bound(Dot{dot.replica, 0});
  while (it != cloud_.end() && it->replica == dot.replica && it->counter == n + 1) {
    n = it->counter;
    it = cloud_.erase(it);
  }
  return true;
}

void CausalContext::merge(const CausalContext& other) {
  for (const auto& [replica, n] : other.vector_) {
    uint64_t& mine = vector_[replica];
    if (n > mine) mine = n;
  }
  cloud_.insert(other.cloud_.begin(), other.cloud_.end());
  // Only the replicas other names can have changed; the rest of the cloud is already compact.
  for (const auto& [replica, n] : other.vector_) compact(replica);
  std::optional<ReplicaId> last;
  for (Dot dot : other.cloud_) {
    if (last != dot.replica) compact(dot.replica);
    last = dot.replica;
  }
}

void CausalContext::compact(ReplicaId replica) {
  // The cloud is sorted by (replica, counter): this replica's dots come in increasing order and
  // each either extends the vector, is covered by it, or stays.
  auto entry = vector_.find(replica);
  uint64_t n = entry == vector_.end() ? 0 : entry->second;
  auto it = cloud_.lower_bound(Dot{replica, 0});
  while (it != cloud_.end() && it->replica == replica && it->counter <= n + 1) {
    if (it->counter == n + 1) n = it->counter;
    it = cloud_.erase(it);
  }
  if (n != 0) vector_[replica] = n;
}

}  // namespace meld::crdt
