// The deterministic simulator: one seed drives a whole Raft group (3, 5 or 7 nodes running the
// real consensus::Raft through the production host loop persist -> sync -> send -> apply ->
// advance), its network (sim_network.h), disks (sim_disk.h), per-node clocks, a fault schedule
// (crashes that lose unsynced writes, symmetric and asymmetric partitions, leadership transfers,
// membership changes) and clients that write, compare-and-set and read (ReadIndex, or leases in
// some seeds) while a Jepsen-style history records what they observed. Rare paths are forced
// (FoundationDB's BUGGIFY), each in a share of the seeds: a new leader is crashed or isolated
// within a few ticks, a node crashes right after granting a vote, a leader fails right after its
// commit index moves, a lease holder is isolated just after a CheckQuorum check, and election
// timeouts take only two values so that candidates collide.
//
// A run has a chaos phase of `steps` ticks, then a settle phase that heals the network, restarts
// every node and stops the faults and the clients. Invariants are checked after every event:
//   election safety        at most one leader per term (over the whole run, not just at once);
//   log matching           two durable logs holding an entry with the same index and term hold
//                          the same entry and the same term before it (so, by induction, the same
//                          prefix);
//   commit safety          an index known committed (a node's persisted commit index covers it)
//                          is never committed with another entry;
//   leader completeness    when a leader of term T writes its no-op, its log holds every entry
//                          known committed in an earlier term;
//   state machine safety   nodes that applied (or installed a snapshot at) an index hold the same
//                          digest of everything applied up to it (a snapshot is sent in chunks of
//                          a few bytes in some seeds, so a mis-assembled one shows here);
//   chunk bound            no kSnap message carries more than max_snapshot_chunk_bytes;
// and at the end: the group has a leader and every member applied the same state; no
// acknowledged write is lost (every member applied it, and the entry at its index is still it);
// the client history is linearizable per key (jepsen/linearizability.h).
//
// Deterministic: no wall clock, no std::random_device, no iteration over unordered containers or
// pointers; the same options give the same events and the same trace hash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>

#include "consensus/raft.h"

namespace meld::sim {

struct SimOptions {
  uint64_t seed = 1;
  size_t nodes = 0;  // 3, 5 or 7; 0: chosen by the seed
  consensus::Mutation mutation = consensus::Mutation::kNone;
  uint64_t steps = 1500;  // length of the chaos phase, in (undrifted) ticks of 1 ms
  // When set, every event is written here as one line; the stream must outlive the call.
  std::ostream* trace = nullptr;
};

struct SimResult {
  uint64_t seed = 0;
  size_t nodes = 0;
  std::string scenario;   // the seed's choices (lease reads, fsync delay, loss, ...)
  std::string invariant;  // the first violated invariant; empty when none
  std::string detail;     // context for the violation
  uint64_t trace_hash = 0;
  uint64_t events = 0;
  uint64_t messages_delivered = 0;
  uint64_t snapshot_chunks_delivered = 0;    // kSnap messages stepped by their recipient
  uint64_t snapshots_installed = 0;          // snapshots a node received in full and installed
  uint64_t chunked_snapshots_installed = 0;  // of those, the ones larger than one chunk
  int64_t simulated_us = 0;
  size_t history_ops = 0;
  bool linearizability_unknown = false;  // the checker ran out of budget

  bool violated() const { return !invariant.empty(); }
};

// Runs one seed. Never throws; a violation is reported in the result.
SimResult run_simulation(const SimOptions& options);

}  // namespace meld::sim
