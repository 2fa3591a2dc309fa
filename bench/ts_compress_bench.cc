// Time-series codec benchmarks.
//
// ts-compress FILE [--zstd-level L]: the sealed-block codec on a data set in VictoriaMetrics'
// JSON-lines export format (plain or zstd-compressed, recognised by its magic bytes). Each series
// is cut into blocks of at most kBlockSamplesMax (16,384) samples that never cross a week
// boundary (floor(ts / 1 week), the default retention unit). Three passes over the file:
//   1. parse and encode: only BlockEncoder::encode calls are timed (encode_samples_per_s);
//   2. decode every block back to back into one reused buffer: only this loop is timed
//      (decode_samples_per_s), no parsing and no comparison;
//   3. parse again, decode each series' blocks and compare every sample bit for bit.
// Times are the thread's CPU time (one thread), so the rates are per core even on a busy machine.
// bytes_per_sample counts every byte of every block (block headers included, no label index).
// stdout carries exactly the measured lines; the conditions go to stderr.
//
// ts-generate-tsbs OUT [--hosts N] [--hours H] [--seed S]: writes a TSBS cpu-only-like data set
// (10 cpu metrics per host, one sample every 10 s from 2016-01-01T00:00:00Z, each value a random
// walk with N(0, 1) steps clamped to [0, 100] and rounded to two decimals) in the same format,
// zstd-compressed if OUT ends in ".zst". The output depends only on the arguments.
//
// ts-generate-churn OUT [--pods N] [--seed S]: writes a series-churn data set in the same way:
// N pods (of 500 deployments, each name with a random suffix) x 10 container metrics, 8 labels
// per series, 2 samples each 10 s apart, so nearly every series a write carries is new.
#include <zstd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <functional>
#include <initializer_list>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench/bench.h"
#include "bench/ts_dataset.h"
#include "timeseries/sealed_block.h"
#include "timeseries/vm_export.h"

namespace meld::bench {
namespace {

// Timings use this thread's CPU time, so that other work on a shared machine does not count:
// the rates are per core.
struct Clock {
  using time_point = double;  // seconds
  static double now() { return this_thread_cpu_seconds(); }
};
using ts::Sample;

constexpr int64_t kWeekMs = int64_t{7} * 24 * 3600 * 1000;

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

// Cuts a sorted series into block ranges [begin, end).
std::vector<std::pair<size_t, size_t>> block_ranges(const std::vector<Sample>& samples) {
  std::vector<std::pair<size_t, size_t>> ranges;
  size_t begin = 0;
  const auto week = [](int64_t t) { return t >= 0 ? t / kWeekMs : (t + 1) / kWeekMs - 1; };
  for (size_t i = 1; i <= samples.size(); ++i) {
    if (i == samples.size() || i - begin == ts::kBlockSamplesMax ||
        week(samples[i].timestamp_ms) != week(samples[begin].timestamp_ms)) {
      ranges.emplace_back(begin, i);
      begin = i;
    }
  }
  return ranges;
}

double seconds_since(Clock::time_point start) {
  return Clock::now() - start;
}

// Parses "--name value" pairs after the first argument into *flags (known names only).
bool parse_flags(const std::vector<std::string>& args,
                 std::initializer_list<std::pair<const char*, uint64_t*>> flags) {
  if ((args.size() - 1) % 2 != 0) return false;
  for (size_t i = 1; i + 1 < args.size(); i += 2) {
    bool known = false;
    for (const auto& [name, value] : flags) {
      if (args[i] != name) continue;
      const std::string& text = args[i + 1];
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *value);
      if (ec != std::errc() || end != text.data() + text.size()) return false;
      known = true;
    }
    if (!known) return false;
  }
  return true;
}

int fail(const char* command, const Status& s) {
  std::fprintf(stderr, "%s: %s\n", command, s.to_string().c_str());
  return 1;
}

}  // namespace

