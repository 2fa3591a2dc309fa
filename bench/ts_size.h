// Where the bytes of a MeldDB data directory go: used by `meld-bench ts-size DIR` and by
// ts-compare's MeldDB run after its flush and compaction.
#pragma once

#include <string>

#include "base/status.h"
#include "storage/engine.h"

namespace meld::bench {

// Reports (bench.h `name: value` lines, each name starting with prefix):
//   ts.<kind>.keys / .key_bytes / .value_bytes  entries of the ts family by the key's first byte
//                                               (storage/ts_store.h ts_keys), uncompressed;
//   sst.<family>_bytes                          SST file bytes per column family (compressed);
//   files.sst_bytes / .manifest_bytes / .options_bytes / .other_bytes
//                                               regular files of dir by kind, RocksDB's info
//                                               logs (LOG*) left out, as ts-compare counts them.
// engine must be open on dir. Errors: the engine's scan errors.
Status report_data_dir_size(storage::Engine& engine, const std::string& dir,
                            const std::string& prefix);

}  // namespace meld::bench
