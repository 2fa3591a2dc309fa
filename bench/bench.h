// meld-bench subcommands. Each bench/*.cc registers one or more with MELD_BENCH; `meld-bench`
// with no argument lists them. A benchmark prints what it measured together with its conditions
// (sizes, concurrency, data set) as `name: value` lines, so runs can be compared and recorded in
// bench/RESULTS.md.
#pragma once

#include <string>
#include <vector>

namespace meld::bench {

using BenchFn = int (*)(const std::vector<std::string>& args);

struct Registration {
  Registration(const char* name, const char* help, BenchFn fn);
};

// Prints "name: value" with a fixed format for doubles.
void report(const std::string& name, double value);
void report(const std::string& name, const std::string& value);

}  // namespace meld::bench

#define MELD_BENCH(ident, name, help)                                          \
  static int ident(const std::vector<std::string>& args);                      \
  static ::meld::bench::Registration ident##_registration(name, help, &ident); \
  static int ident(const std::vector<std::string>& args)
