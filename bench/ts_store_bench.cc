// ts-store FILE [options]: the time-series store's write path alone, in this process: what
// meldd's loop thread does for each metrics write request (storage::TsStore::write), without the
// network, the RPC decoding or a client sharing the CPUs. ts-compare reports the same thread's
// CPU time from outside (its `ingest_server_thread_cpu_s_per_million_samples` line, thread
// `meldd`), with the noise of everything else running; this benchmark is the instrument for
// changes to the write path's cost. (Whether such a change moves meldd's ingest rate is for
// ts-compare to show: on a machine whose cores are all busy the rate follows the total work.)
//
// The data set is cut into the requests ts-compare sends (plan_batches with the same --clients,
// --batch-samples and --window-s defaults and the API's series limit), taken connection by
// connection in turn. Each request's series are handed over as meldd's Metrics service hands
// them: labels parsed, encoded and hashed, and one TsStore::SeriesHint per label set, all before
// the clock. The store runs on a fresh storage::Engine (fsynced group commits, as meldd's
// default) in a new directory under --dir, removed at the end; at most --in-flight writes wait
// for their commit at once (meldd's connections keep a few requests in flight each).
//
// Prints the samples written per second of wall time (until every write is durable) and the CPU
// time of this thread inside TsStore::write per sample (CLOCK_THREAD_CPUTIME_ID), in total and
// for the first and the second half of the requests (the first half creates every series and
// grows every head from nothing).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "base/clock.h"
#include "bench/bench.h"
#include "bench/commit_latch.h"
#include "bench/ts_dataset.h"
#include "storage/engine.h"
#include "storage/ts_store.h"
#include "timeseries/labels.h"

