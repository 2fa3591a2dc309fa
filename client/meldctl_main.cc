// meldctl: the MeldDB command-line tool. See client/cli.h.
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "client/cli.h"

int main(int argc, char** argv) {
  // meldctl uses no C stdio, and `ts write -` reads stdin fastest unsynchronized.
  std::ios::sync_with_stdio(false);
  const char* env_address = std::getenv("MELD_ADDR");
  meld::client::CliContext context{
      .in = std::cin,
      .out = std::cout,
      .err = std::cerr,
      .default_address =
          env_address != nullptr && *env_address != '\0' ? env_address : "127.0.0.1:7400",
  };
  std::vector<std::string> args(argv + 1, argv + argc);
  int code = meld::client::run_cli(args, context);
  std::cout.flush();
  return code;
}
