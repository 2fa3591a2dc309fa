#include "timeseries/bit_stream.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace meld::ts {
namespace {

TEST(BitWriter, PacksMostSignificantBitFirstAcrossBytes) {
  std::string out;
  BitWriter w(&out);
  w.write(0b101, 3);
  w.write(0xABCD, 16);
  w.write(0, 0);
  w.write_bit(true);
  // 101 | 1010101111001101 | 1 -> 1011 0101 | 0111 1001 | 1011 0000
  EXPECT_EQ(out, std::string("\xB5\x79\xB0", 3));
  EXPECT_EQ(w.free_bits(), 4);
}

TEST(BitWriter, ContinuesInTheFreeBitsAnEarlierWriterLeft) {
  std::string out;
  BitWriter first(&out);
  first.write(0b11, 2);
  BitWriter second(&out, first.free_bits());
  second.write(UINT64_MAX, 64);
  ASSERT_EQ(out.size(), 9u);
  EXPECT_EQ(static_cast<uint8_t>(out[0]), 0xFF);
  EXPECT_EQ(static_cast<uint8_t>(out[8]), 0xC0);
  EXPECT_EQ(second.free_bits(), 6);
}

// Law: any sequence of writes of 0..64 bits (higher bits of each value ignored) reads back as the
// same sequence of values.
RC_GTEST_PROP(BitStreamProperty, ReaderReturnsWhatTheWriterWrote, ()) {
  const auto writes = *rc::gen::container<std::vector<std::pair<uint64_t, int>>>(
      rc::gen::pair(rc::gen::arbitrary<uint64_t>(), rc::gen::inRange(0, 65)));
  std::string out;
  BitWriter w(&out);
  size_t total_bits = 0;
  for (const auto& [bits, count] : writes) {
    w.write(bits, count);
    total_bits += static_cast<size_t>(count);
  }
  RC_ASSERT(out.size() == (total_bits + 7) / 8);
  BitReader r(reinterpret_cast<const uint8_t*>(out.data()), out.size());
  for (const auto& [bits, count] : writes) {
    uint64_t got = 0;
    RC_ASSERT(r.read(count, &got));
    const uint64_t want = count == 64 ? bits : bits & ((uint64_t{1} << count) - 1);
    RC_ASSERT(got == want);
  }
  RC_ASSERT(r.remaining_bits() == out.size() * 8 - total_bits);
  // Past the end: refused, and nothing is consumed.
  const size_t left = r.remaining_bits();
  uint64_t past = 0;
  RC_ASSERT(!r.read(static_cast<int>(left) + 1, &past));
  RC_ASSERT(r.remaining_bits() == left);
}

}  // namespace
}  // namespace meld::ts
