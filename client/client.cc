#include "client/client.h"

#include <capnp/ez-rpc.h>
#include <kj/async-io.h>
#include <kj/timer.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

#include "schemas/api.capnp.h"

namespace meld::client {
namespace {

constexpr unsigned kDefaultPort = 7400;
constexpr std::string_view kRemotePrefix = "remote exception: ";

capnp::Data::Reader as_data(std::string_view bytes) {
  return {reinterpret_cast<const kj::byte*>(bytes.data()), bytes.size()};
}

std::string to_string(capnp::Data::Reader bytes) {
  return {reinterpret_cast<const char*>(bytes.begin()), bytes.size()};
}

std::string to_string(capnp::Text::Reader text) {
  return {text.begin(), text.size()};
}

// kj describes a failed system call as "connect(): Connection refused" and a failed name lookup
// as "DNS lookup failed.; params.host = ...; gai_strerror(status) = Name or service not known";
// users need only the last part.
std::string failure_reason(std::string_view description) {
  constexpr std::string_view kLookup = "gai_strerror(status) = ";
  constexpr std::string_view kSyscall = "(): ";
  std::string reason;
  if (auto at = description.find(kLookup); at != std::string_view::npos) {
    reason = "cannot resolve host: ";
    reason += description.substr(at + kLookup.size());
  } else if (at = description.find(kSyscall); at != std::string_view::npos) {
    reason = description.substr(at + kSyscall.size());
  } else {
    reason = description;
  }
  while (!reason.empty() && reason.back() == '.') reason.pop_back();
  if (!reason.empty() && std::isupper(static_cast<unsigned char>(reason[0])) &&
      (reason.size() == 1 || std::islower(static_cast<unsigned char>(reason[1])))) {
    reason[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(reason[0])));
  }
  return reason;
}

std::string size_error(std::string_view what, size_t size, uint32_t limit, std::string_view unit) {
  return std::string(what) + " is " + std::to_string(size) + " " + std::string(unit) + ", limit " +
         std::to_string(limit);
}

Status check_key(std::string_view what, std::string_view key) {
  if (key.size() > api::MAX_KEY_BYTES) {
    return Status::invalid_argument(size_error(what, key.size(), api::MAX_KEY_BYTES, "bytes"));
  }
  return Status::ok();
}

Status check_limit(std::string_view what, uint32_t limit, uint32_t max) {
  if (limit > max) {
    return Status::invalid_argument(std::string(what) + " limit is " + std::to_string(limit) +
                                    ", maximum " + std::to_string(max));
  }
  return Status::ok();
}

Status check_members(const std::vector<std::string>& members) {
  if (members.size() > api::MAX_SET_MEMBERS_PER_CALL) {
    return Status::invalid_argument(
        size_error("member list", members.size(), api::MAX_SET_MEMBERS_PER_CALL, "members"));
  }
  for (const std::string& member : members) MELD_RETURN_IF_ERROR(check_key("member", member));
  return Status::ok();
}

Status check_labels(const std::vector<Label>& labels) {
  if (labels.size() > api::MAX_LABELS) {
    return Status::invalid_argument(
        size_error("label set", labels.size(), api::MAX_LABELS, "labels"));
  }
  for (const Label& label : labels) {
    if (label.name.size() > api::MAX_LABEL_NAME_BYTES) {
      return Status::invalid_argument(size_error("label name '" + label.name.substr(0, 32) + "'",
                                                 label.name.size(), api::MAX_LABEL_NAME_BYTES,
                                                 "bytes"));
    }
    if (label.value.size() > api::MAX_LABEL_VALUE_BYTES) {
      return Status::invalid_argument(size_error("value of label '" + label.name + "'",
                                                 label.value.size(), api::MAX_LABEL_VALUE_BYTES,
                                                 "bytes"));
    }
  }
  return Status::ok();
}

void set_labels(capnp::List<api::Label>::Builder out, const std::vector<Label>& labels) {
  for (size_t i = 0; i < labels.size(); ++i) {
    out[i].setName(labels[i].name.c_str());
    out[i].setValue(labels[i].value.c_str());
  }
}

// How a write names one series: by its writer id (0: none), with or without its labels.
struct SeriesName {
  uint32_t id = 0;
  bool labels = true;
};

// Fills a write's series list with series[sent[i]], named names[i], for each i.
void set_series(capnp::List<api::SeriesSamples>::Builder list, const std::vector<Series>& series,
                const std::vector<uint32_t>& sent, const std::vector<SeriesName>& names) {
  for (size_t i = 0; i < sent.size(); ++i) {
    const Series& s = series[sent[i]];
    if (names[i].labels) set_labels(list[i].initLabels(s.labels.size()), s.labels);
    list[i].setId(names[i].id);
    auto out = list[i].initSamples(s.samples.size());
    for (size_t j = 0; j < s.samples.size(); ++j) {
      out[j].setTimestampMs(s.samples[j].timestamp_ms);
      out[j].setValue(s.samples[j].value);
    }
  }
}

// The count and size limits of one write, checked before anything is sent.
Status check_write_size(const std::vector<Series>& series) {
  if (series.size() > api::MAX_SERIES_PER_WRITE) {
    return Status::invalid_argument(
        size_error("write", series.size(), api::MAX_SERIES_PER_WRITE, "series"));
  }
  size_t samples = 0;
  for (const Series& s : series) samples += s.samples.size();
  if (samples > api::MAX_SAMPLES_PER_WRITE) {
    return Status::invalid_argument(
        size_error("write", samples, api::MAX_SAMPLES_PER_WRITE, "samples"));
  }
  return Status::ok();
}

// A write's reply, its error indices mapped through sent (the caller's index of each series
// sent) and merged with the errors found before sending.
Result<WriteResult> write_result(api::MetricsWriter::WriteResults::Reader r,
                                 const std::vector<uint32_t>& sent,
                                 std::vector<ItemError> local_errors) {
  WriteResult result{r.getAccepted(), std::move(local_errors)};
  for (auto e : r.getErrors()) {
    if (e.getSeries() >= sent.size()) {
      return Status::internal("server reported an error for series " +
                              std::to_string(e.getSeries()) + " of " + std::to_string(sent.size()));
    }
    result.errors.push_back(
        {sent[e.getSeries()], e.getSample(),
         Status(status_code_from_name(to_string(e.getCode())), to_string(e.getMessage()))});
  }
  std::sort(result.errors.begin(), result.errors.end(), [](const ItemError& a, const ItemError& b) {
    return std::pair(a.series, a.sample) < std::pair(b.series, b.sample);
  });
  return result;
}

template <typename P>
struct PromiseValue;
template <typename T>
struct PromiseValue<kj::Promise<T>> {
  using Type = T;
};

}  // namespace

