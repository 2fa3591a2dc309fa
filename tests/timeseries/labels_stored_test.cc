// Labels::decode_stored: a store's own label encodings, read back with decode()'s structural
// checks but without its character rules.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "timeseries/labels.h"

namespace meld::ts {
namespace {

// The canonical encoding of (name, value) pairs taken as given: order, emptiness and characters
// unchecked, so tests can build what a store never writes.
std::string encode_raw(const std::vector<Label>& labels) {
  std::string out;
  auto put = [&out](std::string_view s) {
    for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>(s.size() >> shift);
    out += s;
  };
  for (const Label& l : labels) {
    put(l.name);
    put(l.value);
  }
  return out;
}

void expect_corruption(const std::string& bytes) {
  auto stored = Labels::decode_stored(bytes);
  ASSERT_FALSE(stored.is_ok());
  EXPECT_EQ(stored.status().code(), StatusCode::kCorruption) << stored.status().to_string();
  EXPECT_FALSE(Labels::decode(bytes).is_ok());
}

TEST(LabelsDecodeStored, RoundTripsWhatEncodeMade) {
  const Labels l =
      Labels::make_series({{"__name__", "up"}, {"host", "é-1"}, {"job", "api"}}).value();
  auto back = Labels::decode_stored(l.encode());
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  EXPECT_EQ(*back, l);
  EXPECT_EQ(Labels::decode_stored("").value(), Labels());
}

TEST(LabelsDecodeStored, RejectsBrokenStructureAsCorruption) {
  const std::string enc = encode_raw({{"a", "1"}, {"b", "2"}});
  for (size_t cut = 1; cut < enc.size(); ++cut) {
    if (cut == 10) continue;  // the boundary after the first label: a valid shorter set
    expect_corruption(enc.substr(0, cut));
  }
  expect_corruption(encode_raw({{"b", "2"}, {"a", "1"}}));  // unsorted
  expect_corruption(encode_raw({{"a", "1"}, {"a", "2"}}));  // a name twice
  expect_corruption(encode_raw({{"a", ""}}));               // empty value
  expect_corruption(encode_raw({{"", "1"}}));               // empty name
  expect_corruption(encode_raw({{std::string(kLabelNameBytesMax + 1, 'n'), "1"}}));
  expect_corruption(encode_raw({{"a", std::string(kLabelValueBytesMax + 1, 'v')}}));
  std::vector<Label> too_many;
  for (uint32_t i = 0; i <= kLabelsMax; ++i)
    too_many.push_back({"l" + std::to_string(100 + i), "1"});
  expect_corruption(encode_raw(too_many));
  // A length past the end of the bytes.
  expect_corruption(
      std::string("\0\0\0\x01"
                  "a\xff\xff\xff\xff",
                  9));
}

TEST(LabelsDecodeStored, LeavesTheCharacterRulesToTheWriter) {
  for (const std::string& bytes : {encode_raw({{"bad-name", "1"}}),           // name syntax
                                   encode_raw({{"__reserved", "1"}}),         // reserved name
                                   encode_raw({{"a", "\xff\xfe"}}),           // not UTF-8
                                   encode_raw({{"__name__", "1metric"}})}) {  // metric name
    EXPECT_EQ(Labels::decode(bytes).status().code(), StatusCode::kCorruption);
    auto stored = Labels::decode_stored(bytes);
    ASSERT_TRUE(stored.is_ok()) << stored.status().to_string();
    EXPECT_EQ(stored->encode(), bytes);
  }
}

// Random bytes, and encodings of random pairs (sorted by name half the time, so that some are
// canonical): decode_stored() never fails where decode() succeeds, agrees with it there, and
// otherwise returns corruption or labels that encode back to the same bytes.
RC_GTEST_PROP(LabelsDecodeStoredProperty, AcceptsWhatDecodeAcceptsAndNeverCrashes,
              (const std::string& bytes, std::vector<std::pair<std::string, std::string>> pairs,
               bool sort)) {
  if (sort) std::sort(pairs.begin(), pairs.end());
  std::vector<Label> labels;
  for (auto& [name, value] : pairs) labels.push_back({name, value});
  for (const std::string& input : {bytes, encode_raw(labels)}) {
    auto checked = Labels::decode(input);
    auto stored = Labels::decode_stored(input);
    if (checked.is_ok()) {
      RC_ASSERT(stored.is_ok());
      RC_ASSERT(*stored == *checked);
    }
    if (stored.is_ok()) {
      RC_ASSERT(stored->encode() == input);
    } else {
      RC_ASSERT(stored.status().code() == StatusCode::kCorruption);
    }
  }
}

}  // namespace
}  // namespace meld::ts
