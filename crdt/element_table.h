// The storage behind AwSet (crdt/set.h): byte-string elements, each with its dots, in a flat
// table indexed two ways by open addressing, so that a lookup, insert or erase costs O(1) expected
// cache misses however many elements there are. Internal to crdt/.
//
// Layout. Entries live in one array of 64-byte records (one cache line each): the element's size,
// its bytes inline up to kInlineBytes (else a heap copy), and its dots (one inline, the common
// case; several in a heap array, ascending). A removed entry's id goes on a stack of free ids and
// is reused, so ids (32-bit) stay put while the entry lives; taking one reads no entry, so the
// entry an insert will write can be prefetched. Two indexes of 8-byte slots, {32 bits of
// hash, id + 1}, with linear probing and backward-shift deletion (no tombstones) map an element
// and a dot to its entry id; a probe compares the stored hash bits before it reads an entry. While
// the table holds at most kLinearMax entries it has no indexes and lookups scan the entries: the
// one-element deltas every mutator returns then cost one allocation. Arrays of 4 MiB and more are
// mapped with madvise(MADV_HUGEPAGE), so a random probe pays no 4 KiB-page TLB miss.
//
// Memory per element at a load of 0.375-0.75: 64 bytes of entry + 2 x 8 bytes / load of slots,
// i.e. 85-107 bytes, plus heap bytes for elements over kInlineBytes and for a second dot.
//
// Hashes are seeded per process (a random seed), so an adversary who chooses elements or origin
// ids cannot aim them at one probe run; nothing observable depends on the layout (the ordered
// listing sorts, equality and merge do not depend on order).
//
// Plain value: copy deeply; not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "crdt/causal_context.h"

namespace meld::crdt::detail {

// Zero-filled memory owned by one holder; large blocks come from mmap with transparent huge pages
// requested. Moves, never copies.
class PageBuffer {
 public:
  PageBuffer() = default;
  explicit PageBuffer(size_t bytes);
  PageBuffer(PageBuffer&& other) noexcept;
  PageBuffer& operator=(PageBuffer&& other) noexcept;
  PageBuffer(const PageBuffer&) = delete;
  PageBuffer& operator=(const PageBuffer&) = delete;
  ~PageBuffer();

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }

 private:
  void release();

  void* data_ = nullptr;
  size_t bytes_ = 0;
  bool mapped_ = false;
};

// One open-addressing index: slots {hash bits, id + 1}. The caller's match(id) says whether an
// entry is the one searched for; ids are below 2^32 - 1.
class SlotIndex {
 public:
  static constexpr size_t kNotFound = SIZE_MAX;

  SlotIndex() = default;
  SlotIndex(const SlotIndex& other);
  SlotIndex& operator=(const SlotIndex& other);
  SlotIndex(SlotIndex&& other) noexcept;
  SlotIndex& operator=(SlotIndex&& other) noexcept;
  ~SlotIndex() = default;

  size_t capacity() const { return mask_ + (slots_ == nullptr ? 0 : 1); }
  size_t size() const { return size_; }

  // Position of the slot whose id matches, or kNotFound.
  template <typename Match>
  size_t find(uint64_t hash, Match match) const {
    if (slots_ == nullptr) return kNotFound;
    const uint32_t bits = static_cast<uint32_t>(hash);
    for (size_t pos = bits & mask_;; pos = (pos + 1) & mask_) {
      const Slot& slot = slots_[pos];
      if (slot.id_plus_one == 0) return kNotFound;
      if (slot.hash_bits == bits && match(slot.id_plus_one - 1)) return pos;
    }
  }
  uint32_t id_at(size_t pos) const { return slots_[pos].id_plus_one - 1; }

  // Precondition: no slot matches the same entry. Grows past a load of 3/4.
  void insert(uint64_t hash, uint32_t id);
  // Empties the slot at pos, shifting later slots of the probe run back.
  void erase_at(size_t pos);
  // Reserves room for n slots' worth of entries without growing again.
  void reserve(size_t n);

  // Starts loading the slot line a lookup of hash reads first.
  void prefetch(uint64_t hash) const {
    if (slots_ != nullptr) __builtin_prefetch(&slots_[static_cast<uint32_t>(hash) & mask_]);
  }
  // The id in the first slot of hash's probe run holding its hash bits, or UINT32_MAX: the entry a
  // lookup most likely reads, for prefetching it.
  uint32_t likely_id(uint64_t hash) const;

