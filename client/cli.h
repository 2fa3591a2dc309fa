// meldctl, the command-line tool, as a library function so that tests run it in-process.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace meld::client {

// Where a meldctl run reads and writes, and its defaults from the environment. The streams must
// outlive the run_cli call.
struct CliContext {
  std::istream& in;             // `ts write -` reads its lines here
  std::ostream& out;            // results: text, or one JSON document with --json
  std::ostream& err;            // errors, usage, and per-item failures of `ts write`
  std::string default_address;  // used without --addr: $MELD_ADDR or 127.0.0.1:7400
};

// The text `meldctl help` prints.
std::string cli_usage();

// Runs one command line, args without the program name. Connects only once the arguments are
// valid. Returns the exit status: 0 success, 1 the operation failed (one line
// "meldctl: CODE: MESSAGE" on err, or one line per rejected item for `ts write`), 2 usage error
// (what is wrong and the usage of the command on err).
int run_cli(const std::vector<std::string>& args, const CliContext& context);

}  // namespace meld::client
