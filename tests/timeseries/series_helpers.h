// Series generators and comparisons shared by the timeseries tests.
#pragma once

#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "base/status.h"
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

// Inside a rapidcheck property: flips arbitrary bits of an encoding and cuts it at an arbitrary
// length.
inline std::string corrupt(std::string bytes) {
  const auto flips = *rc::gen::container<std::vector<std::pair<size_t, uint8_t>>>(
      rc::gen::pair(rc::gen::arbitrary<size_t>(), rc::gen::inRange<uint8_t>(1, 255)));
  for (const auto& [pos, mask] : flips) bytes[pos % bytes.size()] ^= static_cast<char>(mask);
  bytes.resize(*rc::gen::inRange<size_t>(0, bytes.size() + 1));
  return bytes;
}

// What a decoder may make of corrupted input: a corruption error, or at most max_samples samples
// in strictly increasing time order.
inline void check_corrupted_decode(const Status& s, const std::vector<Sample>& out,
                                   size_t max_samples) {
  if (!s.is_ok()) {
    RC_ASSERT(s.code() == StatusCode::kCorruption);
    return;
  }
  RC_ASSERT(out.size() <= max_samples);
  for (size_t i = 1; i < out.size(); ++i) RC_ASSERT(out[i].timestamp_ms > out[i - 1].timestamp_ms);
}

}  // namespace meld::ts
