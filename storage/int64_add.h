// The "meld.int64_add" RocksDB merge operator of the crdt family. Internal to storage/: modules
// above see only encode_int64/decode_int64 in storage/engine.h.
#pragma once

#include <memory>

namespace rocksdb {
class MergeOperator;
}  // namespace rocksdb

namespace meld::storage {

// Operands and values are encode_int64() strings; a merge is their wrapping sum (a missing or
// deleted base value counts as 0, and so does a base value that is not 8 bytes: the merge
// replaces it, noted in RocksDB's LOG). An operand that is not 8 bytes makes the full merge fail,
// which RocksDB reports to the reader as a corruption status (partial merges keep such operands
// unmerged); because that also fails any flush or compaction meeting the key, and a failed flush
// stops RocksDB writes, Engine::commit() rejects such operands before they reach disk.
std::shared_ptr<rocksdb::MergeOperator> new_int64_add_operator();

}  // namespace meld::storage
