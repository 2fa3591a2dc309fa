// meld::bench::percentile, the quantile every benchmark reports latencies with.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "bench/bench.h"

namespace meld::bench {
namespace {

TEST(Percentile, IsTheNearestRankOfTheSortedValues) {
  const std::vector<double> values = {9, 1, 8, 2, 7, 3, 6, 4, 5, 10};  // 1..10, unsorted
  EXPECT_EQ(percentile(values, 0.0), 1);
  EXPECT_EQ(percentile(values, 0.5), 6);    // index floor(0.5 * 10) = 5
  EXPECT_EQ(percentile(values, 0.99), 10);  // index floor(9.9) = 9
  EXPECT_EQ(percentile(values, 0.25), 3);   // index floor(2.5) = 2
}

TEST(Percentile, OneIsTheLargestValue) {
  EXPECT_EQ(percentile(std::vector<uint64_t>{3, 30, 300}, 1.0), 300u);
}

TEST(Percentile, OfNoValuesIsZero) {
  EXPECT_EQ(percentile(std::vector<int64_t>{}, 0.5), 0);
}

TEST(Percentile, LeavesTheCallersValuesAlone) {
  const std::vector<int64_t> values = {5, 4, 3, 2, 1};
  EXPECT_EQ(percentile(values, 0.5), 3);
  EXPECT_EQ(values, (std::vector<int64_t>{5, 4, 3, 2, 1}));
}

TEST(Percentile, CountsRepeatedValuesByRank) {
  EXPECT_EQ(percentile(std::vector<int>{7, 1, 7, 7}, 0.25), 7);  // sorted 1 7 7 7, index 1
  EXPECT_EQ(percentile(std::vector<int>{7, 1, 7, 7}, 0.2), 1);   // index floor(0.8) = 0
}

}  // namespace
}  // namespace meld::bench
