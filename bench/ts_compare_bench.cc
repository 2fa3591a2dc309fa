// ts-compare FILE [options]: MeldDB side by side with VictoriaMetrics and Prometheus on one data
// set in VictoriaMetrics' JSON-lines export format. Each store in turn (never two at once) is
// started fresh on 127.0.0.1 (a free port, its own temp dir), loaded with the same batches and
// asked the same queries, then stopped (SIGKILL if it does not stop in time; also on failure).
//
// Ingest: the series are split across --clients connections (series i on connection
// i % clients, so each series arrives in time order); each connection sends, window by window of
// --window-s seconds, batches of at most --batch-samples samples from its series. Request bodies
// are encoded and every connection is opened before the clock starts (each sender thread opens
// its own and, for MeldDB, builds its RPC requests on it). The clock runs from the first byte
// sent until every batch
// is acknowledged and the store made it queryable (VictoriaMetrics: /internal/force_flush).
// Then the sample count is verified through the store's API: if the first check does not see
// every sample, the clock keeps running until a check does.
//   VictoriaMetrics: POST /api/v1/import (the file's own format).
//   Prometheus: its remote-write receiver (live ingestion, protobuf + snappy, bench/ts_wire.h).
//   MeldDB: a real meldd, one client connection per --clients; each sender builds its RPC
//     requests on its connection beforehand (client::PreparedWrite). They go through the
//     connection's MetricsWriter, which carries each series' labels once per connection and its
//     number after that; --meld-series-ids off sends the labels with every batch, as the peers'
//     protocols do. meldd fsyncs every group commit before it acknowledges the writes in it
//     (its default); --meld-sync off runs it with --no-sync, closer to the peers, which do not
//     fsync before they acknowledge. --meldd PATH runs another build's meldd.
// Bytes on disk: sizes of regular files after everything is flushed and compacted:
//   VictoriaMetrics: force_flush, force_merge (waited for), graceful stop; data/ (samples) and
//     indexdb/ (label index); caches, metadata and logs are not counted.
//   Prometheus: an admin-API snapshot, which writes the head as a persistent block: chunks/
//     (samples) and the block's index, meta.json and tombstones; the WAL kept for the live head
//     is not counted.
//   MeldDB: meldd stopped, its data dir reopened with storage::Engine, flush() and compact();
//     every file of the data dir except RocksDB's info logs (LOG*); `meld.disk.*` lines break
//     it down by key kind, column family and file kind (bench/ts_size.h).
// Queries: each line of --queries is one PromQL expression, run with /api/v1/query_range (or
// MeldDB's query RPC once it has one) from the first to the last multiple of --step-s inside the
// data's time range, --repeat times; median wall time reported. Answers are compared with
// Prometheus' (the reference for PromQL) when it ran, else with the first store's: series by
// label set, points by timestamp, values within --rel-tolerance. Disagreements are reported,
// never hidden, and do not fail the run; failures to ingest or answer do.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench.h"
#include "bench/ts_dataset.h"
#include "bench/ts_peers.h"
#include "bench/ts_size.h"
#include "bench/ts_wire.h"
#include "client/client.h"
#include "jepsen/process.h"
#include "schemas/api.capnp.h"
#include "storage/engine.h"

