// Runs the KJ event loop (Cap'n Proto RPC) on a libuv loop, in the same thread.
//
// libuv owns the thread: main() calls uv_run(). While KJ has work queued, an idle handle runs
// bounded batches of KJ turns from libuv's loop; cross-thread wakes (kj::Executor) arrive as a
// uv_async_t. No lock guards range state: everything runs on this one thread.
//
// The port makes its KJ EventLoop current for the constructing thread (it holds the WaitScope),
// so capnp objects can be created anywhere on that thread after construction. Destroy every
// capnp/KJ object that uses the loop before the port, and call close() and let uv_run() finish
// before destroying it.
//
// Promise::wait() works only from code that is not itself inside a libuv callback (tests and
// start-up): it runs the libuv loop until the promise resolves. Never wait inside a callback.
#pragma once

#include <uv.h>

#include <atomic>

#include <kj/async.h>

namespace meld::net {

class UvEventPort final : public kj::EventPort {
 public:
  // loop is borrowed and must outlive the port.
  explicit UvEventPort(uv_loop_t* loop);
  ~UvEventPort();
  UvEventPort(const UvEventPort&) = delete;
  UvEventPort& operator=(const UvEventPort&) = delete;

  kj::WaitScope& wait_scope() { return wait_scope_; }
  uv_loop_t* uv_loop() const { return loop_; }

  // Closes the libuv handles the port owns; uv_run() then returns once nothing else is open.
  // Must be called, and uv_run() allowed to process the close, before destruction. Idempotent.
  void close();

  // kj::EventPort
  bool wait() override;
  bool poll() override;
  void setRunnable(bool runnable) override;
  void wake() const override;

 private:
  // KJ turns run per idle callback, so a busy KJ queue cannot starve libuv I/O.
  static constexpr uint kTurnsPerCallback = 256;

  static void on_idle(uv_idle_t* handle);
  static void on_async(uv_async_t* handle);

  uv_loop_t* loop_;
  uv_idle_t idle_;
  uv_async_t async_;
  bool closed_ = false;
  bool idle_active_ = false;
  bool in_wait_ = false;  // inside wait(): KJ's own wait loop is turning the queue
  mutable std::atomic<bool> woken_{false};
  kj::EventLoop kj_loop_;
  kj::WaitScope wait_scope_;
};

}  // namespace meld::net
