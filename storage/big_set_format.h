// The on-disk layout of storage::BigSet in the big_set column family, and the merge operator and
// compaction filter that family runs with. Internal to storage/ (storage/engine.cc installs them;
// storage/big_set.cc writes the keys).
//
// Keys: u16 big-endian name length, the set's name, a tag byte, then for element keys the element:
//   name + 'c'            the set's causal context: an AwSet encoding without elements
//   name + 'e' + element  the element's state: an AwSet encoding holding at most this element
// Keys of any other shape are joined like crdt_state values and never dropped.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace rocksdb {
class CompactionFilterFactory;
class MergeOperator;
}  // namespace rocksdb

namespace meld::storage::big_set_format {

inline constexpr size_t kMaxNameBytes = 0xffff;
inline constexpr char kContextTag = 'c';
inline constexpr char kElementTag = 'e';

std::string context_key(std::string_view name);
// The prefix every element key of the set starts with; element keys sort by element bytes.
std::string element_prefix(std::string_view name);
std::string element_key(std::string_view name, std::string_view element);
// The tag byte of a key of this layout, or '\0' when the key has another shape.
char key_tag(std::string_view key);

}  // namespace meld::storage::big_set_format

namespace meld::storage {

// "meld.big_set_join": meld.crdt_join, except that the result of a full merge under an element key
// keeps in its context only the dots of its elements (why that is safe: storage/big_set.h).
std::shared_ptr<rocksdb::MergeOperator> new_big_set_merge_operator();

// "meld.big_set_reclaim": drops element keys whose value holds no element (a removed element),
// which compactions turn into deletions. RocksDB filters stored values, so a key whose operands
// a compaction merges may be dropped only by a later compaction.
std::shared_ptr<rocksdb::CompactionFilterFactory> new_big_set_compaction_filter_factory();

}  // namespace meld::storage
