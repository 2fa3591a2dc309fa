#include "net/transport.h"

#include <utility>

#include "base/ids.h"
#include "base/log.h"

namespace meld::net {
namespace {

constexpr size_t kReadBufferBytes = 64 * 1024;
constexpr int kListenBacklog = 128;

std::string uv_reason(const char* what, int err) {
  return std::string(what) + ": " + uv_strerror(err);
}

std::string peer_name(uv_tcp_t* tcp) {
  sockaddr_storage addr{};
  int len = sizeof addr;
  if (uv_tcp_getpeername(tcp, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "unknown";
  return format_address(reinterpret_cast<sockaddr*>(&addr));
}

}  // namespace

struct Transport::Connection {
  Connection(Transport* t, bool out, Peer* p, FrameLimits limits)
      : transport(t), peer(p), outbound(out), decoder(limits) {}

  Transport* transport;  // null once closing: the connection then only waits for its handles
  Peer* peer;            // the outbound link this connection serves; null for inbound
  bool outbound;
  bool handshake_done = false;
  bool closing = false;
  uint64_t node_id = 0;  // the remote node, from its Hello (outbound: the node dialed)
  std::string remote;    // address, for logs
  int open_handles = 0;
  size_t in_flight_bytes = 0;  // handed to uv_write, not completed
  Status deferred_close;       // set when a write failed synchronously; the timer closes
  FrameDecoder decoder;
  uv_tcp_t tcp;
  uv_timer_t timer;  // handshake timeout, then deferred close
  uv_connect_t connect_req;
};

struct Transport::Peer {
  Peer(Transport* t, uint64_t id, std::string hp, Address a, int64_t initial_ms, int64_t max_ms)
      : transport(t),
        node_id(id),
        host_port(std::move(hp)),
        address(a),
        backoff(initial_ms, max_ms) {}

  Transport* transport;
  uint64_t node_id;
  std::string host_port;
  Address address;
  Backoff backoff;
  uv_timer_t* redial_timer = nullptr;  // freed by its close callback
  Connection* conn = nullptr;
  bool up = false;
  bool removed = false;
  std::deque<kj::Array<capnp::word>> pending;  // frames waiting for a handshaken connection
  size_t pending_bytes = 0;
};

struct Transport::WriteRequest {
  uv_write_t req;
  Connection* conn;
  kj::Array<capnp::word> frame;
  size_t bytes;
};

namespace {

// libuv close callback that frees a handle allocated as `new T`: deleting through uv_handle_t*
// would be a sized delete of the wrong type.
template <typename T>
void free_handle(uv_handle_t* handle) {
  delete reinterpret_cast<T*>(handle);
}

}  // namespace

Transport::Transport(uv_loop_t* loop, TransportOptions options, TransportHandler* handler, Rng* rng)
    : loop_(loop),
      options_(std::move(options)),
      handler_(handler),
      rng_(rng),
      read_buffer_(new char[kReadBufferBytes]) {
  MELD_ASSERT(loop_ != nullptr && handler_ != nullptr && rng_ != nullptr, "null dependency");
  frame_limits_.max_frame_bytes = options_.max_frame_bytes;
}

Transport::~Transport() {
  handler_ = nullptr;  // the handler may be gone already: destruction notifies nobody
  close();
}

Status Transport::listen(const std::string& host_port) {
  if (closed_) return Status::unavailable("transport closed");
  if (listener_ != nullptr) return Status::invalid_argument("already listening");
  Result<Address> addr = parse_address(host_port);
  if (!addr.is_ok()) return addr.status();
  listener_ = new uv_tcp_t;
  MELD_ASSERT(uv_tcp_init(loop_, listener_) == 0, "uv_tcp_init");
  listener_->data = this;
  int r = uv_tcp_bind(listener_, addr->get(), 0);
  if (r == 0) {
    r = uv_listen(reinterpret_cast<uv_stream_t*>(listener_), kListenBacklog, &on_inbound_cb);
  }
  if (r != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(listener_), &free_handle<uv_tcp_t>);
    listener_ = nullptr;
    return Status::io_error(uv_reason(("listen on " + host_port).c_str(), r));
  }
  sockaddr_storage bound{};
  int len = sizeof bound;
  MELD_ASSERT(uv_tcp_getsockname(listener_, reinterpret_cast<sockaddr*>(&bound), &len) == 0,
              "getsockname on a bound socket");
  bound_port_ =
      ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                        : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  log::info("net.listen", {{"node", format_id(options_.node_id)},
                           {"address", format_address(reinterpret_cast<sockaddr*>(&bound))}});
  return Status::ok();
}

Status Transport::add_peer(uint64_t node_id, const std::string& host_port) {
  if (closed_) return Status::unavailable("transport closed");
  if (peers_.count(node_id) != 0) {
    return Status::already_exists("peer " + std::to_string(node_id) + " already added");
  }
  Result<Address> addr = parse_address(host_port);
  if (!addr.is_ok()) return addr.status();
  auto peer = std::make_unique<Peer>(this, node_id, host_port, *addr, options_.backoff_initial_ms,
                                     options_.backoff_max_ms);
  peer->redial_timer = new uv_timer_t;
  MELD_ASSERT(uv_timer_init(loop_, peer->redial_timer) == 0, "uv_timer_init");
  peer->redial_timer->data = peer.get();
  Peer* p = peer.get();
  peers_.emplace(node_id, std::move(peer));
  dial(p);
  return Status::ok();
}

void Transport::remove_peer(uint64_t node_id) {
  auto it = peers_.find(node_id);
  if (it == peers_.end()) return;
  // Out of the map first: handlers run by close_connection may re-add or remove this node.
  std::unique_ptr<Peer> peer = std::move(it->second);
  peers_.erase(it);
  peer->removed = true;
  uv_close(reinterpret_cast<uv_handle_t*>(peer->redial_timer), &free_handle<uv_timer_t>);
  if (peer->conn != nullptr) close_connection(peer->conn, Status::aborted("peer removed"));
}

Status Transport::send(uint64_t node_id, capnp::MessageBuilder& message) {
  if (closed_) return Status::unavailable("transport closed");
  auto it = peers_.find(node_id);
  if (it == peers_.end()) return Status::not_found("no peer " + std::to_string(node_id));
  Peer* peer = it->second.get();
  stamp(message.getRoot<wire::Envelope>());
  kj::Array<capnp::word> frame = encode_frame(message);
  size_t bytes = frame.asBytes().size();
  if (bytes > options_.max_frame_bytes) {
    return Status::invalid_argument("frame of " + std::to_string(bytes) + " bytes exceeds " +
                                    std::to_string(options_.max_frame_bytes));
  }
  if (queued_bytes(node_id) + bytes > options_.max_peer_queue_bytes) {
    return Status::resource_exhausted("peer " + std::to_string(node_id) + " queue holds " +
                                      std::to_string(queued_bytes(node_id)) + " bytes");
  }
  if (peer->up) {
    write_frame(peer->conn, std::move(frame));
  } else {
    peer->pending_bytes += bytes;
    peer->pending.push_back(std::move(frame));
  }
  return Status::ok();
}

size_t Transport::queued_bytes(uint64_t node_id) const {
  auto it = peers_.find(node_id);
  if (it == peers_.end()) return 0;
  const Peer& peer = *it->second;
  return peer.pending_bytes + (peer.conn != nullptr ? peer.conn->in_flight_bytes : 0);
}

void Transport::close() {
  if (closed_) return;
  closed_ = true;
  if (listener_ != nullptr) {
    uv_close(reinterpret_cast<uv_handle_t*>(listener_), &free_handle<uv_tcp_t>);
    listener_ = nullptr;
  }
  std::vector<uint64_t> nodes;
  for (const auto& [node, peer] : peers_) nodes.push_back(node);
  for (uint64_t node : nodes) remove_peer(node);
  std::vector<Connection*> open(connections_.begin(), connections_.end());
  for (Connection* c : open) close_connection(c, Status::aborted("transport closed"));
  log::info("net.closed", {{"node", format_id(options_.node_id)}});
}

Transport::Connection* Transport::new_connection(bool outbound, Peer* peer) {
  auto* c = new Connection(this, outbound, peer, frame_limits_);
  MELD_ASSERT(uv_tcp_init(loop_, &c->tcp) == 0, "uv_tcp_init");
  MELD_ASSERT(uv_timer_init(loop_, &c->timer) == 0, "uv_timer_init");
  c->open_handles = 2;
  c->tcp.data = c;
  c->timer.data = c;
  c->connect_req.data = c;
  connections_.insert(c);
  if (!outbound) ++inbound_connections_;
  uv_timer_start(&c->timer, &on_connection_timer_cb,
                 static_cast<uint64_t>(options_.handshake_timeout_ms), 0);
  return c;
}

void Transport::dial(Peer* peer) {
  Connection* c = new_connection(/*outbound=*/true, peer);
  c->node_id = peer->node_id;
  c->remote = peer->host_port;
  peer->conn = c;
  int r = uv_tcp_connect(&c->connect_req, &c->tcp, peer->address.get(), &on_connect_cb);
  if (r != 0) close_connection(c, Status::io_error(uv_reason("connect", r)));
}

void Transport::schedule_redial(Peer* peer) {
  int64_t delay_ms = peer->backoff.next_delay_ms(*rng_);
  uv_timer_start(peer->redial_timer, &on_redial_timer_cb, static_cast<uint64_t>(delay_ms), 0);
  log::debug("net.redial_scheduled", {{"node", format_id(peer->node_id)}, {"delay_ms", delay_ms}});
}

void Transport::stamp(wire::Envelope::Builder envelope) const {
  envelope.setProtocolVersion(wire::PROTOCOL_VERSION);
  envelope.setClusterId(options_.cluster_id);
  envelope.setSender(options_.node_id);
}

kj::Array<capnp::word> Transport::make_hello() const {
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<wire::Envelope>();
  stamp(root);
  auto hello = root.getBody().initHello();
  hello.setNodeId(options_.node_id);
  hello.setAdvertise(options_.advertise);
  return encode_frame(message);
}

void Transport::write_frame(Connection* c, kj::Array<capnp::word> frame) {
  if (!c->deferred_close.is_ok()) return;
  kj::ArrayPtr<kj::byte> bytes = frame.asBytes();
  size_t written = 0;
  // Writing directly is only in order when nothing is queued in libuv.
  if (c->in_flight_bytes == 0) {
    uv_buf_t buf =
        uv_buf_init(reinterpret_cast<char*>(bytes.begin()), static_cast<unsigned>(bytes.size()));
    int r = uv_try_write(reinterpret_cast<uv_stream_t*>(&c->tcp), &buf, 1);
    if (r > 0) written = static_cast<size_t>(r);
    if (written == bytes.size()) return;
  }
  auto* w = new WriteRequest{{}, c, std::move(frame), bytes.size() - written};
  w->req.data = w;
  uv_buf_t buf = uv_buf_init(reinterpret_cast<char*>(w->frame.asBytes().begin() + written),
                             static_cast<unsigned>(w->bytes));
  int r = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&c->tcp), &buf, 1, &on_write_cb);
  if (r != 0) {
    // libuv refuses synchronously once the stream broke; closing here would run handlers
    // inside the caller's send(), so the connection timer closes it on the next loop turn.
    delete w;
    c->deferred_close = Status::io_error(uv_reason("write", r));
    uv_timer_start(&c->timer, &on_connection_timer_cb, 0, 0);
    return;
  }
  c->in_flight_bytes += w->bytes;
}

