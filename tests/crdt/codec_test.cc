#include "crdt/codec.h"

#include <gtest/gtest.h>

#include <string>

namespace meld::crdt {
namespace {

AwSet three_elements() {
  AwSet s;
  s.add(Dot{1, 1}, "alpha");
  s.add(Dot{1, 2}, "beta");
  s.add(Dot{1, 3}, "gamma");
  return s;
}

TEST(Codec, RejectsInputOverTheByteLimit) {
  std::string bytes = encode(three_elements());
  EXPECT_EQ(decode<AwSet>(bytes, DecodeLimits{.max_bytes = bytes.size() - 8}).status().code(),
            StatusCode::kResourceExhausted);
}

TEST(Codec, RejectsMoreEntriesThanTheLimit) {
  std::string bytes = encode(three_elements());
  EXPECT_TRUE(decode<AwSet>(bytes, DecodeLimits{.max_entries = 7}).is_ok());
  EXPECT_EQ(decode<AwSet>(bytes, DecodeLimits{.max_entries = 6}).status().code(),
            StatusCode::kResourceExhausted);
}

TEST(Codec, RejectsElementsOverTheBlobLimit) {
  std::string bytes = encode(three_elements());
  EXPECT_EQ(decode<AwSet>(bytes, DecodeLimits{.max_blob_bytes = 4}).status().code(),
            StatusCode::kResourceExhausted);
}

TEST(Codec, RejectsAnotherKind) {
  EXPECT_EQ(decode<RwSet>(encode(three_elements())).status().code(), StatusCode::kInvalidArgument);
}

TEST(Codec, RejectsTrailingAndPartialWords) {
  std::string bytes = encode(three_elements());
  EXPECT_EQ(decode<AwSet>(bytes + std::string(8, '\0')).status().code(), StatusCode::kCorruption);
  EXPECT_EQ(decode<AwSet>(bytes.substr(0, bytes.size() - 3)).status().code(),
            StatusCode::kCorruption);
  EXPECT_EQ(decode<AwSet>("").status().code(), StatusCode::kCorruption);
}

TEST(Codec, AcceptsUnalignedInput) {
  std::string bytes = " " + encode(three_elements());
  auto decoded = decode<AwSet>(std::string_view(bytes).substr(1));
  ASSERT_TRUE(decoded.is_ok());
  EXPECT_EQ(*decoded, three_elements());
}

TEST(Codec, GCounterAndPnCounterAreDistinctKinds) {
  PnCounter c;
  c.increment(Dot{1, 1}, -3);
  EXPECT_EQ(decode<GCounter>(encode(c)).status().code(), StatusCode::kInvalidArgument);
  auto value = decode<Value>(encode(c));
  ASSERT_TRUE(value.is_ok());
  EXPECT_EQ(value->kind(), Kind::kPnCounter);
  EXPECT_EQ(value->get<PnCounter>()->value(), -3);
}

}  // namespace
}  // namespace meld::crdt
