# Node-to-node messages. Every frame on a peer connection is one Envelope, framed as a plain
# Cap'n Proto message (segment table + segments). Message kinds grow as new unions members;
# a receiver that does not know a kind drops the message and logs it (Cap'n Proto reports an
# unknown union member as its ordinal).
@0xff8a9a6b987adab0;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("meld::wire");

const protocolVersion :UInt16 = 1;

struct Envelope {
  protocolVersion @0 :UInt16;
  clusterId @1 :UInt64;
  sender @2 :UInt64;      # node id of the sender
  rangeId @3 :UInt64;     # 0 for node-level messages (handshake, liveness)

  body :union {
    hello @4 :Hello;
    helloAck @5 :HelloAck;
    ping @6 :Ping;
    pong @7 :Ping;
  }
}

# First frame on every connection, sent by both sides. A peer whose cluster id or protocol
# version differs is refused with a HelloAck carrying the reason, then disconnected.
struct Hello {
  nodeId @0 :UInt64;
  advertise @1 :Text;     # address other nodes should dial to reach the sender
}

struct HelloAck {
  accepted @0 :Bool;
  reason @1 :Text;
}

# Liveness probe; the payload lets benchmarks and tests send messages of a chosen size.
struct Ping {
  sequence @0 :UInt64;
  sentMs @1 :Int64;
  payload @2 :Data;
}
