// The MeldDB client library: a synchronous connection to one meldd node over Cap'n Proto RPC
// (schemas/api.capnp).
//
// Threads: a Client runs its own KJ event loop on the thread that called connect() and must be
// used, and destroyed, on that thread only. KJ allows one event loop per thread, so Clients that
// share a thread share that loop; each call runs the loop until its own reply arrives.
//
// Errors: every call returns a Status (or a Result) and never throws:
// - the server's errors come back with the server's code and message ("not_found: ...");
// - the limits of api.capnp (key, value, member and label sizes, list lengths) are checked here
//   before anything is sent, giving invalid_argument; the server checks them again;
// - a call that gets no reply within Options::timeout_ms gives deadline_exceeded;
// - a lost connection gives unavailable naming the address. A Client does not reconnect: after
//   unavailable, connect() again.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace meld::client {

struct Options {
  // HOST:PORT of any node; a missing port means 7400.
  std::string address = "127.0.0.1:7400";
  // Bound on each call, connect() included; must be positive.
  int64_t timeout_ms = 10000;
  // Metrics writes go through one MetricsWriter per client (api.capnp), which names a series by a
  // number once its labels went in an earlier write of this client: a series written again costs
  // a few bytes instead of its labels. The client remembers the labels of at most
  // api::maxWriterSeries series for this; later ones always carry their labels. false: every
  // write carries every series' labels.
  bool metrics_series_ids = true;
};

struct Label {
  std::string name;
  std::string value;
  friend bool operator==(const Label&, const Label&) = default;
};

struct Sample {
  int64_t timestamp_ms = 0;
  double value = 0;
};

// One series: its full label set, the metric name under "__name__".
struct Series {
  std::vector<Label> labels;
  std::vector<Sample> samples;
};

// One rejected item of a metrics write.
struct ItemError {
  static constexpr uint32_t kWholeSeries = UINT32_MAX;
  uint32_t series = 0;  // index into the request's series
  uint32_t sample = 0;  // index into that series' samples, or kWholeSeries
  Status status;
};

struct WriteResult {
  uint64_t accepted = 0;  // samples stored
  std::vector<ItemError> errors;
};

// Names one retry-safe update. A session is a random 64-bit id (base/rng.h os_random_u64()) that
// numbers its updates 1, 2, 3, ... without gaps; a retry reuses its number and its arguments.
struct RequestId {
  uint64_t session = 0;
  uint64_t sequence = 0;
};

struct KeyValue {
  std::string key;
  std::string value;
};

struct ScanPage {
  std::vector<KeyValue> entries;
  bool more = false;  // keys remain: continue from the last key plus "\0"
};

struct ListPage {
  std::vector<std::string> members;
  bool more = false;  // members remain: continue with after = the last member
};

struct SamplePage {
  std::vector<Sample> samples;
  bool more = false;  // samples remain: continue from the last timestamp plus 1
};

// One series of a query result: its labels (the metric name dropped where PromQL drops it) and
// its points, in time order.
struct QuerySeries {
  std::vector<Label> labels;
  std::vector<Sample> points;
};

struct QueryResult {
  std::vector<QuerySeries> series;  // sorted by labels
  uint64_t samples_loaded = 0;      // samples the server read from storage
};

struct StorageStats {
  uint64_t commit_groups = 0;
  uint64_t committed_batches = 0;
  uint64_t live_data_bytes = 0;
  bool sync_writes = false;
};

// The time-series store's memory and write-ahead backlog (schemas/api.capnp, TimeSeriesStats).
struct TimeSeriesStats {
  uint64_t series_in_memory = 0;
  uint64_t head_bytes = 0;
  uint64_t wal_bytes = 0;
  uint64_t wal_records = 0;
  uint64_t sealed_blocks = 0;
  uint64_t rewritten_blocks = 0;
};

struct NodeStatus {
  uint64_t node_id = 0;
  uint64_t cluster_id = 0;
  std::string version;
  std::string rpc_address;
  std::string peer_address;
  std::string data_dir;
  int64_t uptime_ms = 0;
  StorageStats storage;
  uint32_t active_clients = 0;
  TimeSeriesStats time_series;
};

// A metrics write built on one Client ahead of time, by Client::prepare_metrics_write, and sent
// once by Client::metrics_write(PreparedWrite) on that same client (benchmarks build their
// requests before they start the clock, so sending costs no encoding). With series ids
// (Options::metrics_series_ids), a prepared write names by number only the series whose labels
// an earlier prepared or sent write of the client carried: send prepared writes in the order
// they were prepared, or those series fail with not_found. Movable value; it lives on the
// Client's event loop, so it must be destroyed before that Client and on its thread.
class PreparedWrite {
 public:
  PreparedWrite(PreparedWrite&&) noexcept;
  PreparedWrite& operator=(PreparedWrite&&) noexcept;
  ~PreparedWrite();
  size_t series_count() const;

