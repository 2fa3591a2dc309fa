// The "meld.crdt_join" RocksDB merge operator: values and operands are crdt::encode() outputs
// (crdt/codec.h) of one kind, full states or deltas alike, and a merge writes the encoding of their
// join. Because join is associative, commutative and idempotent, RocksDB may combine operands in
// any grouping (partial merges during compaction) and re-apply none twice to any effect: the value
// read equals the in-memory join of everything written, across flushes and compactions.
//
// Failure policy, as for meld.int64_add (storage/int64_add.h): a base value that does not decode is
// replaced by the join of the operands, noted in RocksDB's LOG; an operand that does not decode,
// or is of another kind than the others, fails the merge, which RocksDB reports to readers as a
// corruption status and which also fails flushes and compactions meeting the key, so writers must
// check operands with crdt::decode() (same limits) before they reach RocksDB.
#pragma once

#include <memory>

#include "crdt/codec.h"

namespace rocksdb {
class MergeOperator;
}  // namespace rocksdb

namespace meld::storage {

std::shared_ptr<rocksdb::MergeOperator> new_crdt_join_operator(crdt::DecodeLimits limits);

}  // namespace meld::storage
