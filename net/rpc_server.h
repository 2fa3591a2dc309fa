// Serves a Cap'n Proto RPC bootstrap capability to clients over libuv TCP, on the loop thread
// (see net/uv_event_port.h). Each accepted connection gets its own two-party RPC system; a
// client that disconnects, even in the middle of calls, only cancels its own calls.
//
// Untrusted input: every received message is read with the traversal and nesting limits below,
// so an oversized or malformed message fails that connection, never the process; connections
// beyond max_connections are accepted and closed at once with a logged reason.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include <capnp/capability.h>
#include <kj/async.h>

#include "base/status.h"
#include "net/uv_event_port.h"

namespace meld::net {

struct RpcServerOptions {
  size_t max_connections = 1024;
  // Bytes of call messages one connection may have unanswered; past it the server stops reading
  // that connection until calls return (Cap'n Proto's flow limit). Bounds what a client that
  // pipelines without waiting can make the node hold.
  size_t flow_limit_bytes = 8 << 20;
  // Cumulative per message; 2x the largest message we accept (api.capnp maxRpcMessageBytes).
  uint64_t traversal_limit_words = (32ull << 20) / 8 * 2;
  int nesting_limit = 64;
};

class RpcServer final : public kj::TaskSet::ErrorHandler {
 public:
  // port must outlive the server; the server must be destroyed on the loop thread before the
  // port, and close() must have been called.
  RpcServer(UvEventPort& port, capnp::Capability::Client bootstrap, RpcServerOptions options);
  ~RpcServer();
  RpcServer(const RpcServer&) = delete;
  RpcServer& operator=(const RpcServer&) = delete;

  // Binds and listens. invalid_argument for a malformed address, unavailable when the bind or
  // listen fails (address in use, permission), naming the address.
  Status listen(const std::string& host_port);
  // "127.0.0.1:7400" once listening (the real port when 0 was asked for).
  const std::string& bound_address() const { return bound_address_; }
  size_t active_connections() const { return active_connections_; }

  // Stops accepting and disconnects every client (their calls are cancelled). Idempotent.
  void close();

 private:
  struct Connection;

  static void on_connection(uv_stream_t* listener, int status);
  void accept_one();
  void taskFailed(kj::Exception&& exception) override;

  UvEventPort& port_;
  capnp::Capability::Client bootstrap_;
  RpcServerOptions options_;
  uv_tcp_t* listener_ = nullptr;  // owned; freed by its close callback
  std::string bound_address_;
  size_t active_connections_ = 0;
  uint64_t next_connection_id_ = 1;
  kj::Own<kj::TaskSet> connections_;  // one task per connection: lives until it disconnects
};

}  // namespace meld::net
