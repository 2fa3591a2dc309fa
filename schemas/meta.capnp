# Cluster metadata records. They are stored in the meta range (a raft range) once Raft exists,
# and in the node's local meta column family before that.
@0xe012ac68d9369be2;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("meld::meta");

enum RangeKind {
  raft @0;
  crdt @1;
  ts @2;
}

enum ReplicaRole {
  voter @0;
  learner @1;
}

struct ReplicaDescriptor {
  nodeId @0 :UInt64;
  replicaId @1 :UInt64;
  role @2 :ReplicaRole;
}

# A range owns the keys in [startKey, endKey); an empty endKey means "to the end".
# generation grows on every split, merge or replica change, so stale descriptors are detectable.
struct RangeDescriptor {
  rangeId @0 :UInt64;
  kind @1 :RangeKind;
  startKey @2 :Data;
  endKey @3 :Data;
  generation @4 :UInt64;
  replicas @5 :List(ReplicaDescriptor);
}

enum NodeState {
  joining @0;
  live @1;
  draining @2;
  removed @3;
}

struct NodeRecord {
  nodeId @0 :UInt64;
  clusterId @1 :UInt64;
  rpcAddress @2 :Text;    # where clients reach the node (Cap'n Proto RPC)
  peerAddress @3 :Text;   # where other nodes reach it (framed wire.capnp Envelopes)
  state @4 :NodeState;
  createdMs @5 :Int64;    # wall clock when the node id was generated
  joinAddress @6 :Text;   # --join as given at start (used by cluster membership, later)
}
