#include "server/config.h"

#include "net/address.h"

namespace meld::server {

std::string usage() {
  return "usage: meldd [--data-dir DIR] [--listen HOST:PORT] [--advertise HOST:PORT]\n"
         "             [--join HOST:PORT] [--no-sync]\n"
         "  --data-dir DIR        where the node keeps its data (default ./data)\n"
         "  --listen HOST:PORT    client RPC address (default 127.0.0.1:7400; port 0 picks one)\n"
         "  --advertise HOST:PORT address others should use to reach this node (default: listen)\n"
         "  --join HOST:PORT      an existing member to join (recorded; clustering comes later)\n"
         "  --no-sync             acknowledge writes before fsync: survives kill -9, not power "
         "loss\n";
}

Result<ParsedArgs> parse_args(const std::vector<std::string>& args) {
  ParsedArgs parsed;
  Config& c = parsed.config;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& flag = args[i];
    if (flag == "--help" || flag == "-h") {
      parsed.help = true;
      continue;
    }
    if (flag == "--no-sync") {
      c.sync_writes = false;
      continue;
    }
    std::string name = flag, value;
    auto eq = flag.find('=');
    if (eq != std::string::npos) name = flag.substr(0, eq);
    if (name != "--data-dir" && name != "--listen" && name != "--advertise" && name != "--join") {
      return Status::invalid_argument("unknown flag " + name);
    }
    if (eq != std::string::npos) {
      value = flag.substr(eq + 1);
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return Status::invalid_argument("flag " + flag + " needs a value");
    }
    if (name == "--data-dir") {
      if (value.empty()) return Status::invalid_argument("--data-dir must not be empty");
      c.data_dir = value;
    } else if (name == "--listen" || name == "--advertise" || name == "--join") {
      auto addr = net::parse_address(value);
      if (!addr.is_ok()) return Status::invalid_argument(name + ": " + addr.status().message());
      (name == "--listen" ? c.listen : name == "--advertise" ? c.advertise : c.join) = value;
    }
  }
  return parsed;
}

}  // namespace meld::server
