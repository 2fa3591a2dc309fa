// Linearizability checker: time to check generated linearizable register histories of 1k, 10k
// and 100k ops over 1, 10 and 100 keys, with 8 clients in flight. Histories come from the
// correct simulated service in jepsen/register_workload.h (50% reads, 30% writes, 20% cas, fresh
// values). `--info PROB` makes that fraction of replies get lost (info ops), the costly case.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "base/rng.h"
#include "bench/bench.h"
#include "jepsen/linearizability.h"
#include "jepsen/register_workload.h"

MELD_BENCH(linearizability_bench, "linearizability",
           "WGL checker: ops/s checked on linearizable register histories [--info PROB]") {
  double info_probability = 0;
  for (size_t i = 0; i + 1 < args.size(); i += 2) {
    if (args[i] == "--info") info_probability = std::strtod(args[i + 1].c_str(), nullptr);
  }
  constexpr size_t kProcesses = 8;
  meld::bench::report("processes", static_cast<double>(kProcesses));
  meld::bench::report("info_probability", info_probability);
  meld::bench::report("fail_probability", 0.01);
  std::printf("%8s %6s %10s %12s %12s %14s %s\n", "ops", "keys", "seconds", "ops_per_s", "states",
              "states_per_op", "result");
  meld::jepsen::RegisterModel model;
  int failures = 0;
  for (size_t ops : {1'000, 10'000, 100'000}) {
    for (size_t keys : {1, 10, 100}) {
      meld::jepsen::RegisterWorkloadOptions options;
      options.ops = ops;
      options.keys = keys;
      options.processes = kProcesses;
      options.fail_probability = 0.01;
      options.info_probability = info_probability;
      meld::SeededRng rng(ops * 1000 + keys);
      meld::jepsen::History history = meld::jepsen::generate_register_history(options, rng);
      auto start = std::chrono::steady_clock::now();
      auto result = meld::jepsen::check_linearizability(history, model);
      double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (!result.is_ok()) {
        std::fprintf(stderr, "%s\n", result.status().to_string().c_str());
        return 1;
      }
      bool linearizable = result->outcome == meld::jepsen::CheckOutcome::kLinearizable;
      failures += linearizable ? 0 : 1;
      std::printf("%8zu %6zu %10.4f %12.0f %12llu %14.2f %s\n", ops, keys, seconds,
                  static_cast<double>(ops) / seconds,
                  static_cast<unsigned long long>(result->states_explored),
                  static_cast<double>(result->states_explored) / static_cast<double>(ops),
                  linearizable ? "linearizable" : result->explanation.c_str());
      std::fflush(stdout);
    }
  }
  return failures == 0 ? 0 : 1;
}
