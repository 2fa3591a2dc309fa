#include "crdt/element_table.h"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <iterator>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace meld::crdt::detail {
namespace {

// The index finds exactly the ids inserted and not erased, whatever the collisions: hashes are
// drawn from few values, so probe runs are long, wrap around the end of the slots and are cut by
// backward-shift deletions in their middle.
RC_GTEST_PROP(SlotIndex, FindsExactlyTheLiveIdsUnderCollisionsAndDeletes, ()) {
  SlotIndex index;
  std::map<uint32_t, uint64_t> live;  // id -> hash
  uint32_t next_id = 0;
  const int ops = *rc::gen::inRange(0, 600);
  for (int i = 0; i < ops; ++i) {
    if (live.empty() || *rc::gen::inRange(0, 3) != 0) {
      // Low bits pick the home slot: a handful of them, some at the end of a 16- or 32-slot
      // table; the last differs from 15 only above the 32 bits a slot keeps.
      uint64_t hash =
          *rc::gen::element<uint64_t>(0ULL, 1ULL, 14ULL, 15ULL, 31ULL, 0x100000000ULL | 15ULL);
      index.insert(hash, next_id);
      live[next_id++] = hash;
    } else {
      auto it = live.begin();
      std::advance(it, *rc::gen::inRange<size_t>(0, live.size()));
      size_t pos = index.find(it->second, [&](uint32_t id) { return id == it->first; });
      RC_ASSERT(pos != SlotIndex::kNotFound);
      index.erase_at(pos);
      live.erase(it);
    }
    RC_ASSERT(index.size() == live.size());
  }
  for (uint32_t id = 0; id < next_id; ++id) {
    auto it = live.find(id);
    uint64_t hash = it == live.end() ? 0 : it->second;
    size_t pos = index.find(hash, [id](uint32_t other) { return other == id; });
    RC_ASSERT((pos != SlotIndex::kNotFound) == (it != live.end()));
    if (pos != SlotIndex::kNotFound) RC_ASSERT(index.id_at(pos) == id);
  }
}

TEST(ElementTable, ReserveIndexesEntriesInsertedBefore) {
  ElementTable table;
  const Dot dot{1, 1};
  table.insert("a", ElementTable::hash_of("a"), std::span<const Dot>(&dot, 1));
  table.reserve(100);
  ASSERT_NE(table.find("a"), ElementTable::kNone);
  EXPECT_EQ(table.owner(dot), table.find("a"));
  EXPECT_EQ(table.find("b"), ElementTable::kNone);
}

TEST(ElementTable, CopiesAreDeepAndIndependent) {
  ElementTable table;
  const std::string long_element(100, 'x');
  const std::vector<Dot> dots = {Dot{1, 1}, Dot{2, 1}};
  for (int i = 0; i < 20; ++i) {
    const Dot dot{3, static_cast<uint64_t>(i + 1)};
    const std::string element = long_element + std::to_string(i);
    table.insert(element, ElementTable::hash_of(element), std::span<const Dot>(&dot, 1));
  }
  table.insert("two dots", ElementTable::hash_of("two dots"), dots);
  ElementTable copy = table;
  table.erase(table.find("two dots"));
  table.erase(table.find(long_element + "0"));
  ASSERT_NE(copy.find("two dots"), ElementTable::kNone);
  EXPECT_EQ(std::vector<Dot>(copy.dots(copy.find("two dots")).begin(),
                             copy.dots(copy.find("two dots")).end()),
            dots);
  EXPECT_EQ(copy.element(copy.find(long_element + "0")), long_element + "0");
  EXPECT_EQ(copy.size(), 21u);
  EXPECT_EQ(table.size(), 19u);
  EXPECT_EQ(table.owner(Dot{2, 1}), ElementTable::kNone);
  EXPECT_EQ(copy.owner(Dot{2, 1}), copy.find("two dots"));
}

}  // namespace
}  // namespace meld::crdt::detail