namespace meld::bench {
namespace {

using Clock = std::chrono::steady_clock;

// CPU seconds (user + system) used so far: by a store's server process, in total and per
// thread name, and by this benchmark process (its senders).
struct CpuUse {
  double server = 0;
  std::map<std::string, double> server_threads;
  double client = 0;
};

Result<CpuUse> cpu_now(pid_t server) {
  CpuUse use;
  auto total = process_cpu_seconds(server);
  MELD_RETURN_IF_ERROR(total.status());
  use.server = *total;
  auto threads = thread_cpu_seconds(server);
  MELD_RETURN_IF_ERROR(threads.status());
  use.server_threads = std::move(*threads);
  rusage self{};
  getrusage(RUSAGE_SELF, &self);
  use.client = static_cast<double>(self.ru_utime.tv_sec + self.ru_stime.tv_sec) +
               static_cast<double>(self.ru_utime.tv_usec + self.ru_stime.tv_usec) / 1e6;
  return use;
}

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

struct Options {
  // Connections, batch size and windows.
  BatchPlan plan;
  int64_t step_ms = 60'000;
  size_t repeat = 3;
  double rel_tolerance = 1e-9;
  std::string queries_path;
  std::vector<std::string> stores = {"meld", "victoria-metrics", "prometheus"};
  // MeldDB's writes name a series by number after its first write (client::Options::
  // metrics_series_ids); off: every write carries every series' labels, as the peers' do.
  bool meld_series_ids = true;
  // meldd's default: a write is acknowledged once its group commit is fsynced. Off: meldd runs
  // with --no-sync (acknowledged writes survive kill -9, not a power loss), which is closer to
  // what the peers promise: neither fsyncs before it acknowledges a write.
  bool meld_sync = true;
  // The meldd to run: by default the one built next to this benchmark. Another build's binary
  // compares builds on the same data without copying binaries around.
  std::string meldd_path = MELDD_PATH;
};

struct DiskUsage {
  uint64_t data_bytes = 0;   // samples
  uint64_t index_bytes = 0;  // label index and block metadata; 0 when not separable
  // Configuration files whose size does not depend on the data (RocksDB's OPTIONS files, about
  // 80 KB per data dir): counted in bytes_per_sample, and also reported without.
  uint64_t config_bytes = 0;
  std::string counted;  // what exactly was counted
};

// One connection's sender: made by Store::connect on its own thread before the clock, then used
// (send) and destroyed on that thread.
class Sender {
 public:
  virtual ~Sender() = default;
  // Sends the connection's batches in order; returns at the first failure.
  virtual Status send() = 0;
};

// One store under test. Calls come in this order: start, prepare, connect (from `clients` threads
// at once, thread c with c), the senders' send, make_queryable, count_samples, query_range (any
// number), settle_and_measure, stop. Only connect and the senders run on several threads.
class Store {
 public:
  virtual ~Store() = default;
  virtual std::string name() const = 0;
  virtual std::string version() const = 0;
  virtual Status start(const std::string& dir) = 0;
  // Encodes every batch for this store (not timed).
  virtual void prepare(const std::vector<std::vector<Batch>>& plan) = 0;
  // Opens connection c and readies its batches (not timed).
  virtual Result<std::unique_ptr<Sender>> connect(size_t c) = 0;
  // The store's server process (started).
  virtual pid_t pid() const = 0;
  virtual Status make_queryable() { return Status::ok(); }
  // The sum of the answers to the count queries (see count_queries in ts_wire.h) at at_ms.
  virtual Result<uint64_t> count_samples(std::span<const std::string> queries, int64_t at_ms) = 0;
  virtual Result<std::vector<ResultSeries>> query_range(const std::string& promql, int64_t start_ms,
                                                        int64_t end_ms, int64_t step_ms) = 0;
  virtual Result<DiskUsage> settle_and_measure() = 0;
  virtual void stop() = 0;
};

std::string package_version(const std::string& package) {
  std::string out;
  std::FILE* p = popen(("dpkg-query -W -f='${Version}' " + package + " 2>/dev/null").c_str(), "r");
  if (p == nullptr) return "?";
  char buf[128];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  pclose(p);
  return out.empty() ? "?" : out;
}

std::string seconds_text(int64_t ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%lld.%03lld", static_cast<long long>(ms / 1000),
                static_cast<long long>(ms % 1000));
  return buf;
}

// VictoriaMetrics and Prometheus: the Prometheus HTTP query API.
class HttpStore : public Store {
 public:
  pid_t pid() const override { return process_->pid(); }

  Result<uint64_t> count_samples(std::span<const std::string> queries, int64_t at_ms) override {
    uint64_t total = 0;
    for (const std::string& q : queries) {
      auto answer = query("/api/v1/query", {{"query", q}, {"time", seconds_text(at_ms)}});
      MELD_RETURN_IF_ERROR(answer.status());
      if (answer->empty()) continue;
      if (answer->size() != 1 || answer->front().points.size() != 1) {
        return Status::internal(name() + ": unexpected answer to " + q);
      }
      total += static_cast<uint64_t>(answer->front().points[0].value);
    }
    return total;
  }

  Result<std::vector<ResultSeries>> query_range(const std::string& promql, int64_t start_ms,
                                                int64_t end_ms, int64_t step_ms) override {
    return query("/api/v1/query_range", {{"query", promql},
                                         {"start", seconds_text(start_ms)},
                                         {"end", seconds_text(end_ms)},
                                         {"step", seconds_text(step_ms)}});
  }

 protected:
  Status start_process(const std::string& dir, std::vector<std::string> argv,
                       const std::string& ready_path) {
    process_ = std::make_unique<PeerProcess>(name(), std::move(argv), dir + "/" + name() + ".log");
    ready_path_ = ready_path;
    MELD_RETURN_IF_ERROR(process_->start());
    return wait_http_ready(http_, base_ + ready_path, *process_, 60000);
  }

  Result<std::vector<ResultSeries>> query(
      const std::string& path, const std::vector<std::pair<std::string, std::string>>& form) {
    auto r = http_.post_form(base_ + path, form, 600000);
    MELD_RETURN_IF_ERROR(r.status());
    auto answer = parse_query_answer(r->body);
    if (!answer.is_ok()) {
      return Status::invalid_argument(name() + " " + path + " (HTTP " + std::to_string(r->code) +
                                      "): " + answer.status().message());
    }
    return answer;
  }

