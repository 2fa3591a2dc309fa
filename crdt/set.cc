#include "crdt/set.h"

#include <algorithm>
#include <type_traits>
#include <utility>
#include <vector>

#include "crdt/dot_kernel.h"

namespace meld::crdt {
namespace {

// Validation of decoded dot maps: non-empty stores, dots covered, each dot used once.
template <typename Entries>
Status validate_entries(const Entries& entries, const CausalContext& context) {
  std::vector<Dot> all;
  for (const auto& [element, store] : entries) {
    if (store.empty()) return Status::invalid_argument("set: element without dots");
    for (const auto& entry : store) {
      Dot dot = detail::dot_of(entry);
      if (!context.contains(dot)) {
        return Status::invalid_argument("set: dot " + to_string(dot) + " not in the context");
      }
      all.push_back(dot);
    }
  }
  std::sort(all.begin(), all.end());
  if (std::adjacent_find(all.begin(), all.end()) != all.end()) {
    return Status::invalid_argument("set: a dot belongs to two elements");
  }
  return Status::ok();
}

}  // namespace

using detail::ElementTable;

Result<AwSet> AwSet::from_parts(std::vector<Member> members, CausalContext context) {
  AwSet s;
  s.table_.reserve(members.size());
  std::vector<Dot> dots;
  for (const Member& m : members) {
    if (m.dots.empty()) return Status::invalid_argument("set: element without dots");
    for (Dot dot : m.dots) {
      if (!context.contains(dot)) {
        return Status::invalid_argument("set: dot " + to_string(dot) + " not in the context");
      }
      if (s.table_.owner(dot) != ElementTable::kNone) {
        return Status::invalid_argument("set: a dot belongs to two elements");
      }
    }
    const uint64_t hash = ElementTable::hash_of(m.element);
    if (s.table_.find(m.element, hash) != ElementTable::kNone) {
      return Status::invalid_argument("set: an element listed twice");
    }
    dots.assign(m.dots.begin(), m.dots.end());
    s.table_.insert(m.element, hash, dots);
  }
  s.context_ = std::move(context);
  return s;
}

std::set<Dot> AwSet::dots(std::string_view element) const {
  ElementTable::Id id = table_.find(element);
  if (id == ElementTable::kNone) return {};
  std::span<const Dot> dots = table_.dots(id);
  return std::set<Dot>(dots.begin(), dots.end());
}

std::vector<AwSet::Member> AwSet::members() const {
  std::vector<Member> out;
  out.reserve(size());
  for_each_ordered([&out](std::string_view element, std::span<const Dot> dots) {
    out.push_back(Member{std::string(element), std::set<Dot>(dots.begin(), dots.end())});
  });
  return out;
}

bool operator==(const AwSet& a, const AwSet& b) {
  if (a.size() != b.size() || a.context_ != b.context_) return false;
  bool equal = true;
  a.table_.for_each([&](ElementTable::Id id) {
    if (!equal) return;
    ElementTable::Id other = b.table_.find(a.table_.element(id));
    equal =
        other != ElementTable::kNone && std::ranges::equal(a.table_.dots(id), b.table_.dots(other));
  });
  return equal;
}

void AwSet::drop_into(std::string_view element, uint64_t hash, AwSet& delta) {
  ElementTable::Id id = table_.find(element, hash);
  if (id == ElementTable::kNone) return;
  for (Dot dot : table_.dots(id)) delta.context_.insert(dot);
  table_.erase(id);
  // An add earlier in the same batch put the element in the delta: this remove undoes it there.
  ElementTable::Id in_delta = delta.table_.find(element, hash);
  if (in_delta != ElementTable::kNone) delta.table_.erase(in_delta);
}

void AwSet::add_into(Dot dot, std::string_view element, uint64_t hash, AwSet& delta) {
  MELD_ASSERT(dot.counter != 0, "add with the null dot");
  if (context_.contains(dot)) return;
  // The delta replaces the dots this replica saw for the element by the new one. Applying it
  // here is cheaper than merge(): its context holds only dots this state already has, plus the
  // new one.
  const std::span<const Dot> one(&dot, 1);
  ElementTable::Id id = table_.find(element, hash);
  if (id == ElementTable::kNone) {
    table_.insert(element, hash, one);
  } else {
    for (Dot old : table_.dots(id)) delta.context_.insert(old);
    table_.set_dots(id, one);
  }
  context_.insert(dot);
  delta.context_.insert(dot);
  ElementTable::Id in_delta = delta.table_.find(element, hash);
  if (in_delta == ElementTable::kNone) {
    delta.table_.insert(element, hash, one);
  } else {
    delta.table_.set_dots(in_delta, one);
  }
}

void AwSet::remove_into(const Dot* dot, std::string_view element, uint64_t hash, AwSet& delta) {
  if (dot != nullptr) {
    MELD_ASSERT(dot->counter != 0, "remove with the null dot");
    if (context_.contains(*dot)) return;
  }
  drop_into(element, hash, delta);
  if (dot != nullptr) {
    delta.context_.insert(*dot);
    context_.insert(*dot);
  }
}

AwSet AwSet::add(Dot dot, std::string_view element) {
  AwSet delta;
  add_into(dot, element, ElementTable::hash_of(element), delta);
  return delta;
}

AwSet AwSet::add(ReplicaId replica, std::string_view element) {
  return add(context_.next_dot(replica), element);
}

AwSet AwSet::remove(std::string_view element) {
  AwSet delta;
  remove_into(nullptr, element, ElementTable::hash_of(element), delta);
  return delta;
}

AwSet AwSet::remove(Dot dot, std::string_view element) {
  AwSet delta;
  remove_into(&dot, element, ElementTable::hash_of(element), delta);
  return delta;
}

template <typename Apply, typename Prefetch>
void AwSet::pipelined(std::span<const std::string> elements, Apply apply,
                      Prefetch prefetch_more) const {
  // A software pipeline over the batch: at step t, element t is hashed and its slot line
  // requested; element t - D, whose slot line has had D steps to arrive, has its entry requested;
  // then (mutators only) element t - 2D, whose entry is in, has the caller's own lines requested;
  // and the oldest element in flight is applied. Each stage reads only lines an earlier one
  // requested, so in the steady state D lookups' misses per stage overlap.
  constexpr size_t D = kPipelineDistance;
  constexpr bool kThirdStage = !std::is_null_pointer_v<Prefetch>;
  constexpr size_t kDepth = (kThirdStage ? 3 : 2) * D;
  static_assert(kDepth < kHashRing && (kHashRing & (kHashRing - 1)) == 0);
  uint64_t hashes[kHashRing];
  const size_t n = elements.size();
  for (size_t t = 0; t < n + kDepth; ++t) {
    if (t < n) {
      hashes[t % kHashRing] = ElementTable::hash_of(elements[t]);
      table_.prefetch_slot(hashes[t % kHashRing]);
    }
    if (t >= D && t - D < n) table_.prefetch_entry(hashes[(t - D) % kHashRing]);
    if constexpr (kThirdStage) {
      if (t >= 2 * D && t - 2 * D < n) prefetch_more(t - 2 * D, hashes[(t - 2 * D) % kHashRing]);
    }
    if (t >= kDepth) apply(t - kDepth, hashes[(t - kDepth) % kHashRing]);
  }
}

std::vector<bool> AwSet::contains_all(std::span<const std::string> elements) const {
  std::vector<bool> out(elements.size());
  pipelined(
      elements,
      [&](size_t i, uint64_t hash) {
        out[i] = table_.find(elements[i], hash) != ElementTable::kNone;
      },
      nullptr);
  return out;
}

AwSet AwSet::add_all(ReplicaId replica, std::span<const std::string> elements) {
  AwSet delta;
  // Each add takes the next dot, so the dots of the batch are known before it runs.
  const Dot first = context_.next_dot(replica);
  pipelined(
      elements,
      [&](size_t i, uint64_t hash) {
        add_into(Dot{replica, first.counter + i}, elements[i], hash, delta);
      },
      [&](size_t i, uint64_t hash) {
        table_.prefetch_dot_slot(Dot{replica, first.counter + i});
        table_.prefetch_dot_slots(elements[i], hash);
        // The entry this add writes if the element is new here, as are the D adds applied
        // before it.
        table_.prefetch_free_entry(kPipelineDistance);
      });
  return delta;
}

AwSet AwSet::remove_all(std::span<const std::string> elements) {
  AwSet delta;
  pipelined(
      elements, [&](size_t i, uint64_t hash) { remove_into(nullptr, elements[i], hash, delta); },
      [&](size_t i, uint64_t hash) { table_.prefetch_dot_slots(elements[i], hash); });
  return delta;
}

std::vector<ElementTable::Id> AwSet::covered_by(const CausalContext& context) const {
  std::vector<ElementTable::Id> ids;
  // Look up each dot context names, unless there are more of them than entries here: then one
  // pass over the entries is cheaper.
  uint64_t named = context.cloud().size();
  for (const auto& [replica, n] : context.vector())
    named = n > UINT64_MAX - named ? UINT64_MAX : named + n;
  if (named <= table_.size()) {
    auto look_up = [&](Dot dot) {
      ElementTable::Id id = table_.owner(dot);
      if (id != ElementTable::kNone) ids.push_back(id);
    };
    for (const auto& [replica, n] : context.vector()) {
      for (uint64_t counter = 1; counter <= n; ++counter) look_up(Dot{replica, counter});
    }
    for (Dot dot : context.cloud()) look_up(dot);
  } else {
    table_.for_each([&](ElementTable::Id id) {
      for (Dot dot : table_.dots(id)) {
        if (context.contains(dot)) {
          ids.push_back(id);
          return;
        }
      }
    });
  }
  return ids;
}

void AwSet::merge(const AwSet& other) {
  // Only elements the other state holds, or whose dots its context covers, can change. First
  // the latter that the other state lacks: their dots it has seen are gone there.
  std::vector<ElementTable::Id> covered = covered_by(other.context_);
  std::sort(covered.begin(), covered.end());
  covered.erase(std::unique(covered.begin(), covered.end()), covered.end());
  std::vector<Dot> kept;
  for (ElementTable::Id id : covered) {
    if (other.table_.find(table_.element(id)) != ElementTable::kNone) continue;
    kept.clear();
    for (Dot dot : table_.dots(id)) {
      if (!other.context_.contains(dot)) kept.push_back(dot);
    }
    if (kept.empty()) {
      table_.erase(id);
    } else {
      table_.set_dots(id, kept);
    }
  }
  // Then every element of the other state: the join of the two dot sets (crdt/dot_kernel.h).
  std::vector<Dot> joined;
  other.table_.for_each([&](ElementTable::Id theirs) {
    const std::string_view element = other.table_.element(theirs);
    const std::span<const Dot> their_dots = other.table_.dots(theirs);
    const uint64_t hash = ElementTable::hash_of(element);
    const ElementTable::Id mine = table_.find(element, hash);
    joined.clear();
    if (mine != ElementTable::kNone) {
      for (Dot dot : table_.dots(mine)) {
        if (std::binary_search(their_dots.begin(), their_dots.end(), dot) ||
            !other.context_.contains(dot)) {
          joined.push_back(dot);
        }
      }
    }
    for (Dot dot : their_dots) {
      if (!context_.contains(dot)) joined.push_back(dot);
    }
    std::sort(joined.begin(), joined.end());
    if (mine == ElementTable::kNone) {
      if (!joined.empty()) table_.insert(element, hash, joined);
    } else if (joined.empty()) {
      table_.erase(mine);
    } else if (!std::ranges::equal(joined, table_.dots(mine))) {
      table_.set_dots(mine, joined);
    }
  });
  context_.merge(other.context_);
}

Result<RwSet> RwSet::from_parts(Entries entries, CausalContext context) {
  MELD_RETURN_IF_ERROR(validate_entries(entries, context));
  RwSet s;
  s.entries_ = std::move(entries);
  s.context_ = std::move(context);
  return s;
}

bool RwSet::contains(std::string_view element) const {
  auto it = entries_.find(element);
  if (it == entries_.end()) return false;
  for (const auto& [dot, is_add] : it->second) {
    if (!is_add) return false;
  }
  return true;
}

RwSet RwSet::write(Dot dot, std::string_view element, bool add) {
  MELD_ASSERT(dot.counter != 0, "update with the null dot");
  RwSet delta;
  if (context_.contains(dot)) return delta;
  auto it = entries_.find(element);
  if (it != entries_.end()) detail::insert_dots(delta.context_, it->second);
  delta.context_.insert(dot);
  delta.entries_.emplace(std::string(element), Tokens{{dot, add}});
  context_.insert(dot);
  if (it != entries_.end()) {
    it->second = Tokens{{dot, add}};
  } else {
    entries_.emplace(std::string(element), Tokens{{dot, add}});
  }
  return delta;
}

RwSet RwSet::add(Dot dot, std::string_view element) {
  return write(dot, element, true);
}
RwSet RwSet::add(ReplicaId replica, std::string_view element) {
  return write(context_.next_dot(replica), element, true);
}
RwSet RwSet::remove(Dot dot, std::string_view element) {
  return write(dot, element, false);
}
RwSet RwSet::remove(ReplicaId replica, std::string_view element) {
  return write(context_.next_dot(replica), element, false);
}

void RwSet::merge(const RwSet& other) {
  detail::join_map(entries_, context_, other.entries_, other.context_);
  context_.merge(other.context_);
}

}  // namespace meld::crdt
