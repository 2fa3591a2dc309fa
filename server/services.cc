#include "server/services.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <future>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <thread>
#include <vector>

#include "base/hash.h"
#include "base/thread_name.h"
#include "crdt/codec.h"
#include "server/keys.h"
#include "storage/big_set.h"
#include "storage/ts_query.h"
#include "timeseries/query.h"

namespace meld::server {
namespace {

using storage::Family;

std::string_view as_view(capnp::Data::Reader d) {
  return {reinterpret_cast<const char*>(d.begin()), d.size()};
}

kj::ArrayPtr<const kj::byte> as_bytes(std::string_view s) {
  return {reinterpret_cast<const kj::byte*>(s.data()), s.size()};
}

// Fails the current call with "code: message"; the client library maps the code back.
[[noreturn]] void fail(const Status& status) {
  kj::throwFatalException(kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__,
                                        kj::str(status.to_string().c_str())));
}

void check_ok(const Status& status) {
  if (!status.is_ok()) fail(status);
}

void check_name(std::string_view what, std::string_view v) {
  if (v.empty()) fail(Status::invalid_argument(std::string(what) + " is empty"));
  if (v.size() > api::MAX_KEY_BYTES) {
    fail(Status::invalid_argument(std::string(what) + " is " + std::to_string(v.size()) +
                                  " bytes, limit " + std::to_string(api::MAX_KEY_BYTES)));
  }
}

uint32_t page_limit(uint32_t asked, uint32_t max) {
  return asked == 0 ? max : std::min(asked, max);
}

// A promise and the storage callback that settles it: resolved on ok, rejected with the status.
struct Completion {
  kj::Promise<void> promise;
  std::function<void(Status)> done;
};

Completion completion() {
  auto paf = kj::newPromiseAndFulfiller<void>();
  auto fulfiller = std::make_shared<kj::Own<kj::PromiseFulfiller<void>>>(kj::mv(paf.fulfiller));
  return {kj::mv(paf.promise), [fulfiller](Status s) {
            if (s.is_ok()) {
              (*fulfiller)->fulfill();
            } else {
              (*fulfiller)
                  ->reject(kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__,
                                         kj::str(s.to_string().c_str())));
            }
          }};
}

// Resolves when the batch is durable; rejects with the storage error.
kj::Promise<void> commit(storage::Engine& engine, storage::WriteBatch batch) {
  Completion c = completion();
  check_ok(engine.commit(std::move(batch), std::move(c.done)));
  return kj::mv(c.promise);
}

class KvImpl final : public api::Kv::Server {
 public:
  explicit KvImpl(storage::Engine& engine) : engine_(engine) {}

  kj::Promise<void> get(GetContext context) override {
    auto key = as_view(context.getParams().getKey());
    check_name("key", key);
    auto value = engine_.get(Family::kKv, key);
    check_ok(value.status());
    auto results = context.getResults();
    results.setFound(value->has_value());
    if (value->has_value()) results.setValue(as_bytes(**value));
    return kj::READY_NOW;
  }

  kj::Promise<void> put(PutContext context) override {
    auto params = context.getParams();
    auto key = as_view(params.getKey());
    auto value = as_view(params.getValue());
    check_name("key", key);
    if (value.size() > api::MAX_VALUE_BYTES) {
      fail(Status::invalid_argument("value is " + std::to_string(value.size()) + " bytes, limit " +
                                    std::to_string(api::MAX_VALUE_BYTES)));
    }
    storage::WriteBatch batch;
    batch.put(Family::kKv, key, value);
    return commit(engine_, std::move(batch));
  }

  kj::Promise<void> delete_(DeleteContext context) override {
    auto key = as_view(context.getParams().getKey());
    check_name("key", key);
    storage::WriteBatch batch;
    batch.del(Family::kKv, key);
    return commit(engine_, std::move(batch));
  }

  kj::Promise<void> scan(ScanContext context) override {
    auto params = context.getParams();
    auto start = as_view(params.getStart());
    auto end = as_view(params.getEnd());
    if (start.size() > api::MAX_KEY_BYTES || end.size() > api::MAX_KEY_BYTES) {
      fail(Status::invalid_argument("scan bound is longer than the key limit"));
    }
    std::vector<std::pair<std::string, std::string>> entries;
    bool more = false;
    check_ok(engine_.scan(Family::kKv, start, end,
                          page_limit(params.getLimit(), api::MAX_SCAN_ENTRIES), &entries, &more));
    auto results = context.getResults();
    auto list = results.initEntries(static_cast<unsigned>(entries.size()));
    for (size_t i = 0; i < entries.size(); ++i) {
      list[i].setKey(as_bytes(entries[i].first));
      list[i].setValue(as_bytes(entries[i].second));
    }
    results.setMore(more);
    return kj::READY_NOW;
  }

