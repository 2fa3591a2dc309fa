// The join of dot stores under causal contexts (Almeida et al., "DotSet", "DotFun",
// "DotMap"): an entry survives a join if both sides have it, or if the side lacking it has not
// seen its dot (so it was not removed there, just not yet received). Internal to crdt/.
#pragma once

#include <iterator>
#include <map>
#include <set>
#include <utility>

#include "crdt/causal_context.h"

namespace meld::crdt::detail {

inline Dot dot_of(const Dot& dot) {
  return dot;
}
template <typename V>
Dot dot_of(const std::pair<const Dot, V>& entry) {
  return entry.first;
}

// A dot store: std::set<Dot> (DotSet) or std::map<Dot, V> (DotFun; the value of a dot never
// changes, so equal dots carry equal values).
template <typename Store>
void join_store(Store& mine, const CausalContext& my_context, const Store& theirs,
                const CausalContext& their_context) {
  for (auto it = mine.begin(); it != mine.end();) {
    Dot dot = dot_of(*it);
    if (!theirs.contains(dot) && their_context.contains(dot)) {
      it = mine.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& entry : theirs) {
    if (!my_context.contains(dot_of(entry))) mine.insert(entry);
  }
}

// A DotMap of dot stores: joins key by key and drops keys left without dots. Both contexts are
// the ones before the join (the caller merges them afterwards).
template <typename Key, typename Store, typename Less>
void join_map(std::map<Key, Store, Less>& mine, const CausalContext& my_context,
              const std::map<Key, Store, Less>& theirs, const CausalContext& their_context) {
  std::map<Key, Store, Less> added;
  for (const auto& [key, store] : theirs) {
    if (mine.contains(key)) continue;
    Store joined;
    join_store(joined, my_context, store, their_context);
    if (!joined.empty()) added.emplace(key, std::move(joined));
  }
  const Store empty;
  for (auto it = mine.begin(); it != mine.end();) {
    auto other = theirs.find(it->first);
    join_store(it->second, my_context, other == theirs.end() ? empty : other->second,
               their_context);
    it = it->second.empty() ? mine.erase(it) : std::next(it);
  }
  mine.merge(added);
}

// The dots of a store, for building the context of a delta that removes them.
template <typename Store>
void insert_dots(CausalContext& context, const Store& store) {
  for (const auto& entry : store) context.insert(dot_of(entry));
}

}  // namespace meld::crdt::detail
