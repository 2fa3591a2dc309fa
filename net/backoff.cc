#include "net/backoff.h"

#include <algorithm>

namespace meld::net {

Backoff::Backoff(int64_t initial_ms, int64_t max_ms)
    : initial_ms_(initial_ms), max_ms_(max_ms), ceiling_ms_(initial_ms) {
  MELD_ASSERT(initial_ms > 0 && initial_ms <= max_ms, "backoff needs 0 < initial_ms <= max_ms");
}

int64_t Backoff::next_delay_ms(Rng& rng) {
  int64_t delay_ms = rng.between(0, ceiling_ms_);
  ceiling_ms_ = std::min(max_ms_, ceiling_ms_ * 2);
  return delay_ms;
}

}  // namespace meld::net