 private:
  storage::Engine& engine_;
};

class CountersImpl final : public api::Counters::Server {
 public:
  explicit CountersImpl(storage::Engine& engine) : engine_(engine) {}

  kj::Promise<void> add(AddContext context) override {
    auto params = context.getParams();
    std::string key = keys::counter(as_view(params.getName()));
    check_name("counter name", as_view(params.getName()));
    storage::WriteBatch batch;
    if (params.getRequestSequence() == 0) {
      batch.merge(Family::kCrdt, key, storage::encode_int64(params.getDelta()));
    } else {
      // The read bounds the out-of-order requests a counter keeps; it sees committed requests
      // only, so the bound can be passed by the adds in flight. A retry of an applied request
      // writes nothing.
      crdt::Dot dot{params.getRequestSession(), params.getRequestSequence()};
      crdt::PnCounter requests = read_requests(key);
      if (requests.has_applied(dot)) {
        context.getResults().setValue(read(key, requests));
        return kj::READY_NOW;
      }
      auto prefix = requests.prefixes().find(dot.replica);
      uint64_t next = prefix == requests.prefixes().end() ? 1 : prefix->second.counter + 1;
      if (dot.counter != next && requests.pending().size() >= api::MAX_PENDING_REQUESTS) {
        fail(Status::resource_exhausted(
            "counter holds " + std::to_string(requests.pending().size()) +
            " out-of-order requests, limit " + std::to_string(api::MAX_PENDING_REQUESTS)));
      }
      batch.merge(Family::kCrdtState, key,
                  crdt::encode(crdt::PnCounter().increment(dot, params.getDelta())));
    }
    return commit(engine_, std::move(batch)).then([this, key, context]() mutable {
      context.getResults().setValue(read(key));
    });
  }

  kj::Promise<void> get(GetContext context) override {
    check_name("counter name", as_view(context.getParams().getName()));
    context.getResults().setValue(read(keys::counter(as_view(context.getParams().getName()))));
    return kj::READY_NOW;
  }

 private:
  // The counter: the sum of its plain adds (crdt family) and of its adds with request ids
  // (crdt_state family), wrapping like each of them.
  int64_t read(const std::string& key) { return read(key, read_requests(key)); }
  // The same, given the counter's adds with request ids as just read.
  int64_t read(const std::string& key, const crdt::PnCounter& requests) {
    uint64_t sum = static_cast<uint64_t>(requests.value());
    auto stored = engine_.get(Family::kCrdt, key);
    check_ok(stored.status());
    if (!stored->has_value()) return static_cast<int64_t>(sum);
    auto value = storage::decode_int64(**stored);
    check_ok(value.status());
    return static_cast<int64_t>(sum + static_cast<uint64_t>(*value));
  }

  // The adds with request ids applied to the counter so far.
  crdt::PnCounter read_requests(const std::string& key) {
    auto stored = engine_.get(Family::kCrdtState, key);
    check_ok(stored.status());
    if (!stored->has_value()) return crdt::PnCounter();
    auto requests = crdt::decode<crdt::PnCounter>(**stored);
    check_ok(requests.status());
    return std::move(requests).value();
  }

  storage::Engine& engine_;
};

// Each set is a storage::BigSet, opened on first use and kept in a bounded cache, with this node's
// id as the origin of the dots it issues.
class SetsImpl final : public api::Sets::Server {
 public:
  SetsImpl(storage::Engine& engine, crdt::ReplicaId replica) : engine_(engine), replica_(replica) {}

  kj::Promise<void> add(AddContext context) override {
    auto params = context.getParams();
    return update(as_view(params.getSet()), params.getMembers(), false, params.getRequestSession(),
                  params.getRequestSequence());
  }

  kj::Promise<void> remove(RemoveContext context) override {
    auto params = context.getParams();
    return update(as_view(params.getSet()), params.getMembers(), true, params.getRequestSession(),
                  params.getRequestSequence());
  }

  kj::Promise<void> contains(ContainsContext context) override {
    auto member = as_view(context.getParams().getMember());
    check_name("member", member);
    auto present = open(as_view(context.getParams().getSet())).contains(member);
    check_ok(present.status());
    context.getResults().setPresent(*present);
    return kj::READY_NOW;
  }