MELD_BENCH(ts_compress, "ts-compress",
           "FILE [--zstd-level L]: sealed-block codec size and speed on a VM JSON-lines export") {
  uint64_t zstd_level = 9;
  if (args.empty() || !parse_flags(args, {{"--zstd-level", &zstd_level}}) || zstd_level < 1 ||
      zstd_level > 19) {
    std::fprintf(stderr, "usage: meld-bench ts-compress FILE [--zstd-level 1..19]\n");
    return 2;
  }
  const std::string& path = args[0];
  ts::BlockEncoder encoder(static_cast<int>(zstd_level));
  std::string blocks;
  std::vector<size_t> block_ends;           // end offset of each block in `blocks`
  std::vector<size_t> series_block_counts;  // blocks per series, in file order
  uint64_t samples = 0;
  double encode_s = 0;
  // Pass 1: parse, cut and encode (only encode timed).
  Status s = for_each_export_series(path, [&](const ts::ExportSeries& series) -> Status {
    for (size_t i = 1; i < series.samples.size(); ++i) {
      if (series.samples[i].timestamp_ms <= series.samples[i - 1].timestamp_ms) {
        return Status::invalid_argument("series " + series.display_name() +
                                        ": timestamps not strictly increasing");
      }
    }
    const auto ranges = block_ranges(series.samples);
    for (const auto& [begin, end] : ranges) {
      const std::span<const Sample> part(series.samples.data() + begin, end - begin);
      const Clock::time_point start = Clock::now();
      MELD_RETURN_IF_ERROR(encoder.encode(part, &blocks));
      encode_s += seconds_since(start);
      block_ends.push_back(blocks.size());
    }
    series_block_counts.push_back(ranges.size());
    samples += series.samples.size();
    return Status::ok();
  });
  if (!s.is_ok()) return fail("ts-compress", s);
  if (samples == 0) return fail("ts-compress", Status::invalid_argument(path + ": no samples"));

  // Pass 2: decode everything back to back (timed as a whole).
  ts::BlockDecoder decoder;
  std::vector<Sample> decoded;
  uint64_t decoded_samples = 0;
  const Clock::time_point decode_start = Clock::now();
  size_t offset = 0;
  for (const size_t end : block_ends) {
    s = decoder.decode(std::string_view(blocks).substr(offset, end - offset), &decoded);
    if (!s.is_ok()) return fail("ts-compress", s);
    decoded_samples += decoded.size();
    offset = end;
  }
  const double decode_s = seconds_since(decode_start);
  if (decoded_samples != samples)
    return fail("ts-compress", Status::internal("decoded sample count differs"));

  // Pass 3: compare every sample with a fresh parse of the file.
  size_t series_index = 0;
  size_t block_index = 0;
  offset = 0;
  std::vector<Sample> series_decoded;
  s = for_each_export_series(path, [&](const ts::ExportSeries& series) -> Status {
    series_decoded.clear();
    for (size_t b = 0; b < series_block_counts[series_index]; ++b, ++block_index) {
      const size_t end = block_ends[block_index];
      MELD_RETURN_IF_ERROR(
          decoder.decode(std::string_view(blocks).substr(offset, end - offset), &decoded));
      series_decoded.insert(series_decoded.end(), decoded.begin(), decoded.end());
      offset = end;
    }
    ++series_index;
    bool same = series_decoded.size() == series.samples.size();
    for (size_t i = 0; same && i < series_decoded.size(); ++i) {
      same = ts::identical(series_decoded[i], series.samples[i]);
    }
    if (!same) return Status::corruption("roundtrip differs for series " + series.display_name());
    return Status::ok();
  });
  if (!s.is_ok()) return fail("ts-compress", s);

  std::fprintf(stderr,
               "# file %s: %zu series, %zu blocks (<= %u samples, within one week), zstd level "
               "%llu, one thread, rates per CPU-second\n",
               path.c_str(), series_block_counts.size(), block_ends.size(), ts::kBlockSamplesMax,
               static_cast<unsigned long long>(zstd_level));
  report("samples", std::to_string(samples));
  report("bytes_per_sample", static_cast<double>(blocks.size()) / static_cast<double>(samples));
  report("encode_samples_per_s", static_cast<double>(samples) / encode_s);
  report("decode_samples_per_s", static_cast<double>(samples) / decode_s);
  report("roundtrip", "identical");
  return 0;
}

