#include "storage/big_set_value.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>
#include <rocksdb/merge_operator.h>

#include <algorithm>
#include <deque>
#include <iterator>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "crdt/codec.h"
#include "crdt/set.h"
#include "storage/big_set_format.h"

namespace meld::storage::big_set_format {
namespace {

using crdt::Dot;

// A random element state: dots from a small space (so states overlap: replicas 1-3, counters
// 1-6, one bit of a mask each), context ⊇ dots.
ElementState random_state() {
  constexpr uint32_t kSpace = 18;
  const auto dots = *rc::gen::inRange<uint32_t>(0, 1u << kSpace);
  const auto extra = *rc::gen::inRange<uint32_t>(0, 1u << kSpace);
  ElementState state;
  for (uint32_t bit = 0; bit < kSpace; ++bit) {
    const Dot dot{1 + bit / 6, 1 + bit % 6};
    if ((dots >> bit) & 1) state.dots.push_back(dot);
    if (((dots | extra) >> bit) & 1) state.context.push_back(dot);
  }
  return state;
}

// The state as a one-element crdt::AwSet.
crdt::AwSet to_aw_set(const ElementState& state) {
  crdt::CausalContext context;
  for (Dot d : state.context) context.insert(d);
  std::vector<crdt::AwSet::Member> members;
  if (!state.dots.empty()) members.push_back({"x", {state.dots.begin(), state.dots.end()}});
  Result<crdt::AwSet> set = crdt::AwSet::from_parts(std::move(members), std::move(context));
  MELD_ASSERT(set.is_ok(), set.status().to_string());
  return std::move(set).value();
}

std::vector<Dot> context_dots(const crdt::CausalContext& context) {
  std::vector<Dot> dots;
  for (const auto& [replica, n] : context.vector()) {
    for (uint64_t i = 1; i <= n; ++i) dots.push_back(Dot{replica, i});
  }
  dots.insert(dots.end(), context.cloud().begin(), context.cloud().end());
  std::sort(dots.begin(), dots.end());
  return dots;
}

RC_GTEST_PROP(BigSetValue, EncodingRoundTripsAndStoredValuesAreSmall, ()) {
  const ElementState state = random_state();
  const std::string bytes = encode_element_value(state);
  Result<ElementState> decoded = decode_element_value(bytes);
  RC_ASSERT(decoded.is_ok());
  RC_ASSERT(*decoded == state);
  ElementState stored = state;
  trim_element_state(stored);
  // Format byte, two counts, two one-byte varints per dot in this generator's range.
  RC_ASSERT(encode_element_value(stored).size() == 3 + 2 * stored.dots.size());
}

RC_GTEST_PROP(BigSetValue, JoinIsCommutativeAssociativeAndIdempotent, ()) {
  const ElementState a = random_state();
  const ElementState b = random_state();
  const ElementState c = random_state();
  RC_ASSERT(join_element_states(a, b) == join_element_states(b, a));
  RC_ASSERT(join_element_states(join_element_states(a, b), c) ==
            join_element_states(a, join_element_states(b, c)));
  RC_ASSERT(join_element_states(a, a) == a);
}

RC_GTEST_PROP(BigSetValue, JoinEqualsTheAwSetJoin, ()) {
  const ElementState a = random_state();
  const ElementState b = random_state();
  const ElementState joined = join_element_states(a, b);
  crdt::AwSet expected = to_aw_set(a);
  expected.merge(to_aw_set(b));
  const std::set<Dot> expected_dots = expected.dots("x");
  RC_ASSERT(joined.dots == std::vector<Dot>(expected_dots.begin(), expected_dots.end()));
  RC_ASSERT(joined.context == context_dots(expected.context()));
}

// The RocksDB operator: a full merge of a base and operands equals the trimmed join; a partial
// merge of the operands first, then the full merge, gives the same; other keys join as crdt.
RC_GTEST_PROP(BigSetValue, MergeOperatorFullAndPartialMergesEqualTheJoin, ()) {
  const std::shared_ptr<rocksdb::MergeOperator> op = new_big_set_merge_operator();
  const std::string key = element_key("s", "x");
  const bool has_base = *rc::gen::arbitrary<bool>();
  ElementState base = random_state();
  trim_element_state(base);
  const std::string base_bytes = encode_element_value(base);
  const auto operands = *rc::gen::nonEmpty(
      rc::gen::container<std::vector<ElementState>>(rc::gen::exec([] { return random_state(); })));
  std::vector<std::string> operand_bytes;
  for (const ElementState& s : operands) operand_bytes.push_back(encode_element_value(s));

  ElementState expected = has_base ? base : operands.front();
  for (size_t i = has_base ? 0 : 1; i < operands.size(); ++i) {
    expected = join_element_states(expected, operands[i]);
  }
  trim_element_state(expected);

  const rocksdb::Slice key_slice(key);
  const rocksdb::Slice base_slice(base_bytes);
  auto full = [&](const std::vector<rocksdb::Slice>& list) {
    std::string out;
    rocksdb::Slice existing_operand;
    rocksdb::MergeOperator::MergeOperationInput in(key_slice, has_base ? &base_slice : nullptr,
                                                   list, nullptr);
    rocksdb::MergeOperator::MergeOperationOutput result(out, existing_operand);
    RC_ASSERT(op->FullMergeV2(in, &result));
    return out;
  };
  const std::vector<rocksdb::Slice> all(operand_bytes.begin(), operand_bytes.end());
  RC_ASSERT(full(all) == encode_element_value(expected));

  const size_t split = *rc::gen::inRange<size_t>(0, operand_bytes.size());
  std::deque<rocksdb::Slice> tail(operand_bytes.begin() + split, operand_bytes.end());
  std::vector<rocksdb::Slice> grouped(operand_bytes.begin(), operand_bytes.begin() + split);
  std::string partial;
  if (!tail.empty()) {
    RC_ASSERT(op->PartialMergeMulti(key_slice, tail, &partial, nullptr));
    grouped.emplace_back(partial);
  }
  RC_ASSERT(full(grouped) == encode_element_value(expected));
}

TEST(BigSetValue, MergeOperatorFailsOnAnElementOperandThatDoesNotDecode) {
  const std::shared_ptr<rocksdb::MergeOperator> op = new_big_set_merge_operator();
  const std::string key = element_key("s", "x");
  const std::string good = encode_element_value({{Dot{1, 1}}, {Dot{1, 1}}});
  const std::string bad = good + "!";
  std::deque<rocksdb::Slice> operands{rocksdb::Slice(good), rocksdb::Slice(bad)};
  std::string out;
  EXPECT_FALSE(op->PartialMergeMulti(rocksdb::Slice(key), operands, &out, nullptr));
}

std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (int v : values) out.push_back(static_cast<char>(v));
  return out;
}

TEST(BigSetValue, DecoderRejectsMalformedValues) {
  // {dots {(1,2)}, context {(1,2),(3,1)}}
  const std::string good = bytes({1, 1, 1, 2, 1, 3, 1});
  ASSERT_TRUE(decode_element_value(good).is_ok());
  EXPECT_EQ(*decode_element_value(good), (ElementState{{Dot{1, 2}}, {Dot{1, 2}, Dot{3, 1}}}));
  for (size_t n = 0; n < good.size(); ++n) {
    EXPECT_EQ(decode_element_value(good.substr(0, n)).status().code(), StatusCode::kCorruption)
        << "prefix of " << n << " bytes";
  }
  const std::vector<std::string> malformed = {
      good + bytes({0}),             // trailing byte
      bytes({2, 0, 0}),              // unknown format
      bytes({1, 0x80, 0x00, 0}),     // overlong count
      bytes({1, 1, 1, 0, 0}),        // counter 0
      bytes({1, 2, 1, 2, 1, 1, 0}),  // dots out of order
      bytes({1, 2, 1, 1, 1, 1, 0}),  // a repeated dot
      bytes({1, 1, 1, 1, 1, 1, 1}),  // a context dot that is also a dot
      bytes({1, 0, 2, 3, 1, 1, 1}),  // context dots out of order
      bytes({1, 0x7f, 1, 1, 0}),     // count past the bytes
      bytes({1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}),  // 2^64-1 dots
      bytes({1, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 1, 0}),  // >64 bits
  };
  for (const std::string& value : malformed) {
    Result<ElementState> decoded = decode_element_value(value);
    EXPECT_EQ(decoded.status().code(), StatusCode::kCorruption) << testing::PrintToString(value);
  }
}

TEST(BigSetValue, ValidateValueDispatchesOnTheKey) {
  const std::string element_value = encode_element_value({{Dot{1, 1}}, {Dot{1, 1}}});
  EXPECT_TRUE(validate_value(element_key("s", "x"), element_value).is_ok());
  const std::string aw_set = crdt::encode(to_aw_set({{Dot{1, 1}}, {Dot{1, 1}}}));
  EXPECT_FALSE(validate_value(element_key("s", "x"), aw_set).is_ok());
  EXPECT_TRUE(validate_value(context_key("s"), aw_set).is_ok());
  EXPECT_FALSE(validate_value(context_key("s"), element_value).is_ok());
  EXPECT_TRUE(validate_value(version_key(), version_value()).is_ok());
  EXPECT_FALSE(validate_value(version_key(), "\x02").is_ok());
}

}  // namespace
}  // namespace meld::storage::big_set_format
