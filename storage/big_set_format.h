// The on-disk layout of storage::BigSet in the big_set column family, and the merge operator and
// compaction filter that family runs with. Internal to storage/ (storage/engine.cc installs them;
// storage/big_set.cc writes the keys).
//
// Keys: u16 big-endian name length, the set's name, a tag byte, then for element keys the element:
//   name + 'c'            the set's causal context: an AwSet encoding without elements
//   (crdt/codec.h) name + 'e' + element  the element's dots and context: storage/big_set_value.h
//   (not the element)
//   "\0\0V"               the family's layout version: u32 big-endian kLayoutVersion (the first key
//                         of the family; written by the first BigSet::open of an empty family)
// Keys of any other shape are joined like crdt_state values and never dropped.
//
// Layout versions: 1 stored element values as AwSet encodings and had no version key; 2 is the
// current one. BigSet::open refuses a family of another layout (invalid_argument).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"

namespace rocksdb {
class CompactionFilterFactory;
class MergeOperator;
}  // namespace rocksdb

namespace meld::storage::big_set_format {

inline constexpr size_t kMaxNameBytes = 0xffff;
inline constexpr char kContextTag = 'c';
inline constexpr char kElementTag = 'e';
inline constexpr char kVersionTag = 'V';
inline constexpr uint32_t kLayoutVersion = 2;

std::string context_key(std::string_view name);
// The prefix every element key of the set starts with; element keys sort by element bytes.
std::string element_prefix(std::string_view name);
std::string element_key(std::string_view name, std::string_view element);
// The key of the layout version, and its value for kLayoutVersion.
std::string version_key();
std::string version_value();
// The tag byte of a key of this layout, or '\0' when the key has another shape.
char key_tag(std::string_view key);

// Whether value may be written under key (Engine's WriteBatch checks every big_set put and merge
// operand): element keys take element values (storage/big_set_value.h), the version key a
// 4-byte version, other keys crdt::decode<crdt::Value>() under the default limits. The decoder's
// error otherwise.
Status validate_value(std::string_view key, std::string_view value);

}  // namespace meld::storage::big_set_format

namespace meld::storage {

// "meld.big_set_join": under element keys, the join of element values (big_set_value.h), whose
// full merges keep in their context only their dots (why that is safe: storage/big_set.h); under
// other keys, meld.crdt_join (storage/crdt_join.h). An element operand that does not decode fails
// the merge (a corruption for readers), a base value that does not decode is replaced by the
// join of the operands, as meld.crdt_join does.
std::shared_ptr<rocksdb::MergeOperator> new_big_set_merge_operator();

// "meld.big_set_reclaim": drops element keys whose value holds no dot (a removed element),
// which compactions turn into deletions. RocksDB filters stored values, so a key whose operands
// a compaction merges may be dropped only by a later compaction.
std::shared_ptr<rocksdb::CompactionFilterFactory> new_big_set_compaction_filter_factory();

}  // namespace meld::storage