namespace meld::bench {
namespace {

struct Options {
  BatchPlan plan;
  size_t in_flight = 16;
  std::string dir = "/tmp";
};

bool parse_options(const std::vector<std::string>& args, Options* o) {
  for (size_t i = 1; i < args.size(); i += 2) {
    if (i + 1 >= args.size()) return false;
    const std::string& flag = args[i];
    const std::string& value = args[i + 1];
    if (flag == "--dir") {
      o->dir = value;
      continue;
    }
    auto n = parse_u64(value);
    if (!n || *n == 0) return false;
    if (flag == "--clients" && *n <= 256) {
      o->plan.clients = *n;
    } else if (flag == "--batch-samples") {
      o->plan.batch_samples = *n;
    } else if (flag == "--window-s" && *n <= 1'000'000'000) {
      o->plan.window_ms = static_cast<int64_t>(*n) * 1000;
    } else if (flag == "--in-flight") {
      o->in_flight = *n;
    } else {
      return false;
    }
  }
  return true;
}

// A series as meldd's Metrics service keeps it for a writer: labels, their encoding and id, and
// the store's hint.
struct PreparedSeries {
  ts::Labels labels;
  std::string canonical;
  uint64_t id = 0;
  storage::TsStore::SeriesHint hint;
};

int fail(const std::string& message) {
  std::fprintf(stderr, "ts-store: %s\n", message.c_str());
  return 1;
}

}  // namespace

MELD_BENCH(ts_store, "ts-store",
           "FILE [--clients N] [--batch-samples N] [--window-s S] [--in-flight N] [--dir D]: "
           "TsStore::write alone, in process: CPU per sample of meldd's write path") {
  Options o;
  if (args.empty() || !parse_options(args, &o)) {
    return fail(
        "usage: ts-store FILE [--clients N] [--batch-samples N] [--window-s S] [--in-flight N] "
        "[--dir D]");
  }
  auto dataset = load_dataset(args[0]);
  if (!dataset.is_ok()) return fail(dataset.status().to_string());
  const Dataset& d = *dataset;

  std::vector<std::unique_ptr<PreparedSeries>> series;
  series.reserve(d.labels.size());
  for (const LabelPairs& pairs : d.labels) {
    std::vector<ts::Label> labels;
    for (const auto& [name, value] : pairs) labels.push_back({name, value});
    auto made = ts::Labels::make_series(std::move(labels));
    if (!made.is_ok()) return fail(made.status().to_string());
    auto s = std::make_unique<PreparedSeries>();
    s->labels = std::move(made).value();
    s->canonical = s->labels.encode();
    s->id = ts::series_id_of_encoding(s->canonical);
    series.push_back(std::move(s));
  }
  // The requests in arrival order: each connection's first batch, then each one's second, ...
  const auto plan = plan_batches(d, o.plan);
  std::vector<std::vector<storage::TsStore::SeriesWrite>> requests;
  for (size_t k = 0;; ++k) {
    bool any = false;
    for (const auto& batches : plan) {
      if (k >= batches.size()) continue;
      any = true;
      auto& request = requests.emplace_back();
      for (const SeriesSlice& slice : batches[k].slices) {
        PreparedSeries& s = *series[static_cast<size_t>(slice.labels - d.labels.data())];
        request.push_back({&s.labels, slice.samples, s.canonical, s.id, &s.hint});
      }
    }
    if (!any) break;
  }

  const std::filesystem::path dir =
      std::filesystem::path(o.dir) / ("meld-ts-store-bench-" + std::to_string(getpid()));
  // Removes the directory when the benchmark returns, after the store and engine below closed.
  struct RemoveDir {
    std::filesystem::path dir;
    ~RemoveDir() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } remove_dir{dir};
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  storage::InlineExecutor executor;
  SystemClock clock;
  storage::Options engine_options;
  engine_options.dir = dir.string();
  auto engine = storage::Engine::open(engine_options, &executor);
  if (!engine.is_ok()) return fail(engine.status().to_string());
  auto store = storage::TsStore::open(**engine, clock, storage::TsStoreOptions{});
  if (!store.is_ok()) return fail(store.status().to_string());

  CommitLatch in_flight;
  double cpu_s[2] = {0, 0};
  uint64_t samples[2] = {0, 0};
  const auto start = std::chrono::steady_clock::now();
  Status status;
  for (size_t r = 0; r < requests.size() && status.is_ok(); ++r) {
    status = in_flight.wait_below(o.in_flight);
    if (!status.is_ok()) break;
    in_flight.add();
    const double before = this_thread_cpu_seconds();
    auto result = (*store)->write(requests[r], [&in_flight](Status s) { in_flight.done(s); });
    const size_t half = r < requests.size() / 2 ? 0 : 1;
    cpu_s[half] += this_thread_cpu_seconds() - before;
    if (!result.is_ok()) {
      status = result.status();
    } else if (!result->errors.empty()) {
      status = result->errors.front().status;
    } else {
      samples[half] += result->accepted;
    }
    if (!result.is_ok() || result->accepted == 0) in_flight.done(Status::ok());
  }
  // Every commit callback has run before in_flight goes away, whatever happened.
  const Status commits = in_flight.wait();
  if (status.is_ok()) status = commits;
  const double wall_s = seconds_since(start);
  store->reset();
  (*engine)->close();
  if (!status.is_ok()) return fail(status.to_string());

  const uint64_t total = samples[0] + samples[1];
  report("data", args[0] + ": " + std::to_string(d.labels.size()) + " series, " +
                     std::to_string(total) + " samples");
  report("load", std::to_string(requests.size()) + " writes from " +
                     std::to_string(o.plan.clients) +
                     " connections' plans, <= " + std::to_string(o.plan.batch_samples) +
                     " samples each, " + std::to_string(o.in_flight) + " in flight");
  report("samples_per_s", static_cast<double>(total) / wall_s);
  report("write_cpu_ns_per_sample", (cpu_s[0] + cpu_s[1]) * 1e9 / static_cast<double>(total));
  report("write_cpu_ns_per_sample_first_half",
         cpu_s[0] * 1e9 / static_cast<double>(std::max<uint64_t>(samples[0], 1)));
  report("write_cpu_ns_per_sample_second_half",
         cpu_s[1] * 1e9 / static_cast<double>(std::max<uint64_t>(samples[1], 1)));
  return 0;
}

}  // namespace meld::bench
