#include "crdt/set.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "crdt/dot_kernel.h"

namespace meld::crdt {
namespace {

// Shared validation of decoded dot maps: non-empty stores, dots covered, each dot used once.
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

AwSet::AwSet(const AwSet& other) : entries_(other.entries_), context_(other.context_) {
  rebuild_owners();
}

AwSet& AwSet::operator=(const AwSet& other) {
  if (this != &other) {
    entries_ = other.entries_;
    context_ = other.context_;
    rebuild_owners();
  }
  return *this;
}

void AwSet::rebuild_owners() {
  owners_.clear();
  for (const auto& [element, dots] : entries_) {
    for (Dot dot : dots) owners_.emplace(dot, &element);
  }
}

void AwSet::insert_entry(std::string element, std::set<Dot> dots) {
  auto [it, inserted] = entries_.emplace(std::move(element), std::move(dots));
  MELD_ASSERT(inserted, "insert_entry over an existing element");
  for (Dot dot : it->second) owners_.emplace(dot, &it->first);
}

void AwSet::erase_entry(Entries::iterator it) {
  for (Dot dot : it->second) owners_.erase(dot);
  entries_.erase(it);
}

Result<AwSet> AwSet::from_parts(Entries entries, CausalContext context) {
  MELD_RETURN_IF_ERROR(validate_entries(entries, context));
  AwSet s;
  s.entries_ = std::move(entries);
  s.context_ = std::move(context);
  s.rebuild_owners();
  return s;
}

AwSet AwSet::add(Dot dot, std::string_view element) {
  MELD_ASSERT(dot.counter != 0, "add with the null dot");
  AwSet delta;
  if (context_.contains(dot)) return delta;
  // The delta replaces the dots this replica saw for the element by the new one.
  drop_into(element, delta);
  delta.context_.insert(dot);
  delta.insert_entry(std::string(element), std::set<Dot>{dot});
  // Applying the delta here is cheaper than merge(): its context holds only dots this state
  // already has, plus the new one.
  context_.insert(dot);
  insert_entry(std::string(element), std::set<Dot>{dot});
  return delta;
}

void AwSet::drop_into(std::string_view element, AwSet& delta) {
  auto it = entries_.find(element);
  if (it == entries_.end()) return;
  detail::insert_dots(delta.context_, it->second);
  erase_entry(it);
}

AwSet AwSet::add(ReplicaId replica, std::string_view element) {
  return add(context_.next_dot(replica), element);
}

AwSet AwSet::remove(std::string_view element) {
  AwSet delta;
  drop_into(element, delta);
  return delta;
}

AwSet AwSet::remove(Dot dot, std::string_view element) {
  MELD_ASSERT(dot.counter != 0, "remove with the null dot");
  AwSet delta;
  if (context_.contains(dot)) return delta;
  drop_into(element, delta);
  delta.context_.insert(dot);
  context_.insert(dot);
  return delta;
}

void AwSet::merge(const AwSet& other) {
  // Only elements the other state holds, or whose dots its context covers, can change.
  std::set<std::string, std::less<>> touched;
  for (const auto& [element, dots] : other.entries_) touched.insert(element);
  for (const auto& [replica, n] : other.context_.vector()) {
    for (auto it = owners_.lower_bound(Dot{replica, 1});
         it != owners_.end() && it->first.replica == replica && it->first.counter <= n; ++it) {
      touched.insert(*it->second);
    }
  }
  for (Dot dot : other.context_.cloud()) {
    auto it = owners_.find(dot);
    if (it != owners_.end()) touched.insert(*it->second);
  }
  const std::set<Dot> none;
  for (const std::string& element : touched) {
    auto mine = entries_.find(element);
    auto theirs = other.entries_.find(element);
    std::set<Dot> joined = mine == entries_.end() ? std::set<Dot>() : mine->second;
    detail::join_store(joined, context_, theirs == other.entries_.end() ? none : theirs->second,
                       other.context_);
    if (mine != entries_.end()) erase_entry(mine);
    if (!joined.empty()) insert_entry(element, std::move(joined));
  }
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
