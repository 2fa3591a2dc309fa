#include "storage/int64_add.h"

#include <rocksdb/env.h>
#include <rocksdb/merge_operator.h>
#include <rocksdb/slice.h>

#include <cstring>

#include "storage/engine.h"

namespace meld::storage {

std::string encode_int64(int64_t value) {
  uint64_t u = static_cast<uint64_t>(value);
  std::string out(8, '\0');
  for (size_t i = 0; i < 8; ++i) out[i] = static_cast<char>((u >> (8 * i)) & 0xff);
  return out;
}

Result<int64_t> decode_int64(std::string_view bytes) {
  if (bytes.size() != 8) {
    return Status::corruption("int64 value has " + std::to_string(bytes.size()) +
                              " bytes, expected 8");
  }
  uint64_t u = 0;
  for (size_t i = 0; i < 8; ++i) u |= uint64_t{static_cast<uint8_t>(bytes[i])} << (8 * i);
  return static_cast<int64_t>(u);
}

namespace {

// Adds in uint64_t: signed overflow is undefined, and the counter wraps by contract.
bool add_operand(const rocksdb::Slice& operand, uint64_t* sum) {
  Result<int64_t> v = decode_int64(std::string_view(operand.data(), operand.size()));
  if (!v.is_ok()) return false;
  *sum += static_cast<uint64_t>(*v);
  return true;
}

// A full MergeOperator rather than AssociativeMergeOperator: a key with n operands is decoded
// and summed once, not re-encoded n times.
class Int64AddOperator final : public rocksdb::MergeOperator {
 public:
  const char* Name() const override { return "meld.int64_add"; }

  bool FullMergeV2(const MergeOperationInput& in, MergeOperationOutput* out) const override {
    uint64_t sum = 0;
    // Failing here would fail the flush or compaction that met the key too, and RocksDB would
    // then refuse every write until repaired; so a base value put by another kind of writer
    // (the crdt family also holds set members) is replaced, and the event left in RocksDB's LOG.
    if (in.existing_value != nullptr && !add_operand(*in.existing_value, &sum)) {
      rocksdb::Log(rocksdb::InfoLogLevel::WARN_LEVEL, in.logger,
                   "meld.int64_add: replacing a %zu-byte non-int64 base value",
                   in.existing_value->size());
      sum = 0;
    }
    for (const rocksdb::Slice& operand : in.operand_list) {
      if (!add_operand(operand, &sum)) return false;
    }
    out->new_value = encode_int64(static_cast<int64_t>(sum));
    return true;
  }

  bool PartialMergeMulti(const rocksdb::Slice& key, const std::deque<rocksdb::Slice>& operands,
                         std::string* new_value, rocksdb::Logger* logger) const override {
    uint64_t sum = 0;
    for (const rocksdb::Slice& operand : operands) {
      if (!add_operand(operand, &sum)) return false;
    }
    *new_value = encode_int64(static_cast<int64_t>(sum));
    return true;
  }
};

}  // namespace

std::shared_ptr<rocksdb::MergeOperator> new_int64_add_operator() {
  return std::make_shared<Int64AddOperator>();
}

}  // namespace meld::storage
