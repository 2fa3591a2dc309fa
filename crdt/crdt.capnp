# The canonical encoding of CRDT values (crdt/codec.h). Every list is sorted by its key and holds
# no duplicates, contexts are compacted, so equal states encode to identical bytes; the decoder
# rejects anything else.
@0xe620510aa3b105e6;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("meld::crdt::schema");

struct Dot {
  replica @0 :UInt64;
  counter @1 :UInt64;
}

struct CausalContext {
  # Version vector: (replica, n) means dots 1..n of replica; sorted by replica, n > 0.
  vector @0 :List(Dot);
  # Dots beyond the vector, sorted, none covered by or contiguous with it.
  cloud @1 :List(Dot);
}

struct Counter {
  # G-Counter amounts are unsigned; PN-Counter amounts are two's-complement int64 in the same bits.
  struct Prefix {
    replica @0 :UInt64;
    counter @1 :UInt64;
    sum @2 :UInt64;
  }
  struct Pending {
    dot @0 :Dot;
    amount @1 :UInt64;
  }
  prefixes @0 :List(Prefix);
  pending @1 :List(Pending);
}

struct AwSet {
  struct Entry {
    element @0 :Data;
    dots @1 :List(Dot);
  }
  entries @0 :List(Entry);
  context @1 :CausalContext;
}

struct RwSet {
  struct Token {
    dot @0 :Dot;
    add @1 :Bool;
  }
  struct Entry {
    element @0 :Data;
    tokens @1 :List(Token);
  }
  entries @0 :List(Entry);
  context @1 :CausalContext;
}

struct Hlc {
  physicalMs @0 :Int64;
  logical @1 :UInt32;
  node @2 :UInt64;
}

struct LwwRegister {
  timestamp @0 :Hlc;
  value @1 :Data;
}

struct MvRegister {
  struct Entry {
    dot @0 :Dot;
    value @1 :Data;
  }
  entries @0 :List(Entry);
  context @1 :CausalContext;
}

enum Kind {
  gCounter @0;
  pnCounter @1;
  awSet @2;
  rwSet @3;
  lwwRegister @4;
  mvRegister @5;
  map @6;
}

struct Map {
  struct Key {
    name @0 :Data;
    kind @1 :Kind;
    dots @2 :List(Dot);
  }
  struct Entry {
    name @0 :Data;
    value @1 :Value;
  }
  keys @0 :List(Key);
  context @1 :CausalContext;
  # Sorted by (name, kind); the kind is the value's.
  values @2 :List(Entry);
}

struct Value {
  union {
    gCounter @0 :Counter;
    pnCounter @1 :Counter;
    awSet @2 :AwSet;
    rwSet @3 :RwSet;
    lwwRegister @4 :LwwRegister;
    mvRegister @5 :MvRegister;
    map @6 :Map;
  }
}