Status Transport::refuse(Connection* c, const std::string& reason) {
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<wire::Envelope>();
  stamp(root);
  auto ack = root.getBody().initHelloAck();
  ack.setAccepted(false);
  ack.setReason(reason);
  // Best effort: the close that follows cancels the write if the socket could not take it.
  write_frame(c, encode_frame(message));
  log::warn("net.handshake_refused", {{"remote", c->remote}, {"reason", reason}});
  return Status::aborted("handshake refused: " + reason);
}

Status Transport::complete_handshake(Connection* c, wire::Envelope::Reader msg) {
  auto body = msg.getBody();
  if (body.isHelloAck()) {
    auto ack = body.getHelloAck();
    if (!ack.getAccepted()) {
      std::string reason = ack.getReason();
      log::warn("net.handshake_refused_by_peer", {{"remote", c->remote}, {"reason", reason}});
      return Status::aborted("refused by peer: " + reason);
    }
  }
  if (!body.isHello()) return Status::invalid_argument("first frame is not a hello");
  if (msg.getProtocolVersion() != wire::PROTOCOL_VERSION) {
    return refuse(c, "protocol version " + std::to_string(msg.getProtocolVersion()) +
                         ", expected " + std::to_string(wire::PROTOCOL_VERSION));
  }
  if (msg.getClusterId() != options_.cluster_id) {
    return refuse(c, "cluster id " + std::to_string(msg.getClusterId()) + ", expected " +
                         std::to_string(options_.cluster_id));
  }
  uint64_t node = body.getHello().getNodeId();
  if (c->outbound && node != c->node_id) {
    return refuse(c, "node id " + std::to_string(node) + ", dialed " + std::to_string(c->node_id));
  }
  c->handshake_done = true;
  c->node_id = node;
  uv_timer_stop(&c->timer);
  if (!c->outbound) {
    log::info("net.inbound_up", {{"node", format_id(node)}, {"remote", c->remote}});
    return Status::ok();
  }
  Peer* peer = c->peer;
  peer->up = true;
  peer->backoff.reset();
  while (!peer->pending.empty()) {
    kj::Array<capnp::word> frame = std::move(peer->pending.front());
    peer->pending.pop_front();
    peer->pending_bytes -= frame.asBytes().size();
    write_frame(c, std::move(frame));
  }
  log::info("net.peer_up", {{"node", format_id(node)}, {"address", peer->host_port}});
  handler_->on_peer_up(node);
  return Status::ok();
}