  kj::Promise<void> containsAll(ContainsAllContext context) override {
    auto params = context.getParams();
    auto members = params.getMembers();
    check_member_count(members.size());
    std::vector<std::string_view> asked;
    asked.reserve(members.size());
    for (auto member : members) {
      asked.push_back(as_view(member));
      check_name("member", asked.back());
    }
    auto present = open(as_view(params.getSet())).contains_all(asked);
    check_ok(present.status());
    auto list = context.getResults().initPresent(static_cast<unsigned>(present->size()));
    for (size_t i = 0; i < present->size(); ++i) list.set(static_cast<unsigned>(i), (*present)[i]);
    return kj::READY_NOW;
  }

  kj::Promise<void> list(ListContext context) override {
    auto params = context.getParams();
    auto after = as_view(params.getAfter());
    if (after.size() > api::MAX_KEY_BYTES) {
      fail(Status::invalid_argument("after is longer than the member limit"));
    }
    storage::BigSet& set = open(as_view(params.getSet()));
    storage::BigSet::Cursor cursor = after.empty() ? set.members() : set.members_after(after);
    const uint32_t limit = page_limit(params.getLimit(), api::MAX_SCAN_ENTRIES);
    std::vector<std::string> members;
    storage::BigSet::Member member;
    bool more = false;
    while (true) {
      auto next = cursor.next(&member);
      check_ok(next.status());
      if (!*next) break;
      if (members.size() == limit) {
        more = true;
        break;
      }
      members.push_back(std::move(member.element));
    }
    auto results = context.getResults();
    auto list = results.initMembers(static_cast<unsigned>(members.size()));
    for (size_t i = 0; i < members.size(); ++i) {
      list.set(static_cast<unsigned>(i), as_bytes(members[i]));
    }
    results.setMore(more);
    return kj::READY_NOW;
  }

 private:
  // Open sets kept at most; past it the least recently used one with no write in flight closes.
  static constexpr size_t kOpenSetsMax = 4096;

  static void check_member_count(size_t members) {
    if (members > api::MAX_SET_MEMBERS_PER_CALL) {
      fail(Status::invalid_argument(std::to_string(members) + " members in one call, limit " +
                                    std::to_string(api::MAX_SET_MEMBERS_PER_CALL)));
    }
  }

  kj::Promise<void> update(std::string_view name, capnp::List<capnp::Data>::Reader members,
                           bool remove, uint64_t session, uint64_t sequence) {
    check_name("set name", name);
    check_member_count(members.size());
    if (sequence != 0 && members.size() > 0 && sequence > UINT64_MAX - (members.size() - 1)) {
      fail(Status::invalid_argument("requestSequence + members - 1 overflows"));
    }
    std::vector<storage::BigSetUpdate> updates;
    updates.reserve(members.size());
    for (uint32_t i = 0; i < members.size(); ++i) {
      auto member = as_view(members[i]);
      check_name("member", member);
      storage::BigSetUpdate u{std::string(member), remove, std::nullopt};
      if (sequence != 0) u.dot = crdt::Dot{session, sequence + i};
      updates.push_back(std::move(u));
    }
    storage::BigSet& set = open(name);
    // Out-of-order ids stay in the set's context until the gaps before them fill: bounded as for
    // counters.
    if (sequence > 1 && !set.seen(crdt::Dot{session, sequence - 1}) &&
        set.out_of_order_dots() >= api::MAX_PENDING_REQUESTS) {
      fail(Status::resource_exhausted("set holds " + std::to_string(set.out_of_order_dots()) +
                                      " out-of-order request ids, limit " +
                                      std::to_string(api::MAX_PENDING_REQUESTS)));
    }
    Completion c = completion();
    check_ok(set.apply_async(
        std::move(updates),
        [done = std::move(c.done)](Result<std::vector<storage::BigSetDelta>> deltas) {
          done(deltas.status());
        }));
    return kj::mv(c.promise);
  }

  // The set's BigSet, opened on a miss (one point read of its context). Fails the call on a bad
  // name, a storage error, or when the cache is full of sets with writes in flight.
  storage::BigSet& open(std::string_view name) {
    check_name("set name", name);
    if (auto it = sets_.find(name); it != sets_.end()) {
      // A set poisoned by a failed commit refuses writes until it is reopened, which reads back
      // what committed: reopen it once none of its writes is in flight.
      if (it->second.set->failure().is_ok() || it->second.set->in_flight() != 0) {
        recent_.splice(recent_.begin(), recent_, it->second.recent);
        return *it->second.set;
      }
      recent_.erase(it->second.recent);
      sets_.erase(it);
    }
    if (sets_.size() >= kOpenSetsMax) evict();
    auto opened = storage::BigSet::open(&engine_, name, replica_);
    check_ok(opened.status());
    recent_.emplace_front(name);
    OpenSet entry{std::move(opened).value(), recent_.begin()};
    return *sets_.emplace(std::string(name), std::move(entry)).first->second.set;
  }

