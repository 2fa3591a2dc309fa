// A CompletionExecutor that holds the engine's callbacks until the test runs them, so writes stay
// in flight (committed or not, their callbacks not yet run) for as long as a test wants.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <utility>

#include "storage/engine.h"

namespace meld::storage::testing {

class HeldExecutor final : public CompletionExecutor {
 public:
  void post(std::function<void()> fn) override {
    std::lock_guard lock(mu_);
    held_.push_back(std::move(fn));
    posted_.notify_all();
  }
  // Runs held callbacks, waiting for more, until done() holds. On the test's thread.
  void run_until(const std::function<bool()>& done) {
    while (!done()) {
      std::unique_lock lock(mu_);
      posted_.wait_for(lock, std::chrono::milliseconds(10), [this] { return !held_.empty(); });
      std::deque<std::function<void()>> ready;
      ready.swap(held_);
      lock.unlock();
      for (auto& fn : ready) fn();
    }
  }

 private:
  std::mutex mu_;
  std::condition_variable posted_;
  std::deque<std::function<void()>> held_;
};

}  // namespace meld::storage::testing