Status Transport::on_frame(Connection* c, wire::Envelope::Reader msg) {
  if (!c->handshake_done) return complete_handshake(c, msg);
  auto body = msg.getBody();
  if (body.isHello()) return Status::invalid_argument("second hello on a connection");
  if (body.isHelloAck()) {
    if (body.getHelloAck().getAccepted()) return Status::ok();
    return Status::aborted("refused by peer: " + std::string(body.getHelloAck().getReason()));
  }
  handler_->on_message(c->node_id, msg);
  // The handler may have closed this connection (remove_peer, close); stop decoding it.
  if (c->closing) return Status::aborted("connection closed by handler");
  return Status::ok();
}

void Transport::close_connection(Connection* c, const Status& why) {
  if (c->closing) return;
  c->closing = true;
  c->transport = nullptr;
  connections_.erase(c);
  if (!c->outbound) --inbound_connections_;
  uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), &on_connection_handle_closed_cb);
  uv_close(reinterpret_cast<uv_handle_t*>(&c->timer), &on_connection_handle_closed_cb);
  Peer* peer = c->peer;
  c->peer = nullptr;
  if (peer == nullptr) {
    log::info(
        "net.inbound_closed",
        {{"node", format_id(c->node_id)}, {"remote", c->remote}, {"reason", why.to_string()}});
    return;
  }
  bool was_up = peer->up;
  peer->conn = nullptr;
  peer->up = false;
  if (!peer->removed) schedule_redial(peer);
  if (!was_up) {
    log::info("net.dial_failed", {{"node", format_id(peer->node_id)},
                                  {"address", peer->host_port},
                                  {"reason", why.to_string()}});
    return;
  }
  log::info("net.peer_down", {{"node", format_id(c->node_id)}, {"reason", why.to_string()}});
  if (handler_ != nullptr) handler_->on_peer_down(c->node_id, why);
}