  // Closes the least recently used set with nothing in flight: a set closed with writes in flight
  // and opened again would miss their dots (storage/big_set.h).
  void evict() {
    for (auto it = recent_.rbegin(); it != recent_.rend(); ++it) {
      auto entry = sets_.find(*it);
      MELD_ASSERT(entry != sets_.end(), "open set cache out of step");
      if (entry->second.set->in_flight() != 0) continue;
      recent_.erase(entry->second.recent);
      sets_.erase(entry);
      return;
    }
    fail(Status::resource_exhausted(std::to_string(kOpenSetsMax) +
                                    " sets have writes in flight, the limit of open sets"));
  }

  struct OpenSet {
    std::unique_ptr<storage::BigSet> set;
    std::list<std::string>::iterator recent;  // its place in recent_
  };

  storage::Engine& engine_;
  const crdt::ReplicaId replica_;
  std::map<std::string, OpenSet, std::less<>> sets_;
  std::list<std::string> recent_;  // names of sets_, most recently used first
};

static_assert(ts::kLabelsMax == api::MAX_LABELS);
static_assert(ts::kLabelNameBytesMax == api::MAX_LABEL_NAME_BYTES);
static_assert(ts::kLabelValueBytesMax == api::MAX_LABEL_VALUE_BYTES);
static_assert(ts::kQueryBytesMax == api::MAX_QUERY_EXPR_BYTES);

// A series' labels from the wire, validated (ts::Labels: Prometheus rules and the label limits).
Result<ts::Labels> series_labels(capnp::List<api::Label>::Reader labels) {
  if (labels.size() > api::MAX_LABELS) {
    return Status::invalid_argument(std::to_string(labels.size()) + " labels, limit " +
                                    std::to_string(api::MAX_LABELS));
  }
  std::vector<ts::Label> list;
  list.reserve(labels.size());
  for (auto l : labels) {
    list.push_back({std::string(l.getName().cStr(), l.getName().size()),
                    std::string(l.getValue().cStr(), l.getValue().size())});
  }
  return ts::Labels::make_series(std::move(list));
}

void set_labels(capnp::List<api::Label>::Builder out, const ts::Labels& labels) {
  for (size_t i = 0; i < labels.size(); ++i) {
    out[i].setName(labels.labels()[i].name);
    out[i].setValue(labels.labels()[i].value);
  }
}

// A thread with a KJ event loop of its own, for work moved off the loop thread with
// executor().executeAsync(): calls run in the order they were made, and destroying the promise
// of a call that is running waits until it returns (KJ's contract), so a call may read the
// capnp request of the RPC call that waits for it.
class WorkerThread {
 public:
  // name: the thread's name (base/thread_name.h).
  explicit WorkerThread(std::string name) {
    std::promise<kj::Own<const kj::Executor>> ready;
    std::future<kj::Own<const kj::Executor>> executor = ready.get_future();
    thread_ = std::thread([this, name = std::move(name), ready = std::move(ready)]() mutable {
      set_thread_name(name);
      kj::EventLoop loop;
      kj::WaitScope scope(loop);
      auto stop = kj::newPromiseAndFulfiller<void>();
      stop_ = kj::mv(stop.fulfiller);
      ready.set_value(kj::getCurrentThreadExecutor().addRef());
      stop.promise.wait(scope);
      stop_ = nullptr;
    });
    executor_ = executor.get();
  }
  // Runs the calls already queued, then stops and joins the thread.
  ~WorkerThread() {
    executor_->executeSync([this] { stop_->fulfill(); });
    thread_.join();
  }
  WorkerThread(const WorkerThread&) = delete;
  WorkerThread& operator=(const WorkerThread&) = delete;

  const kj::Executor& executor() const { return *executor_; }

 private:
  std::thread thread_;
  kj::Own<const kj::Executor> executor_;
  kj::Own<kj::PromiseFulfiller<void>> stop_;  // the thread's own; touched only there
};