Status status_from_rpc_failure(std::string_view description, bool disconnected,
                               std::string_view address) {
  if (description.starts_with(kRemotePrefix)) {
    std::string_view rest = description.substr(kRemotePrefix.size());
    if (auto colon = rest.find(": "); colon != std::string_view::npos) {
      std::string_view name = rest.substr(0, colon);
      StatusCode code = status_code_from_name(name);
      if (code != StatusCode::kOk && status_code_name(code) == name) {
        return Status(code, std::string(rest.substr(colon + 2)));
      }
    }
  }
  if (disconnected) {
    return Status::unavailable("lost connection to MeldDB at " + std::string(address) + ": " +
                               failure_reason(description));
  }
  return Status::internal(std::string(description));
}

struct Client::Impl {
  explicit Impl(const Options& options)
      : address(options.address),
        timeout_ms(options.timeout_ms),
        rpc(options.address.c_str(), kDefaultPort),
        meld(rpc.getMain<api::Meld>()),
        kv(meld.kvRequest().send().getKv()),
        counters(meld.countersRequest().send().getCounters()),
        sets(meld.setsRequest().send().getSets()),
        metrics(meld.metricsRequest().send().getMetrics()),
        admin(meld.adminRequest().send().getAdmin()),
        series_ids_enabled(options.metrics_series_ids) {}