void Transport::on_inbound_cb(uv_stream_t* server, int status) {
  auto* t = static_cast<Transport*>(server->data);
  if (status < 0) {
    log::warn("net.accept_failed", {{"reason", uv_strerror(status)}});
    return;
  }
  Connection* c = t->new_connection(/*outbound=*/false, nullptr);
  int r = uv_accept(server, reinterpret_cast<uv_stream_t*>(&c->tcp));
  if (r != 0) {
    t->close_connection(c, Status::io_error(uv_reason("accept", r)));
    return;
  }
  c->remote = peer_name(&c->tcp);
  if (t->inbound_connections_ > t->options_.max_inbound_connections) {
    t->close_connection(c, Status::resource_exhausted("too many inbound connections"));
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  r = uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp), &on_alloc_cb, &on_read_cb);
  if (r != 0) {
    t->close_connection(c, Status::io_error(uv_reason("read", r)));
    return;
  }
  t->write_frame(c, t->make_hello());
}

void Transport::on_connect_cb(uv_connect_t* req, int status) {
  auto* c = static_cast<Connection*>(req->data);
  if (c->closing) return;
  Transport* t = c->transport;
  if (status < 0) {
    t->close_connection(c, Status::unavailable(uv_reason("connect", status)));
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  int r = uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp), &on_alloc_cb, &on_read_cb);
  if (r != 0) {
    t->close_connection(c, Status::io_error(uv_reason("read", r)));
    return;
  }
  t->write_frame(c, t->make_hello());
}