  // Posts bodies_[c] to path, one POST per batch, on a connection of its own, opened here (a GET
  // of the ready path; the POSTs reuse it).
  Result<std::unique_ptr<Sender>> connect_posting(size_t c, std::string path,
                                                  std::vector<std::string> headers) {
    class Poster final : public Sender {
     public:
      Poster(const HttpStore& store, size_t c, std::string path, std::vector<std::string> headers)
          : store_(store), c_(c), path_(std::move(path)), headers_(std::move(headers)) {}
      Status open() {
        auto r = http_.get(store_.base_ + store_.ready_path_);
        MELD_RETURN_IF_ERROR(r.status());
        return Status::ok();
      }
      Status send() override {
        for (const std::string& body : store_.bodies_[c_]) {
          auto r = http_.post(store_.base_ + path_, body, headers_);
          MELD_RETURN_IF_ERROR(r.status());
          if (r->code / 100 != 2) {
            return Status::unavailable(store_.name() + " " + path_ + " answered HTTP " +
                                       std::to_string(r->code) + ": " + r->body.substr(0, 500));
          }
        }
        return Status::ok();
      }

     private:
      const HttpStore& store_;
      size_t c_;
      std::string path_;
      std::vector<std::string> headers_;
      HttpClient http_;
    };
    auto poster = std::make_unique<Poster>(*this, c, std::move(path), std::move(headers));
    MELD_RETURN_IF_ERROR(poster->open());
    return std::unique_ptr<Sender>(std::move(poster));
  }

  void stop_process(int stop_signal) {
    if (process_) process_->stop(stop_signal, 60000);
  }

  std::string base_;        // http://127.0.0.1:PORT
  std::string ready_path_;  // answers 200 once the store is up
  HttpClient http_;
  std::unique_ptr<PeerProcess> process_;
  std::vector<std::vector<std::string>> bodies_;  // [connection][batch]
};

class VictoriaMetrics final : public HttpStore {
 public:
  std::string name() const override { return "victoria-metrics"; }
  std::string version() const override { return package_version("victoria-metrics"); }

  Status start(const std::string& dir) override {
    auto port = free_loopback_port();
    MELD_RETURN_IF_ERROR(port.status());
    base_ = "http://127.0.0.1:" + std::to_string(*port);
    data_dir_ = dir + "/vm-data";
    return start_process(
        dir,
        {"victoria-metrics", "-storageDataPath=" + data_dir_,
         "-httpListenAddr=127.0.0.1:" + std::to_string(*port), "-retentionPeriod=100y",
         "-search.disableCache", "-search.latencyOffset=0s", "-search.maxQueryDuration=600s",
         "-search.maxUniqueTimeseries=10000000", "-loggerOutput=stderr"},
        "/health");
  }

  void prepare(const std::vector<std::vector<Batch>>& plan) override {
    bodies_.assign(plan.size(), {});
    ts::ExportSeries series;
    for (size_t c = 0; c < plan.size(); ++c) {
      for (const Batch& batch : plan[c]) {
        std::string body;
        for (const SeriesSlice& slice : batch.slices) {
          series.labels = *slice.labels;
          series.samples.assign(slice.samples.begin(), slice.samples.end());
          ts::append_export_line(series, &body);
        }
        bodies_[c].push_back(std::move(body));
      }
    }
  }

  Result<std::unique_ptr<Sender>> connect(size_t c) override {
    return connect_posting(c, "/api/v1/import", {});
  }

  Status make_queryable() override {
    auto r = http_.get(base_ + "/internal/force_flush");
    MELD_RETURN_IF_ERROR(r.status());
    if (r->code != 200)
      return Status::unavailable("force_flush answered " + std::to_string(r->code));
    return Status::ok();
  }

  Result<DiskUsage> settle_and_measure() override {
    MELD_RETURN_IF_ERROR(make_queryable());
    auto r = http_.get(base_ + "/internal/force_merge");
    MELD_RETURN_IF_ERROR(r.status());
    if (r->code != 200)
      return Status::unavailable("force_merge answered " + std::to_string(r->code));
    // The merge runs in the background; VictoriaMetrics logs its end.
    const auto deadline = Clock::now() + std::chrono::minutes(10);
    while (process_->log().find("forced merge for partition_prefix=\"\" has been successfully "
                                "finished") == std::string::npos) {
      if (Clock::now() > deadline) return Status::deadline_exceeded("force_merge did not finish");
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    stop_process(SIGINT);  // graceful: flushes what is in memory
    DiskUsage u;
    u.data_bytes = file_bytes_under(data_dir_ + "/data");
    u.index_bytes = file_bytes_under(data_dir_ + "/indexdb");
    u.counted =
        "data/ + indexdb/ after force_flush, force_merge and a graceful stop (no caches, "
        "metadata or logs)";
    return u;
  }

  void stop() override { stop_process(SIGINT); }

 private:
  std::string data_dir_;
};

class Prometheus final : public HttpStore {
 public:
  std::string name() const override { return "prometheus"; }
  std::string version() const override { return package_version("prometheus"); }

