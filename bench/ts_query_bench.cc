// ts-query [--hosts N] [--hours H] [--step-s S] [--repeat R]: the query engine alone
// (timeseries/query.h) over a MemorySeriesSource, so the numbers are the evaluator's cost without
// storage, index or decoding. The data set is generated in memory, TSBS cpu-only-like: per host
// (labels hostname, region = one of 3, datacenter = one of 7) 10 cpu_* gauges, random walks with
// N(0, 1) steps clamped to [0, 100] and rounded to two decimals, plus one counter
// net_bytes_total (increments uniform in [0, 10^6)), one sample every 10 s from 2016-01-01.
// Each query runs R times over the whole time range at the step; the best run is reported:
// series selected, samples loaded, points out, thread CPU seconds and samples loaded per CPU
// second. stdout carries the measured lines; the conditions go to stderr.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "bench/bench.h"
#include "timeseries/query.h"

namespace meld::bench {
namespace {

constexpr int64_t kStartMs = 1451606400000;  // 2016-01-01T00:00:00Z
constexpr int64_t kIntervalMs = 10'000;
constexpr const char* kGauges[] = {"cpu_usage_user",      "cpu_usage_system", "cpu_usage_idle",
                                   "cpu_usage_nice",      "cpu_usage_iowait", "cpu_usage_irq",
                                   "cpu_usage_softirq",   "cpu_usage_steal",  "cpu_usage_guest",
                                   "cpu_usage_guest_nice"};

constexpr const char* kQueries[] = {
    R"(cpu_usage_user{hostname="host_42"})",
    R"(max by (hostname) (max_over_time(cpu_usage_user{hostname=~"host_[1-8]"}[5m])))",
    R"(avg by (region) (avg_over_time(cpu_usage_idle[10m])))",
    R"(quantile by (datacenter) (0.99, cpu_usage_system))",
    R"(sum by (region) (rate(net_bytes_total[1m])))",
    R"(max(max_over_time(cpu_usage_user[5m])))",
    R"(count_over_time(cpu_usage_user{hostname=~"host_[0-9]"}[1m]))",
};

Status generate(int hosts, int64_t samples_per_series, ts::MemorySeriesSource* source) {
  std::mt19937_64 rng(1);
  std::normal_distribution<double> step(0, 1);
  std::uniform_real_distribution<double> increment(0, 1e6);
  for (int h = 0; h < hosts; ++h) {
    const std::vector<ts::Label> host_labels{{"hostname", "host_" + std::to_string(h)},
                                             {"region", "region_" + std::to_string(h % 3)},
                                             {"datacenter", "dc_" + std::to_string(h % 7)}};
    for (int m = 0; m <= 10; ++m) {
      std::vector<ts::Label> labels = host_labels;
      labels.push_back({"__name__", m < 10 ? kGauges[m] : "net_bytes_total"});
      auto made = ts::Labels::make_series(std::move(labels));
      if (!made.is_ok()) return made.status();
      std::vector<ts::Sample> samples;
      samples.reserve(static_cast<size_t>(samples_per_series));
      double v = m < 10 ? 50 : 0;
      for (int64_t i = 0; i < samples_per_series; ++i) {
        if (m < 10) {
          v = std::round(std::clamp(v + step(rng), 0.0, 100.0) * 100) / 100;
        } else {
          v += std::floor(increment(rng));
        }
        samples.push_back({kStartMs + i * kIntervalMs, v});
      }
      MELD_RETURN_IF_ERROR(source->add(std::move(made).value(), std::move(samples)));
    }
  }
  return Status::ok();
}

int usage() {
  std::fprintf(stderr,
               "usage: meld-bench ts-query [--hosts N] [--hours H] [--step-s S] [--repeat R]\n");
  return 2;
}

}  // namespace

MELD_BENCH(ts_query, "ts-query",
           "PromQL-subset engine alone over in-memory TSBS-like series: time per query") {
  int hosts = 400;
  int hours = 6;
  int step_s = 60;
  int repeat = 3;
  for (size_t i = 0; i + 1 < args.size(); i += 2) {
    const std::optional<uint64_t> parsed = parse_u64(args[i + 1]);
    if (!parsed || *parsed == 0 || *parsed > 1'000'000) return usage();
    const int v = static_cast<int>(*parsed);
    if (args[i] == "--hosts") {
      hosts = v;
    } else if (args[i] == "--hours") {
      hours = v;
    } else if (args[i] == "--step-s") {
      step_s = v;
    } else if (args[i] == "--repeat") {
      repeat = v;
    } else {
      return usage();
    }
  }
  if (args.size() % 2 != 0) return usage();
  const int64_t samples_per_series = int64_t{hours} * 3600 * 1000 / kIntervalMs;
  ts::MemorySeriesSource source;
  if (Status s = generate(hosts, samples_per_series, &source); !s.is_ok()) {
    std::fprintf(stderr, "ts-query: %s\n", s.to_string().c_str());
    return 1;
  }
  const int64_t end_ms = kStartMs + (samples_per_series - 1) * kIntervalMs;
  std::fprintf(stderr,
               "ts-query: %d hosts x 11 series x %lld samples (10 s), range %d h at step %d s, "
               "best of %d runs, thread CPU time\n",
               hosts, static_cast<long long>(samples_per_series), hours, step_s, repeat);
  report("series", static_cast<double>(hosts) * 11);
  report("samples", static_cast<double>(hosts) * 11 * static_cast<double>(samples_per_series));
  ts::QueryLimits limits;
  limits.series_max = static_cast<size_t>(hosts) * 11;
  for (size_t q = 0; q < std::size(kQueries); ++q) {
    double best_s = 0;
    ts::QueryResult result;
    for (int r = 0; r < repeat; ++r) {
      const double t0 = this_thread_cpu_seconds();
      auto got =
          ts::query_range(kQueries[q], source, kStartMs, end_ms, int64_t{step_s} * 1000, limits);
      const double elapsed = this_thread_cpu_seconds() - t0;
      if (!got.is_ok()) {
        std::fprintf(stderr, "ts-query: %s: %s\n", kQueries[q], got.status().to_string().c_str());
        return 1;
      }
      if (r == 0 || elapsed < best_s) best_s = elapsed;
      result = std::move(got).value();
    }
    size_t points = 0;
    for (const ts::SeriesPoints& s : result.series) points += s.points.size();
    const std::string prefix = "q" + std::to_string(q + 1) + "_";
    report(prefix + "query", kQueries[q]);
    report(prefix + "series_selected", static_cast<double>(result.stats.series_selected));
    report(prefix + "samples_loaded", static_cast<double>(result.stats.samples_loaded));
    report(prefix + "points_out", static_cast<double>(points));
    report(prefix + "cpu_ms", best_s * 1000);
    report(prefix + "samples_per_s",
           best_s > 0 ? static_cast<double>(result.stats.samples_loaded) / best_s : 0);
  }
  return 0;
}

}  // namespace meld::bench
