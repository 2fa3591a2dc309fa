#include "timeseries/sealed_block.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <random>

#include "tests/timeseries/series_helpers.h"

namespace meld::ts {
namespace {

std::vector<Sample> round_trip(const std::vector<Sample>& in) {
  BlockEncoder encoder;
  BlockDecoder decoder;
  std::string block;
  const Status s = encoder.encode(in, &block);
  EXPECT_TRUE(s.is_ok()) << s.to_string();
  std::vector<Sample> out;
  const Status d = decoder.decode(block, &out);
  EXPECT_TRUE(d.is_ok()) << d.to_string();
  return out;
}

TEST(SealedBlock, RegularDecimalSeriesRoundTrips) {
  std::vector<Sample> in;
  for (int i = 0; i < 1000; ++i) in.push_back({1'700'000'000'000 + i * 10'000, 0.25 * i + 3.1});
  expect_identical(in, round_trip(in));
}

TEST(SealedBlock, ConstantSeriesRoundTripsInAFewBytes) {
  std::vector<Sample> in;
  for (int i = 0; i < 4096; ++i) in.push_back({i * 1000, 42.5});
  BlockEncoder encoder;
  std::string block;
  ASSERT_TRUE(encoder.encode(in, &block).is_ok());
  EXPECT_LT(block.size(), 40u);
  expect_identical(in, round_trip(in));
}

TEST(SealedBlock, RandomBitsRoundTrip) {
  std::mt19937_64 rng(7);
  std::vector<Sample> in;
  int64_t t = -5'000'000;
  for (int i = 0; i < 3000; ++i) {
    t += 1 + static_cast<int64_t>(rng() % 100'000);
    in.push_back({t, std::bit_cast<double>(rng())});
  }
  expect_identical(in, round_trip(in));
}

TEST(SealedBlock, NanPayloadsInfinitiesAndNegativeZeroKeepTheirBits) {
  const double nan_payload = std::bit_cast<double>(uint64_t{0x7ff0000000000002});
  const double negative_nan = std::bit_cast<double>(uint64_t{0xfff8000000000123});
  std::vector<Sample> in;
  for (int i = 0; i < 200; ++i) {
    double v = 1.5 * i;
    if (i % 17 == 3) v = nan_payload;
    if (i % 23 == 5) v = std::numeric_limits<double>::infinity();
    if (i % 29 == 7) v = -std::numeric_limits<double>::infinity();
    if (i % 31 == 11) v = -0.0;
    if (i == 199) v = negative_nan;
    in.push_back({i * 15'000, v});
  }
  expect_identical(in, round_trip(in));
}

TEST(SealedBlock, HugeTimestampJumpsAndExtremesRoundTrip) {
  std::vector<Sample> in = {{std::numeric_limits<int64_t>::min(), 1.0},
                            {-1, 2.0},
                            {0, 3.0},
                            {1, 4.0},
                            {std::numeric_limits<int64_t>::max() - 1, 5.0},
                            {std::numeric_limits<int64_t>::max(), 6.0}};
  expect_identical(in, round_trip(in));
}

TEST(SealedBlock, SingleSampleRoundTrips) {
  std::vector<Sample> in = {{-123'456, -7.25}};
  expect_identical(in, round_trip(in));
}

TEST(SealedBlock, MaxSizeBlockRoundTripsAndOneMoreIsRejected) {
  std::mt19937_64 rng(3);
  std::vector<Sample> in;
  for (uint32_t i = 0; i < kBlockSamplesMax; ++i) {
    in.push_back({int64_t{i} * 1000 + static_cast<int64_t>(rng() % 7), (rng() % 100000) / 100.0});
  }
  expect_identical(in, round_trip(in));
  in.push_back({in.back().timestamp_ms + 1, 0});
  BlockEncoder encoder;
  std::string block;
  EXPECT_EQ(encoder.encode(in, &block).code(), StatusCode::kInvalidArgument);
}

TEST(SealedBlock, UnsortedOrEmptyInputIsRejected) {
  BlockEncoder encoder;
  std::string block;
  EXPECT_EQ(encoder.encode({}, &block).code(), StatusCode::kInvalidArgument);
  std::vector<Sample> dup = {{5, 1.0}, {5, 2.0}};
  EXPECT_EQ(encoder.encode(dup, &block).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(block.empty());
}

TEST(SealedBlock, TwoDecimalRandomWalkStaysNearItsEntropy) {
  // Gaussian steps with sigma 1.0 stored with two decimals: about 8.7 bits per value at best.
  std::mt19937_64 rng(11);
  std::normal_distribution<double> step(0.0, 1.0);
  std::vector<Sample> in;
  double walk = 50;
  for (int i = 0; i < 8192; ++i) {
    walk += step(rng);
    in.push_back({i * 10'000, std::round(walk * 100) / 100});
  }
  BlockEncoder encoder;
  std::string block;
  ASSERT_TRUE(encoder.encode(in, &block).is_ok());
  EXPECT_LT(block.size() * 8.0 / in.size(), 9.5);
  expect_identical(in, round_trip(in));
}

TEST(SealedBlock, FloatsOneRoundingFromADecimalStayCompact) {
  // Counters exported as microseconds / 1000 / 1000 or microseconds * 1e-6 are often one ulp
  // away from the decimal they print as; they must neither become exceptions nor lose a bit.
  std::mt19937_64 rng(13);
  for (const bool multiply : {false, true}) {
    std::vector<Sample> in;
    int64_t micros = 3'534'162;
    for (int i = 0; i < 2000; ++i) {
      micros += static_cast<int64_t>(rng() % 20'000);
      const double v =
          multiply ? static_cast<double>(micros) * 1e-6 : static_cast<double>(micros) / 1000 / 1000;
      in.push_back({i * 1000, v});
    }
    BlockEncoder encoder;
    std::string block;
    ASSERT_TRUE(encoder.encode(in, &block).is_ok());
    EXPECT_LT(block.size(), in.size() * 3) << "multiply " << multiply;
    expect_identical(in, round_trip(in));
  }
}

TEST(SealedBlock, SmoothNonDecimalFloatsBeatRawBits) {
  // Seconds since the epoch with sub-microsecond noise: no decimal fits, the ordered-bits
  // integer path must still pack them well under 8 bytes.
  std::mt19937_64 rng(17);
  std::vector<Sample> in;
  for (int i = 0; i < 2000; ++i) {
    const double v = 1795313566.0 + i + static_cast<double>(rng() % 10'000'000) * 1.234567e-9;
    in.push_back({i * 1000, v});
  }
  BlockEncoder encoder;
  std::string block;
  ASSERT_TRUE(encoder.encode(in, &block).is_ok());
  EXPECT_LT(block.size(), in.size() * 5);
  expect_identical(in, round_trip(in));
}

TEST(SealedBlock, TruncatedBlocksAreRejected) {
  std::vector<Sample> in;
  for (int i = 0; i < 500; ++i) in.push_back({i * 1000 + (i % 3), 0.01 * (i * i % 97)});
  BlockEncoder encoder;
  std::string block;
  ASSERT_TRUE(encoder.encode(in, &block).is_ok());
  BlockDecoder decoder;
  std::vector<Sample> out;
  for (size_t len = 0; len < block.size(); ++len) {
    EXPECT_FALSE(decoder.decode(std::string_view(block).substr(0, len), &out).is_ok()) << len;
  }
  EXPECT_FALSE(decoder.decode(block + "x", &out).is_ok());
}

RC_GTEST_PROP(SealedBlockProperty, EncodeThenDecodeIsIdentity, ()) {
  const std::vector<Sample> in = *gen_series(kBlockSamplesMax);
  BlockEncoder encoder;
  BlockDecoder decoder;
  std::string block;
  RC_ASSERT(encoder.encode(in, &block).is_ok());
  std::vector<Sample> out;
  RC_ASSERT(decoder.decode(block, &out).is_ok());
  RC_ASSERT(first_difference(in, out) == -1);
}

RC_GTEST_PROP(SealedBlockProperty, CorruptedBlocksFailCleanlyOrDecodeToSomething, ()) {
  const std::vector<Sample> in = *gen_series(2000);
  BlockEncoder encoder;
  std::string block;
  RC_ASSERT(encoder.encode(in, &block).is_ok());
  block = corrupt(std::move(block));
  BlockDecoder decoder;
  std::vector<Sample> out;
  const Status s = decoder.decode(block, &out);
  if (s.is_ok()) RC_ASSERT(!out.empty());
  check_corrupted_decode(s, out, kBlockSamplesMax);
}

}  // namespace
}  // namespace meld::ts
