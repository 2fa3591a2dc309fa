// crdt-disk: CRDTs on RocksDB against a local redis-server, in the same run. OR-Set (storage::
// BigSet) add, remove and contains per second at a small and a big set size, bytes per element on
// disk after flush and compaction, and counter increments per second (meld.int64_add and the
// retry-safe PnCounter merged with meld.crdt_join); redis runs INCR, SADD, SREM and SISMEMBER.
//
// Conditions, the same for both sides: one client thread, one operation at a time (each waits for
// the previous one's reply: no pipelining, no batching); durability OS-buffered (our engine:
// sync=false, a WAL write per commit; redis: appendonly yes, appendfsync no, no RDB snapshots).
// Ours is called in-process; redis is reached over loopback TCP, so each of its operations also
// pays a round trip. Bulk loads use batches on both sides (BigSet::add_all of 10,000 elements;
// SADD of 1,000 members, 10 commands per pipeline) and are timed separately.
//
// Batched membership, next to the one-at-a-time contains: the same probes asked --batch at a time
// (BigSet::contains_all, one RocksDB MultiGet per batch), each batch after the previous one's
// answer; reported in elements per second. Ours only: redis' figure is SISMEMBER's above.
//
// The pipelined phase (ours only) measures one set's write rate with several writes in flight:
// one thread keeps W adds of new elements queued through BigSet::apply_async (W = --in-flight,
// 1, 16, 256 by default), each issued as soon as a slot frees; with sync=true (an fsync per group
// commit) and sync=false. Latency is from apply_async to its callback.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/rng.h"
#include "bench/bench.h"
#include "bench/crdt_redis_peer.h"
#include "crdt/codec.h"
#include "crdt/counter.h"
#include "jepsen/process.h"
#include "storage/big_set.h"
#include "storage/engine.h"

namespace meld::bench {
namespace {

using Clock = std::chrono::steady_clock;
// Largest set --sizes accepts.
constexpr uint64_t kMaxSetSize = 1'000'000'000;

constexpr size_t kLoadBatchElements = 10'000;
constexpr size_t kRedisMembersPerSadd = 1'000;
constexpr size_t kRedisSaddsPerPipeline = 10;
constexpr uint64_t kRemoveStride = 1'000'003;  // a prime: k * stride mod M visits M elements once
constexpr crdt::ReplicaId kReplica = 1;
constexpr crdt::ReplicaId kClientSession = 0xc0ffee;
const std::string kRedisSet = "bigset";

struct Config {
  std::vector<uint64_t> sizes = {1'000, 10'000'000};
  uint64_t ops = 20'000;
  std::string base_dir = std::filesystem::temp_directory_path().string();
  uint64_t seed = 42;
  // RocksDB's block cache, which holds blocks uncompressed. Redis keeps the whole set in RAM; the
  // default gives RocksDB room for all of the 10M-element set's blocks (95 MB of SSTs; per
  // element a 24-byte key and an 8-byte value, storage/big_set_value.h), so both sides are
  // measured in memory. Before that value format (168-byte values, 1.9 GB uncompressed), about
  // half of the 10M set's lookups with 1 GiB read a block from the SST file and decompressed it.
  size_t block_cache_mb = 3072;
  // The pipelined phase: writes in flight, and adds per run.
  std::vector<uint64_t> in_flight = {1, 16, 256};
  uint64_t pipeline_ops = 5'000;
  // Elements per contains_all call.
  uint64_t batch = 64;
};
// Largest --batch value (BigSet's own bound).
constexpr uint64_t kMaxBatch = storage::BigSet::kMaxBatchElements;
// Largest --block-cache-mb (1 TiB): MiB << 20 must fit a size_t.
constexpr uint64_t kMaxBlockCacheMb = uint64_t{1} << 20;
// Largest --in-flight value (BigSet's own bound).
constexpr uint64_t kMaxInFlight = storage::BigSet::kMaxInFlightBatches;

// Per-operation latencies of one measured phase.
class Phase {
 public:
  explicit Phase(uint64_t ops) { latencies_ns_.reserve(ops); }
  template <typename Fn>
  void time(Fn&& fn) {
    Clock::time_point start = Clock::now();
    fn();
    latencies_ns_.push_back(
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count());
  }
  struct Figures {
    double per_s = 0;
    double p50_us = 0;
  };
  // Prints ops/s, p50 and p99 under name and returns ops/s and p50.
  Figures report_as(const std::string& name) {
    uint64_t total_ns = 0;
    for (uint64_t ns : latencies_ns_) total_ns += ns;
    return report_as(name, latencies_ns_.size() / (total_ns / 1e9));
  }
  // The same with a rate measured by the caller (operations that overlap in time).
  Figures report_as(const std::string& name, double per_s) {
    std::sort(latencies_ns_.begin(), latencies_ns_.end());
    report(name + "_per_s", per_s);
    report(name + "_p50_us", latencies_ns_[latencies_ns_.size() / 2] / 1e3);
    report(name + "_p99_us", latencies_ns_[latencies_ns_.size() * 99 / 100] / 1e3);
    return Figures{per_s, latencies_ns_[latencies_ns_.size() / 2] / 1e3};
  }
  void record_ns(uint64_t ns) { latencies_ns_.push_back(ns); }

