// Counts operations whose completion callbacks have not run yet (commits, usually, whose
// callbacks run on an engine's commit thread) and keeps the first error they reported.
// Thread-safe.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <mutex>

#include "base/status.h"

namespace meld::bench {

class CommitLatch {
 public:
  // One more operation under way.
  void add() {
    std::lock_guard lock(mu_);
    ++pending_;
  }
  // One operation finished with s.
  void done(const Status& s) {
    std::lock_guard lock(mu_);
    --pending_;
    if (!s.is_ok() && error_.is_ok()) error_ = s;
    changed_.notify_all();
  }
  // Waits until fewer than limit operations are under way; the first error so far.
  Status wait_below(size_t limit) {
    std::unique_lock lock(mu_);
    changed_.wait(lock, [&] { return pending_ < limit; });
    return error_;
  }
  // Waits until none is under way.
  Status wait() { return wait_below(1); }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  size_t pending_ = 0;
  Status error_;
};

}  // namespace meld::bench
