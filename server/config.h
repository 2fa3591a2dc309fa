// meldd's command line.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"
#include "storage/ts_store.h"

namespace meld::server {

struct Config {
  std::string data_dir = "./data";
  std::string listen = "127.0.0.1:7400";  // client RPC
  std::string peer_listen;                // node-to-node; default: listen's host, port + 1
  std::string advertise;    // address other nodes and clients should use; default: listen
  std::string join;         // an existing member to join (used by cluster membership)
  bool sync_writes = true;  // fsync every commit group before acknowledging
  // Time-series samples older than this are refused and their blocks dropped; 0 keeps everything.
  int64_t ts_retention_ms = 0;
  // Time-series block length; fixed when a data dir's store is created.
  int64_t ts_block_ms = storage::kDefaultTsBlockDurationMs;
};

// The accepted range of --ts-block.
inline constexpr int64_t kTsBlockMinMs = int64_t{3600} * 1000;             // one hour
inline constexpr int64_t kTsBlockMaxMs = int64_t{365} * 24 * 3600 * 1000;  // one year

// Parses argv[1..]. invalid_argument naming the offending flag on unknown flags, missing values or
// malformed addresses or durations (DURATION is like 90d, 1w or 12h30m: see
// ts::Lexer::read_duration_ms; --ts-retention also takes 0); a Config with help set for --help.
struct ParsedArgs {
  Config config;
  bool help = false;
};
Result<ParsedArgs> parse_args(const std::vector<std::string>& args);

// The usage text printed by --help and after an argument error.
std::string usage();

}  // namespace meld::server