// A validated label set and what the store needs of it, cached by its wire form.
struct CachedLabels {
  std::string wire;  // names and values in request order, each as u32 size + bytes
  uint64_t wire_hash = 0;
  ts::Labels labels;
  std::string canonical;  // labels.encode()
  uint64_t series_id = 0;
  // The store's own: only the loop thread, inside TsStore::write, reads or fills it.
  mutable storage::TsStore::SeriesHint hint;
};

// Label sets cached at most; the decoder starts a new cache when a request finds it full.
constexpr size_t kLabelCacheEntriesMax = 1 << 20;
constexpr size_t kLabelSlotsMin = 1024;

// The label cache: entries in insertion order and an open-addressing index over them by XXH3 of
// the wire form (slot: entry index + 1; 0: empty). Only the decoder thread changes it.
struct LabelCache {
  std::vector<std::shared_ptr<const CachedLabels>> entries;
  std::vector<uint32_t> slots = std::vector<uint32_t>(kLabelSlotsMin, 0);
};

// The series numbers of one MetricsWriter (api.capnp): by_id[id] is the label set id is bound
// to, null while unbound. Only the decoder thread reads or changes it.
struct WriterBindings {
  std::vector<std::shared_ptr<const CachedLabels>> by_id;
};

// Metrics.write and MetricsWriter.write run in two steps: the decoder thread checks the request's
// size limits, copies its samples and resolves its label sets through the label cache and the
// writer's bindings (both that thread's alone); the loop thread then hands the result to the
// store, which stays single-threaded. Requests are decoded in arrival order, so the store sees
// them in that order too.
class MetricsImpl final : public api::Metrics::Server {
 public:
  explicit MetricsImpl(storage::TsStore& store) : store_(store) {}

  // Duplicate timestamps within a series resolve by ts::merge_samples' rule, whatever the order
  // of arrival.
  kj::Promise<void> write(WriteContext context) override { return write_series(context, nullptr); }

  kj::Promise<void> openWriter(OpenWriterContext context) override;

  // Metrics.write (writer null) and MetricsWriter.write (the writer's bindings): the decoder
  // thread decodes, the loop thread stores.
  template <typename Context>
  kj::Promise<void> write_series(Context context, std::shared_ptr<WriterBindings> writer) {
    auto params = context.getParams();
    return decoder_.executor()
        .executeAsync([this, params, writer = std::move(writer)] {
          return decode(params.getSeries(), std::move(writer));
        })
        .then([this, context](DecodedWrite decoded) mutable { return store(context, decoded); });
  }

  kj::Promise<void> read(ReadContext context) override {
    auto params = context.getParams();
    auto labels = series_labels(params.getLabels());
    check_ok(labels.status());
    if (params.getFromMs() > params.getToMs()) {
      fail(Status::invalid_argument("fromMs is after toMs"));
    }
    auto results = context.getResults();
    auto ref = store_.find_series(*labels);
    check_ok(ref.status());
    if (!ref->has_value() || params.getFromMs() == params.getToMs()) {
      results.initSamples(0);
      return kj::READY_NOW;
    }
    std::vector<ts::Sample> samples;
    bool more = false;
    check_ok(store_.samples(**ref, params.getFromMs(), params.getToMs() - 1,
                            page_limit(params.getLimit(), api::MAX_READ_SAMPLES), &samples, &more));
    auto list = results.initSamples(static_cast<unsigned>(samples.size()));
    for (size_t i = 0; i < samples.size(); ++i) {
      list[i].setTimestampMs(samples[i].timestamp_ms);
      list[i].setValue(samples[i].value);
    }
    results.setMore(more);
    return kj::READY_NOW;
  }

  kj::Promise<void> query(QueryContext context) override {
    auto params = context.getParams();
    auto expr = params.getExpr();
    if (expr.size() > api::MAX_QUERY_EXPR_BYTES) {
      fail(Status::invalid_argument("query is " + std::to_string(expr.size()) + " bytes, limit " +
                                    std::to_string(api::MAX_QUERY_EXPR_BYTES)));
    }
    ts::QueryLimits limits;
    limits.series_max = api::MAX_QUERY_SERIES;
    limits.samples_max = api::MAX_QUERY_SAMPLES;
    limits.steps_max = api::MAX_QUERY_STEPS;
    storage::TsStoreSource source(store_);
    auto result =
        ts::query_range(std::string_view(expr.cStr(), expr.size()), source, params.getStartMs(),
                        params.getEndMs(), params.getStepMs(), limits);
    check_ok(result.status());
    size_t points = 0;
    for (const ts::SeriesPoints& s : result->series) points += s.points.size();
    if (points > api::MAX_QUERY_POINTS) {
      fail(Status::resource_exhausted("the query returns " + std::to_string(points) +
                                      " points, limit " + std::to_string(api::MAX_QUERY_POINTS) +
                                      " per query: use a larger step or narrower matchers"));
    }
    auto results = context.getResults();
    auto list = results.initSeries(static_cast<unsigned>(result->series.size()));
    for (size_t i = 0; i < result->series.size(); ++i) {
      const ts::SeriesPoints& s = result->series[i];
      set_labels(list[i].initLabels(static_cast<unsigned>(s.labels.size())), s.labels);
      auto out = list[i].initPoints(static_cast<unsigned>(s.points.size()));
      for (size_t j = 0; j < s.points.size(); ++j) {
        out[j].setTimestampMs(s.points[j].timestamp_ms);
        out[j].setValue(s.points[j].value);
      }
    }
    results.setSamplesLoaded(result->stats.samples_loaded);
    return kj::READY_NOW;
  }

