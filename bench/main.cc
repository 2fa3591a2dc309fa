#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "bench/bench.h"

namespace meld::bench {
namespace {

struct Entry {
  std::string help;
  BenchFn fn;
};

std::map<std::string, Entry>& registry() {
  static std::map<std::string, Entry> r;
  return r;
}

}  // namespace

Registration::Registration(const char* name, const char* help, BenchFn fn) {
  registry().emplace(name, Entry{help, fn});
}

void report(const std::string& name, double value) {
  std::printf("%s: %.6g\n", name.c_str(), value);
}

void report(const std::string& name, const std::string& value) {
  std::printf("%s: %s\n", name.c_str(), value.c_str());
}

}  // namespace meld::bench

int main(int argc, char** argv) {
  auto& reg = meld::bench::registry();
  if (argc < 2 || reg.find(argv[1]) == reg.end()) {
    std::fprintf(stderr, "usage: meld-bench BENCHMARK [args...]\nbenchmarks:\n");
    for (const auto& [name, e] : reg)
      std::fprintf(stderr, "  %-20s %s\n", name.c_str(), e.help.c_str());
    return 2;
  }
  std::vector<std::string> args(argv + 2, argv + argc);
  return reg[argv[1]].fn(args);
}
