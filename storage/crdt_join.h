// The "meld.crdt_join" RocksDB merge operator: values and operands are crdt::encode() outputs
// (crdt/codec.h), full states or deltas alike, and a merge writes the encoding of their join.
// Because join is associative, commutative and idempotent, RocksDB may combine operands in any
// grouping (partial merges during compaction) and re-apply none twice to any effect: the value
// read equals the in-memory join of everything written, across flushes and compactions.
//
// Values of different kinds join as in the ordinal sum of the kinds' lattices: the value of the
// greater crdt::Kind wins whole (noted in RocksDB's LOG). That is still associative, commutative
// and idempotent, so a writer that mixes kinds under one key loses data deterministically on every
// replica instead of failing the flushes and compactions that meet the key (a failed flush stops
// all RocksDB writes).
//
// Failure policy, as for meld.int64_add (storage/int64_add.h): a base value that does not decode is
// replaced by the join of the operands, noted in RocksDB's LOG; an operand that does not decode
// fails the merge, which RocksDB reports to readers as a corruption status and which also fails
// flushes and compactions meeting the key, so writers must check operands with crdt::decode()
// (same limits) before they reach RocksDB (storage::WriteBatch does).
#pragma once

#include <memory>
#include <string_view>

#include "crdt/codec.h"

namespace rocksdb {
class MergeOperator;
}  // namespace rocksdb

namespace meld::storage {

// Joins b into a: a.merge(b) for equal kinds, else the value of the greater kind.
void join_kinds(crdt::Value& a, const crdt::Value& b);

// Runs on the result of every full merge (one that includes the key's base value, or knows there
// is none) before it is encoded, and may rewrite it. Partial merges of operands never call it.
// Must be thread-safe and deterministic.
using FullMergeFinisher = void (*)(std::string_view key, crdt::Value& value);

// The operator under name (RocksDB checks it on reopen); finish may be null.
std::shared_ptr<rocksdb::MergeOperator> new_crdt_join_operator(crdt::DecodeLimits limits,
                                                               const char* name = "meld.crdt_join",
                                                               FullMergeFinisher finish = nullptr);

}  // namespace meld::storage
