// Series generators and comparisons shared by the timeseries tests.
#pragma once

#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <set>
#include <vector>

#include "timeseries/sample.h"

namespace meld::ts {

// Index of the first sample that differs (or of the first missing one), -1 if identical.
inline int64_t first_difference(const std::vector<Sample>& a, const std::vector<Sample>& b) {
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    if (!identical(a[i], b[i])) return static_cast<int64_t>(i);
  }
  return a.size() == b.size() ? -1 : static_cast<int64_t>(n);
}

inline void expect_identical(const std::vector<Sample>& expected, const std::vector<Sample>& got) {
  const int64_t i = first_difference(expected, got);
  EXPECT_EQ(i, -1) << "sizes " << expected.size() << " / " << got.size();
}

// Arbitrary series of 1..max_samples samples: strictly increasing timestamps drawn from several
// shapes (regular with jitter, arbitrary int64) and values from several shapes (arbitrary bits,
// decimals, a few repeated values), so every codec path is exercised.
inline rc::Gen<std::vector<Sample>> gen_series(uint32_t max_samples) {
  return rc::gen::exec([max_samples] {
    const auto n = *rc::gen::inRange<uint32_t>(1, std::min<uint32_t>(max_samples, 600) + 1);
    std::set<int64_t> stamps;
    const int ts_shape = *rc::gen::inRange(0, 3);
    const int64_t start = *rc::gen::arbitrary<int64_t>() / 2;
    const auto interval = *rc::gen::inRange<int64_t>(1, 100'000);
    for (uint32_t i = 0; stamps.size() < n && i < 4 * n; ++i) {
      if (ts_shape == 0) {
        stamps.insert(start + interval * i + *rc::gen::inRange<int64_t>(0, interval / 4 + 1));
      } else if (ts_shape == 1) {
        stamps.insert(*rc::gen::arbitrary<int64_t>());
      } else {
        stamps.insert(start + interval * i);
      }
    }
    const int value_shape = *rc::gen::inRange(0, 3);
    const auto palette = *rc::gen::nonEmpty<std::vector<uint64_t>>();
    std::vector<Sample> series;
    for (const int64_t t : stamps) {
      double v = 0;
      if (value_shape == 0) {
        v = std::bit_cast<double>(*rc::gen::arbitrary<uint64_t>());
      } else if (value_shape == 1) {
        v = static_cast<double>(*rc::gen::inRange<int64_t>(-1'000'000, 1'000'000)) / 100;
      } else {
        v = std::bit_cast<double>(palette[*rc::gen::inRange<size_t>(0, palette.size())]);
      }
      series.push_back({t, v});
    }
    return series;
  });
}

}  // namespace meld::ts
