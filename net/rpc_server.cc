#include "net/rpc_server.h"

#include <capnp/rpc-twoparty.h>

#include "base/assert.h"
#include "base/log.h"
#include "net/address.h"
#include "net/uv_stream.h"

namespace meld::net {

struct RpcServer::Connection {
  Connection(kj::Own<UvTcpStream> s, capnp::Capability::Client bootstrap,
             capnp::ReaderOptions limits, size_t flow_limit_bytes)
      : stream(kj::mv(s)),
        network(*stream, capnp::rpc::twoparty::Side::SERVER, limits),
        rpc(capnp::makeRpcServer(network, kj::mv(bootstrap))) {
    rpc.setFlowLimit(flow_limit_bytes / sizeof(capnp::word));
  }

  // Destroyed in reverse order: the RPC system, then the network, then the socket.
  kj::Own<UvTcpStream> stream;
  capnp::TwoPartyVatNetwork network;
  capnp::RpcSystem<capnp::rpc::twoparty::VatId> rpc;
};

RpcServer::RpcServer(UvEventPort& port, capnp::Capability::Client bootstrap,
                     RpcServerOptions options)
    : port_(port),
      bootstrap_(kj::mv(bootstrap)),
      options_(options),
      connections_(kj::heap<kj::TaskSet>(*this)) {}

RpcServer::~RpcServer() {
  close();
}

Status RpcServer::listen(const std::string& host_port) {
  MELD_ASSERT(listener_ == nullptr, "RpcServer::listen called twice");
  auto addr = parse_address(host_port);
  if (!addr.is_ok()) return addr.status();
  listener_ = new uv_tcp_t;
  MELD_ASSERT(uv_tcp_init(port_.uv_loop(), listener_) == 0, "uv_tcp_init");
  listener_->data = this;
  int rc = uv_tcp_bind(listener_, addr->get(), 0);
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(listener_), 511, &on_connection);
  if (rc != 0) {
    close();
    return Status::unavailable("cannot listen on " + host_port + ": " + uv_strerror(rc));
  }
  sockaddr_storage bound{};
  int len = sizeof bound;
  rc = uv_tcp_getsockname(listener_, reinterpret_cast<sockaddr*>(&bound), &len);
  if (rc != 0) {
    close();
    return Status::unavailable("cannot read the bound address of " + host_port + ": " +
                               uv_strerror(rc));
  }
  bound_address_ = format_address(reinterpret_cast<sockaddr*>(&bound));
  log::info("rpc.listen", {{"address", bound_address_}});
  return Status::ok();
}

void RpcServer::on_connection(uv_stream_t* listener, int status) {
  auto* self = static_cast<RpcServer*>(listener->data);
  if (status < 0) {
    log::warn("rpc.accept_failed", {{"error", uv_strerror(status)}});
    return;
  }
  self->accept_one();
}

void RpcServer::accept_one() {
  auto* tcp = new uv_tcp_t;
  MELD_ASSERT(uv_tcp_init(port_.uv_loop(), tcp) == 0, "uv_tcp_init");
  if (uv_accept(reinterpret_cast<uv_stream_t*>(listener_), reinterpret_cast<uv_stream_t*>(tcp)) !=
      0) {
    uv_close(reinterpret_cast<uv_handle_t*>(tcp),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
    return;
  }
  auto stream = kj::heap<UvTcpStream>(tcp);
  sockaddr_storage peer{};
  uint peer_len = sizeof peer;
  stream->getpeername(reinterpret_cast<sockaddr*>(&peer), &peer_len);
  std::string peer_address = format_address(reinterpret_cast<sockaddr*>(&peer));
  if (active_connections_ >= options_.max_connections) {
    log::warn("rpc.connection_refused", {{"peer", peer_address},
                                         {"reason", "too many connections"},
                                         {"max_connections", options_.max_connections}});
    return;  // the stream's destructor closes the socket
  }
  capnp::ReaderOptions limits;
  limits.traversalLimitInWords = options_.traversal_limit_words;
  limits.nestingLimit = options_.nesting_limit;
  auto connection =
      kj::heap<Connection>(kj::mv(stream), bootstrap_, limits, options_.flow_limit_bytes);
  uint64_t id = next_connection_id_++;
  ++active_connections_;
  log::debug("rpc.connected", {{"peer", peer_address}, {"connection", id}});
  auto done = connection->network.onDisconnect();
  connections_->add(
      done.attach(kj::mv(connection), kj::defer([this, id, peer_address]() {
                    --active_connections_;
                    log::debug("rpc.disconnected", {{"peer", peer_address}, {"connection", id}});
                  })));
}

void RpcServer::close() {
  if (listener_ != nullptr) {
    uv_close(reinterpret_cast<uv_handle_t*>(listener_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
    listener_ = nullptr;
  }
  // Dropping the task set cancels every connection task, destroying its RPC system and socket.
  if (connections_.get() != nullptr) {
    connections_ = kj::heap<kj::TaskSet>(*this);
  }
}

void RpcServer::taskFailed(kj::Exception&& exception) {
  log::warn("rpc.connection_failed", {{"error", exception.getDescription().cStr()}});
}

}  // namespace meld::net
