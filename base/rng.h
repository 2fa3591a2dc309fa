// Randomness comes in through this interface so that one seed can drive a whole simulation.
#pragma once

#include <cstdint>

#include "base/assert.h"

namespace meld {

class Rng {
 public:
  virtual ~Rng() = default;
  virtual uint64_t next_u64() = 0;

  // Uniform in [0, bound). bound must be > 0. Lemire's multiply-shift rejection method.
  uint64_t uniform(uint64_t bound) {
    MELD_ASSERT(bound > 0, "uniform(0)");
    for (;;) {
      unsigned __int128 m = static_cast<unsigned __int128>(next_u64()) * bound;
      uint64_t low = static_cast<uint64_t>(m);
      if (low >= bound || low >= (-bound) % bound) return static_cast<uint64_t>(m >> 64);
    }
  }
  // Uniform in [lo, hi], inclusive.
  int64_t between(int64_t lo, int64_t hi) {
    MELD_ASSERT(lo <= hi, "between: lo > hi");
    return lo + static_cast<int64_t>(uniform(static_cast<uint64_t>(hi - lo) + 1));
  }
  // Uniform in [0, 1).
  double unit() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
};

// xoshiro256** seeded through splitmix64: fast, small state, deterministic for a seed.
class SeededRng final : public Rng {
 public:
  explicit SeededRng(uint64_t seed);
  uint64_t next_u64() override;

 private:
  uint64_t s_[4];
};

// Seeds from the operating system's entropy source (for node ids, jitter in production).
uint64_t os_random_u64();

}  // namespace meld
