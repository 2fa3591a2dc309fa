// A time-series sample and the bit-exact comparison the codecs promise.
#pragma once

#include <bit>
#include <cstdint>

namespace meld::ts {

// One point of a series: a timestamp in milliseconds since the Unix epoch (any int64, negative
// included) and a float64 value (any bits: NaN payloads, -0.0 and infinities are kept exactly).
struct Sample {
  int64_t timestamp_ms = 0;
  double value = 0;
};

// True when both samples have the same timestamp and the same value bits (so NaN == NaN when the
// payloads match, and 0.0 != -0.0).
inline bool identical(const Sample& a, const Sample& b) {
  return a.timestamp_ms == b.timestamp_ms &&
         std::bit_cast<uint64_t>(a.value) == std::bit_cast<uint64_t>(b.value);
}

}  // namespace meld::ts
