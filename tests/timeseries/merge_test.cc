// Out-of-order merge: late samples fold into a sorted run, duplicates resolve by value bits.
#include "timeseries/merge.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "tests/timeseries/series_helpers.h"

namespace meld::ts {
namespace {

constexpr double kStaleNaN = std::bit_cast<double>(uint64_t{0x7ff0000000000002});

TEST(Merge, LateSamplesInterleaveWithTheRun) {
  const std::vector<Sample> run{{10, 1}, {20, 2}, {40, 4}};
  expect_identical({{5, 0}, {10, 1}, {20, 2}, {30, 3}, {40, 4}, {50, 5}},
                   merge_samples(run, {{50, 5}, {30, 3}, {5, 0}}));
}

TEST(Merge, DuplicateTimestampKeepsTheLargerValueBits) {
  const std::vector<Sample> run{{10, 1.0}, {20, 2.0}};
  // 3.0 has larger bits than 1.0; -1.0 has the sign bit set and beats both.
  expect_identical({{10, 3.0}, {20, -1.0}}, merge_samples(run, {{20, -1.0}, {10, 3.0}, {10, 0.5}}));
  EXPECT_TRUE(duplicate_wins(-0.0, 0.0));
  EXPECT_TRUE(duplicate_wins(kStaleNaN, std::numeric_limits<double>::infinity()));
  EXPECT_TRUE(duplicate_wins(kStaleNaN, 1e300));
  EXPECT_FALSE(duplicate_wins(kStaleNaN, -1.0));
}

TEST(Merge, StaleMarkerWinsOverAPositiveSampleWhateverTheOrder) {
  const std::vector<Sample> a = merge_samples(std::vector<Sample>{{10, 7.0}}, {{10, kStaleNaN}});
  const std::vector<Sample> b = merge_samples(std::vector<Sample>{{10, kStaleNaN}}, {{10, 7.0}});
  expect_identical(a, b);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(std::bit_cast<uint64_t>(a[0].value), 0x7ff0000000000002u);
}

// Timestamps from a small range so that duplicates are frequent, values from a few bit patterns
// including NaN payloads and signed zeros.
rc::Gen<std::vector<Sample>> gen_colliding_samples() {
  return rc::gen::container<std::vector<Sample>>(rc::gen::construct<Sample>(
      rc::gen::inRange<int64_t>(-20, 20),
      rc::gen::oneOf(rc::gen::element(0.0, -0.0, 1.0, -1.0, kStaleNaN,
                                      std::numeric_limits<double>::quiet_NaN(),
                                      std::numeric_limits<double>::infinity()),
                     rc::gen::map(rc::gen::arbitrary<uint64_t>(),
                                  [](uint64_t b) { return std::bit_cast<double>(b); }))));
}

RC_GTEST_PROP(MergeProperty, InsertingInAnyOrderEqualsSortingWithTheRule, ()) {
  std::vector<Sample> all = *gen_colliding_samples();
  std::vector<Sample> expected = all;
  sort_and_resolve(&expected);
  for (size_t i = 1; i < expected.size(); ++i) {
    RC_ASSERT(expected[i - 1].timestamp_ms < expected[i].timestamp_ms);
  }
  // Insert the same samples one batch at a time, in a shuffled order with random batch sizes.
  std::vector<Sample> shuffled = all;
  std::mt19937 rng(*rc::gen::arbitrary<uint32_t>());
  std::shuffle(shuffled.begin(), shuffled.end(), rng);
  std::vector<Sample> run;
  size_t i = 0;
  while (i < shuffled.size()) {
    const auto batch = *rc::gen::inRange<size_t>(1, shuffled.size() - i + 1);
    run = merge_samples(run, {shuffled.begin() + i, shuffled.begin() + i + batch});
    i += batch;
  }
  RC_ASSERT(first_difference(expected, run) == -1);
}

RC_GTEST_PROP(MergeProperty, MergeIsIdempotent, ()) {
  std::vector<Sample> run = *gen_colliding_samples();
  sort_and_resolve(&run);
  RC_ASSERT(first_difference(run, merge_samples(run, run)) == -1);
}

}  // namespace
}  // namespace meld::ts