  Status start(const std::string& dir) override {
    auto port = free_loopback_port();
    MELD_RETURN_IF_ERROR(port.status());
    base_ = "http://127.0.0.1:" + std::to_string(*port);
    data_dir_ = dir + "/prometheus-data";
    const std::string config = dir + "/prometheus.yml";
    std::ofstream(config) << "global: {}\n";
    return start_process(
        dir,
        {"prometheus", "--config.file=" + config, "--storage.tsdb.path=" + data_dir_,
         "--web.listen-address=127.0.0.1:" + std::to_string(*port),
         "--web.enable-remote-write-receiver", "--web.enable-admin-api",
         "--query.max-samples=1000000000", "--query.timeout=10m", "--log.level=info"},
        "/-/ready");
  }

  void prepare(const std::vector<std::vector<Batch>>& plan) override {
    bodies_.assign(plan.size(), {});
    std::string raw;
    for (size_t c = 0; c < plan.size(); ++c) {
      for (const Batch& batch : plan[c]) {
        raw.clear();
        append_remote_write(batch.slices, &raw);
        bodies_[c].push_back(snappy_compress(raw));
      }
    }
  }

  Result<std::unique_ptr<Sender>> connect(size_t c) override {
    return connect_posting(c, "/api/v1/write",
                           {"Content-Type: application/x-protobuf", "Content-Encoding: snappy",
                            "X-Prometheus-Remote-Write-Version: 0.1.0"});
  }

  Result<DiskUsage> settle_and_measure() override {
    auto r = http_.post(base_ + "/api/v1/admin/tsdb/snapshot?skip_head=false", "", {}, 600000);
    MELD_RETURN_IF_ERROR(r.status());
    const std::string marker = "\"name\":\"";
    const size_t at = r->body.find(marker);
    const size_t end = at == std::string::npos ? at : r->body.find('"', at + marker.size());
    if (r->code != 200 || end == std::string::npos) {
      return Status::unavailable("snapshot failed: HTTP " + std::to_string(r->code) + " " +
                                 r->body.substr(0, 300));
    }
    const std::string snapshot =
        data_dir_ + "/snapshots/" + r->body.substr(at + marker.size(), end - at - marker.size());
    DiskUsage u;
    for (const auto& block : std::filesystem::directory_iterator(snapshot)) {
      const uint64_t chunks = file_bytes_under(block.path().string() + "/chunks");
      u.data_bytes += chunks;
      u.index_bytes += file_bytes_under(block.path().string()) - chunks;
    }
    u.counted =
        "the blocks of an admin-API snapshot (head written as a block): chunks/ + index, "
        "meta.json, tombstones; the live head's WAL is not counted";
    stop_process(SIGTERM);
    return u;
  }

  void stop() override { stop_process(SIGTERM); }

 private:
  std::string data_dir_;
};

class Meld final : public Store {
 public:
  // A graceful stop seals every head into blocks: seconds for many series on a busy machine.
  static constexpr int kStopTimeoutMs = 600'000;

  Meld(std::string meldd_path, bool sync, bool series_ids)
      : meldd_path_(std::move(meldd_path)), sync_(sync), series_ids_(series_ids) {}

  std::string name() const override { return "meld"; }
  std::string version() const override {
    return meldd_path_ + ", fsync per commit " + (sync_ ? "on" : "off (--no-sync)") +
           ", series ids " + (series_ids_ ? "on" : "off");
  }

  Status start(const std::string& dir) override {
    data_dir_ = dir + "/meld-data";
    std::vector<std::string> args;
    if (!sync_) args.push_back("--no-sync");
    node_ = std::make_unique<jepsen::MelddProcess>(meldd_path_, data_dir_, std::move(args));
    MELD_RETURN_IF_ERROR(node_->start());
    client::Options options;
    options.address = node_->address();
    options.timeout_ms = 600000;
    auto c = client::Client::connect(options);
    MELD_RETURN_IF_ERROR(c.status());
    client_ = std::move(*c);
    return Status::ok();
  }

  void prepare(const std::vector<std::vector<Batch>>& plan) override { plan_ = &plan; }

  pid_t pid() const override { return node_->pid(); }

