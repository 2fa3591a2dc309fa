// RPC: Counters.add increments per second against one local meldd, from 1 and 64 concurrent
// clients (each its own connection and thread, one call outstanding at a time), with the
// node's default durability (every acknowledged increment fsynced by group commit).
#include <atomic>
#include <chrono>
#include <cstdio>
#include <optional>
#include <thread>
#include <vector>

#include "bench/bench.h"
#include "client/client.h"
#include "jepsen/process.h"

namespace {

struct Run {
  int clients = 0;
  double seconds = 0;
  uint64_t increments = 0;
  std::vector<int64_t> latencies_us;
  bool counts_match = false;
};

Run run_clients(const std::string& address, int clients, double seconds) {
  Run run;
  run.clients = clients;
  std::vector<std::vector<int64_t>> latencies(clients);
  std::vector<uint64_t> acked(clients, 0);
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  auto deadline_holder = std::make_shared<std::chrono::steady_clock::time_point>();
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      meld::client::Options options;
      options.address = address;
      auto client = meld::client::Client::connect(options);
      ++ready;
      if (!client.is_ok()) return;
      while (!go) std::this_thread::yield();
      std::string name = "bench/" + std::to_string(clients) + "/" + std::to_string(c);
      while (std::chrono::steady_clock::now() < *deadline_holder) {
        auto start = std::chrono::steady_clock::now();
        if (!(*client)->counter_add(name, 1).is_ok()) break;
        auto end = std::chrono::steady_clock::now();
        latencies[c].push_back(
            std::chrono::duration_cast<std::chrono::microseconds>(end - start).count());
        ++acked[c];
      }
    });
  }
  while (ready < clients) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto start = std::chrono::steady_clock::now();
  *deadline_holder = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                 std::chrono::duration<double>(seconds));
  go = true;
  for (auto& t : threads) t.join();
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (auto& l : latencies) run.latencies_us.insert(run.latencies_us.end(), l.begin(), l.end());
  for (uint64_t a : acked) run.increments += a;

  // Every acknowledged increment must be in the counters: a benchmark of wrong answers is
  // worthless.
  meld::client::Options options;
  options.address = address;
  auto checker = meld::client::Client::connect(options);
  if (checker.is_ok()) {
    run.counts_match = true;
    for (int c = 0; c < clients; ++c) {
      auto v =
          (*checker)->counter_get("bench/" + std::to_string(clients) + "/" + std::to_string(c));
      run.counts_match &= v.is_ok() && static_cast<uint64_t>(*v) == acked[c];
    }
  }
  return run;
}

}  // namespace

MELD_BENCH(rpc_counters, "rpc-counters",
           "Counters.add/s against a local meldd from 1 and 64 clients [--addr A] [--seconds S] "
           "[--clients N,...] [--no-sync]") {
  std::string address;
  double seconds = 5;
  std::vector<int> client_counts = {1, 64};
  auto bad_value = [](const char* flag, const std::string& value) {
    std::fprintf(stderr, "rpc-counters: bad value for %s: %s\n", flag, value.c_str());
    return 2;
  };
  bool sync = true;
  for (size_t i = 0; i < args.size(); ++i) {
    bool has_value = i + 1 < args.size();
    if (args[i] == "--addr" && has_value) {
      address = args[++i];
    } else if (args[i] == "--seconds" && has_value) {
      std::optional<double> v = meld::bench::parse_double(args[++i]);
      if (!v || !(*v > 0)) return bad_value("--seconds", args[i]);
      seconds = *v;
    } else if (args[i] == "--clients" && has_value) {
      std::optional<std::vector<uint64_t>> counts = meld::bench::parse_u64_list(args[++i], 1, 4096);
      if (!counts) return bad_value("--clients", args[i]);
      client_counts.assign(counts->begin(), counts->end());
    } else if (args[i] == "--no-sync") {
      sync = false;
    } else {
      std::fprintf(stderr, "rpc-counters: unknown argument %s\n", args[i].c_str());
      return 2;
    }
  }
  std::unique_ptr<meld::jepsen::TempDir> dir;
  std::unique_ptr<meld::jepsen::MelddProcess> node;
  if (address.empty()) {
    dir = std::make_unique<meld::jepsen::TempDir>();
    std::vector<std::string> extra;
    if (!sync) extra.push_back("--no-sync");
    node = std::make_unique<meld::jepsen::MelddProcess>(MELDD_PATH, dir->path() + "/data", extra);
    meld::Status s = node->start();
    if (!s.is_ok()) {
      std::fprintf(stderr, "rpc-counters: %s\n", s.to_string().c_str());
      return 1;
    }
    address = node->address();
    meld::bench::report("node", std::string("local meldd started by the benchmark, ") +
                                    (sync ? "fsync per commit group" : "--no-sync"));
  } else {
    meld::bench::report("node", address);
  }
  bool all_match = true;
  for (int clients : client_counts) {
    Run run = run_clients(address, clients, seconds);
    meld::bench::report("clients", clients);
    meld::bench::report("seconds", run.seconds);
    meld::bench::report("increments", static_cast<double>(run.increments));
    meld::bench::report("increments_per_s", run.increments / run.seconds);
    meld::bench::report("p50_us",
                        static_cast<double>(meld::bench::percentile(run.latencies_us, 0.50)));
    meld::bench::report("p99_us",
                        static_cast<double>(meld::bench::percentile(run.latencies_us, 0.99)));
    meld::bench::report("counters_match_acks", run.counts_match ? "yes" : "NO");
    all_match &= run.counts_match;
  }
  if (node) node->stop();
  return all_match ? 0 : 1;
}
