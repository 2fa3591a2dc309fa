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

// A clock that tests advance by hand.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t start_ms = 0) : mono_ms_(start_ms), wall_ms_(start_ms) {}
  int64_t monotonic_ms() const override { return mono_ms_; }
  int64_t wall_ms() const override { return wall_ms_; }
  void advance_ms(int64_t d) {
    mono_ms_ += d;
    wall_ms_ += d;
  }
  void set_wall_ms(int64_t w) { wall_ms_ = w; }

 private:
  int64_t mono_ms_;
  int64_t wall_ms_;
};

}  // namespace meld