  Result<std::unique_ptr<Sender>> connect(size_t c) override {
    client::Options options;
    options.address = node_->address();
    options.timeout_ms = 600000;
    options.metrics_series_ids = series_ids_;
    auto connection = client::Client::connect(options);
    MELD_RETURN_IF_ERROR(connection.status());
    std::vector<Writer::Request> requests;
    std::vector<client::Series> series;
    for (const Batch& batch : (*plan_)[c]) {
      series.clear();
      for (const SeriesSlice& slice : batch.slices) {
        client::Series& one = series.emplace_back();
        for (const auto& [name, value] : *slice.labels) one.labels.push_back({name, value});
        for (const ts::Sample& s : slice.samples) one.samples.push_back({s.timestamp_ms, s.value});
      }
      // A batch that does not encode (labels past the limits) fails its connection.
      auto write = (*connection)->prepare_metrics_write(series);
      MELD_RETURN_IF_ERROR(write.status());
      requests.push_back({std::move(*write), batch.samples});
    }
    return std::unique_ptr<Sender>(
        std::make_unique<Writer>(std::move(*connection), std::move(requests)));
  }

  Result<uint64_t> count_samples(std::span<const std::string> queries, int64_t at_ms) override {
    uint64_t total = 0;
    for (const std::string& q : queries) {
      auto answer = query_range(q, at_ms, at_ms, 1000);
      MELD_RETURN_IF_ERROR(answer.status());
      if (answer->empty()) continue;
      if (answer->size() != 1 || answer->front().points.size() != 1) {
        return Status::internal("meld: unexpected answer to " + q);
      }
      total += static_cast<uint64_t>(answer->front().points[0].value);
    }
    return total;
  }

  Result<std::vector<ResultSeries>> query_range(const std::string& promql, int64_t start_ms,
                                                int64_t end_ms, int64_t step_ms) override {
    auto result = client_->metrics_query(promql, start_ms, end_ms, step_ms);
    MELD_RETURN_IF_ERROR(result.status());
    std::vector<ResultSeries> answer;
    LabelPairs labels;
    for (const client::QuerySeries& series : result->series) {
      labels.clear();
      for (const client::Label& l : series.labels) labels.emplace_back(l.name, l.value);
      ResultSeries& out = answer.emplace_back();
      out.labels = canonical_label_string(labels);
      for (const client::Sample& p : series.points) out.points.push_back({p.timestamp_ms, p.value});
    }
    std::sort(answer.begin(), answer.end(),
              [](const ResultSeries& a, const ResultSeries& b) { return a.labels < b.labels; });
    return answer;
  }

  Result<DiskUsage> settle_and_measure() override {
    client_.reset();
    const Clock::time_point stopping = Clock::now();
    const int code = node_->stop(kStopTimeoutMs);
    if (code != 0) {
      return Status::internal("meldd exited with " + std::to_string(code) + " on SIGTERM; log:\n" +
                              jepsen::last_bytes(node_->log(), 2000));
    }
    report("meld.shutdown_seal_s", seconds_between(stopping, Clock::now()));
    storage::InlineExecutor executor;
    storage::Options options;
    options.dir = data_dir_;
    auto engine = storage::Engine::open(options, &executor);
    MELD_RETURN_IF_ERROR(engine.status());
    MELD_RETURN_IF_ERROR((*engine)->flush());
    MELD_RETURN_IF_ERROR((*engine)->compact());
    MELD_RETURN_IF_ERROR(report_data_dir_size(**engine, data_dir_, "meld.disk."));
    (*engine)->close();
    DiskUsage u;
    for (const auto& entry : std::filesystem::directory_iterator(data_dir_)) {
      const std::string file = entry.path().filename().string();
      if (file.starts_with("LOG")) continue;
      if (file.starts_with("OPTIONS-")) {
        u.config_bytes += static_cast<uint64_t>(entry.file_size());
        continue;
      }
      u.data_bytes += entry.is_directory() ? file_bytes_under(entry.path().string())
                                           : static_cast<uint64_t>(entry.file_size());
    }
    u.counted =
        "meldd stopped gracefully (it seals every head into blocks), data dir reopened with "
        "storage::Engine, flush() + compact(): every file except RocksDB's info logs (LOG*); "
        "samples and label index together (bytes_per_sample_without_config: also without its "
        "OPTIONS files)";
    return u;
  }

  void stop() override {
    client_.reset();
    if (node_) node_->stop();
  }

 private:
  // One connection's requests, built on it, sent in order.
  class Writer final : public Sender {
   public:
    struct Request {
      client::PreparedWrite write;
      size_t samples;
    };
    Writer(std::unique_ptr<client::Client> client, std::vector<Request> requests)
        : client_(std::move(client)), requests_(std::move(requests)) {}

    Status send() override {
      for (Request& request : requests_) {
        auto r = client_->metrics_write(std::move(request.write));
        MELD_RETURN_IF_ERROR(r.status());
        if (!r->errors.empty()) {
          return Status::internal("meld refused a sample: " + r->errors.front().status.to_string());
        }
        if (r->accepted != request.samples) {
          return Status::internal("meld accepted " + std::to_string(r->accepted) + " of " +
                                  std::to_string(request.samples) + " samples");
        }
      }
      return Status::ok();
    }

