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

// Joins operand into acc (empty: the first value sets it). False if the operand does not decode.
bool join_operand(const rocksdb::Slice& operand, const crdt::DecodeLimits& limits,
                  rocksdb::Logger* logger, std::optional<crdt::Value>* acc) {
  Result<crdt::Value> v = crdt::decode<crdt::Value>(view(operand), limits);
  if (!v.is_ok()) return false;
  if (!acc->has_value()) {
    acc->emplace(std::move(v).value());
    return true;
  }
  if ((*acc)->kind() != v->kind()) {
    rocksdb::Log(rocksdb::InfoLogLevel::WARN_LEVEL, logger,
                 "meld.crdt_join: joining CRDT kinds %d and %d; the greater wins",
                 static_cast<int>((*acc)->kind()), static_cast<int>(v->kind()));
  }
  join_kinds(**acc, *v);
  return true;
}

// A full MergeOperator: a key with n operands is decoded and joined once, encoded once.
class CrdtJoinOperator final : public rocksdb::MergeOperator {
 public:
  CrdtJoinOperator(crdt::DecodeLimits limits, const char* name, FullMergeFinisher finish)
      : limits_(limits), name_(name), finish_(finish) {}

  const char* Name() const override { return name_; }

  bool FullMergeV2(const MergeOperationInput& in, MergeOperationOutput* out) const override {
    std::optional<crdt::Value> acc;
    if (in.existing_value != nullptr &&
        !join_operand(*in.existing_value, limits_, in.logger, &acc)) {
      rocksdb::Log(rocksdb::InfoLogLevel::WARN_LEVEL, in.logger,
                   "%s: replacing a %zu-byte base value that is not a CRDT encoding", name_,
                   in.existing_value->size());
      acc.reset();
    }
    for (const rocksdb::Slice& operand : in.operand_list) {
      if (!join_operand(operand, limits_, in.logger, &acc)) return false;
    }
    if (!acc.has_value()) return false;
    if (finish_ != nullptr) finish_(view(in.key), *acc);
    out->new_value = crdt::encode(*acc);
    return true;
  }

  bool PartialMergeMulti(const rocksdb::Slice& key, const std::deque<rocksdb::Slice>& operands,
                         std::string* new_value, rocksdb::Logger* logger) const override {
    std::optional<crdt::Value> acc;
    for (const rocksdb::Slice& operand : operands) {
      if (!join_operand(operand, limits_, logger, &acc)) return false;
    }
    if (!acc.has_value()) return false;
    *new_value = crdt::encode(*acc);
    return true;
  }

 private:
  crdt::DecodeLimits limits_;
  const char* name_;
  FullMergeFinisher finish_;
};

}  // namespace

void join_kinds(crdt::Value& a, const crdt::Value& b) {
  if (a.kind() == b.kind()) {
    a.merge(b);
  } else if (b.kind() > a.kind()) {
    a = b;
  }
}

std::shared_ptr<rocksdb::MergeOperator> new_crdt_join_operator(crdt::DecodeLimits limits,
                                                               const char* name,
                                                               FullMergeFinisher finish) {
  return std::make_shared<CrdtJoinOperator>(limits, name, finish);
}

}  // namespace meld::storage