 private:
  std::vector<uint64_t> latencies_ns_;
};

// Fails the benchmark on an error: a figure measured past a failure would be meaningless.
void check(const Status& s, const char* what) {
  MELD_ASSERT(s.is_ok(), std::string(what) + ": " + s.to_string());
}

uint64_t sst_bytes(const std::string& dir) {
  uint64_t bytes = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".sst") bytes += entry.file_size();
  }
  return bytes;
}

std::unique_ptr<storage::Engine> open_engine(const Config& config, const std::string& dir,
                                             storage::CompletionExecutor* executor,
                                             bool sync = false) {
  storage::Options options;
  options.dir = dir;
  options.sync = sync;
  options.block_cache_bytes = config.block_cache_mb << 20;
  Result<std::unique_ptr<storage::Engine>> engine = storage::Engine::open(options, executor);
  check(engine.status(), "open engine");
  return std::move(engine).value();
}

void counter_bench(const Config& config, RedisPeer& redis) {
  jepsen::TempDir tmp;
  storage::InlineExecutor executor;
  auto engine = open_engine(config, tmp.path() + "/db", &executor);

  Phase int64_add(config.ops);
  for (uint64_t i = 0; i < config.ops; ++i) {
    int64_add.time([&] {
      storage::WriteBatch batch;
      batch.merge(storage::Family::kCrdt, "counter", storage::encode_int64(1));
      check(engine->commit_sync(std::move(batch)), "int64_add increment");
    });
  }
  int64_add.report_as("counter_increments (meld.int64_add, not retry-safe)");

  // Each increment is the delta a client request id makes: merged without a read, counted once
  // however often it is written.
  auto increment_delta = [](uint64_t request) {
    return crdt::encode(crdt::PnCounter().increment(crdt::Dot{kClientSession, request}, 1));
  };
  Phase dotted(config.ops);
  for (uint64_t i = 1; i <= config.ops; ++i) {
    dotted.time([&] {
      storage::WriteBatch batch;
      batch.merge(storage::Family::kCrdtState, "counter", increment_delta(i));
      check(engine->commit_sync(std::move(batch)), "PnCounter increment");
    });
  }
  dotted.report_as("counter_increments (PnCounter request ids, meld.crdt_join)");
  // Every request retried once: the value must not move.
  for (uint64_t i = 1; i <= config.ops; ++i) {
    storage::WriteBatch batch;
    batch.merge(storage::Family::kCrdtState, "counter", increment_delta(i));
    check(engine->commit_sync(std::move(batch)), "PnCounter retry");
  }
  check(engine->flush(), "flush");
  check(engine->compact(), "compact");
  Result<std::optional<std::string>> stored = engine->get(storage::Family::kCrdtState, "counter");
  check(stored.status(), "read counter");
  Result<crdt::PnCounter> counter = crdt::decode<crdt::PnCounter>(**stored);
  check(counter.status(), "decode counter");
  report("counter_value_after_retries", static_cast<double>(counter->value()));
  MELD_ASSERT(counter->value() == static_cast<int64_t>(config.ops), "a retry counted twice");

  Phase incr(config.ops);
  int64_t last = 0;
  for (uint64_t i = 0; i < config.ops; ++i) {
    incr.time([&] {
      Result<RedisPeer::Reply> r = redis.command({"INCR", "counter"});
      check(r.status(), "redis INCR");
      last = r->integer;
    });
  }
  incr.report_as("redis_incr");
  MELD_ASSERT(last == static_cast<int64_t>(config.ops), "redis lost an increment");
}

// One set, `window` adds of new elements in flight at once; see the file comment.
void pipelined_bench(const Config& config, bool sync, uint64_t window) {
  jepsen::TempDir tmp;
  storage::InlineExecutor executor;
  auto engine = open_engine(config, tmp.path() + "/db", &executor, sync);
  Result<std::unique_ptr<storage::BigSet>> opened =
      storage::BigSet::open(engine.get(), "s", kReplica);
  check(opened.status(), "open big set");
  storage::BigSet& set = **opened;

  std::mutex mu;
  std::condition_variable freed;
  uint64_t in_flight = 0;  // guarded by mu
  Phase phase(config.pipeline_ops);
  const Clock::time_point start = Clock::now();
  for (uint64_t k = 0; k < config.pipeline_ops; ++k) {
    {
      std::unique_lock lock(mu);
      freed.wait(lock, [&] { return in_flight < window; });
      ++in_flight;
    }
    const Clock::time_point issued = Clock::now();
    check(set.apply_async({storage::BigSetUpdate{set_element(k), false, std::nullopt}},
                          [&, issued](Result<std::vector<storage::BigSetDelta>> deltas) {
                            check(deltas.status(), "pipelined add");
                            uint64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                              Clock::now() - issued)
                                              .count();
                            std::lock_guard lock(mu);
                            phase.record_ns(ns);
                            --in_flight;
                            freed.notify_one();
                          }),
          "queue pipelined add");
  }
  {
    std::unique_lock lock(mu);
    freed.wait(lock, [&] { return in_flight == 0; });
  }
  const double per_s = config.pipeline_ops / seconds_since(start);
  const storage::Stats stats = engine->stats();
  const std::string name = "pipelined_add (sync=" + std::string(sync ? "true" : "false") +
                           ", in_flight=" + std::to_string(window) + ")";
  phase.report_as(name, per_s);
  report(name + " batches_per_commit_group",
         static_cast<double>(stats.committed_batches) / std::max<uint64_t>(1, stats.commit_groups));
  Result<bool> last = set.contains(set_element(config.pipeline_ops - 1));
  check(last.status(), "contains after pipelined adds");
  MELD_ASSERT(*last, "a pipelined add is missing");
}