 private:
  // A request's samples and label sets, ready for TsStore::write.
  struct DecodedWrite {
    // What keeps the entries items point at alive: the cache generation they were found in, and
    // the writer whose bindings found the others.
    std::shared_ptr<const LabelCache> cache;
    std::shared_ptr<const WriterBindings> writer;
    std::vector<ts::Sample> samples;  // every sample of the request; items point into it
    std::vector<storage::TsStore::SeriesWrite> items;
    std::vector<uint32_t> request_index;  // of each item, in the request
    std::vector<storage::TsStore::ItemError> errors;
  };

  // Decoder thread. Fails the call past the request size limits.
  DecodedWrite decode(capnp::List<api::SeriesSamples>::Reader series,
                      std::shared_ptr<WriterBindings> writer) {
    if (series.size() > api::MAX_SERIES_PER_WRITE) {
      fail(Status::invalid_argument(std::to_string(series.size()) + " series in one write, limit " +
                                    std::to_string(api::MAX_SERIES_PER_WRITE)));
    }
    uint64_t total = 0;
    for (auto s : series) total += s.getSamples().size();
    if (total > api::MAX_SAMPLES_PER_WRITE) {
      fail(Status::invalid_argument(std::to_string(total) + " samples in one write, limit " +
                                    std::to_string(api::MAX_SAMPLES_PER_WRITE)));
    }
    if (label_cache_->entries.size() >= kLabelCacheEntriesMax) {
      label_cache_ = std::make_shared<LabelCache>();
    }
    DecodedWrite out;
    out.cache = label_cache_;
    out.items.reserve(series.size());
    out.samples.resize(total);
    size_t used = 0;
    for (uint32_t i = 0; i < series.size(); ++i) {
      auto cached = series_labels_of(series[i], writer.get());
      if (!cached.is_ok()) {
        out.errors.push_back({i, storage::TsStore::kWholeSeries, cached.status()});
        continue;
      }
      auto in = series[i].getSamples();
      std::span<ts::Sample> samples(out.samples.data() + used, in.size());
      for (size_t j = 0; j < samples.size(); ++j) {
        samples[j] = {in[j].getTimestampMs(), in[j].getValue()};
      }
      used += samples.size();
      out.items.push_back({&(*cached)->labels, samples, (*cached)->canonical, (*cached)->series_id,
                           &(*cached)->hint});
      out.request_index.push_back(i);
    }
    out.writer = std::move(writer);
    return out;
  }

  // Loop thread: writes a decoded request; resolves when it is durable.
  template <typename Context>
  kj::Promise<void> store(Context context, DecodedWrite& decoded) {
    Completion durable = completion();
    auto written = store_.write(decoded.items, std::move(durable.done));
    check_ok(written.status());
    std::vector<storage::TsStore::ItemError> errors = std::move(decoded.errors);
    for (storage::TsStore::ItemError& e : written->errors) {
      e.series = decoded.request_index[e.series];
      errors.push_back(std::move(e));
    }
    std::sort(errors.begin(), errors.end(), [](const auto& a, const auto& b) {
      return std::pair(a.series, a.sample) < std::pair(b.series, b.sample);
    });
    auto report = [context, errors = std::move(errors), accepted = written->accepted]() mutable {
      auto results = context.getResults();
      results.setAccepted(accepted);
      auto list = results.initErrors(static_cast<unsigned>(errors.size()));
      for (size_t i = 0; i < errors.size(); ++i) {
        list[i].setSeries(errors[i].series);
        list[i].setSample(errors[i].sample);
        list[i].setCode(std::string(status_code_name(errors[i].status.code())).c_str());
        list[i].setMessage(errors[i].status.message().c_str());
      }
    };
    if (written->accepted == 0) {
      report();
      return kj::READY_NOW;
    }
    return durable.promise.then(kj::mv(report));
  }

