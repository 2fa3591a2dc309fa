#include "crdt/element_table.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

#include "base/assert.h"
#include "base/hash.h"
#include "base/rng.h"

namespace meld::crdt::detail {
namespace {

constexpr size_t kHugePageBytes = size_t{2} << 20;
// Below this a buffer comes from calloc: mapping costs a system call and rounds to 2 MiB.
constexpr size_t kMapThresholdBytes = size_t{4} << 20;

uint64_t process_seed() {
  static const uint64_t seed = os_random_u64();
  return seed;
}

// MurmurHash3's finaliser: every input bit reaches the low bits the slot position uses.
uint64_t mix(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

template <typename T>
T* allocate_copy(const T* from, size_t n) {
  T* to = static_cast<T*>(std::malloc(n * sizeof(T)));
  if (to == nullptr) throw std::bad_alloc();
  std::memcpy(to, from, n * sizeof(T));
  return to;
}

}  // namespace

PageBuffer::PageBuffer(size_t bytes) {
  if (bytes == 0) return;
  if (bytes < kMapThresholdBytes) {
    data_ = std::calloc(1, bytes);
    if (data_ == nullptr) throw std::bad_alloc();
    bytes_ = bytes;
    return;
  }
  // Map 2 MiB more than needed and trim both ends, so the block starts on a huge-page boundary.
  const size_t rounded = (bytes + kHugePageBytes - 1) & ~(kHugePageBytes - 1);
  const size_t span = rounded + kHugePageBytes;
  void* raw = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  const uintptr_t start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (start + kHugePageBytes - 1) & ~(kHugePageBytes - 1);
  if (aligned > start) munmap(raw, aligned - start);
  const size_t tail = start + span - (aligned + rounded);
  if (tail > 0) munmap(reinterpret_cast<void*>(aligned + rounded), tail);
  // A hint: where the kernel has no huge page to give, the block keeps 4 KiB pages.
  madvise(reinterpret_cast<void*>(aligned), rounded, MADV_HUGEPAGE);
  data_ = reinterpret_cast<void*>(aligned);
  bytes_ = rounded;
  mapped_ = true;
}

PageBuffer::PageBuffer(PageBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      bytes_(std::exchange(other.bytes_, 0)),
      mapped_(std::exchange(other.mapped_, false)) {}

PageBuffer& PageBuffer::operator=(PageBuffer&& other) noexcept {
  if (this != &other) {
    release();
    data_ = std::exchange(other.data_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
    mapped_ = std::exchange(other.mapped_, false);
  }
  return *this;
}

PageBuffer::~PageBuffer() {
  release();
}

void PageBuffer::release() {
  if (data_ == nullptr) return;
  if (mapped_) {
    munmap(data_, bytes_);
  } else {
    std::free(data_);
  }
  data_ = nullptr;
  bytes_ = 0;
  mapped_ = false;
}

SlotIndex::SlotIndex(const SlotIndex& other) : mask_(other.mask_), size_(other.size_) {
  if (other.slots_ == nullptr) return;
  buffer_ = PageBuffer(other.capacity() * sizeof(Slot));
  slots_ = static_cast<Slot*>(buffer_.data());
  std::memcpy(slots_, other.slots_, other.capacity() * sizeof(Slot));
}

SlotIndex& SlotIndex::operator=(const SlotIndex& other) {
  if (this != &other) *this = SlotIndex(other);
  return *this;
}

SlotIndex::SlotIndex(SlotIndex&& other) noexcept
    : buffer_(std::move(other.buffer_)),
      slots_(std::exchange(other.slots_, nullptr)),
      mask_(std::exchange(other.mask_, 0)),
      size_(std::exchange(other.size_, 0)) {}

SlotIndex& SlotIndex::operator=(SlotIndex&& other) noexcept {
  if (this != &other) {
    buffer_ = std::move(other.buffer_);
    slots_ = std::exchange(other.slots_, nullptr);
    mask_ = std::exchange(other.mask_, 0);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

void SlotIndex::place(uint32_t bits, uint32_t id) {
  size_t pos = bits & mask_;
  while (slots_[pos].id_plus_one != 0) pos = (pos + 1) & mask_;
  slots_[pos] = Slot{bits, id + 1};
}

void SlotIndex::insert(uint64_t hash, uint32_t id) {
  MELD_ASSERT(id != UINT32_MAX, "slot index id out of range");
  if ((size_ + 1) * 4 > capacity() * 3) rehash(std::max<size_t>(16, capacity() * 2));
  place(static_cast<uint32_t>(hash), id);
  ++size_;
}

void SlotIndex::erase_at(size_t pos) {
  size_t hole = pos;
  for (size_t next = (hole + 1) & mask_;; next = (next + 1) & mask_) {
    const Slot slot = slots_[next];
    if (slot.id_plus_one == 0) break;
    // The slot may move back into the hole unless its home lies after the hole in the run.
    const size_t home = slot.hash_bits & mask_;
    if (((next - home) & mask_) >= ((next - hole) & mask_)) {
      slots_[hole] = slot;
      hole = next;
    }
  }
  slots_[hole] = Slot{0, 0};
  --size_;
}

void SlotIndex::reserve(size_t n) {
  size_t capacity = std::max<size_t>(16, this->capacity());
  while (n * 4 > capacity * 3) capacity *= 2;
  if (capacity != this->capacity()) rehash(capacity);
}

void SlotIndex::rehash(size_t capacity) {
  MELD_ASSERT(capacity <= (size_t{1} << 32), "slot index over 2^32 slots");
  const size_t old_capacity = this->capacity();
  PageBuffer old = std::move(buffer_);
  const Slot* old_slots = slots_;
  buffer_ = PageBuffer(capacity * sizeof(Slot));
  slots_ = static_cast<Slot*>(buffer_.data());
  mask_ = capacity - 1;
  for (size_t i = 0; i < old_capacity; ++i) {
    if (old_slots[i].id_plus_one != 0) place(old_slots[i].hash_bits, old_slots[i].id_plus_one - 1);
  }
}

uint32_t SlotIndex::likely_id(uint64_t hash) const {
  if (slots_ == nullptr) return UINT32_MAX;
  const uint32_t bits = static_cast<uint32_t>(hash);
  for (size_t pos = bits & mask_;; pos = (pos + 1) & mask_) {
    if (slots_[pos].id_plus_one == 0) return UINT32_MAX;
    if (slots_[pos].hash_bits == bits) return slots_[pos].id_plus_one - 1;
  }
}

uint64_t ElementTable::hash_of(std::string_view element) {
  return fast_hash64(element, process_seed());
}

uint64_t ElementTable::hash_of(Dot dot) {
  return mix(mix(dot.replica ^ process_seed()) ^ dot.counter);
}

ElementTable::ElementTable(const ElementTable& other) {
  copy_from(other);
}

ElementTable& ElementTable::operator=(const ElementTable& other) {
  if (this != &other) {
    ElementTable copy(other);
    *this = std::move(copy);
  }
  return *this;
}

ElementTable::ElementTable(ElementTable&& other) noexcept
    : buffer_(std::move(other.buffer_)),
      entries_(std::exchange(other.entries_, nullptr)),
      capacity_(std::exchange(other.capacity_, 0)),
      used_(std::exchange(other.used_, 0)),
      free_ids_(std::move(other.free_ids_)),
      size_(std::exchange(other.size_, 0)),
      elements_(std::move(other.elements_)),
      dots_(std::move(other.dots_)) {}

ElementTable& ElementTable::operator=(ElementTable&& other) noexcept {
  if (this != &other) {
    destroy();
    buffer_ = std::move(other.buffer_);
    entries_ = std::exchange(other.entries_, nullptr);
    capacity_ = std::exchange(other.capacity_, 0);
    used_ = std::exchange(other.used_, 0);
    free_ids_ = std::move(other.free_ids_);
    size_ = std::exchange(other.size_, 0);
    elements_ = std::move(other.elements_);
    dots_ = std::move(other.dots_);
  }
  return *this;
}

ElementTable::~ElementTable() {
  destroy();
}

void ElementTable::destroy() {
  for_each([this](Id id) { release(entries_[id]); });
  buffer_ = PageBuffer();
  entries_ = nullptr;
  capacity_ = 0;
  used_ = 0;
  free_ids_.clear();
  size_ = 0;
}

void ElementTable::copy_from(const ElementTable& other) {
  if (other.used_ != 0) {
    buffer_ = PageBuffer(size_t{other.used_} * sizeof(Entry));
    entries_ = static_cast<Entry*>(buffer_.data());
    capacity_ = other.used_;
    std::memcpy(static_cast<void*>(entries_), other.entries_, size_t{other.used_} * sizeof(Entry));
  }
  used_ = other.used_;
  free_ids_ = other.free_ids_;
  size_ = other.size_;
  // The byte copy shares the other table's heap blocks: give this one its own.
  for_each([this](Id id) {
    Entry& e = entries_[id];
    if (e.size > kInlineBytes) e.heap_bytes = allocate_copy(e.heap_bytes, e.size);
    if (e.dot_count > 1) e.many = allocate_copy(e.many, e.dot_count);
  });
  elements_ = other.elements_;
  dots_ = other.dots_;
}

void ElementTable::release(Entry& e) {
  if (e.size > kInlineBytes) std::free(e.heap_bytes);
  if (e.dot_count > 1) std::free(e.many);
}

std::string_view ElementTable::element(Id id) const {
  const Entry& e = entries_[id];
  return std::string_view(e.size > kInlineBytes ? e.heap_bytes : e.inline_bytes, e.size);
}

std::span<const Dot> ElementTable::dots(Id id) const {
  const Entry& e = entries_[id];
  return e.dot_count == 1 ? std::span<const Dot>(&e.one, 1)
                          : std::span<const Dot>(e.many, e.dot_count);
}

bool ElementTable::holds(Id id, Dot dot) const {
  std::span<const Dot> held = dots(id);
  return std::binary_search(held.begin(), held.end(), dot);
}

ElementTable::Id ElementTable::find(std::string_view element, uint64_t hash) const {
  if (!indexed()) {
    for (Id id = 0; id < used_; ++id) {
      if (entries_[id].dot_count != 0 && this->element(id) == element) return id;
    }
    return kNone;
  }
  size_t pos = elements_.find(hash, [&](uint32_t id) { return this->element(id) == element; });
  return pos == SlotIndex::kNotFound ? kNone : elements_.id_at(pos);
}

ElementTable::Id ElementTable::owner(Dot dot) const {
  if (!indexed()) {
    for (Id id = 0; id < used_; ++id) {
      if (entries_[id].dot_count != 0 && holds(id, dot)) return id;
    }
    return kNone;
  }
  size_t pos = dots_.find(hash_of(dot), [&](uint32_t id) { return holds(id, dot); });
  return pos == SlotIndex::kNotFound ? kNone : dots_.id_at(pos);
}

void ElementTable::prefetch_entry(uint64_t hash) const {
  uint32_t id = elements_.likely_id(hash);
  if (id != UINT32_MAX) __builtin_prefetch(&entries_[id]);
}

void ElementTable::prefetch_dot_slots(std::string_view element, uint64_t hash) const {
  constexpr size_t kMaxPrefetchedDots = 4;
  Id id = find(element, hash);
  if (id == kNone) return;
  for (Dot dot : dots(id).first(std::min(kMaxPrefetchedDots, size_t{entries_[id].dot_count}))) {
    prefetch_dot_slot(dot);
  }
}

void ElementTable::store_dots(Entry& e, std::span<const Dot> dots) {
  MELD_ASSERT(!dots.empty(), "an element without dots");
  MELD_ASSERT(dots.size() < UINT32_MAX, "an element with over 2^32 dots");
  e.dot_count = static_cast<uint32_t>(dots.size());
  if (dots.size() == 1) {
    e.one = dots[0];
  } else {
    e.many = allocate_copy(dots.data(), dots.size());
  }
}

void ElementTable::grow_entries(size_t capacity) {
  PageBuffer grown(capacity * sizeof(Entry));
  if (used_ != 0) std::memcpy(grown.data(), static_cast<void*>(entries_), used_ * sizeof(Entry));
  buffer_ = std::move(grown);
  entries_ = static_cast<Entry*>(buffer_.data());
  capacity_ = capacity;
}

void ElementTable::reserve(size_t n) {
  MELD_ASSERT(n <= kMaxEntries, "element table over its entry limit");
  if (n > capacity_) grow_entries(n);
  if (n > kLinearMax) build_indexes(n);
}

void ElementTable::build_indexes(size_t n) {
  const bool was_indexed = indexed();
  elements_.reserve(n);
  dots_.reserve(n);
  if (was_indexed) return;
  for_each([this](Id id) {
    elements_.insert(hash_of(element(id)), id);
    index_dots(id);
  });
}

void ElementTable::index_dots(Id id) {
  for (Dot dot : dots(id)) dots_.insert(hash_of(dot), id);
}

void ElementTable::unindex_dots(Id id) {
  for (Dot dot : dots(id)) {
    size_t pos = dots_.find(hash_of(dot), [id](uint32_t other) { return other == id; });
    MELD_ASSERT(pos != SlotIndex::kNotFound, "a dot missing from the dot index");
    dots_.erase_at(pos);
  }
}

ElementTable::Id ElementTable::insert(std::string_view element, uint64_t hash,
                                      std::span<const Dot> dots) {
  MELD_ASSERT(size_ < kMaxEntries, "element table over its entry limit");
  MELD_ASSERT(element.size() < UINT32_MAX, "an element over 4 GiB");
  Id id;
  if (!free_ids_.empty()) {
    id = free_ids_.back();
    free_ids_.pop_back();
  } else {
    if (used_ == capacity_) grow_entries(std::max<size_t>(1, capacity_ * 2));
    id = used_++;
  }
  Entry& e = entries_[id];
  e.size = static_cast<uint32_t>(element.size());
  if (element.size() > kInlineBytes) {
    e.heap_bytes = allocate_copy(element.data(), element.size());
  } else {
    std::memcpy(e.inline_bytes, element.data(), element.size());
  }
  store_dots(e, dots);
  ++size_;
  if (indexed()) {
    elements_.insert(hash, id);
    index_dots(id);
  } else if (size_ > kLinearMax) {
    build_indexes(size_);
  }
  return id;
}

void ElementTable::set_dots(Id id, std::span<const Dot> dots) {
  Entry& e = entries_[id];
  if (indexed()) unindex_dots(id);
  if (e.dot_count > 1) std::free(e.many);
  store_dots(e, dots);
  if (indexed()) index_dots(id);
}

void ElementTable::erase(Id id) {
  if (indexed()) {
    size_t pos = elements_.find(hash_of(element(id)), [id](uint32_t other) { return other == id; });
    MELD_ASSERT(pos != SlotIndex::kNotFound, "an element missing from the element index");
    elements_.erase_at(pos);
    unindex_dots(id);
  }
  Entry& e = entries_[id];
  release(e);
  e.dot_count = 0;
  free_ids_.push_back(id);
  --size_;
}

std::vector<ElementTable::Id> ElementTable::ordered_ids() const {
  std::vector<Id> ids;
  ids.reserve(size_);
  for_each([&ids](Id id) { ids.push_back(id); });
  if (ids.size() < 2) return ids;
  // Sort by the 8 bytes after the prefix all elements share (zero-padded, big-endian, so integer
  // order is byte order), read once into a contiguous array; only ties read the elements again.
  std::string_view first = element(ids[0]);
  size_t common = first.size();
  for (Id id : ids) {
    std::string_view e = element(id);
    size_t n = std::min(common, e.size());
    size_t k = 0;
    while (k < n && e[k] == first[k]) ++k;
    common = k;
    if (common == 0) break;
  }
  struct Key {
    uint64_t prefix;
    Id id;
  };
  std::vector<Key> keys;
  keys.reserve(ids.size());
  for (Id id : ids) {
    std::string_view e = element(id);
    uint64_t prefix = 0;
    for (size_t i = 0; i < 8; ++i) {
      size_t at = common + i;
      prefix = (prefix << 8) | (at < e.size() ? static_cast<uint8_t>(e[at]) : 0);
    }
    keys.push_back(Key{prefix, id});
  }
  std::sort(keys.begin(), keys.end(), [this](const Key& a, const Key& b) {
    if (a.prefix != b.prefix) return a.prefix < b.prefix;
    return element(a.id) < element(b.id);
  });
  for (size_t i = 0; i < keys.size(); ++i) ids[i] = keys[i].id;
  return ids;
}

}  // namespace meld::crdt::detail
