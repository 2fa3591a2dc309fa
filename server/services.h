// The client RPC services of the single-node slice, on the storage engine:
//   Kv        the kv column family, one RocksDB key per user key
//   Counters  the crdt family, an int64-add merge operator per counter (PN-counter semantics);
//             adds with a request id go to the crdt_state family as PnCounter deltas merged by
//             meld.crdt_join, so a retried request counts once (crdt/counter.h)
//   Sets      add-wins OR-Sets (crdt::AwSet semantics), one storage::BigSet per set name (one key
//             per member in the big_set family, so a set of any size costs O(1) per operation),
//             written asynchronously so many writes of one set share group commits; request ids
//             make retried adds and removes apply once
//   Metrics   the time-series store (storage/ts_store.h): batched writes, exact-series reads,
//             PromQL-subset queries (timeseries/query.h) over its index; writers (MetricsWriter)
//             whose writes name a series by a number once its labels came with it
//   Admin     node status
// Replication, the CRDT types, the time-series engine and Raft replace these insides in later
// issues; the RPC surface (schemas/api.capnp) stays.
//
// Thread: the loop thread (the RPC server's). Metrics decodes write requests on a worker thread
// of its own (started with the service, joined when the service is destroyed) and writes them to
// the store on the loop thread, in arrival order. Writes complete when storage's group commit has
// made them durable; a failed or rejected write fails the call with "code: message".
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "schemas/api.capnp.h"
#include "storage/engine.h"
#include "storage/ts_store.h"

namespace meld::server {

struct NodeInfo {
  uint64_t node_id = 0;
  uint64_t cluster_id = 0;
  std::string rpc_address;
  std::string peer_address;
  std::string data_dir;
  int64_t started_monotonic_ms = 0;
};

// What Admin.status reads from the running node, supplied by its owner.
struct NodeProbe {
  std::function<int64_t()> monotonic_ms;
  std::function<uint32_t()> active_clients;
};

// The bootstrap capability handed to every client. engine, ts_store and probe must outlive every
// capability it hands out (the owner destroys the RPC server, which drops them, first).
api::Meld::Client make_meld_service(storage::Engine& engine, storage::TsStore& ts_store,
                                    NodeInfo info, NodeProbe probe);

}  // namespace meld::server