  // Decoder thread. The label set of one item: by its labels, or by the writer's binding of its
  // id (which its labels make when the id is unbound); see api.capnp MetricsWriter.
  Result<const CachedLabels*> series_labels_of(api::SeriesSamples::Reader item,
                                               WriterBindings* writer) {
    const uint32_t id = item.getId();
    if (id == 0) {
      auto cached = cached_labels(item.getLabels());
      MELD_RETURN_IF_ERROR(cached.status());
      return cached->get();
    }
    if (writer == nullptr) {
      return Status::invalid_argument(
          "series ids are for MetricsWriter.write (Metrics.openWriter); Metrics.write takes "
          "labels only");
    }
    if (id > api::MAX_WRITER_SERIES) {
      return Status::invalid_argument("series id " + std::to_string(id) +
                                      " is past maxWriterSeries " +
                                      std::to_string(api::MAX_WRITER_SERIES));
    }
    std::vector<std::shared_ptr<const CachedLabels>>& bound = writer->by_id;
    if (item.getLabels().size() == 0) {
      if (id >= bound.size() || bound[id] == nullptr) {
        return Status::not_found("series id " + std::to_string(id) +
                                 " is not bound on this writer: send its labels with it");
      }
      return bound[id].get();
    }
    auto cached = cached_labels(item.getLabels());
    MELD_RETURN_IF_ERROR(cached.status());
    if (id >= bound.size()) bound.resize(size_t{id} + 1);
    if (bound[id] == nullptr) {
      bound[id] = *cached;
    } else if (bound[id]->canonical != (*cached)->canonical) {
      return Status::invalid_argument("series id " + std::to_string(id) + " is bound to " +
                                      bound[id]->labels.to_string() + " on this writer, not " +
                                      (*cached)->labels.to_string());
    }
    return cached->get();
  }

  // Decoder thread. The labels of a series from the wire, validated once per distinct wire form
  // (names and values in request order): a series sent again skips validation, sorting and
  // encoding.
  Result<std::shared_ptr<const CachedLabels>> cached_labels(
      capnp::List<api::Label>::Reader labels) {
    key_.clear();
    for (auto l : labels) {
      for (capnp::Text::Reader text : {l.getName(), l.getValue()}) {
        uint32_t size = text.size();
        key_.append(reinterpret_cast<const char*>(&size), sizeof size);
        key_.append(text.cStr(), text.size());
      }
    }
    LabelCache& cache = *label_cache_;
    const uint64_t hash = fast_hash64(key_);
    const size_t mask = cache.slots.size() - 1;
    size_t at = hash & mask;
    for (; cache.slots[at] != 0; at = (at + 1) & mask) {
      const std::shared_ptr<const CachedLabels>& entry = cache.entries[cache.slots[at] - 1];
      if (entry->wire_hash == hash && entry->wire == key_) return entry;
    }
    auto parsed = series_labels(labels);
    MELD_RETURN_IF_ERROR(parsed.status());
    auto entry = std::make_shared<CachedLabels>(
        CachedLabels{key_, hash, std::move(parsed).value(), {}, 0, {}});
    entry->canonical = entry->labels.encode();
    entry->series_id = ts::series_id_of_encoding(entry->canonical);
    cache.entries.push_back(entry);
    if (cache.entries.size() * 2 > cache.slots.size()) {
      rehash(cache, cache.slots.size() * 2);
    } else {
      cache.slots[at] = static_cast<uint32_t>(cache.entries.size());
    }
    return std::shared_ptr<const CachedLabels>(std::move(entry));
  }

  // Rebuilds the index of cache with `slots` slots (a power of two, more than the entries).
  static void rehash(LabelCache& cache, size_t slots) {
    cache.slots.assign(slots, 0);
    const size_t mask = slots - 1;
    for (size_t i = 0; i < cache.entries.size(); ++i) {
      size_t at = cache.entries[i]->wire_hash & mask;
      while (cache.slots[at] != 0) at = (at + 1) & mask;
      cache.slots[at] = static_cast<uint32_t>(i + 1);
    }
  }

  storage::TsStore& store_;
  std::shared_ptr<LabelCache> label_cache_ = std::make_shared<LabelCache>();  // decoder thread's
  std::string key_;  // decoder thread's scratch for cached_labels
  // Last: destroyed first, so no decode runs while the members above go away.
  WorkerThread decoder_{"meld-ts-decode"};
};

