#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <thread>

#include "base/bounded_queue.h"
#include "base/hash.h"
#include "base/log.h"
#include "base/rng.h"
#include "base/thread_name.h"
#include "base/varint.h"

namespace meld {
namespace {

TEST(Log, FormatsLogfmtAndQuotesWhereNeeded) {
  std::string line = log::format_line(log::Level::kWarn, "storage.open",
                                      {{"dir", "/tmp/a b"}, {"families", 5}, {"ok", true}});
  EXPECT_NE(line.find(" level=warn event=storage.open dir=\"/tmp/a b\" families=5 ok=true\n"),
            std::string::npos)
      << line;
  EXPECT_EQ(line.rfind("ts=", 0), 0u);
}

TEST(Log, EscapesControlCharactersAndQuotes) {
  std::string line = log::format_line(log::Level::kInfo, "e", {{"v", "a\"b\nc\x01"}});
  EXPECT_NE(line.find("v=\"a\\\"b\\nc\\x01\""), std::string::npos) << line;
}

TEST(Hash, Xxh64IsStableAcrossVersions) {
  // Reference values from the xxHash specification: XXH64("", 0) and XXH64("abc", 0).
  EXPECT_EQ(hash64(""), 0xEF46DB3751D8E999ULL);
  EXPECT_EQ(hash64("abc"), 0x44BC2CF5AD770999ULL);
  EXPECT_NE(hash64("abc", 1), hash64("abc", 0));
}

RC_GTEST_PROP(Rng, UniformStaysBelowBound, (uint64_t seed, uint64_t bound)) {
  RC_PRE(bound > 0u);
  SeededRng rng(seed);
  for (int i = 0; i < 100; ++i) RC_ASSERT(rng.uniform(bound) < bound);
}

RC_GTEST_PROP(Rng, SameSeedSameSequence, (uint64_t seed)) {
  SeededRng a(seed), b(seed);
  for (int i = 0; i < 50; ++i) RC_ASSERT(a.next_u64() == b.next_u64());
}

TEST(Rng, BetweenIsInclusive) {
  SeededRng rng(7);
  bool saw_lo = false, saw_hi = false;
  for (int i = 0; i < 1000; ++i) {
    int64_t v = rng.between(-2, 2);
    ASSERT_GE(v, -2);
    ASSERT_LE(v, 2);
    saw_lo |= v == -2;
    saw_hi |= v == 2;
  }
  EXPECT_TRUE(saw_lo && saw_hi);
}

TEST(BoundedQueue, TryPushFailsWhenFull) {
  BoundedQueue<int> q(2);
  EXPECT_TRUE(q.try_push(1));
  EXPECT_TRUE(q.try_push(2));
  EXPECT_FALSE(q.try_push(3));
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(q.try_pop(), 1);
  EXPECT_TRUE(q.try_push(3));
}

TEST(BoundedQueue, CloseDrainsThenStops) {
  BoundedQueue<int> q(4);
  ASSERT_TRUE(q.try_push(1));
  q.close();
  EXPECT_FALSE(q.try_push(2));
  std::vector<int> out;
  EXPECT_TRUE(q.pop_batch(out, 10));
  EXPECT_EQ(out, std::vector<int>{1});
  EXPECT_FALSE(q.pop_batch(out, 10));
}

TEST(BoundedQueue, BlockingPushWaitsForRoomAndKeepsOrder) {
  BoundedQueue<int> q(3);
  constexpr int kItems = 10000;
  std::thread producer([&] {
    for (int i = 0; i < kItems; ++i) ASSERT_TRUE(q.push(i));
  });
  std::vector<int> got;
  while (got.size() < kItems) {
    ASSERT_LE(q.size(), 3u);
    ASSERT_TRUE(q.pop_batch(got, 2));
  }
  producer.join();
  for (int i = 0; i < kItems; ++i) ASSERT_EQ(got[i], i);
}

RC_GTEST_PROP(Varint, RoundTripsInVarintBytesBytes, (uint64_t v)) {
  std::string out = "x";
  put_varint(v, &out);
  RC_ASSERT(out.size() == 1 + varint_bytes(v));
  size_t pos = 1;
  uint64_t back = 0;
  RC_ASSERT(get_varint(out, &pos, &back));
  RC_ASSERT(back == v);
  RC_ASSERT(pos == out.size());
  // Every shorter prefix is truncated, and a failed read leaves the position alone.
  for (size_t cut = 1; cut < out.size(); ++cut) {
    size_t at = 1;
    RC_ASSERT(!get_varint(std::string_view(out).substr(0, cut), &at, &back));
    RC_ASSERT(at == 1u);
  }
}

TEST(Varint, RefusesMoreThan64BitsAndReadsPaddedForms) {
  uint64_t v = 0;
  size_t pos = 0;
  const std::string max = "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01";
  ASSERT_TRUE(get_varint(max, &pos, &v));
  EXPECT_EQ(v, UINT64_MAX);
  pos = 0;
  EXPECT_FALSE(get_varint("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", &pos, &v));
  EXPECT_FALSE(get_varint(std::string(11, '\x80'), &pos, &v));
  EXPECT_EQ(pos, 0u);
  const std::string padded("\x81\x00", 2);  // 1, in two bytes
  ASSERT_TRUE(get_varint(padded, &pos, &v));
  EXPECT_EQ(v, 1u);
  EXPECT_EQ(pos, 2u);
  EXPECT_EQ(varint_bytes(1), 1u);
  EXPECT_EQ(varint_bytes(0x80), 2u);
  EXPECT_EQ(varint_bytes(UINT64_MAX), 10u);
}

TEST(ThreadName, NamesTheCallingThreadAndCutsLongNames) {
  std::string named;
  std::string cut;
  std::thread([&] {
    set_thread_name("meld-test");
    named = thread_name();
    set_thread_name("meld-a-name-longer-than-fifteen");
    cut = thread_name();
  }).join();
  EXPECT_EQ(named, "meld-test");
  EXPECT_EQ(cut, "meld-a-name-lon");
}

}  // namespace
}  // namespace meld
