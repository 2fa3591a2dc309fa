// Node-to-node transport: Envelope frames over libuv TCP between the nodes of one cluster.
//
// Every connection starts with both sides sending a Hello. The receiver checks the protocol
// version and cluster id; on a mismatch it answers HelloAck{accepted=false, reason} and
// disconnects. Until a valid Hello arrives nothing else is accepted, and a connection that has
// not completed the handshake within handshake_timeout_ms is closed.
//
// A pair of nodes uses up to two TCP connections: each node sends on the outbound connection it
// dialed (add_peer) and receives on the connections others dialed to it. Outbound connections are
// redialed with exponential backoff and full jitter until remove_peer() or close().
//
// A malformed or oversized frame, a protocol violation or an I/O error closes that one
// connection with a logged reason; the transport keeps serving the others.
#pragma once

#include <capnp/message.h>
#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "base/rng.h"
#include "base/status.h"
#include "net/address.h"
#include "net/backoff.h"
#include "net/frame.h"
#include "schemas/wire.capnp.h"

namespace meld::net {

struct TransportOptions {
  uint64_t node_id = 0;
  uint64_t cluster_id = 0;
  std::string advertise;  // sent in Hello: the address other nodes should dial
  size_t max_frame_bytes = 16 << 20;
  size_t max_peer_queue_bytes = 64 << 20;
  size_t max_inbound_connections = 1024;  // further accepted connections are closed at once
  int64_t backoff_initial_ms = 50;
  int64_t backoff_max_ms = 5000;
  int64_t handshake_timeout_ms = 5000;  // from dial or accept to the peer's valid Hello
};

// Callbacks run on the loop thread, from inside libuv callbacks. They may call send(),
// add_peer(), remove_peer() and close() on the transport, but must not destroy it.
class TransportHandler {
 public:
  virtual ~TransportHandler() = default;
  // One frame received after a completed handshake, from the node named in that handshake.
  // `msg` is valid only during the call; it has been validated, so reading it does not throw.
  virtual void on_message(uint64_t from_node, wire::Envelope::Reader msg) = 0;
  // The outbound connection to a peer added with add_peer() completed its handshake: frames
  // sent from now on go out at once.
  virtual void on_peer_up(uint64_t node) {}
  // That outbound connection was lost (or the peer removed, or the transport closed) after it
  // had been up. Frames already handed to the socket may be lost; queued ones wait for the
  // next connection.
  virtual void on_peer_down(uint64_t node, const Status& why) {}
};

// Thread: every method runs on the thread that runs `loop`; no internal locking.
// Lifetime: `loop` and `rng` are borrowed and must outlive the Transport; `handler` must outlive
// it or its close(), whichever comes first (destruction closes like close() but calls no
// handler). After either, run the loop until its close callbacks have run (uv_run returns 0 if
// nothing else is active) before uv_loop_close; they touch only memory they own.
class Transport {
 public:
  Transport(uv_loop_t* loop, TransportOptions options, TransportHandler* handler, Rng* rng);
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // Accepts inbound connections on "host:port" (numeric IPv4, [IPv6] or localhost; port 0
  // picks a free one, see bound_port()). invalid_argument for a bad address or a second call,
  // io_error when the bind or listen fails, unavailable after close().
  Status listen(const std::string& host_port);
  // The listening port, or 0 when not listening.
  int bound_port() const { return bound_port_; }

  // Maintains an outbound connection to `node_id` at "host:port", redialing with backoff.
  // invalid_argument for a bad address, already_exists when the node is already a peer,
  // unavailable after close().
  Status add_peer(uint64_t node_id, const std::string& host_port);
  // Drops the outbound connection and every queued frame for the node; no-op if unknown.
  void remove_peer(uint64_t node_id);

  // Fills protocolVersion, clusterId and sender of the message's Envelope root, frames it and
  // queues it for the peer (written at once when its connection is up). Frames to one peer are
  // delivered in order while a connection lives. Errors, with nothing queued:
  // not_found for a node not added with add_peer(); invalid_argument for a frame larger than
  // max_frame_bytes; resource_exhausted when the peer's queued bytes would exceed
  // max_peer_queue_bytes (backpressure: retry after the peer drains); unavailable after close().
  Status send(uint64_t node_id, capnp::MessageBuilder& message);
  // Bytes queued for the peer: frames waiting for a connection plus writes handed to libuv and
  // not completed. 0 for an unknown node.
  size_t queued_bytes(uint64_t node_id) const;

  // Stops listening and closes every connection and timer; handlers see on_peer_down for the
  // peers that were up. Idempotent.
  void close();

 private:
  struct Connection;
  struct Peer;
  struct WriteRequest;

  Connection* new_connection(bool outbound, Peer* peer);
  void dial(Peer* peer);
  void schedule_redial(Peer* peer);
  void write_frame(Connection* c, kj::Array<capnp::word> frame);
  Status on_frame(Connection* c, wire::Envelope::Reader msg);
  Status complete_handshake(Connection* c, wire::Envelope::Reader msg);
  Status refuse(Connection* c, const std::string& reason);
  void close_connection(Connection* c, const Status& why);
  kj::Array<capnp::word> make_hello() const;
  // Sets the header every envelope this node sends carries: version, cluster id, sender.
  void stamp(wire::Envelope::Builder envelope) const;

  static void on_inbound_cb(uv_stream_t* server, int status);
  static void on_connect_cb(uv_connect_t* req, int status);
  static void on_alloc_cb(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void on_read_cb(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_write_cb(uv_write_t* req, int status);
  static void on_connection_timer_cb(uv_timer_t* timer);
  static void on_redial_timer_cb(uv_timer_t* timer);
  static void on_connection_handle_closed_cb(uv_handle_t* handle);

  uv_loop_t* loop_;
  TransportOptions options_;
  TransportHandler* handler_;
  Rng* rng_;
  FrameLimits frame_limits_;
  uv_tcp_t* listener_ = nullptr;  // freed by its close callback
  int bound_port_ = 0;
  bool closed_ = false;
  std::unordered_map<uint64_t, std::unique_ptr<Peer>> peers_;
  std::unordered_set<Connection*> connections_;  // open ones; each frees itself once closed
  size_t inbound_connections_ = 0;
  std::unique_ptr<char[]> read_buffer_;  // shared: libuv reads into it and we consume at once
};

}  // namespace meld::net