 private:
  struct Slot {
    uint32_t hash_bits;
    uint32_t id_plus_one;  // 0: empty
  };
  void place(uint32_t bits, uint32_t id);
  void rehash(size_t capacity);

  PageBuffer buffer_;
  Slot* slots_ = nullptr;
  size_t mask_ = 0;
  size_t size_ = 0;
};

class ElementTable {
 public:
  using Id = uint32_t;
  static constexpr Id kNone = UINT32_MAX;
  static constexpr size_t kInlineBytes = 40;
  static constexpr size_t kLinearMax = 8;
  // The most entries a table holds (ids are 32-bit, slot counts powers of two up to 2^32).
  static constexpr size_t kMaxEntries = size_t{1} << 31;

  ElementTable() = default;
  ElementTable(const ElementTable& other);
  ElementTable& operator=(const ElementTable& other);
  ElementTable(ElementTable&& other) noexcept;
  ElementTable& operator=(ElementTable&& other) noexcept;
  ~ElementTable();

  static uint64_t hash_of(std::string_view element);
  static uint64_t hash_of(Dot dot);

  size_t size() const { return size_; }
  Id find(std::string_view element) const { return find(element, hash_of(element)); }
  Id find(std::string_view element, uint64_t hash) const;
  // The entry holding dot, or kNone.
  Id owner(Dot dot) const;

  std::string_view element(Id id) const;
  // Ascending, never empty.
  std::span<const Dot> dots(Id id) const;

  // Adds element (absent here; hash = hash_of(element)) with dots (ascending, non-empty, none held
  // by another entry).
  Id insert(std::string_view element, uint64_t hash, std::span<const Dot> dots);
  // Replaces the entry's dots (ascending, non-empty, none held by another entry).
  void set_dots(Id id, std::span<const Dot> dots);
  void erase(Id id);
  // Room for n entries without growing.
  void reserve(size_t n);

  // Prefetch hints for batched lookups: the slot line of an element hash, then the entry the slot
  // likely points at.
  void prefetch_slot(uint64_t hash) const { elements_.prefetch(hash); }
  void prefetch_entry(uint64_t hash) const;
  void prefetch_dot_slot(Dot dot) const { dots_.prefetch(hash_of(dot)); }
  // The entry the k-th insert from now (k >= 1) writes, if it reuses a free one.
  void prefetch_free_entry(size_t k) const {
    if (k <= free_ids_.size()) __builtin_prefetch(&entries_[free_ids_[free_ids_.size() - k]], 1);
  }
  // Then, reading the element's entry, the dot slots of its first dots (those an add replacing
  // them or a remove erases).
  void prefetch_dot_slots(std::string_view element, uint64_t hash) const;

  // Calls f(id) for every entry, in no particular order.
  template <typename F>
  void for_each(F f) const {
    for (Id id = 0; id < used_; ++id) {
      if (entries_[id].dot_count != 0) f(id);
    }
  }
  // Every id, ordered by element bytes (unsigned lexicographic, as std::string compares).
  std::vector<Id> ordered_ids() const;

 private:
  struct Entry {
    uint32_t size;       // element bytes
    uint32_t dot_count;  // 0: free
    union {
      char inline_bytes[kInlineBytes];
      char* heap_bytes;
    };
    union {
      Dot one;
      Dot* many;  // dot_count > 1: ascending
    };
  };
  static_assert(sizeof(Entry) == 64);

  bool indexed() const { return elements_.capacity() != 0; }
  // Makes both indexes hold room for n entries, indexing the entries here if they had none.
  void build_indexes(size_t n);
  void index_dots(Id id);
  void unindex_dots(Id id);
  void store_dots(Entry& e, std::span<const Dot> dots);
  // Frees the entry's heap blocks (element bytes, dots).
  static void release(Entry& e);
  void copy_from(const ElementTable& other);
  void destroy();
  void grow_entries(size_t capacity);
  bool holds(Id id, Dot dot) const;

  PageBuffer buffer_;
  Entry* entries_ = nullptr;
  size_t capacity_ = 0;       // entries the buffer holds
  Id used_ = 0;               // ids below this were handed out
  std::vector<Id> free_ids_;  // erased entries, reused last-in first-out
  size_t size_ = 0;
  SlotIndex elements_;
  SlotIndex dots_;
};

}  // namespace meld::crdt::detail