  // The connection's MetricsWriter, opened by the first metrics write (pipelined: no round trip
  // of its own), so that clients that never write metrics leave no writer on the server.
  api::MetricsWriter::Client& writer() {
    if (!metrics_writer) metrics_writer = metrics.openWriterRequest().send().getWriter();
    return *metrics_writer;
  }

  // How the next write names a series with these labels (Options::metrics_series_ids): by the id
  // it was given, once a write carried its labels; otherwise with its labels and, while ids
  // remain, a new id.
  SeriesName name_series(const std::vector<Label>& labels) {
    // Without labels the series is refused anyway (no metric name): no id.
    if (!series_ids_enabled || labels.empty()) return {};
    series_key.clear();
    for (const Label& l : labels) {
      for (const std::string* text : {&l.name, &l.value}) {
        const uint32_t size = static_cast<uint32_t>(text->size());
        series_key.append(reinterpret_cast<const char*>(&size), sizeof size);
        series_key.append(*text);
      }
    }
    if (auto it = series_ids.find(series_key); it != series_ids.end()) return {it->second, false};
    if (series_ids.size() >= api::MAX_WRITER_SERIES) return {};
    const auto id = static_cast<uint32_t>(series_ids.size() + 1);
    series_ids.emplace(series_key, id);
    return {id, true};
  }

  // Runs the event loop until the promise that start() returns settles or the timeout passes.
  // start() returns a kj::Promise of a Status or a Result; exceptions, thrown while starting or
  // while waiting, become a Status.
  template <typename Start>
  auto call(Start&& start) -> typename PromiseValue<decltype(start())>::Type {
    using T = typename PromiseValue<decltype(start())>::Type;
    try {
      auto deadline = rpc.getIoProvider()
                          .getTimer()
                          .afterDelay(timeout_ms * kj::MILLISECONDS)
                          .then([this]() -> T { return deadline_status(); });
      return start().exclusiveJoin(kj::mv(deadline)).wait(rpc.getWaitScope());
    } catch (const kj::Exception& e) {
      return status_from_rpc_failure(e.getDescription().cStr(),
                                     e.getType() == kj::Exception::Type::DISCONNECTED, address);
    }
  }

  Status deadline_status() const {
    return Status::deadline_exceeded("no reply from MeldDB at " + address + " within " +
                                     std::to_string(timeout_ms) + " ms");
  }

  std::string address;
  int64_t timeout_ms;
  capnp::EzRpcClient rpc;
  // Pipelined on the bootstrap capability: no round trip until first used.
  api::Meld::Client meld;
  api::Kv::Client kv;
  api::Counters::Client counters;
  api::Sets::Client sets;
  api::Metrics::Client metrics;
  std::optional<api::MetricsWriter::Client> metrics_writer;  // see writer()
  api::Admin::Client admin;
  bool series_ids_enabled;
  // The ids given out: labels (names and values in the caller's order, each as u32 size + bytes)
  // -> id, 1, 2, 3, ... in order.
  std::unordered_map<std::string, uint32_t> series_ids;
  std::string series_key;  // name_series' scratch
};

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

const std::string& Client::address() const {
  return impl_->address;
}

