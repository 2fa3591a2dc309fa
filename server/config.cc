#include "server/config.h"

#include "net/address.h"
#include "timeseries/promql_lexer.h"

namespace meld::server {
namespace {

// A whole DURATION flag value in ms; "0" only when zero_ok.
Result<int64_t> parse_duration(const std::string& name, const std::string& value, bool zero_ok) {
  if (zero_ok && value == "0") return int64_t{0};
  ts::Lexer lexer(value);
  auto ms = lexer.read_duration_ms();
  if (ms.is_ok()) {
    auto rest = lexer.next();
    if (!rest.is_ok() || rest->kind != ts::TokenKind::kEnd) {
      ms = Status::invalid_argument("unexpected text after the duration");
    }
  }
  if (!ms.is_ok()) {
    return Status::invalid_argument(name + " " + value + ": " + ms.status().message() +
                                    " (a duration like 90d, 1w or 12h30m" +
                                    (zero_ok ? "; 0 for none)" : ")"));
  }
  return ms;
}

}  // namespace

std::string usage() {
  return "usage: meldd [--data-dir DIR] [--listen HOST:PORT] [--peer-listen HOST:PORT]\n"
         "             [--advertise HOST:PORT] [--join HOST:PORT] [--no-sync]\n"
         "             [--ts-retention DURATION] [--ts-block DURATION]\n"
         "  --data-dir DIR        where the node keeps its data (default ./data)\n"
         "  --listen HOST:PORT    client RPC address (default 127.0.0.1:7400; port 0 picks one)\n"
         "  --peer-listen HOST:PORT node-to-node address (default: listen's host, port + 1;\n"
         "                        port 0 when listen's port is 0)\n"
         "  --advertise HOST:PORT address others should use to reach this node (default: listen)\n"
         "  --join HOST:PORT      an existing member to join (recorded; clustering comes later)\n"
         "  --no-sync             acknowledge writes before fsync: survives kill -9, not power "
         "loss\n"
         "  --ts-retention DURATION drop time-series samples older than this (e.g. 90d; default\n"
         "                        0: keep forever)\n"
         "  --ts-block DURATION   time-series block length, 1h..1y (default 1w); fixed when the\n"
         "                        data dir is created: another value later is refused at start\n";
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
    if (name != "--data-dir" && name != "--listen" && name != "--peer-listen" &&
        name != "--advertise" && name != "--join" && name != "--ts-retention" &&
        name != "--ts-block") {
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
    } else if (name == "--ts-retention") {
      auto ms = parse_duration(name, value, /*zero_ok=*/true);
      if (!ms.is_ok()) return ms.status();
      c.ts_retention_ms = *ms;
    } else if (name == "--ts-block") {
      auto ms = parse_duration(name, value, /*zero_ok=*/false);
      if (!ms.is_ok()) return ms.status();
      if (*ms < kTsBlockMinMs || *ms > kTsBlockMaxMs) {
        return Status::invalid_argument("--ts-block " + value + ": must be between 1h and 1y");
      }
      c.ts_block_ms = *ms;
    } else {
      auto addr = net::parse_address(value);
      if (!addr.is_ok()) return Status::invalid_argument(name + ": " + addr.status().message());
      std::string& field = name == "--listen"        ? c.listen
                           : name == "--peer-listen" ? c.peer_listen
                           : name == "--advertise"   ? c.advertise
                                                     : c.join;
      field = value;
    }
  }
  if (c.peer_listen.empty()) {
    size_t colon = c.listen.rfind(':');
    int port = std::stoi(c.listen.substr(colon + 1));
    if (port == 65535)
      return Status::invalid_argument(
          "--listen port 65535 leaves no default "
          "--peer-listen port; give one");
    c.peer_listen = c.listen.substr(0, colon + 1) + std::to_string(port == 0 ? 0 : port + 1);
  }
  return parsed;
}

}  // namespace meld::server