namespace {

constexpr const char* kTsbsFields[] = {
    "usage_user", "usage_system",  "usage_idle",  "usage_nice",  "usage_iowait",
    "usage_irq",  "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice"};
constexpr int64_t kTsbsStartMs = 1451606400000;  // 2016-01-01T00:00:00Z, TSBS' default start
constexpr int64_t kTsbsIntervalMs = 10'000;
constexpr uint64_t kTsbsHostsMax = 1'000'000;
constexpr uint64_t kTsbsHoursMax = 24 * 31;

// Standard normal from two uniform draws (Box-Muller), so the output does not depend on the
// standard library's distributions, only on mt19937_64, which the standard fixes.
double normal(std::mt19937_64* rng) {
  const double u1 = (static_cast<double>((*rng)() >> 11) + 1.0) * 0x1p-53;
  const double u2 = static_cast<double>((*rng)() >> 11) * 0x1p-53;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

class Output {
 public:
  explicit Output(std::FILE* file, bool zstd) : file_(file) {
    if (zstd) {
      cctx_ = ZSTD_createCCtx();
      MELD_ASSERT(cctx_ != nullptr, "ZSTD_createCCtx failed");
      ZSTD_CCtx_setParameter(cctx_, ZSTD_c_compressionLevel, 3);
    }
  }
  ~Output() { ZSTD_freeCCtx(cctx_); }

  bool write(std::string_view bytes, bool last) {
    if (cctx_ == nullptr) return std::fwrite(bytes.data(), 1, bytes.size(), file_) == bytes.size();
    ZSTD_inBuffer in{bytes.data(), bytes.size(), 0};
    std::string out(ZSTD_CStreamOutSize(), '\0');
    while (true) {
      ZSTD_outBuffer o{out.data(), out.size(), 0};
      const size_t r = ZSTD_compressStream2(cctx_, &o, &in, last ? ZSTD_e_end : ZSTD_e_continue);
      if (ZSTD_isError(r)) return false;
      if (std::fwrite(out.data(), 1, o.pos, file_) != o.pos) return false;
      if (last ? r == 0 : in.pos == in.size) return true;
    }
  }

 private:
  std::FILE* file_;
  ZSTD_CCtx* cctx_ = nullptr;
};

using Emit = std::function<Status(const ts::ExportSeries&)>;

// Writes the series `generate` emits to path as a VictoriaMetrics JSON-lines export,
// zstd-compressed when path ends in .zst.
Status write_export(const std::string& path, const std::function<Status(const Emit&)>& generate) {
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "wb"));
  if (!file) return Status::io_error("cannot create " + path);
  Output out(file.get(), path.size() > 4 && path.ends_with(".zst"));
  std::string text;
  MELD_RETURN_IF_ERROR(generate([&](const ts::ExportSeries& series) {
    text.clear();
    ts::append_export_line(series, &text);
    return out.write(text, false) ? Status::ok() : Status::io_error("write error on " + path);
  }));
  if (!out.write("", true) || std::fflush(file.get()) != 0) {
    return Status::io_error("write error on " + path);
  }
  return Status::ok();
}

}  // namespace

MELD_BENCH(ts_generate_tsbs, "ts-generate-tsbs",
           "OUT [--hosts N] [--hours H] [--seed S]: write a TSBS cpu-only-like data set") {
  uint64_t hosts = 4000;
  uint64_t hours = 3;
  uint64_t seed = 1;
  if (args.empty() ||
      !parse_flags(args, {{"--hosts", &hosts}, {"--hours", &hours}, {"--seed", &seed}})) {
    std::fprintf(stderr,
                 "usage: meld-bench ts-generate-tsbs OUT [--hosts N] [--hours H] [--seed S]\n");
    return 2;
  }
  if (hosts == 0 || hosts > kTsbsHostsMax || hours == 0 || hours > kTsbsHoursMax) {
    std::fprintf(stderr, "ts-generate-tsbs: need 1 <= hosts <= %llu and 1 <= hours <= %llu\n",
                 static_cast<unsigned long long>(kTsbsHostsMax),
                 static_cast<unsigned long long>(kTsbsHoursMax));
    return 2;
  }
  const uint64_t samples_per_series = hours * 3600 * 1000 / kTsbsIntervalMs;
  std::mt19937_64 rng(seed);
  const Status s = write_export(args[0], [&](const Emit& emit) {
    ts::ExportSeries series;
    for (uint64_t h = 0; h < hosts; ++h) {
      const std::string host = "host_" + std::to_string(h);
      for (const char* field : kTsbsFields) {
        series.labels = {{"__name__", std::string("cpu_") + field},
                         {"hostname", host},
                         {"region", "region_" + std::to_string(h % 9)},
                         {"datacenter", "dc_" + std::to_string(h % 27)},
                         {"rack", std::to_string(h % 100)},
                         {"os", "Ubuntu16.04LTS"},
                         {"arch", h % 2 == 0 ? "x64" : "x86"}};
        series.samples.resize(samples_per_series);
        double walk = static_cast<double>(rng() % 10001) / 100;
        for (uint64_t i = 0; i < samples_per_series; ++i) {
          walk = std::clamp(walk + normal(&rng), 0.0, 100.0);
          series.samples[i] = Sample{kTsbsStartMs + static_cast<int64_t>(i) * kTsbsIntervalMs,
                                     std::round(walk * 100) / 100};
        }
        MELD_RETURN_IF_ERROR(emit(series));
      }
    }
    return Status::ok();
  });
  if (!s.is_ok()) return fail("ts-generate-tsbs", s);
  report("series", std::to_string(hosts * std::size(kTsbsFields)));
  report("samples", std::to_string(hosts * std::size(kTsbsFields) * samples_per_series));
  return 0;
}

