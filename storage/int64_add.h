// The "meld.int64_add" RocksDB merge operator of the crdt family. Internal to storage/: modules
// above see only encode_int64/decode_int64 in storage/engine.h.
#pragma once

#include <memory>

namespace rocksdb {
class MergeOperator;
}  // namespace rocksdb

namespace meld::storage {

// Values and operands are encode_int64() strings; a merge is their wrapping sum (a missing or
// deleted base value counts as 0). An operand or value that is not 8 bytes makes the full merge
// fail, which RocksDB reports to the reader as a corruption status; partial merges then keep the
// operands unmerged. A failed full merge also fails the flush or compaction that needed it, which
// stops RocksDB writes: Engine::commit() therefore rejects such values before they reach disk.
std::shared_ptr<rocksdb::MergeOperator> new_int64_add_operator();

}  // namespace meld::storage
