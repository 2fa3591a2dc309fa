#include <time.h>

#include <charconv>
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

std::optional<double> parse_double(std::string_view text) {
  double v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

std::optional<uint64_t> parse_u64(std::string_view text) {
  uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

std::optional<std::vector<uint64_t>> parse_u64_list(std::string_view text, uint64_t min,
                                                    uint64_t max) {
  std::vector<uint64_t> values;
  while (true) {
    size_t comma = text.find(',');
    std::optional<uint64_t> v = parse_u64(text.substr(0, comma));
    if (!v || *v < min || *v > max) return std::nullopt;
    values.push_back(*v);
    if (comma == std::string_view::npos) return values;
    text.remove_prefix(comma + 1);
  }
}

bool parse_seconds_only(const char* bench, const std::vector<std::string>& args, double* seconds) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] != "--seconds" || i + 1 == args.size()) {
      std::fprintf(stderr, "%s: unknown argument %s\n", bench, args[i].c_str());
      return false;
    }
    std::optional<double> v = parse_double(args[++i]);
    if (!v || !(*v > 0)) {
      std::fprintf(stderr, "%s: --seconds needs a positive number, not %s\n", bench,
                   args[i].c_str());
      return false;
    }
    *seconds = *v;
  }
  return true;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double this_thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

std::string set_element(uint64_t i) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "element:%012llu", static_cast<unsigned long long>(i));
  return buf;
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
