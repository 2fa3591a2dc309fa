// A connected libuv TCP handle as a kj::AsyncIoStream, so Cap'n Proto RPC
// (capnp::TwoPartyVatNetwork) can run over libuv sockets on the loop thread.
//
// Reads: libuv reads only while a tryRead() is waiting (uv_read_stop otherwise), so a slow
// consumer pushes back on the peer through TCP instead of growing a buffer; at most one libuv
// read chunk (64 KiB) is held beyond what the reader asked for.
// Writes: uv_try_write first; what the kernel does not take is copied and handed to uv_write, so a
// cancelled write promise never leaves libuv pointing at freed memory.
// Thread: the loop thread only. The stream owns the handle and closes it on destruction.
// The process must ignore SIGPIPE (meldd does): a write to a peer that has gone then fails with
// EPIPE instead of killing the process.
#pragma once

#include <uv.h>

#include <string>

#include <kj/async-io.h>

namespace meld::net {

class UvTcpStream final : public kj::AsyncIoStream {
 public:
  // Takes ownership of an initialized, connected handle allocated with new.
  explicit UvTcpStream(uv_tcp_t* handle);
  ~UvTcpStream();

  // Connects to host:port on the loop. Rejects with a DISCONNECTED exception naming the address
  // when the address is malformed or the connection fails.
  static kj::Promise<kj::Own<kj::AsyncIoStream>> connect(uv_loop_t* loop,
                                                         const std::string& host_port);

  kj::Promise<size_t> tryRead(void* buffer, size_t min_bytes, size_t max_bytes) override;
  kj::Promise<void> write(const void* buffer, size_t size) override;
  kj::Promise<void> write(kj::ArrayPtr<const kj::ArrayPtr<const kj::byte>> pieces) override;
  kj::Promise<void> whenWriteDisconnected() override;
  void shutdownWrite() override;
  void abortRead() override;
  void getsockname(struct sockaddr* addr, uint* length) override;
  void getpeername(struct sockaddr* addr, uint* length) override;

 private:
  static constexpr size_t kReadChunkBytes = 64 * 1024;

  struct PendingRead {
    kj::byte* buffer;
    size_t min_bytes;
    size_t max_bytes;
    size_t filled;
    kj::Own<kj::PromiseFulfiller<size_t>> fulfiller;
  };

  UvTcpStream(uv_tcp_t* handle, kj::PromiseFulfillerPair<void> disconnected);
  static void on_alloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  void finish_read();
  void fail(int uv_error);

  uv_tcp_t* handle_;
  std::string leftover_;  // bytes read beyond the last reader's max_bytes; < kReadChunkBytes
  size_t leftover_pos_ = 0;
  kj::Maybe<PendingRead> pending_read_;
  bool eof_ = false;
  int error_ = 0;  // first libuv error seen; reads and writes fail with it from then on
  char read_chunk_[kReadChunkBytes];
  kj::ForkedPromise<void> disconnected_;
  kj::Own<kj::PromiseFulfiller<void>> disconnected_fulfiller_;
};

}  // namespace meld::net
