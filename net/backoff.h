// Reconnect delays: exponential backoff with full jitter (the delay is uniform in
// [0, min(max, initial * 2^attempt)]), so peers that lost a node together do not redial it in
// lockstep. Pure: randomness comes from a borrowed Rng.
#pragma once

#include <cstdint>

#include "base/rng.h"

namespace meld::net {

class Backoff {
 public:
  // Requires 0 < initial_ms <= max_ms.
  Backoff(int64_t initial_ms, int64_t max_ms);

  // Delay before the next attempt; each call doubles the ceiling up to max_ms.
  int64_t next_delay_ms(Rng& rng);
  // After a success: the next delay starts from initial_ms again.
  void reset() { ceiling_ms_ = initial_ms_; }

 private:
  int64_t initial_ms_;
  int64_t max_ms_;
  int64_t ceiling_ms_;
};

}  // namespace meld::net