Result<std::unique_ptr<Client>> Client::connect(const Options& options) {
  if (options.address.empty()) return Status::invalid_argument("address is empty");
  if (options.timeout_ms <= 0) {
    return Status::invalid_argument("timeout_ms must be positive, got " +
                                    std::to_string(options.timeout_ms));
  }
  std::string cannot_reach = "cannot reach MeldDB at " + options.address + ": ";
  std::unique_ptr<Impl> impl;
  try {
    impl = std::make_unique<Impl>(options);
  } catch (const kj::Exception& e) {
    return Status::unavailable(cannot_reach + failure_reason(e.getDescription().cStr()));
  }
  // The bootstrap capability resolves once the node answers; a failed connection rejects it.
  std::string reason;
  Status reached = impl->call([&]() -> kj::Promise<Status> {
    return impl->meld.whenResolved()
        .then([]() { return Status::ok(); })
        .catch_([&reason](kj::Exception&& e) -> Status {
          reason = failure_reason(e.getDescription().cStr());
          return Status::unavailable(reason);
        });
  });
  if (reached.code() == StatusCode::kDeadlineExceeded) {
    return Status::unavailable(cannot_reach + "no answer within " +
                               std::to_string(options.timeout_ms) + " ms");
  }
  if (!reached.is_ok()) return Status::unavailable(cannot_reach + reason);
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

Result<std::optional<std::string>> Client::kv_get(std::string_view key) {
  MELD_RETURN_IF_ERROR(check_key("key", key));
  return impl_->call([&] {
    auto request = impl_->kv.getRequest();
    request.setKey(as_data(key));
    return request.send().then(
        [](capnp::Response<api::Kv::GetResults>&& r) -> Result<std::optional<std::string>> {
          if (!r.getFound()) return std::optional<std::string>();
          return std::optional<std::string>(to_string(r.getValue()));
        });
  });
}

Status Client::kv_put(std::string_view key, std::string_view value) {
  MELD_RETURN_IF_ERROR(check_key("key", key));
  if (value.size() > api::MAX_VALUE_BYTES) {
    return Status::invalid_argument(
        size_error("value", value.size(), api::MAX_VALUE_BYTES, "bytes"));
  }
  return impl_->call([&] {
    auto request = impl_->kv.putRequest();
    request.setKey(as_data(key));
    request.setValue(as_data(value));
    return request.send().then([](auto&&) { return Status::ok(); });
  });
}

Status Client::kv_delete(std::string_view key) {
  MELD_RETURN_IF_ERROR(check_key("key", key));
  return impl_->call([&] {
    auto request = impl_->kv.deleteRequest();
    request.setKey(as_data(key));
    return request.send().then([](auto&&) { return Status::ok(); });
  });
}

Result<ScanPage> Client::kv_scan(std::string_view start, std::string_view end, uint32_t limit) {
  MELD_RETURN_IF_ERROR(check_key("start key", start));
  MELD_RETURN_IF_ERROR(check_key("end key", end));
  MELD_RETURN_IF_ERROR(check_limit("scan", limit, api::MAX_SCAN_ENTRIES));
  return impl_->call([&] {
    auto request = impl_->kv.scanRequest();
    request.setStart(as_data(start));
    request.setEnd(as_data(end));
    request.setLimit(limit);
    return request.send().then([](capnp::Response<api::Kv::ScanResults>&& r) -> Result<ScanPage> {
      ScanPage page;
      page.entries.reserve(r.getEntries().size());
      for (auto entry : r.getEntries()) {
        page.entries.push_back({to_string(entry.getKey()), to_string(entry.getValue())});
      }
      page.more = r.getMore();
      return page;
    });
  });
}

Result<int64_t> Client::counter_add(std::string_view name, int64_t delta) {
  return send_counter_add(name, delta, RequestId{});
}

Result<int64_t> Client::counter_add(std::string_view name, int64_t delta, RequestId id) {
  if (id.sequence == 0) return Status::invalid_argument("request id sequence must be > 0");
  return send_counter_add(name, delta, id);
}

Result<int64_t> Client::send_counter_add(std::string_view name, int64_t delta, RequestId id) {
  MELD_RETURN_IF_ERROR(check_key("counter name", name));
  return impl_->call([&] {
    auto request = impl_->counters.addRequest();
    request.setName(as_data(name));
    request.setDelta(delta);
    request.setRequestSession(id.session);
    request.setRequestSequence(id.sequence);
    return request.send().then(
        [](capnp::Response<api::Counters::AddResults>&& r) -> Result<int64_t> {
          return r.getValue();
        });
  });
}

Result<int64_t> Client::counter_get(std::string_view name) {
  MELD_RETURN_IF_ERROR(check_key("counter name", name));
  return impl_->call([&] {
    auto request = impl_->counters.getRequest();
    request.setName(as_data(name));
    return request.send().then(
        [](capnp::Response<api::Counters::GetResults>&& r) -> Result<int64_t> {
          return r.getValue();
        });
  });
}

Status Client::set_add(std::string_view set, const std::vector<std::string>& members) {
  return send_set_update(set, members, false, RequestId{});
}

Status Client::set_remove(std::string_view set, const std::vector<std::string>& members) {
  return send_set_update(set, members, true, RequestId{});
}

Status Client::set_add(std::string_view set, const std::vector<std::string>& members,
                       RequestId id) {
  if (id.sequence == 0) return Status::invalid_argument("request id sequence must be > 0");
  return send_set_update(set, members, false, id);
}

Status Client::set_remove(std::string_view set, const std::vector<std::string>& members,
                          RequestId id) {
  if (id.sequence == 0) return Status::invalid_argument("request id sequence must be > 0");
  return send_set_update(set, members, true, id);
}

Status Client::send_set_update(std::string_view set, const std::vector<std::string>& members,
                               bool remove, RequestId id) {
  MELD_RETURN_IF_ERROR(check_key("set name", set));
  MELD_RETURN_IF_ERROR(check_members(members));
  auto fill = [&](auto request) {
    request.setSet(as_data(set));
    request.setRequestSession(id.session);
    request.setRequestSequence(id.sequence);
    auto list = request.initMembers(members.size());
    for (size_t i = 0; i < members.size(); ++i) list.set(i, as_data(members[i]));
    return request.send().then([](auto&&) { return Status::ok(); });
  };
  return impl_->call(
      [&] { return remove ? fill(impl_->sets.removeRequest()) : fill(impl_->sets.addRequest()); });
}

Result<bool> Client::set_contains(std::string_view set, std::string_view member) {
  MELD_RETURN_IF_ERROR(check_key("set name", set));
  MELD_RETURN_IF_ERROR(check_key("member", member));
  return impl_->call([&] {
    auto request = impl_->sets.containsRequest();
    request.setSet(as_data(set));
    request.setMember(as_data(member));
    return request.send().then([](capnp::Response<api::Sets::ContainsResults>&& r) -> Result<bool> {
      return r.getPresent();
    });
  });
}

Result<std::vector<bool>> Client::set_contains_all(std::string_view set,
                                                   const std::vector<std::string>& members) {
  MELD_RETURN_IF_ERROR(check_key("set name", set));
  MELD_RETURN_IF_ERROR(check_members(members));
  return impl_->call([&] {
    auto request = impl_->sets.containsAllRequest();
    request.setSet(as_data(set));
    auto list = request.initMembers(members.size());
    for (size_t i = 0; i < members.size(); ++i) list.set(i, as_data(members[i]));
    return request.send().then(
        [&](capnp::Response<api::Sets::ContainsAllResults>&& r) -> Result<std::vector<bool>> {
          auto present = r.getPresent();
          if (present.size() != members.size()) {
            return Status::internal("containsAll answered " + std::to_string(present.size()) +
                                    " members of " + std::to_string(members.size()));
          }
          std::vector<bool> answers;
          answers.reserve(present.size());
          for (bool p : present) answers.push_back(p);
          return answers;
        });
  });
}

Result<ListPage> Client::set_list(std::string_view set, std::string_view after, uint32_t limit) {
  MELD_RETURN_IF_ERROR(check_key("set name", set));
  MELD_RETURN_IF_ERROR(check_key("after", after));
  MELD_RETURN_IF_ERROR(check_limit("list", limit, api::MAX_SCAN_ENTRIES));
  return impl_->call([&] {
    auto request = impl_->sets.listRequest();
    request.setSet(as_data(set));
    request.setAfter(as_data(after));
    request.setLimit(limit);
    return request.send().then([](capnp::Response<api::Sets::ListResults>&& r) -> Result<ListPage> {
      ListPage page;
      page.members.reserve(r.getMembers().size());
      for (auto member : r.getMembers()) page.members.push_back(to_string(member));
      page.more = r.getMore();
      return page;
    });
  });
}

Result<WriteResult> Client::metrics_write(const std::vector<Series>& series) {
  MELD_RETURN_IF_ERROR(check_write_size(series));
  // Series that break a label limit are reported here, so the server sees only the others;
  // sent[i] is the caller's index of the i-th series sent.
  std::vector<ItemError> local_errors;
  std::vector<uint32_t> sent;
  std::vector<SeriesName> names;
  for (uint32_t i = 0; i < series.size(); ++i) {
    if (Status s = check_labels(series[i].labels); !s.is_ok()) {
      local_errors.push_back({i, ItemError::kWholeSeries, std::move(s)});
    } else {
      sent.push_back(i);
      names.push_back(impl_->name_series(series[i].labels));
    }
  }
  if (sent.empty()) return WriteResult{0, std::move(local_errors)};
  auto send = [&](const std::vector<uint32_t>& indexes, const std::vector<SeriesName>& named,
                  std::vector<ItemError> errors) {
    return impl_->call([&] {
      auto request = impl_->writer().writeRequest();
      set_series(request.initSeries(indexes.size()), series, indexes, named);
      return request.send().then([&](capnp::Response<api::MetricsWriter::WriteResults>&& r) {
        return write_result(r, indexes, std::move(errors));
      });
    });
  };
  auto result = send(sent, names, std::move(local_errors));
  if (!result.is_ok()) return result;
  // Series sent by id alone that the server did not know by it: once more with their labels.
  std::vector<uint32_t> again;
  std::vector<SeriesName> again_names;
  std::erase_if(result->errors, [&](const ItemError& e) {
    if (e.sample != ItemError::kWholeSeries || e.status.code() != StatusCode::kNotFound) {
      return false;
    }
    const size_t k = std::lower_bound(sent.begin(), sent.end(), e.series) - sent.begin();
    if (names[k].labels) return false;
    again.push_back(e.series);
    again_names.push_back({names[k].id, true});
    return true;
  });
  if (again.empty()) return result;
  auto resent = send(again, again_names, std::move(result->errors));
  if (!resent.is_ok()) return resent;
  resent->accepted += result->accepted;
  return resent;
}

struct PreparedWrite::Impl {
  const Client* client;  // the one that prepared it
  capnp::Request<api::MetricsWriter::WriteParams, api::MetricsWriter::WriteResults> request;
  size_t series_count;
};

PreparedWrite::PreparedWrite(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PreparedWrite::PreparedWrite(PreparedWrite&&) noexcept = default;
PreparedWrite& PreparedWrite::operator=(PreparedWrite&&) noexcept = default;
PreparedWrite::~PreparedWrite() = default;

size_t PreparedWrite::series_count() const {
  return impl_ ? impl_->series_count : 0;
}

Result<PreparedWrite> Client::prepare_metrics_write(const std::vector<Series>& series) {
  MELD_RETURN_IF_ERROR(check_write_size(series));
  std::vector<uint32_t> all(series.size());
  for (uint32_t i = 0; i < series.size(); ++i) {
    if (Status s = check_labels(series[i].labels); !s.is_ok()) {
      return Status::invalid_argument("series " + std::to_string(i) + ": " + s.message());
    }
    all[i] = i;
  }
  std::vector<SeriesName> names;
  names.reserve(series.size());
  for (const Series& s : series) names.push_back(impl_->name_series(s.labels));
  auto request = impl_->writer().writeRequest();
  set_series(request.initSeries(series.size()), series, all, names);
  return PreparedWrite(std::make_unique<PreparedWrite::Impl>(
      PreparedWrite::Impl{this, kj::mv(request), series.size()}));
}

Result<WriteResult> Client::metrics_write(PreparedWrite write) {
  if (!write.impl_) return Status::invalid_argument("this prepared write was already sent");
  if (write.impl_->client != this) {
    return Status::invalid_argument("a prepared write is sent on the client that prepared it");
  }
  std::vector<uint32_t> sent(write.impl_->series_count);
  for (uint32_t i = 0; i < sent.size(); ++i) sent[i] = i;
  return impl_->call([&] {
    return write.impl_->request.send().then(
        [&](capnp::Response<api::MetricsWriter::WriteResults>&& r) {
          return write_result(r, sent, {});
        });
  });
}

Result<SamplePage> Client::metrics_read(const std::vector<Label>& labels, int64_t from_ms,
                                        int64_t to_ms, uint32_t limit) {
  MELD_RETURN_IF_ERROR(check_labels(labels));
  MELD_RETURN_IF_ERROR(check_limit("read", limit, api::MAX_READ_SAMPLES));
  return impl_->call([&] {
    auto request = impl_->metrics.readRequest();
    set_labels(request.initLabels(labels.size()), labels);
    request.setFromMs(from_ms);
    request.setToMs(to_ms);
    request.setLimit(limit);
    return request.send().then(
        [](capnp::Response<api::Metrics::ReadResults>&& r) -> Result<SamplePage> {
          SamplePage page;
          page.samples.reserve(r.getSamples().size());
          for (auto s : r.getSamples()) page.samples.push_back({s.getTimestampMs(), s.getValue()});
          page.more = r.getMore();
          return page;
        });
  });
}

Result<QueryResult> Client::metrics_query(std::string_view expr, int64_t start_ms, int64_t end_ms,
                                          int64_t step_ms) {
  if (expr.size() > api::MAX_QUERY_EXPR_BYTES) {
    return Status::invalid_argument(
        size_error("query", expr.size(), api::MAX_QUERY_EXPR_BYTES, "bytes"));
  }
  return impl_->call([&] {
    auto request = impl_->metrics.queryRequest();
    request.setExpr(capnp::Text::Reader(expr.data(), expr.size()));
    request.setStartMs(start_ms);
    request.setEndMs(end_ms);
    request.setStepMs(step_ms);
    return request.send().then(
        [](capnp::Response<api::Metrics::QueryResults>&& r) -> Result<QueryResult> {
          QueryResult result;
          result.samples_loaded = r.getSamplesLoaded();
          for (auto s : r.getSeries()) {
            QuerySeries& series = result.series.emplace_back();
            for (auto l : s.getLabels()) {
              series.labels.push_back({to_string(l.getName()), to_string(l.getValue())});
            }
            series.points.reserve(s.getPoints().size());
            for (auto p : s.getPoints())
              series.points.push_back({p.getTimestampMs(), p.getValue()});
          }
          return result;
        });
  });
}

Result<NodeStatus> Client::status() {
  return impl_->call([&] {
    return impl_->admin.statusRequest().send().then(
        [](capnp::Response<api::Admin::StatusResults>&& r) -> Result<NodeStatus> {
          auto s = r.getStatus();
          auto storage = s.getStorage();
          auto ts = s.getTimeSeries();
          return NodeStatus{
              .node_id = s.getNodeId(),
              .cluster_id = s.getClusterId(),
              .version = to_string(s.getVersion()),
              .rpc_address = to_string(s.getRpcAddress()),
              .peer_address = to_string(s.getPeerAddress()),
              .data_dir = to_string(s.getDataDir()),
              .uptime_ms = s.getUptimeMs(),
              .storage = {.commit_groups = storage.getCommitGroups(),
                          .committed_batches = storage.getCommittedBatches(),
                          .live_data_bytes = storage.getLiveDataBytes(),
                          .sync_writes = storage.getSyncWrites()},
              .active_clients = s.getActiveClients(),
              .time_series = {.series_in_memory = ts.getSeriesInMemory(),
                              .head_bytes = ts.getHeadBytes(),
                              .wal_bytes = ts.getWalBytes(),
                              .wal_records = ts.getWalRecords(),
                              .sealed_blocks = ts.getSealedBlocks(),
                              .rewritten_blocks = ts.getRewrittenBlocks()},
          };
        });
  });
}

}  // namespace meld::client