void Transport::on_alloc_cb(uv_handle_t* handle, size_t suggested, uv_buf_t* buf) {
  auto* c = static_cast<Connection*>(handle->data);
  *buf = uv_buf_init(c->transport->read_buffer_.get(), kReadBufferBytes);
}

void Transport::on_read_cb(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* c = static_cast<Connection*>(stream->data);
  if (c->closing || nread == 0) return;
  Transport* t = c->transport;
  if (nread < 0) {
    t->close_connection(c, nread == UV_EOF
                               ? Status::unavailable("closed by remote")
                               : Status::io_error(uv_reason("read", static_cast<int>(nread))));
    return;
  }
  Status s = c->decoder.feed(buf->base, static_cast<size_t>(nread),
                             [t, c](wire::Envelope::Reader msg) { return t->on_frame(c, msg); });
  if (s.is_ok() || c->closing) return;
  // Only the decoder reports these two codes; on_frame never returns them.
  if (s.code() == StatusCode::kCorruption || s.code() == StatusCode::kResourceExhausted) {
    log::warn("net.frame_rejected",
              {{"remote", c->remote}, {"node", format_id(c->node_id)}, {"reason", s.to_string()}});
  }
  t->close_connection(c, s);
}

void Transport::on_write_cb(uv_write_t* req, int status) {
  auto* w = static_cast<WriteRequest*>(req->data);
  Connection* c = w->conn;
  c->in_flight_bytes -= w->bytes;
  delete w;
  if (status < 0 && !c->closing) {
    c->transport->close_connection(c, Status::io_error(uv_reason("write", status)));
  }
}

void Transport::on_connection_timer_cb(uv_timer_t* timer) {
  auto* c = static_cast<Connection*>(timer->data);
  if (c->closing) return;
  c->transport->close_connection(c, c->deferred_close.is_ok()
                                        ? Status::deadline_exceeded("handshake timeout")
                                        : c->deferred_close);
}

void Transport::on_redial_timer_cb(uv_timer_t* timer) {
  auto* peer = static_cast<Peer*>(timer->data);
  peer->transport->dial(peer);
}

void Transport::on_connection_handle_closed_cb(uv_handle_t* handle) {
  auto* c = static_cast<Connection*>(handle->data);
  if (--c->open_handles == 0) delete c;
}

}  // namespace meld::net