struct SetFigures {
  Phase::Figures add;
  Phase::Figures remove;
  Phase::Figures contains;
  Phase::Figures contains_all;  // per_s in elements, p50 per batch
};

// Streams every member; returns how many there were, reporting the rate under name.
uint64_t stream_members(const storage::BigSet& set, const std::string& name) {
  uint64_t members = 0;
  storage::BigSet::Cursor cursor = set.members();
  storage::BigSet::Member member;
  Clock::time_point start = Clock::now();
  while (true) {
    Result<bool> more = cursor.next(&member);
    check(more.status(), "stream members");
    if (!*more) break;
    ++members;
  }
  report(name, members / seconds_since(start));
  return members;
}

SetFigures set_bench(const Config& config, uint64_t size, RedisPeer& redis) {
  const std::string tag = "[" + std::to_string(size) + "] ";
  jepsen::TempDir tmp;
  const std::string dir = tmp.path() + "/db";
  storage::InlineExecutor executor;
  auto engine = open_engine(config, dir, &executor);
  Result<std::unique_ptr<storage::BigSet>> opened =
      storage::BigSet::open(engine.get(), "s", kReplica);
  check(opened.status(), "open big set");
  storage::BigSet& set = **opened;

  // Load: elements 0..size-1.
  Clock::time_point start = Clock::now();
  std::vector<std::string> chunk;
  for (uint64_t i = 0; i < size; i += kLoadBatchElements) {
    chunk.clear();
    for (uint64_t j = i; j < std::min(size, i + kLoadBatchElements); ++j) {
      chunk.push_back(set_element(j));
    }
    check(set.add_all(chunk).status(), "load");
  }
  report(tag + "load_s (BigSet::add_all, 10000 per batch)", seconds_since(start));
  start = Clock::now();
  check(engine->flush(), "flush");
  check(engine->compact(), "compact");
  report(tag + "flush_and_compact_s", seconds_since(start));
  report(tag + "bytes_per_element (SST files)", static_cast<double>(sst_bytes(dir)) / size);
  report(tag + "bytes_per_element (RocksDB live data estimate)",
         static_cast<double>(engine->stats().live_data_bytes) / size);

  check(redis.command({"DEL", kRedisSet}).status(), "redis DEL");
  Result<int64_t> memory_before = redis.used_memory_bytes();
  check(memory_before.status(), "redis INFO");
  start = Clock::now();
  std::vector<std::vector<std::string>> pipeline;
  for (uint64_t i = 0; i < size; i += kRedisMembersPerSadd) {
    std::vector<std::string> sadd = {"SADD", kRedisSet};
    for (uint64_t j = i; j < std::min(size, i + kRedisMembersPerSadd); ++j) {
      sadd.push_back(set_element(j));
    }
    pipeline.push_back(std::move(sadd));
    if (pipeline.size() == kRedisSaddsPerPipeline) {
      check(redis.pipeline(pipeline), "redis load");
      pipeline.clear();
    }
  }
  if (!pipeline.empty()) check(redis.pipeline(pipeline), "redis load");
  report(tag + "redis_load_s (SADD 1000 members, 10 per pipeline)", seconds_since(start));
  Result<int64_t> memory_after = redis.used_memory_bytes();
  check(memory_after.status(), "redis INFO");
  report(tag + "redis_bytes_per_element (used_memory, RAM)",
         static_cast<double>(*memory_after - *memory_before) / size);
  Result<RedisPeer::Reply> card = redis.command({"SCARD", kRedisSet});
  check(card.status(), "redis SCARD");
  MELD_ASSERT(static_cast<uint64_t>(card->integer) == size, "redis load lost members");
  // Redis serves from RAM; one full scan puts the set's blocks in RocksDB's block cache, so that
  // both are measured warm rather than against blocks compaction has just rewritten.
  uint64_t loaded = stream_members(set, tag + "members_streamed_per_s (cold, warms the cache)");
  MELD_ASSERT(loaded == size, "streamed member count after load");

  SetFigures ours;
  SeededRng rng(config.seed);
  // contains: half present (i < size), half absent; every answer is checked.
  std::vector<uint64_t> probes(config.ops);
  for (uint64_t& p : probes) p = rng.uniform(2 * size);
  Phase contains(config.ops);
  for (uint64_t p : probes) {
    contains.time([&] {
      Result<bool> hit = set.contains(set_element(p));
      check(hit.status(), "contains");
      MELD_ASSERT(*hit == (p < size), "wrong contains answer");
    });
  }
  ours.contains = contains.report_as(tag + "contains");
  // The same probes, config.batch per call; per_s counts elements, latencies are per batch.
  const std::string batched = " (batch " + std::to_string(config.batch) + ", elements/s)";
  Phase contains_all(probes.size() / config.batch + 1);
  uint64_t batch_ns = 0;
  for (size_t first = 0; first < probes.size(); first += config.batch) {
    const size_t n = std::min<size_t>(config.batch, probes.size() - first);
    // Timed from building the elements, as each one-at-a-time contains above is.
    Clock::time_point start = Clock::now();
    std::vector<std::string> elements;
    elements.reserve(n);
    for (size_t i = first; i < first + n; ++i) elements.push_back(set_element(probes[i]));
    const std::vector<std::string_view> asked(elements.begin(), elements.end());
    Result<std::vector<bool>> hits = set.contains_all(asked);
    const uint64_t ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count();
    check(hits.status(), "contains_all");
    for (size_t i = 0; i < n; ++i) {
      MELD_ASSERT((*hits)[i] == (probes[first + i] < size), "wrong contains_all answer");
    }
    contains_all.record_ns(ns);
    batch_ns += ns;
  }
  ours.contains_all =
      contains_all.report_as(tag + "contains_all" + batched, probes.size() / (batch_ns / 1e9));
  Phase sismember(config.ops);
  for (uint64_t p : probes) {
    sismember.time([&] {
      Result<RedisPeer::Reply> r = redis.command({"SISMEMBER", kRedisSet, set_element(p)});
      check(r.status(), "redis SISMEMBER");
      MELD_ASSERT((r->integer == 1) == (p < size), "wrong SISMEMBER answer");
    });
  }
  sismember.report_as(tag + "redis_sismember");

  // add: ops new elements (each point read misses, as for any new element).
  Phase add(config.ops);
  for (uint64_t k = 0; k < config.ops; ++k) {
    add.time([&] { check(set.add(set_element(size + k)).status(), "add"); });
  }
  ours.add = add.report_as(tag + "add");
  Phase sadd(config.ops);
  for (uint64_t k = 0; k < config.ops; ++k) {
    sadd.time([&] {
      Result<RedisPeer::Reply> r = redis.command({"SADD", kRedisSet, set_element(size + k)});
      check(r.status(), "redis SADD");
    });
  }
  sadd.report_as(tag + "redis_sadd");

  // remove: ops distinct present elements spread over the whole set.
  const uint64_t members = size + config.ops;
  MELD_ASSERT(members % kRemoveStride != 0 && config.ops <= members, "bad remove schedule");
  Phase remove(config.ops);
  for (uint64_t k = 0; k < config.ops; ++k) {
    uint64_t i = (k * kRemoveStride) % members;
    remove.time([&] {
      Result<storage::BigSetDelta> d = set.remove(set_element(i));
      check(d.status(), "remove");
      MELD_ASSERT(!d->empty(), "removed an absent element");
    });
  }
  ours.remove = remove.report_as(tag + "remove");
  Phase srem(config.ops);
  for (uint64_t k = 0; k < config.ops; ++k) {
    uint64_t i = (k * kRemoveStride) % members;
    srem.time([&] {
      Result<RedisPeer::Reply> r = redis.command({"SREM", kRedisSet, set_element(i)});
      check(r.status(), "redis SREM");
      MELD_ASSERT(r->integer == 1, "SREM of an absent member");
    });
  }
  srem.report_as(tag + "redis_srem");

  // Removed elements' keys go at compaction.
  check(engine->flush(), "flush");
  check(engine->compact(), "compact");
  check(engine->compact(), "compact");
  uint64_t keys = stream_members(set, tag + "members_streamed_per_s (after removes)");
  MELD_ASSERT(keys == members - config.ops, "streamed member count");
  report(tag + "bytes_per_element after removes and compaction (SST files)",
         static_cast<double>(sst_bytes(dir)) / keys);
  check(redis.command({"DEL", kRedisSet}).status(), "redis DEL");
  return ours;
}

}  // namespace

