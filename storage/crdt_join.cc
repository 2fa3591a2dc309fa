#include "storage/crdt_join.h"

#include <rocksdb/env.h>
#include <rocksdb/merge_operator.h>
#include <rocksdb/slice.h>

#include <optional>
#include <string_view>

namespace meld::storage {
namespace {

std::string_view view(const rocksdb::Slice& s) {
  return std::string_view(s.data(), s.size());
}

// Joins operand into acc (empty: the first value sets the kind). False if the operand does not
// decode or is of another kind.
bool join_operand(const rocksdb::Slice& operand, const crdt::DecodeLimits& limits,
                  std::optional<crdt::Value>* acc) {
  Result<crdt::Value> v = crdt::decode<crdt::Value>(view(operand), limits);
  if (!v.is_ok()) return false;
  if (!acc->has_value()) {
    acc->emplace(std::move(v).value());
    return true;
  }
  if ((*acc)->kind() != v->kind()) return false;
  (*acc)->merge(*v);
  return true;
}

// A full MergeOperator: a key with n operands is decoded and joined once, encoded once.
class CrdtJoinOperator final : public rocksdb::MergeOperator {
 public:
  explicit CrdtJoinOperator(crdt::DecodeLimits limits) : limits_(limits) {}

  const char* Name() const override { return "meld.crdt_join"; }

  bool FullMergeV2(const MergeOperationInput& in, MergeOperationOutput* out) const override {
    std::optional<crdt::Value> acc;
    if (in.existing_value != nullptr && !join_operand(*in.existing_value, limits_, &acc)) {
      rocksdb::Log(rocksdb::InfoLogLevel::WARN_LEVEL, in.logger,
                   "meld.crdt_join: replacing a %zu-byte base value that is not a CRDT encoding",
                   in.existing_value->size());
      acc.reset();
    }
    for (const rocksdb::Slice& operand : in.operand_list) {
      if (!join_operand(operand, limits_, &acc)) return false;
    }
    if (!acc.has_value()) return false;
    out->new_value = crdt::encode(*acc);
    return true;
  }

  bool PartialMergeMulti(const rocksdb::Slice& key, const std::deque<rocksdb::Slice>& operands,
                         std::string* new_value, rocksdb::Logger* logger) const override {
    std::optional<crdt::Value> acc;
    for (const rocksdb::Slice& operand : operands) {
      if (!join_operand(operand, limits_, &acc)) return false;
    }
    if (!acc.has_value()) return false;
    *new_value = crdt::encode(*acc);
    return true;
  }

 private:
  crdt::DecodeLimits limits_;
};

}  // namespace

std::shared_ptr<rocksdb::MergeOperator> new_crdt_join_operator(crdt::DecodeLimits limits) {
  return std::make_shared<CrdtJoinOperator>(limits);
}

}  // namespace meld::storage
