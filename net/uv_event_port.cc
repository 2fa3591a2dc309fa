#include "net/uv_event_port.h"

#include "base/assert.h"

namespace meld::net {

UvEventPort::UvEventPort(uv_loop_t* loop) : loop_(loop), kj_loop_(*this), wait_scope_(kj_loop_) {
  MELD_ASSERT(uv_idle_init(loop_, &idle_) == 0, "uv_idle_init");
  MELD_ASSERT(uv_async_init(loop_, &async_, &UvEventPort::on_async) == 0, "uv_async_init");
  idle_.data = this;
  async_.data = this;
  // The async handle must not keep uv_run() alive on its own: the server decides when the loop
  // ends by closing its listeners and timers.
  uv_unref(reinterpret_cast<uv_handle_t*>(&async_));
}

UvEventPort::~UvEventPort() {
  // The handles live inside this object: libuv must have seen them closed before it goes.
  MELD_ASSERT(closed_, "UvEventPort destroyed before close() and uv_run()");
}

void UvEventPort::close() {
  if (closed_) return;
  closed_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&idle_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
}

bool UvEventPort::wait() {
  in_wait_ = true;
  uv_run(loop_, UV_RUN_ONCE);
  in_wait_ = false;
  return woken_.exchange(false);
}

bool UvEventPort::poll() {
  // Called by KJ from wait_scope_.poll() inside on_async, i.e. from a libuv callback: it must not
  // run the libuv loop, only report whether another thread woke us.
  return woken_.exchange(false);
}

void UvEventPort::setRunnable(bool runnable) {
  if (closed_ || runnable == idle_active_) return;
  idle_active_ = runnable;
  if (runnable) {
    uv_idle_start(&idle_, &UvEventPort::on_idle);
  } else {
    uv_idle_stop(&idle_);
  }
}

void UvEventPort::wake() const {
  woken_.store(true);
  uv_async_send(const_cast<uv_async_t*>(&async_));
}

void UvEventPort::on_idle(uv_idle_t* handle) {
  auto* self = static_cast<UvEventPort*>(handle->data);
  // Inside wait()/poll() the KJ wait loop turns the queue itself; running it here would
  // re-enter the KJ loop.
  if (self->in_wait_) return;
  self->kj_loop_.run(kTurnsPerCallback);
}

void UvEventPort::on_async(uv_async_t* handle) {
  auto* self = static_cast<UvEventPort*>(handle->data);
  if (self->in_wait_) return;  // wait() reports the wake to KJ, which polls the executor
  // Cross-thread events are queued by KJ's executor; polling the wait scope moves them onto the
  // loop's queue without blocking, then the idle handle runs them.
  self->wait_scope_.poll();
}

}  // namespace meld::net