MELD_BENCH(
    crdt_disk, "crdt-disk",
    "BigSet add/remove/contains, pipelined BigSet adds and counter increments on RocksDB "
    "vs redis-server [--sizes N,M] [--ops N] [--batch N] [--in-flight A,B] [--pipeline-ops N] "
    "[--dir D] [--block-cache-mb N]") {
  auto usage = [] {
    std::fprintf(
        stderr,
        "usage: meld-bench crdt-disk [--sizes N,M] [--ops N] [--batch N] [--in-flight A,B] "
        "[--pipeline-ops N] [--dir D] [--block-cache-mb N] (sizes in 1..%llu, "
        "batch in 1..%llu, in-flight in 1..%llu, block cache in 1..%llu MiB)\n",
        static_cast<unsigned long long>(kMaxSetSize), static_cast<unsigned long long>(kMaxBatch),
        static_cast<unsigned long long>(kMaxInFlight),
        static_cast<unsigned long long>(kMaxBlockCacheMb));
    return 2;
  };
  Config config;
  for (size_t i = 0; i < args.size(); ++i) {
    bool has_value = i + 1 < args.size();
    if (args[i] == "--sizes" && has_value) {
      std::optional<std::vector<uint64_t>> sizes = parse_u64_list(args[++i], 1, kMaxSetSize);
      if (!sizes) return usage();
      config.sizes = std::move(*sizes);
    } else if (args[i] == "--ops" && has_value) {
      std::optional<uint64_t> ops = parse_u64(args[++i]);
      if (!ops) return usage();
      config.ops = std::max<uint64_t>(100, *ops);
    } else if (args[i] == "--batch" && has_value) {
      std::optional<uint64_t> batch = parse_u64(args[++i]);
      if (!batch || *batch == 0 || *batch > kMaxBatch) return usage();
      config.batch = *batch;
    } else if (args[i] == "--in-flight" && has_value) {
      std::optional<std::vector<uint64_t>> windows = parse_u64_list(args[++i], 1, kMaxInFlight);
      if (!windows) return usage();
      config.in_flight = std::move(*windows);
    } else if (args[i] == "--pipeline-ops" && has_value) {
      std::optional<uint64_t> ops = parse_u64(args[++i]);
      if (!ops) return usage();
      config.pipeline_ops = std::max<uint64_t>(100, *ops);
    } else if (args[i] == "--dir" && has_value) {
      config.base_dir = args[++i];
    } else if (args[i] == "--block-cache-mb" && has_value) {
      std::optional<uint64_t> mb = parse_u64(args[++i]);
      if (!mb || *mb == 0 || *mb > kMaxBlockCacheMb) return usage();
      config.block_cache_mb = *mb;
    } else {
      std::fprintf(stderr, "crdt-disk: unknown argument %s\n", args[i].c_str());
      return 2;
    }
  }
  std::error_code made;
  std::filesystem::create_directories(config.base_dir, made);
  if (made) {
    std::fprintf(stderr, "crdt-disk: cannot create --dir %s: %s\n", config.base_dir.c_str(),
                 made.message().c_str());
    return 1;
  }
  setenv("TMPDIR", config.base_dir.c_str(), 1);
  Result<std::unique_ptr<RedisPeer>> redis =
      RedisPeer::start({"--appendonly", "yes", "--appendfsync", "no", "--save", ""});
  if (!redis.is_ok()) {
    std::fprintf(stderr, "crdt-disk: %s\n", redis.status().to_string().c_str());
    return 1;
  }
  report("redis", (*redis)->version());
  report("ops_per_phase", static_cast<double>(config.ops));
  report("contains_all_batch_elements", static_cast<double>(config.batch));
  counter_bench(config, **redis);
  for (bool sync : {true, false}) {
    for (uint64_t window : config.in_flight) pipelined_bench(config, sync, window);
  }
  std::vector<SetFigures> figures;
  for (uint64_t size : config.sizes) figures.push_back(set_bench(config, size, **redis));
  if (figures.size() >= 2) {
    const SetFigures& small = figures.front();
    const SetFigures& big = figures.back();
    auto ratios = [](const char* op, const Phase::Figures& small, const Phase::Figures& big) {
      report(std::string("ratio ") + op + " ops/s (smallest / biggest set)",
             small.per_s / big.per_s);
      report(std::string("ratio ") + op + " p50 (biggest / smallest set)",
             big.p50_us / small.p50_us);
    };
    ratios("add", small.add, big.add);
    ratios("remove", small.remove, big.remove);
    ratios("contains", small.contains, big.contains);
    ratios("contains_all", small.contains_all, big.contains_all);
  }
  return 0;
}

}  // namespace meld::bench
