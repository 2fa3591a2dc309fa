// Time comes in through this interface so that the simulator can drive it (FoundationDB's rule).
#pragma once

#include <cstdint>

namespace meld {

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic milliseconds since an arbitrary origin; never goes backwards.
  virtual int64_t monotonic_ms() const = 0;
  // Wall-clock milliseconds since the Unix epoch; may jump.
  virtual int64_t wall_ms() const = 0;
};

// The operating system's clocks. Stateless: one instance may be shared.
class SystemClock final : public Clock {
 public:
  int64_t monotonic_ms() const override;
  int64_t wall_ms() const override;
};

}  // namespace meld
