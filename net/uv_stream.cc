#include "net/uv_stream.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include <kj/debug.h>

#include "base/assert.h"
#include "net/address.h"

namespace meld::net {
namespace {

kj::Exception disconnected(const char* what, int uv_error) {
  return KJ_EXCEPTION(DISCONNECTED, what, uv_strerror(uv_error));
}

uv_stream_t* as_stream(uv_tcp_t* tcp) {
  return reinterpret_cast<uv_stream_t*>(tcp);
}

void close_and_free(uv_tcp_t* tcp) {
  uv_close(reinterpret_cast<uv_handle_t*>(tcp),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
}

struct WriteRequest {
  uv_write_t req;
  std::string data;  // owned copy: stays valid even if the caller drops the promise
  kj::Own<kj::PromiseFulfiller<void>> fulfiller;
};

struct ConnectRequest {
  uv_connect_t req;
  uv_tcp_t* tcp;
  std::string address;
  kj::Own<kj::PromiseFulfiller<kj::Own<kj::AsyncIoStream>>> fulfiller;
};

}  // namespace

UvTcpStream::UvTcpStream(uv_tcp_t* handle)
    : UvTcpStream(handle, kj::newPromiseAndFulfiller<void>()) {}

UvTcpStream::UvTcpStream(uv_tcp_t* handle, kj::PromiseFulfillerPair<void> disconnected)
    : handle_(handle),
      disconnected_(disconnected.promise.fork()),
      disconnected_fulfiller_(kj::mv(disconnected.fulfiller)) {
  handle_->data = this;
  uv_tcp_nodelay(handle_, 1);
}

UvTcpStream::~UvTcpStream() {
  uv_read_stop(as_stream(handle_));
  handle_->data = nullptr;  // callbacks still queued (cancelled writes) must not reach us
  close_and_free(handle_);
}

kj::Promise<kj::Own<kj::AsyncIoStream>> UvTcpStream::connect(uv_loop_t* loop,
                                                             const std::string& host_port) {
  auto addr = parse_address(host_port);
  if (!addr.is_ok()) {
    return KJ_EXCEPTION(DISCONNECTED, addr.status().message());
  }
  auto* tcp = new uv_tcp_t;
  MELD_ASSERT(uv_tcp_init(loop, tcp) == 0, "uv_tcp_init");
  auto paf = kj::newPromiseAndFulfiller<kj::Own<kj::AsyncIoStream>>();
  auto* req = new ConnectRequest{{}, tcp, host_port, kj::mv(paf.fulfiller)};
  int rc = uv_tcp_connect(&req->req, tcp, addr->get(), [](uv_connect_t* r, int status) {
    auto* cr = reinterpret_cast<ConnectRequest*>(r);
    if (status < 0) {
      cr->fulfiller->reject(
          KJ_EXCEPTION(DISCONNECTED, "connect failed", cr->address, uv_strerror(status)));
      close_and_free(cr->tcp);
    } else {
      cr->fulfiller->fulfill(kj::heap<UvTcpStream>(cr->tcp));
    }
    delete cr;
  });
  if (rc != 0) {
    delete req;
    close_and_free(tcp);
    return KJ_EXCEPTION(DISCONNECTED, "connect failed", host_port, uv_strerror(rc));
  }
  return kj::mv(paf.promise);
}

kj::Promise<size_t> UvTcpStream::tryRead(void* buffer, size_t min_bytes, size_t max_bytes) {
  KJ_REQUIRE(pending_read_ == nullptr, "concurrent tryRead() on one stream");
  auto* out = static_cast<kj::byte*>(buffer);
  size_t filled = 0;
  if (leftover_pos_ < leftover_.size()) {
    filled = std::min(max_bytes, leftover_.size() - leftover_pos_);
    std::memcpy(out, leftover_.data() + leftover_pos_, filled);
    leftover_pos_ += filled;
    if (leftover_pos_ == leftover_.size()) {
      leftover_.clear();
      leftover_pos_ = 0;
    }
  }
  if (filled >= min_bytes || eof_) return filled;
  if (error_ != 0) {
    if (filled > 0) return filled;
    return disconnected("read failed", error_);
  }
  auto paf = kj::newPromiseAndFulfiller<size_t>();
  pending_read_ = PendingRead{out, min_bytes, max_bytes, filled, kj::mv(paf.fulfiller)};
  int rc = uv_read_start(as_stream(handle_), &UvTcpStream::on_alloc, &UvTcpStream::on_read);
  if (rc != 0) fail(rc);
  // If the caller drops the promise, forget its buffer and stop reading.
  return paf.promise.attach(kj::defer([this]() {
    if (pending_read_ != nullptr) {
      pending_read_ = nullptr;
      uv_read_stop(as_stream(handle_));
    }
  }));
}

void UvTcpStream::on_alloc(uv_handle_t* handle, size_t, uv_buf_t* buf) {
  auto* self = static_cast<UvTcpStream*>(handle->data);
  *buf = uv_buf_init(self->read_chunk_, sizeof self->read_chunk_);
}

void UvTcpStream::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<UvTcpStream*>(stream->data);
  if (self == nullptr || nread == 0) return;
  if (nread == UV_EOF) {
    self->eof_ = true;
    self->finish_read();
    return;
  }
  if (nread < 0) {
    self->fail(static_cast<int>(nread));
    return;
  }
  const char* p = buf->base;
  size_t n = static_cast<size_t>(nread);
  KJ_IF_MAYBE (r, self->pending_read_) {
    size_t take = std::min(n, r->max_bytes - r->filled);
    std::memcpy(r->buffer + r->filled, p, take);
    r->filled += take;
    p += take;
    n -= take;
  }
  if (n > 0) {
    self->leftover_.erase(0, self->leftover_pos_);
    self->leftover_pos_ = 0;
    self->leftover_.append(p, n);
  }
  KJ_IF_MAYBE (r, self->pending_read_) {
    if (r->filled >= r->min_bytes) self->finish_read();
  } else {
    uv_read_stop(stream);
  }
}

void UvTcpStream::finish_read() {
  uv_read_stop(as_stream(handle_));
  KJ_IF_MAYBE (r, pending_read_) {
    auto fulfiller = kj::mv(r->fulfiller);
    size_t filled = r->filled;
    pending_read_ = nullptr;
    fulfiller->fulfill(kj::cp(filled));
  }
}

void UvTcpStream::fail(int uv_error) {
  bool first = error_ == 0;
  if (first) error_ = uv_error;
  uv_read_stop(as_stream(handle_));
  KJ_IF_MAYBE (r, pending_read_) {
    auto fulfiller = kj::mv(r->fulfiller);
    size_t filled = r->filled;
    pending_read_ = nullptr;
    if (filled > 0) {
      fulfiller->fulfill(kj::cp(filled));
    } else {
      fulfiller->reject(disconnected("read failed", uv_error));
    }
  }
  if (first) disconnected_fulfiller_->fulfill();
}

kj::Promise<void> UvTcpStream::write(const void* buffer, size_t size) {
  kj::ArrayPtr<const kj::byte> piece(static_cast<const kj::byte*>(buffer), size);
  return write(kj::arrayPtr(&piece, 1));
}

kj::Promise<void> UvTcpStream::write(kj::ArrayPtr<const kj::ArrayPtr<const kj::byte>> pieces) {
  if (error_ != 0) return disconnected("write failed", error_);
  std::vector<uv_buf_t> bufs;
  bufs.reserve(pieces.size());
  size_t total = 0;
  for (auto& piece : pieces) {
    if (piece.size() == 0) continue;
    bufs.push_back(uv_buf_init(const_cast<char*>(reinterpret_cast<const char*>(piece.begin())),
                               static_cast<unsigned>(piece.size())));
    total += piece.size();
  }
  if (total == 0) return kj::READY_NOW;
  // uv_try_write refuses (UV_EAGAIN) while earlier uv_writes are queued, so order is kept.
  int n = uv_try_write(as_stream(handle_), bufs.data(), static_cast<unsigned>(bufs.size()));
  if (n < 0 && n != UV_EAGAIN) {
    fail(n);
    return disconnected("write failed", n);
  }
  size_t written = n > 0 ? static_cast<size_t>(n) : 0;
  if (written == total) return kj::READY_NOW;

  auto paf = kj::newPromiseAndFulfiller<void>();
  auto* req = new WriteRequest{{}, {}, kj::mv(paf.fulfiller)};
  req->data.reserve(total - written);
  size_t skip = written;
  for (auto& piece : pieces) {
    if (skip >= piece.size()) {
      skip -= piece.size();
      continue;
    }
    req->data.append(reinterpret_cast<const char*>(piece.begin()) + skip, piece.size() - skip);
    skip = 0;
  }
  uv_buf_t rest = uv_buf_init(req->data.data(), static_cast<unsigned>(req->data.size()));
  int rc = uv_write(&req->req, as_stream(handle_), &rest, 1, [](uv_write_t* w, int status) {
    auto* wr = reinterpret_cast<WriteRequest*>(w);
    if (status < 0) {
      if (auto* self = static_cast<UvTcpStream*>(w->handle->data)) self->fail(status);
      wr->fulfiller->reject(disconnected("write failed", status));
    } else {
      wr->fulfiller->fulfill();
    }
    delete wr;
  });
  if (rc != 0) {
    delete req;
    fail(rc);
    return disconnected("write failed", rc);
  }
  return kj::mv(paf.promise);
}

kj::Promise<void> UvTcpStream::whenWriteDisconnected() {
  return disconnected_.addBranch();
}

void UvTcpStream::shutdownWrite() {
  auto* req = new uv_shutdown_t;
  if (uv_shutdown(req, as_stream(handle_), [](uv_shutdown_t* r, int) { delete r; }) != 0) {
    delete req;
  }
}

void UvTcpStream::abortRead() {
  uv_read_stop(as_stream(handle_));
  KJ_IF_MAYBE (r, pending_read_) {
    auto fulfiller = kj::mv(r->fulfiller);
    pending_read_ = nullptr;
    fulfiller->reject(KJ_EXCEPTION(DISCONNECTED, "read aborted"));
  }
}

void UvTcpStream::getsockname(struct sockaddr* addr, uint* length) {
  int len = static_cast<int>(*length);
  uv_tcp_getsockname(handle_, addr, &len);
  *length = static_cast<uint>(len);
}

void UvTcpStream::getpeername(struct sockaddr* addr, uint* length) {
  int len = static_cast<int>(*length);
  uv_tcp_getpeername(handle_, addr, &len);
  *length = static_cast<uint>(len);
}

}  // namespace meld::net
