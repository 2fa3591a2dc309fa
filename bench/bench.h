// meld-bench subcommands. Each bench/*.cc registers one or more with MELD_BENCH; `meld-bench`
// with no argument lists them. A benchmark prints what it measured together with its conditions
// (sizes, concurrency, data set) as `name: value` lines, so runs can be compared and recorded in
// bench/RESULTS.md.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace meld::bench {

using BenchFn = int (*)(const std::vector<std::string>& args);

struct Registration {
  Registration(const char* name, const char* help, BenchFn fn);
};

// Prints "name: value" with a fixed format for doubles.
void report(const std::string& name, double value);
void report(const std::string& name, const std::string& value);

// The whole of text as a number; nullopt when it is not one, has trailing bytes or is out of
// range. Benchmarks parse their arguments with these (never std::stod, which throws).
std::optional<double> parse_double(std::string_view text);
std::optional<uint64_t> parse_u64(std::string_view text);
// "N,N,..." with every N in [min, max]; nullopt on anything else.
std::optional<std::vector<uint64_t>> parse_u64_list(std::string_view text, uint64_t min,
                                                    uint64_t max);

// For benchmarks whose only option is --seconds N (N > 0): true and *seconds set, or false after
// printing "BENCH: ..." to stderr.
bool parse_seconds_only(const char* bench, const std::vector<std::string>& args, double* seconds);

double seconds_since(std::chrono::steady_clock::time_point start);
// CPU time the calling thread has used so far, in seconds (CLOCK_THREAD_CPUTIME_ID). Unlike wall
// time it leaves out the time the thread waited for a CPU, so other work on a shared machine does
// not count.
double this_thread_cpu_seconds();

// The p-quantile (0 <= p <= 1) of values by nearest rank: the element at index floor(p * n) of
// the values in ascending order (the largest for p = 1); T{} for no values. Takes values by value
// because it reorders them (std::nth_element, O(n)).
template <typename T>
T percentile(std::vector<T> values, double p) {
  if (values.empty()) return T{};
  const size_t k =
      std::min(values.size() - 1, static_cast<size_t>(p * static_cast<double>(values.size())));
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(k), values.end());
  return values[k];
}

// "element:%012llu": the 20-byte set element the CRDT benchmarks use.
std::string set_element(uint64_t i);

}  // namespace meld::bench

#define MELD_BENCH(ident, name, help)                                          \
  static int ident(const std::vector<std::string>& args);                      \
  static ::meld::bench::Registration ident##_registration(name, help, &ident); \
  static int ident(const std::vector<std::string>& args)
