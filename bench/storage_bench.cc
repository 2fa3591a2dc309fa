// storage-commit: throughput and latency of durable group commit. Each producer thread keeps
// exactly one commit outstanding (submit, wait for its callback, repeat), so the group size the
// commit thread sees is bounded by the producer count.
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench.h"
#include "storage/engine.h"

namespace meld::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kValueBytes = 100;
constexpr int kProducerCounts[] = {1, 16, 256};

struct Config {
  double seconds = 3;
  std::string base_dir = std::filesystem::temp_directory_path().string();
  bool sync = true;
  int puts_per_batch = 1;
};

// One producer's outstanding commit and what it measured.
struct Producer {
  std::mutex mu;
  std::condition_variable done_cv;
  bool done = false;
  bool ok = true;
  std::vector<uint64_t> latencies_ns;
  uint64_t failures = 0;
};

void run_producer(storage::Engine& engine, const Config& config, int id, Clock::time_point end,
                  Producer& p) {
  const std::string value(kValueBytes, 'v');
  char key[48];
  for (uint64_t seq = 0; Clock::now() < end; ++seq) {
    storage::WriteBatch batch;
    for (int i = 0; i < config.puts_per_batch; ++i) {
      std::snprintf(key, sizeof(key), "p%04d-%012llu-%03d", id,
                    static_cast<unsigned long long>(seq), i);
      batch.put(storage::Family::kKv, key, value);
    }
    Clock::time_point start = Clock::now();
    {
      std::lock_guard lock(p.mu);
      p.done = false;
    }
    Status s = engine.commit(std::move(batch), [&p](Status status) {
      std::lock_guard lock(p.mu);
      p.ok = status.is_ok();
      p.done = true;
      p.done_cv.notify_one();
    });
    if (!s.is_ok()) {
      ++p.failures;
      continue;
    }
    std::unique_lock lock(p.mu);
    p.done_cv.wait(lock, [&p] { return p.done; });
    if (!p.ok) ++p.failures;
    p.latencies_ns.push_back(
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count());
  }
}

// Runs one producer count against a fresh database in dir; returns false on any failure.
bool run_once(const Config& config, int producer_count, const std::string& dir) {
  storage::InlineExecutor executor;
  storage::Options options;
  options.dir = dir;
  options.sync = config.sync;
  Result<std::unique_ptr<storage::Engine>> opened = storage::Engine::open(options, &executor);
  if (!opened.is_ok()) {
    std::fprintf(stderr, "storage-commit: %s\n", opened.status().to_string().c_str());
    return false;
  }
  storage::Engine& engine = **opened;
  std::vector<Producer> producers(producer_count);
  std::vector<std::thread> threads;
  Clock::time_point start = Clock::now();
  Clock::time_point end = start + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(config.seconds));
  for (int i = 0; i < producer_count; ++i) {
    threads.emplace_back([&, i] { run_producer(engine, config, i, end, producers[i]); });
  }
  for (std::thread& t : threads) t.join();
  double elapsed_s = std::chrono::duration<double>(Clock::now() - start).count();
  storage::Stats stats = engine.stats();
  engine.close();

  std::vector<uint64_t> latencies_ns;
  uint64_t failures = 0;
  for (Producer& p : producers) {
    latencies_ns.insert(latencies_ns.end(), p.latencies_ns.begin(), p.latencies_ns.end());
    failures += p.failures;
  }
  double commits = static_cast<double>(latencies_ns.size());
  report("producers", std::to_string(producer_count));
  report("commits", commits);
  report("commits_per_s", commits / elapsed_s);
  report("writes_per_s", commits * config.puts_per_batch / elapsed_s);
  report("groups_per_s", static_cast<double>(stats.commit_groups) / elapsed_s);
  report("batches_per_group", stats.commit_groups == 0
                                  ? 0.0
                                  : static_cast<double>(stats.committed_batches) /
                                        static_cast<double>(stats.commit_groups));
  report("p50_commit_us", static_cast<double>(percentile(latencies_ns, 0.50)) / 1000.0);
  report("p99_commit_us", static_cast<double>(percentile(latencies_ns, 0.99)) / 1000.0);
  report("failed_commits", std::to_string(failures));
  return failures == 0;
}

}  // namespace

MELD_BENCH(storage_commit, "storage-commit",
           "group commits/s and latency, 1/16/256 producers [--seconds N] [--dir D] [--no-sync] "
           "[--puts N]") {
  Config config;
  auto bad_value = [](const char* flag, const std::string& value) {
    std::fprintf(stderr, "storage-commit: bad value for %s: %s\n", flag, value.c_str());
    return 2;
  };
  for (size_t i = 0; i < args.size(); ++i) {
    bool has_value = i + 1 < args.size();
    if (args[i] == "--seconds" && has_value) {
      std::optional<double> v = parse_double(args[++i]);
      if (!v || !(*v > 0)) return bad_value("--seconds", args[i]);
      config.seconds = *v;
    } else if (args[i] == "--dir" && has_value) {
      config.base_dir = args[++i];
    } else if (args[i] == "--puts" && has_value) {
      std::optional<uint64_t> v = parse_u64(args[++i]);
      if (!v || *v == 0 || *v > 1'000'000) return bad_value("--puts", args[i]);
      config.puts_per_batch = static_cast<int>(*v);
    } else if (args[i] == "--no-sync") {
      config.sync = false;
    } else {
      std::fprintf(stderr, "storage-commit: unknown argument %s\n", args[i].c_str());
      return 2;
    }
  }
  std::error_code ec;
  std::filesystem::create_directories(config.base_dir, ec);
  std::string root =
      (std::filesystem::path(config.base_dir) / "meld-storage-bench-XXXXXX").string();
  if (mkdtemp(root.data()) == nullptr) {
    std::perror("storage-commit: mkdtemp");
    return 1;
  }
  report("benchmark", "storage-commit");
  report("dir", root);
  report("family", "kv");
  report("value_bytes", std::to_string(kValueBytes));
  report("puts_per_batch", std::to_string(config.puts_per_batch));
  report("sync", config.sync ? "true" : "false");
  report("seconds_per_run", config.seconds);
  report("executor", "inline (callbacks run on the commit thread)");
  bool ok = true;
  for (int producer_count : kProducerCounts) {
    std::printf("\n");
    ok &= run_once(config, producer_count, root + "/p" + std::to_string(producer_count));
  }
  std::filesystem::remove_all(root, ec);
  return ok ? 0 : 1;
}

}  // namespace meld::bench
