// meldd's command line.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"

namespace meld::server {

struct Config {
  std::string data_dir = "./data";
  std::string listen = "127.0.0.1:7400";  // client RPC
  std::string peer_listen;                // node-to-node; default: listen's host, port + 1
  std::string advertise;    // address other nodes and clients should use; default: listen
  std::string join;         // an existing member to join (used by cluster membership)
  bool sync_writes = true;  // fsync every commit group before acknowledging
};

// Parses argv[1..]. invalid_argument naming the offending flag on unknown flags, missing values or
// malformed addresses; a Config with help set for --help.
struct ParsedArgs {
  Config config;
  bool help = false;
};
Result<ParsedArgs> parse_args(const std::vector<std::string>& args);

// The usage text printed by --help and after an argument error.
std::string usage();

}  // namespace meld::server