   private:
    std::unique_ptr<client::Client> client_;  // declared first: outlives its requests
    std::vector<Request> requests_;
  };

  const std::string meldd_path_;
  const bool sync_;
  const bool series_ids_;
  std::string data_dir_;
  std::unique_ptr<jepsen::MelddProcess> node_;
  std::unique_ptr<client::Client> client_;
  const std::vector<std::vector<Batch>>* plan_ = nullptr;
};

std::vector<std::string> read_queries(const std::string& path, Status* status) {
  std::vector<std::string> queries;
  if (path.empty()) return queries;
  std::ifstream in(path);
  if (!in) {
    *status = Status::io_error("cannot open " + path);
    return queries;
  }
  std::string line;
  while (std::getline(in, line)) {
    const size_t first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') continue;
    queries.push_back(line.substr(first));
  }
  return queries;
}

struct QueryRun {
  double median_ms = 0;
  std::vector<ResultSeries> answer;
  Status error;  // the store refused or failed the query: no answer, no time
};

struct StoreRun {
  std::string name;
  std::vector<QueryRun> queries;
};

// Runs one store from start to stop; prints its lines; fills run->queries.
Status run_store(Store& store, const Dataset& d, const std::vector<std::vector<Batch>>& plan,
                 const std::vector<std::string>& counting_queries,
                 const std::vector<std::string>& queries, const Options& o, StoreRun* run) {
  const std::string p = store.name() + ".";
  jepsen::TempDir dir;
  MELD_RETURN_IF_ERROR(store.start(dir.path()));
  store.prepare(plan);
  report(p + "version", store.version());

  std::vector<Status> results(plan.size());
  std::atomic<size_t> connected{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (size_t c = 0; c < plan.size(); ++c) {
    threads.emplace_back([&, c] {
      auto sender = store.connect(c);
      ++connected;
      while (!go) std::this_thread::yield();
      results[c] = sender.is_ok() ? (*sender)->send() : sender.status();
    });
  }
  while (connected < plan.size()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto cpu_start = cpu_now(store.pid());
  MELD_RETURN_IF_ERROR(cpu_start.status());
  const Clock::time_point start = Clock::now();
  go = true;
  for (std::thread& t : threads) t.join();
  const Clock::time_point acked = Clock::now();
  for (const Status& s : results) MELD_RETURN_IF_ERROR(s);
  MELD_RETURN_IF_ERROR(store.make_queryable());
  Clock::time_point queryable = Clock::now();
  const Clock::time_point verify_start = queryable;
  for (int attempt = 0;; ++attempt) {
    auto count = store.count_samples(counting_queries, d.max_ms);
    MELD_RETURN_IF_ERROR(count.status());
    if (*count == d.sample_count) {
      if (attempt > 0) queryable = Clock::now();
      break;
    }
    if (Clock::now() - verify_start > std::chrono::minutes(2)) {
      return Status::internal(store.name() + " holds " + std::to_string(*count) +
                              " samples, expected " + std::to_string(d.sample_count));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const double verify_s = seconds_between(verify_start, Clock::now());
  // CPU from the start of ingest to the end of the check (the check's queries included: a
  // fraction of a second against seconds of ingest).
  auto cpu_end = cpu_now(store.pid());
  MELD_RETURN_IF_ERROR(cpu_end.status());
  report(p + "ingest_s", seconds_between(start, queryable));
  report(p + "ingest_samples_per_s",
         static_cast<double>(d.sample_count) / seconds_between(start, queryable));
  report(p + "acked_samples_per_s",
         static_cast<double>(d.sample_count) / seconds_between(start, acked));
  report(p + "count_verified",
         std::to_string(d.sample_count) + " samples (" + std::to_string(verify_s) + " s to check)");
  const double million = static_cast<double>(d.sample_count) / 1e6;
  report(p + "ingest_server_cpu_s_per_million_samples",
         (cpu_end->server - cpu_start->server) / million);
  report(p + "ingest_client_cpu_s_per_million_samples",
         (cpu_end->client - cpu_start->client) / million);
  // The same per server thread name, busiest first: the busiest one bounds the rate when it is
  // a single thread on a serial path.
  std::vector<std::pair<double, std::string>> busiest;
  for (const auto& [name, seconds] : cpu_end->server_threads) {
    const auto before = cpu_start->server_threads.find(name);
    const double used = seconds - (before == cpu_start->server_threads.end() ? 0 : before->second);
    if (used > 0) busiest.emplace_back(used / million, name);
  }
  std::sort(busiest.rbegin(), busiest.rend());
  std::string line;
  for (const auto& [per_million, name] : busiest) {
    char part[160];
    std::snprintf(part, sizeof part, "%s%s=%.4f", line.empty() ? "" : " ", name.c_str(),
                  per_million);
    line += part;
  }
  report(p + "ingest_server_thread_cpu_s_per_million_samples", line);

  const int64_t first = (d.min_ms + o.step_ms - 1) / o.step_ms * o.step_ms;
  const int64_t last = d.max_ms / o.step_ms * o.step_ms;
  for (const std::string& q : queries) {
    QueryRun qr;
    std::vector<double> ms;
    for (size_t r = 0; r < o.repeat; ++r) {
      const Clock::time_point t = Clock::now();
      auto answer = store.query_range(q, first, last, o.step_ms);
      ms.push_back(seconds_between(t, Clock::now()) * 1000);
      if (!answer.is_ok()) {
        qr.error = answer.status();
        break;
      }
      qr.answer = std::move(*answer);
    }
    qr.median_ms = percentile(ms, 0.5);
    run->queries.emplace_back(std::move(qr));
  }

  auto disk = store.settle_and_measure();
  MELD_RETURN_IF_ERROR(disk.status());
  const double n = static_cast<double>(d.sample_count);
  const uint64_t measured = disk->data_bytes + disk->index_bytes;
  report(p + "bytes_per_sample", static_cast<double>(measured + disk->config_bytes) / n);
  if (disk->config_bytes > 0) {
    report(p + "bytes_per_sample_without_config", static_cast<double>(measured) / n);
  }
  if (disk->index_bytes > 0) {
    report(p + "bytes_per_sample_data_only", static_cast<double>(disk->data_bytes) / n);
  }
  report(p + "disk_bytes_counted", disk->counted);
  return Status::ok();
}

bool parse_options(const std::vector<std::string>& args, Options* o) {
  constexpr double kSecondsMax = 1e9;  // ~31 years: windows and steps in ms stay far from overflow
  const auto number = [](const std::string& text, double* out) {
    char* end = nullptr;
    *out = std::strtod(text.c_str(), &end);
    return !text.empty() && end == text.c_str() + text.size() && std::isfinite(*out) && *out > 0;
  };
  for (size_t i = 1; i < args.size(); i += 2) {
    if (i + 1 >= args.size()) return false;
    const std::string& flag = args[i];
    const std::string& value = args[i + 1];
    double x = 0;
    if (flag == "--queries") {
      o->queries_path = value;
    } else if (flag == "--meld-series-ids" && (value == "on" || value == "off")) {
      o->meld_series_ids = value == "on";
    } else if (flag == "--meld-sync" && (value == "on" || value == "off")) {
      o->meld_sync = value == "on";
    } else if (flag == "--meldd" && !value.empty()) {
      o->meldd_path = value;
    } else if (flag == "--stores") {
      o->stores.clear();
      for (size_t pos = 0; pos <= value.size();) {
        const size_t comma = std::min(value.find(',', pos), value.size());
        o->stores.push_back(value.substr(pos, comma - pos));
        pos = comma + 1;
      }
    } else if (!number(value, &x)) {
      return false;
    } else if (flag == "--clients" && x <= 256) {
      o->plan.clients = static_cast<size_t>(x);
    } else if (flag == "--batch-samples" && x <= api::MAX_SAMPLES_PER_WRITE) {
      o->plan.batch_samples = static_cast<size_t>(x);
    } else if (flag == "--window-s" && x <= kSecondsMax) {
      o->plan.window_ms = static_cast<int64_t>(x * 1000);
    } else if (flag == "--step-s" && x <= kSecondsMax) {
      o->step_ms = static_cast<int64_t>(x * 1000);
    } else if (flag == "--repeat" && x <= 100) {
      o->repeat = static_cast<size_t>(x);
    } else if (flag == "--rel-tolerance") {
      o->rel_tolerance = x;
    } else {
      return false;
    }
  }
  return o->plan.clients >= 1 && o->plan.batch_samples >= 1 && o->plan.window_ms >= 1 &&
         o->step_ms >= 1 && o->repeat >= 1;
}

std::unique_ptr<Store> make_store(const std::string& name, const Options& o) {
  if (name == "meld") return std::make_unique<Meld>(o.meldd_path, o.meld_sync, o.meld_series_ids);
  if (name == "victoria-metrics") return std::make_unique<VictoriaMetrics>();
  if (name == "prometheus") return std::make_unique<Prometheus>();
  return nullptr;
}

}  // namespace

MELD_BENCH(ts_compare, "ts-compare",
           "FILE [--queries F] [--stores meld,victoria-metrics,prometheus] [--clients N] "
           "[--batch-samples N] [--window-s S] [--step-s S] [--repeat N] [--rel-tolerance X] "
           "[--meld-series-ids on|off] [--meld-sync on|off] [--meldd PATH]: "
           "ingest, disk and range queries side by side with VictoriaMetrics and Prometheus") {
  Options o;
  if (args.empty() || !parse_options(args, &o)) {
    std::fprintf(stderr,
                 "usage: meld-bench ts-compare FILE [--queries FILE] [--stores "
                 "meld,victoria-metrics,prometheus] [--clients N] [--batch-samples N<=%u] "
                 "[--window-s S] [--step-s S] [--repeat N] [--rel-tolerance X] "
                 "[--meld-series-ids on|off] [--meld-sync on|off] [--meldd PATH]\n",
                 api::MAX_SAMPLES_PER_WRITE);
    return 2;
  }
  std::vector<std::unique_ptr<Store>> stores;
  std::vector<std::string> packages;
  for (const std::string& name : o.stores) {
    stores.push_back(make_store(name, o));
    if (!stores.back()) {
      std::fprintf(stderr, "ts-compare: unknown store %s\n", name.c_str());
      return 2;
    }
    if (name != "meld") packages.push_back(name);
  }
  Status s = Status::ok();
  if (std::find(o.stores.begin(), o.stores.end(), "meld") != o.stores.end() &&
      access(o.meldd_path.c_str(), X_OK) != 0) {
    s = Status::invalid_argument("meldd at " + o.meldd_path +
                                 " is not an executable file (--meldd PATH names another)");
  }
  const std::vector<std::string> queries =
      s.is_ok() ? read_queries(o.queries_path, &s) : std::vector<std::string>();
  if (s.is_ok()) s = ensure_debian_packages(packages);
  auto dataset = s.is_ok() ? load_dataset(args[0]) : Result<Dataset>(s);
  if (!dataset.is_ok()) {
    std::fprintf(stderr, "ts-compare: %s\n", dataset.status().to_string().c_str());
    return 1;
  }
  const Dataset& d = *dataset;
  // Every sample lies in the window (t - span, t] at t = max_ms.
  auto counts = count_queries(d.labels, d.max_ms - d.min_ms + 1);
  if (!counts.is_ok()) {
    std::fprintf(stderr, "ts-compare: %s\n", counts.status().to_string().c_str());
    return 1;
  }
  const auto plan = plan_batches(d, o.plan);
  size_t batches = 0;
  for (const auto& p : plan) batches += p.size();
  report("file", args[0]);
  report("series", std::to_string(d.labels.size()));
  report("samples", std::to_string(d.sample_count));
  report("time_range_s", static_cast<double>(d.max_ms - d.min_ms) / 1000);
  report("load", std::to_string(o.plan.clients) + " connections, " + std::to_string(batches) +
                     " batches of <= " + std::to_string(o.plan.batch_samples) +
                     " samples, windows of " + std::to_string(o.plan.window_ms / 1000) + " s");

  bool failed = false;
  std::vector<StoreRun> runs;
  for (auto& store : stores) {
    StoreRun run{store->name(), {}};
    s = run_store(*store, d, plan, *counts, queries, o, &run);
    store->stop();
    if (!s.is_ok()) {
      report(store->name() + ".error", s.to_string());
      failed = true;
      continue;
    }
    runs.push_back(std::move(run));
  }

  // Query times and agreement with the reference store: Prometheus when it ran, else the first
  // store that ran.
  size_t reference = 0;
  for (size_t r = 0; r < runs.size(); ++r) {
    if (runs[r].name == "prometheus") reference = r;
  }
  for (size_t q = 0; q < queries.size(); ++q) {
    const std::string p = "query" + std::to_string(q + 1);
    report(p, queries[q]);
    for (const StoreRun& run : runs) {
      const QueryRun* mine = &run.queries[q];
      if (!mine->error.is_ok()) {
        report(p + "." + run.name + ".error", mine->error.to_string());
        failed = true;
        continue;
      }
      size_t points = 0;
      for (const ResultSeries& series : mine->answer) points += series.points.size();
      report(p + "." + run.name + ".median_ms", mine->median_ms);
      report(p + "." + run.name + ".series_points",
             std::to_string(mine->answer.size()) + " " + std::to_string(points));
      if (&run == &runs[reference]) continue;
      const QueryRun* ref = &runs[reference].queries[q];
      if (!ref->error.is_ok()) continue;
      const std::string vs = p + "." + run.name + ".vs_" + runs[reference].name;
      const Comparison c = compare_answers(ref->answer, mine->answer, o.rel_tolerance, 1e-12);
      report(vs, describe(c));
      if (c.series_only_reference > 0 || c.series_only_other > 0) {
        report(vs + "_ignoring_name", describe(compare_answers(without_metric_name(ref->answer),
                                                               without_metric_name(mine->answer),
                                                               o.rel_tolerance, 1e-12)));
      }
    }
  }
  return failed ? 1 : 0;
}

}  // namespace meld::bench
