// meld-sim: runs the deterministic Raft simulator (tests/sim/lib/simulation.h) over a range of
// seeds and reports every violation with its seed; the same command with --start <seed>
// --seeds 1 --verbose replays one exactly.
//
//   meld-sim --seeds N [--start S] [--nodes K] [--mutation NAME] [--steps T] [--verbose]
//   meld-sim --list-mutations
//
// The last line printed is always `seeds: N violations: V`; the exit status is 1 when V > 0 and
// 2 for bad arguments.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>

#include "consensus/raft.h"
#include "tests/sim/lib/simulation.h"

namespace {

void usage() {
  std::fprintf(stderr,
               "usage: meld-sim --seeds N [--start S] [--nodes 3|5|7] [--mutation NAME] "
               "[--steps T] [--verbose]\n       meld-sim --list-mutations\n");
}

std::optional<uint64_t> parse_u64(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  using meld::consensus::Mutation;
  uint64_t seeds = 0;
  uint64_t start = 1;
  meld::sim::SimOptions base;
  bool verbose = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--list-mutations") {
      for (Mutation m : meld::consensus::all_mutations()) {
        std::cout << meld::consensus::mutation_name(m) << "\n";
      }
      return 0;
    }
    if (arg == "--verbose") {
      verbose = true;
      continue;
    }
    if (i + 1 >= argc) {
      usage();
      return 2;
    }
    std::string_view value = argv[++i];
    std::optional<uint64_t> n = parse_u64(value);
    if (arg == "--mutation") {
      std::optional<Mutation> m = meld::consensus::mutation_from_name(value);
      if (!m) {
        std::fprintf(stderr, "meld-sim: unknown mutation '%s' (see --list-mutations)\n", argv[i]);
        return 2;
      }
      base.mutation = *m;
    } else if (arg == "--seeds" && n) {
      seeds = *n;
    } else if (arg == "--start" && n) {
      start = *n;
    } else if (arg == "--steps" && n && *n > 0) {
      base.steps = *n;
    } else if (arg == "--nodes" && n && (*n == 3 || *n == 5 || *n == 7)) {
      base.nodes = *n;
    } else {
      usage();
      return 2;
    }
  }
  if (seeds == 0) {
    usage();
    return 2;
  }
  if (verbose) base.trace = &std::cerr;

  // Wall time only measures the run for the statistics line; it never reaches the simulation.
  auto began = std::chrono::steady_clock::now();
  uint64_t violations = 0;
  uint64_t messages = 0;
  uint64_t unknown = 0;
  uint64_t snapshots = 0;
  uint64_t chunked_snapshots = 0;
  uint64_t chunks = 0;
  for (uint64_t seed = start; seed < start + seeds; ++seed) {
    meld::sim::SimOptions options = base;
    options.seed = seed;
    meld::sim::SimResult r = meld::sim::run_simulation(options);
    messages += r.messages_delivered;
    unknown += r.linearizability_unknown ? 1 : 0;
    snapshots += r.snapshots_installed;
    chunked_snapshots += r.chunked_snapshots_installed;
    chunks += r.snapshot_chunks_delivered;
    if (verbose) {
      std::cout << "seed " << seed << ": " << r.scenario << " events=" << r.events
                << " messages=" << r.messages_delivered
                << " snapshot_chunks=" << r.snapshot_chunks_delivered
                << " snapshots_installed=" << r.snapshots_installed
                << " chunked_snapshots_installed=" << r.chunked_snapshots_installed
                << " ops=" << r.history_ops << " trace=" << std::hex << r.trace_hash << std::dec
                << "\n";
    }
    if (r.violated()) {
      ++violations;
      std::cout << "VIOLATION seed=" << seed << " invariant=\"" << r.invariant << "\" "
                << r.scenario << "\n  " << r.detail << "\n  replay: meld-sim --start " << seed
                << " --seeds 1 --steps " << options.steps
                << (options.nodes != 0 ? " --nodes " + std::to_string(options.nodes) : "")
                << (options.mutation != Mutation::kNone
                        ? " --mutation " +
                              std::string(meld::consensus::mutation_name(options.mutation))
                        : "")
                << " --verbose\n";
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  if (secs <= 0) secs = 1e-9;
  std::printf("simulated_messages_per_s: %.0f seeds_per_min: %.1f linearizability_unknown: %llu\n",
              static_cast<double>(messages) / secs, static_cast<double>(seeds) * 60.0 / secs,
              static_cast<unsigned long long>(unknown));
  std::printf(
      "snapshot_chunks_delivered: %llu snapshots_installed: %llu (in several chunks: %llu)\n",
      static_cast<unsigned long long>(chunks), static_cast<unsigned long long>(snapshots),
      static_cast<unsigned long long>(chunked_snapshots));
  std::printf("seeds: %llu violations: %llu\n", static_cast<unsigned long long>(seeds),
              static_cast<unsigned long long>(violations));
  std::fflush(stdout);
  return violations > 0 ? 1 : 0;
}
