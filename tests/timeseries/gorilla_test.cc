#include "timeseries/gorilla.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <bit>
#include <limits>
#include <random>

#include "tests/timeseries/series_helpers.h"

namespace meld::ts {
namespace {

// Appends every sample (asserting success) and returns the decoded chunk.
std::vector<Sample> round_trip(const std::vector<Sample>& in, ChunkLimits limits = {}) {
  GorillaChunk chunk(limits);
  for (const Sample& s : in) {
    const Status st = chunk.append(s);
    EXPECT_TRUE(st.is_ok()) << st.to_string();
  }
  std::vector<Sample> out;
  const Status d = decode_chunk(chunk.bytes(), &out);
  EXPECT_TRUE(d.is_ok()) << d.to_string();
  return out;
}

TEST(GorillaChunk, RegularScrapeRoundTripsInAboutTwoBytesPerSample) {
  std::vector<Sample> in;
  for (int i = 0; i < 120; ++i) in.push_back({1'700'000'000'000 + i * 15'000, 100.0 + (i % 5)});
  GorillaChunk chunk;
  for (const Sample& s : in) ASSERT_TRUE(chunk.append(s).is_ok());
  EXPECT_LT(chunk.bytes().size(), 120u * 2);
  expect_identical(in, round_trip(in));
}

TEST(GorillaChunk, ConstantSeriesCostsAboutTwoBitsPerSample) {
  std::vector<Sample> in;
  for (int i = 0; i < 240; ++i) in.push_back({i * 1000, 1.0});
  GorillaChunk chunk;
  for (const Sample& s : in) ASSERT_TRUE(chunk.append(s).is_ok());
  EXPECT_LE(chunk.bytes().size(), 2u + 16 + 3 + 240 * 2 / 8 + 1);
  expect_identical(in, round_trip(in));
}

TEST(GorillaChunk, NanPayloadsInfinitiesAndNegativeZeroKeepTheirBits) {
  const std::vector<Sample> in = {
      {1, std::bit_cast<double>(uint64_t{0x7ff0000000000002})},  // Prometheus stale marker
      {2, std::numeric_limits<double>::infinity()},
      {3, -std::numeric_limits<double>::infinity()},
      {4, -0.0},
      {5, 0.0},
      {6, std::bit_cast<double>(uint64_t{0xfff8000000000abc})},
      {7, std::numeric_limits<double>::quiet_NaN()}};
  expect_identical(in, round_trip(in));
}

TEST(GorillaChunk, HugeJumpsAndNegativeTimestampsUseTheEscape) {
  const std::vector<Sample> in = {{std::numeric_limits<int64_t>::min(), 1},
                                  {std::numeric_limits<int64_t>::min() + 1, 2},
                                  {-5'000'000'000'000, 3},
                                  {-1, 4},
                                  {0, 5},
                                  {int64_t{1} << 40, 6},
                                  {std::numeric_limits<int64_t>::max(), 7}};
  expect_identical(in, round_trip(in));
}

TEST(GorillaChunk, EveryDeltaOfDeltaBucketBoundaryRoundTrips) {
  std::vector<Sample> in;
  int64_t t = 0;
  int64_t delta = 1'000'000'000'000;
  const int64_t dods[] = {0,
                          -64,
                          63,
                          64,
                          -65,
                          -256,
                          255,
                          256,
                          -257,
                          -2048,
                          2047,
                          2048,
                          -2049,
                          -(int64_t{1} << 31),
                          (int64_t{1} << 31) - 1,
                          int64_t{1} << 31};
  for (const int64_t dod : dods) {
    delta += dod;
    t += delta;
    in.push_back({t, 0.5});
  }
  expect_identical(in, round_trip(in));
}

TEST(GorillaChunk, SingleSampleRoundTrips) {
  expect_identical({{-42, 3.25}}, round_trip({{-42, 3.25}}));
}

TEST(GorillaChunk, FullChunkRefusesMoreSamples) {
  GorillaChunk chunk(ChunkLimits{.samples_max = 10, .bytes_max = 4096});
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(chunk.append({i, 1.0 * i}).is_ok());
  EXPECT_FALSE(chunk.has_room());
  EXPECT_EQ(chunk.append({100, 0}).code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(chunk.sample_count(), 10u);
}

TEST(GorillaChunk, ByteBoundHoldsForRandomValues) {
  // Random bits are the worst case: the chunk must stop before bytes_max, never pass it.
  std::mt19937_64 rng(5);
  GorillaChunk chunk(ChunkLimits{.samples_max = kChunkSamplesMax, .bytes_max = 1024});
  std::vector<Sample> in;
  for (int64_t t = 0; chunk.has_room(); t += 1 + static_cast<int64_t>(rng() >> 20)) {
    in.push_back({t, std::bit_cast<double>(rng())});
    ASSERT_TRUE(chunk.append(in.back()).is_ok());
  }
  EXPECT_LE(chunk.bytes().size(), 1024u);
  std::vector<Sample> out;
  ASSERT_TRUE(decode_chunk(chunk.bytes(), &out).is_ok());
  expect_identical(in, out);
}

TEST(GorillaChunk, MaxSizeChunkRoundTrips) {
  std::mt19937_64 rng(9);
  std::vector<Sample> in;
  for (uint32_t i = 0; i < kChunkSamplesMax; ++i)
    in.push_back({int64_t{i} * 10, (rng() % 1000) / 10.0});
  expect_identical(in, round_trip(in, ChunkLimits{.samples_max = kChunkSamplesMax,
                                                  .bytes_max = kChunkBytesMax}));
}

TEST(GorillaChunk, OutOfOrderAppendIsRejectedAndLeavesTheChunkUnchanged) {
  GorillaChunk chunk;
  ASSERT_TRUE(chunk.append({10, 1}).is_ok());
  const std::string before(chunk.bytes());
  EXPECT_EQ(chunk.append({10, 2}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(chunk.append({9, 2}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(chunk.bytes()), before);
}

TEST(GorillaChunk, MalformedHeadersAreRejected) {
  std::vector<Sample> out;
  EXPECT_EQ(decode_chunk("", &out).code(), StatusCode::kCorruption);
  EXPECT_EQ(decode_chunk(std::string("\xff\xff", 2), &out).code(), StatusCode::kCorruption);
  EXPECT_EQ(decode_chunk(std::string("\x00\x00\x00", 3), &out).code(), StatusCode::kCorruption);
  EXPECT_EQ(decode_chunk(std::string(kChunkBytesMax + 1, '\0'), &out).code(),
            StatusCode::kCorruption);
}

TEST(GorillaChunk, TruncatedChunksAreRejected) {
  GorillaChunk chunk;
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(chunk.append({i * 1000 + i % 7, i * 0.1}).is_ok());
  const std::string bytes(chunk.bytes());
  std::vector<Sample> out;
  for (size_t len = 0; len < bytes.size(); ++len) {
    EXPECT_FALSE(decode_chunk(bytes.substr(0, len), &out).is_ok()) << len;
  }
  EXPECT_FALSE(decode_chunk(bytes + "x", &out).is_ok());
}

RC_GTEST_PROP(GorillaChunkProperty, AppendThenDecodeIsIdentity, ()) {
  const std::vector<Sample> in = *gen_series(kChunkSamplesMax);
  GorillaChunk chunk(ChunkLimits{.samples_max = kChunkSamplesMax, .bytes_max = kChunkBytesMax});
  std::vector<Sample> appended;
  for (const Sample& s : in) {
    if (!chunk.has_room()) break;
    RC_ASSERT(chunk.append(s).is_ok());
    appended.push_back(s);
  }
  std::vector<Sample> out;
  RC_ASSERT(decode_chunk(chunk.bytes(), &out).is_ok());
  RC_ASSERT(first_difference(appended, out) == -1);
}

RC_GTEST_PROP(GorillaChunkProperty, CorruptedChunksFailCleanlyOrDecodeToSomething, ()) {
  const std::vector<Sample> in = *gen_series(240);
  GorillaChunk chunk(ChunkLimits{.samples_max = kChunkSamplesMax, .bytes_max = kChunkBytesMax});
  for (const Sample& s : in) RC_ASSERT(chunk.append(s).is_ok());
  const std::string bytes = corrupt(std::string(chunk.bytes()));
  std::vector<Sample> out;
  check_corrupted_decode(decode_chunk(bytes, &out), out, kChunkSamplesMax);
}

}  // namespace
}  // namespace meld::ts