class MetricsWriterImpl final : public api::MetricsWriter::Server {
 public:
  // metrics_cap: a capability to metrics, which keeps it alive as long as the writer.
  MetricsWriterImpl(MetricsImpl& metrics, api::Metrics::Client metrics_cap)
      : metrics_(metrics), metrics_cap_(kj::mv(metrics_cap)) {}

  kj::Promise<void> write(WriteContext context) override {
    return metrics_.write_series(context, bindings_);
  }

 private:
  MetricsImpl& metrics_;
  api::Metrics::Client metrics_cap_;
  std::shared_ptr<WriterBindings> bindings_ = std::make_shared<WriterBindings>();
};

kj::Promise<void> MetricsImpl::openWriter(OpenWriterContext context) {
  context.getResults().setWriter(kj::heap<MetricsWriterImpl>(*this, thisCap()));
  return kj::READY_NOW;
}

class AdminImpl final : public api::Admin::Server {
 public:
  AdminImpl(storage::Engine& engine, storage::TsStore& ts_store, NodeInfo info, NodeProbe probe)
      : engine_(engine), ts_store_(ts_store), info_(std::move(info)), probe_(std::move(probe)) {}

  kj::Promise<void> status(StatusContext context) override {
    auto s = context.getResults().initStatus();
    s.setNodeId(info_.node_id);
    s.setClusterId(info_.cluster_id);
    s.setVersion(MELD_VERSION);
    s.setRpcAddress(info_.rpc_address.c_str());
    s.setPeerAddress(info_.peer_address.c_str());
    s.setDataDir(info_.data_dir.c_str());
    s.setUptimeMs(probe_.monotonic_ms() - info_.started_monotonic_ms);
    s.setActiveClients(probe_.active_clients());
    auto stats = engine_.stats();
    auto st = s.initStorage();
    st.setCommitGroups(stats.commit_groups);
    st.setCommittedBatches(stats.committed_batches);
    st.setLiveDataBytes(stats.live_data_bytes);
    st.setSyncWrites(stats.sync);
    const storage::TsStoreStats ts_stats = ts_store_.stats();
    auto ts = s.initTimeSeries();
    ts.setSeriesInMemory(ts_stats.series_in_memory);
    ts.setHeadBytes(ts_stats.head_bytes);
    ts.setWalBytes(ts_stats.wal_bytes);
    ts.setWalRecords(ts_stats.wal_records);
    ts.setSealedBlocks(ts_stats.sealed_blocks);
    ts.setRewrittenBlocks(ts_stats.rewritten_blocks);
    return kj::READY_NOW;
  }

 private:
  storage::Engine& engine_;
  storage::TsStore& ts_store_;
  NodeInfo info_;
  NodeProbe probe_;
};

class MeldImpl final : public api::Meld::Server {
 public:
  MeldImpl(storage::Engine& engine, storage::TsStore& ts_store, NodeInfo info, NodeProbe probe)
      : kv_(kj::heap<KvImpl>(engine)),
        counters_(kj::heap<CountersImpl>(engine)),
        sets_(kj::heap<SetsImpl>(engine, info.node_id)),
        metrics_(kj::heap<MetricsImpl>(ts_store)),
        admin_(kj::heap<AdminImpl>(engine, ts_store, std::move(info), std::move(probe))) {}

  kj::Promise<void> kv(KvContext c) override {
    c.getResults().setKv(kv_);
    return kj::READY_NOW;
  }
  kj::Promise<void> counters(CountersContext c) override {
    c.getResults().setCounters(counters_);
    return kj::READY_NOW;
  }
  kj::Promise<void> sets(SetsContext c) override {
    c.getResults().setSets(sets_);
    return kj::READY_NOW;
  }
  kj::Promise<void> metrics(MetricsContext c) override {
    c.getResults().setMetrics(metrics_);
    return kj::READY_NOW;
  }
  kj::Promise<void> admin(AdminContext c) override {
    c.getResults().setAdmin(admin_);
    return kj::READY_NOW;
  }

 private:
  api::Kv::Client kv_;
  api::Counters::Client counters_;
  api::Sets::Client sets_;
  api::Metrics::Client metrics_;
  api::Admin::Client admin_;
};

}  // namespace

api::Meld::Client make_meld_service(storage::Engine& engine, storage::TsStore& ts_store,
                                    NodeInfo info, NodeProbe probe) {
  return kj::heap<MeldImpl>(engine, ts_store, std::move(info), std::move(probe));
}

}  // namespace meld::server