namespace {

constexpr const char* kChurnMetrics[] = {"cpu_usage_seconds_total",
                                         "memory_working_set_bytes",
                                         "network_receive_bytes_total",
                                         "network_transmit_bytes_total",
                                         "fs_reads_total",
                                         "fs_writes_total",
                                         "threads",
                                         "file_descriptors",
                                         "cpu_cfs_throttled_seconds_total",
                                         "oom_events_total"};
constexpr const char* kChurnRegions[] = {"us-east-1", "us-west-2", "eu-central-1", "ap-northeast-1",
                                         "sa-east-1"};
constexpr uint64_t kChurnPodsMax = 10'000'000;

}  // namespace

MELD_BENCH(ts_generate_churn, "ts-generate-churn",
           "OUT [--pods N] [--seed S]: write a series-churn data set: N short-lived pods x 10 "
           "container metrics, 8 labels each, 2 samples per series") {
  uint64_t pods = 20'000;
  uint64_t seed = 1;
  if (args.empty() || !parse_flags(args, {{"--pods", &pods}, {"--seed", &seed}})) {
    std::fprintf(stderr, "usage: meld-bench ts-generate-churn OUT [--pods N] [--seed S]\n");
    return 2;
  }
  if (pods == 0 || pods > kChurnPodsMax) {
    std::fprintf(stderr, "ts-generate-churn: need 1 <= pods <= %llu\n",
                 static_cast<unsigned long long>(kChurnPodsMax));
    return 2;
  }
  std::mt19937_64 rng(seed);
  const Status s = write_export(args[0], [&](const Emit& emit) {
    ts::ExportSeries series;
    char pod[64];
    char instance[32];
    for (uint64_t p = 0; p < pods; ++p) {
      // A pod of one of 500 deployments, with a random suffix (as Kubernetes names them).
      std::snprintf(pod, sizeof pod, "app-%llu-%08llx", static_cast<unsigned long long>(p % 500),
                    static_cast<unsigned long long>(rng() & 0xffffffff));
      std::snprintf(instance, sizeof instance, "10.%llu.%llu.%llu:10250",
                    static_cast<unsigned long long>(p % 7),
                    static_cast<unsigned long long>(p % 251),
                    static_cast<unsigned long long>(p % 13));
      for (const char* metric : kChurnMetrics) {
        series.labels = {{"__name__", std::string("container_") + metric},
                         {"namespace", "ns-" + std::to_string(p % 50)},
                         {"pod", pod},
                         {"container", "c" + std::to_string(p % 3)},
                         {"node", "node-" + std::to_string(p % 300)},
                         {"region", kChurnRegions[p % std::size(kChurnRegions)]},
                         {"job", "kubelet"},
                         {"instance", instance}};
        const double value = static_cast<double>(rng() % 1000);
        series.samples = {Sample{kTsbsStartMs, value},
                          Sample{kTsbsStartMs + kTsbsIntervalMs, value + 1}};
        MELD_RETURN_IF_ERROR(emit(series));
      }
    }
    return Status::ok();
  });
  if (!s.is_ok()) return fail("ts-generate-churn", s);
  report("series", std::to_string(pods * std::size(kChurnMetrics)));
  report("samples", std::to_string(pods * std::size(kChurnMetrics) * 2));
  return 0;
}

}  // namespace meld::bench