 private:
  friend class Client;
  struct Impl;
  explicit PreparedWrite(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class Client {
 public:
  // Connects and waits for the node's bootstrap capability. Fails with
  // unavailable("cannot reach MeldDB at ADDRESS: REASON") when the node is unreachable or does
  // not answer within timeout_ms, and invalid_argument for an empty address or a timeout_ms <= 0.
  static Result<std::unique_ptr<Client>> connect(const Options& options);

  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // The address this client was connected to, as given in Options.
  const std::string& address() const;

  // The value of key, or nullopt when the key does not exist.
  Result<std::optional<std::string>> kv_get(std::string_view key);
  // Returns once the write is durable.
  Status kv_put(std::string_view key, std::string_view value);
  // Deleting a missing key succeeds.
  Status kv_delete(std::string_view key);
  // Keys in [start, end) in order; an empty end means no upper bound. limit 0 means the server's
  // maximum; at most api::maxScanEntries.
  Result<ScanPage> kv_scan(std::string_view start, std::string_view end, uint32_t limit);

  // Adds delta (negative to decrement) and returns the counter's value after the write.
  Result<int64_t> counter_add(std::string_view name, int64_t delta);
  // The same, retry-safe: the add named id counts once however often it is sent, so a caller that
  // did not get an answer sends the same (name, delta, id) again. id.sequence must be > 0; see
  // RequestId. resource_exhausted when the counter holds too many out-of-order requests.
  Result<int64_t> counter_add(std::string_view name, int64_t delta, RequestId id);
  // A counter never written reads 0.
  Result<int64_t> counter_get(std::string_view name);

  // At most api::maxSetMembersPerCall members per call; all or none apply. A remove removes the
  // adds it observed (add-wins: a concurrent add survives).
  Status set_add(std::string_view set, const std::vector<std::string>& members);
  Status set_remove(std::string_view set, const std::vector<std::string>& members);
  // The same, retry-safe: member i's update is named (id.session, id.sequence + i) and applies
  // once however often the call is sent with the same members in the same order; the session's
  // next request continues at id.sequence + members.size(). id.sequence must be > 0.
  Status set_add(std::string_view set, const std::vector<std::string>& members, RequestId id);
  Status set_remove(std::string_view set, const std::vector<std::string>& members, RequestId id);
  Result<bool> set_contains(std::string_view set, std::string_view member);
  // set_contains() of each member, (*result)[i] for members[i], in one call that the server
  // reads in one batch; at most api::maxSetMembersPerCall members (invalid_argument past it).
  Result<std::vector<bool>> set_contains_all(std::string_view set,
                                             const std::vector<std::string>& members);
  // Members greater than after, in byte order; limit 0 means the server's maximum.
  Result<ListPage> set_list(std::string_view set, std::string_view after, uint32_t limit);

  // Sends the series that pass the label limits and reports the others as whole-series errors;
  // indices in the result refer to the series argument. Fails as a whole (invalid_argument) when
  // there are more than api::maxSeriesPerWrite series or api::maxSamplesPerWrite samples. A series
  // the server does not know by its number (the write that carried its labels was lost) is sent
  // once more with its labels, in a second request.
  Result<WriteResult> metrics_write(const std::vector<Series>& series);
  // Builds the request metrics_write(series) would send, without sending it. invalid_argument,
  // naming the first offender, for the size limits above and for a series that breaks a label
  // limit (a prepared write holds only series the server may accept).
  Result<PreparedWrite> prepare_metrics_write(const std::vector<Series>& series);
  // Sends a write prepared on this client; indices in the result refer to its series. A prepared
  // write is sent at most once: invalid_argument for one already sent or prepared on another
  // client.
  Result<WriteResult> metrics_write(PreparedWrite write);
  // Samples of the series with exactly these labels, from_ms <= timestamp_ms < to_ms, in time
  // order; limit 0 means the server's maximum, at most api::maxReadSamples.
  Result<SamplePage> metrics_read(const std::vector<Label>& labels, int64_t from_ms, int64_t to_ms,
                                  uint32_t limit);

  // Evaluates a PromQL-subset expression at every step from start_ms to end_ms inclusive, like
  // Prometheus' query_range (see api.capnp Metrics.query for the subset). invalid_argument for
  // an expression over api::maxQueryExprBytes (checked here), a malformed expression or range;
  // resource_exhausted when the query passes a maxQuery* limit.
  Result<QueryResult> metrics_query(std::string_view expr, int64_t start_ms, int64_t end_ms,
                                    int64_t step_ms);

  Result<NodeStatus> status();

 private:
  struct Impl;
  explicit Client(std::unique_ptr<Impl> impl);
  // Both counter_add()s; a zero id.sequence sends a plain add.
  Result<int64_t> send_counter_add(std::string_view name, int64_t delta, RequestId id);
  // All set_add()s and set_remove()s; a zero id.sequence sends no request id.
  Status send_set_update(std::string_view set, const std::vector<std::string>& members, bool remove,
                         RequestId id);
  std::unique_ptr<Impl> impl_;
};

// Translates a failed RPC into a Status, given the kj::Exception's description and whether its
// type is DISCONNECTED: "remote exception: CODE: MESSAGE" with a known CODE gives that code and
// MESSAGE; otherwise a disconnection gives unavailable naming address; anything else gives
// internal with the whole description.
Status status_from_rpc_failure(std::string_view description, bool disconnected,
                               std::string_view address);

}  // namespace meld::client
