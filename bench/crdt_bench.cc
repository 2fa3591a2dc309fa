// crdt: the CRDT library in memory, one thread. Counter increments (replica-assigned dots and
// client request ids), delta and full-state merges, OR-Set add / remove / contains at two set
// sizes, and the canonical encoding's bytes per element. No RocksDB, no network.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "base/rng.h"
#include "bench/bench.h"
#include "crdt/codec.h"
#include "crdt/counter.h"
#include "crdt/set.h"

namespace meld::bench {
namespace {

using Clock = std::chrono::steady_clock;
using crdt::Dot;

constexpr crdt::ReplicaId kReplica = 1;
constexpr int kSessions = 64;
constexpr uint64_t kCounterOps = 2'000'000;
constexpr uint64_t kSetOps = 200'000;
constexpr uint64_t kSetSizes[] = {1'000, 1'000'000};

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string element(uint64_t i) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "element:%012llu", static_cast<unsigned long long>(i));
  return buf;
}

// Keeps the optimiser from discarding a result.
volatile uint64_t sink;

void counter_bench() {
  crdt::PnCounter counter;
  Clock::time_point start = Clock::now();
  for (uint64_t i = 0; i < kCounterOps; ++i) sink = counter.increment(kReplica, 1).empty();
  report("counter_increments_per_s (replica-assigned dots)", kCounterOps / seconds_since(start));

  // Client request ids: kSessions sessions, each numbering its requests 1, 2, 3, ...
  crdt::PnCounter by_request;
  std::vector<uint64_t> next(kSessions, 1);
  start = Clock::now();
  for (uint64_t i = 0; i < kCounterOps; ++i) {
    int s = static_cast<int>(i % kSessions);
    sink = by_request.increment(Dot{1000 + static_cast<uint64_t>(s), next[s]++}, 1).empty();
  }
  report("counter_increments_per_s (request ids, 64 sessions)", kCounterOps / seconds_since(start));

  // The same requests retried: every one is recognised and counts zero times more.
  std::fill(next.begin(), next.end(), 1);
  start = Clock::now();
  for (uint64_t i = 0; i < kCounterOps; ++i) {
    int s = static_cast<int>(i % kSessions);
    sink = by_request.increment(Dot{1000 + static_cast<uint64_t>(s), next[s]++}, 1).empty();
  }
  report("counter_retries_per_s (all recognised)", kCounterOps / seconds_since(start));
  report("counter_value_after_retries", static_cast<double>(by_request.value()));

  // A replica merging the increment deltas another replica produced (the replication path).
  crdt::PnCounter origin;
  std::vector<crdt::PnCounter> deltas;
  deltas.reserve(kCounterOps);
  std::fill(next.begin(), next.end(), 1);
  for (uint64_t i = 0; i < kCounterOps; ++i) {
    int s = static_cast<int>(i % kSessions);
    deltas.push_back(origin.increment(Dot{1000 + static_cast<uint64_t>(s), next[s]++}, 1));
  }
  crdt::PnCounter replica;
  start = Clock::now();
  for (const auto& d : deltas) replica.merge(d);
  report("counter_delta_merges_per_s (64 sessions)", kCounterOps / seconds_since(start));
  report("counter_replicas_equal", replica == origin ? "yes" : "no");

  // Full-state merges of two counters of 64 origins each (anti-entropy).
  crdt::PnCounter a = origin;
  crdt::PnCounter b;
  for (int s = 0; s < kSessions; ++s) b.increment(Dot{5000 + static_cast<uint64_t>(s), 1}, 1);
  constexpr uint64_t kFullMerges = 200'000;
  start = Clock::now();
  for (uint64_t i = 0; i < kFullMerges; ++i) {
    crdt::PnCounter c = a;
    c.merge(b);
    sink = c.prefixes().size();
  }
  report("counter_full_state_merges_per_s (128 origins, copy included)",
         kFullMerges / seconds_since(start));
  report("counter_encoded_bytes (128 origins)", static_cast<double>(crdt::encode(a).size()));
}

void set_bench(uint64_t size) {
  std::printf("\n");
  report("set_size", static_cast<double>(size));
  crdt::AwSet set;
  Clock::time_point start = Clock::now();
  for (uint64_t i = 0; i < size; ++i) sink = set.add(kReplica, element(i)).size();
  report("set_fill_adds_per_s (first touch of the memory)", size / seconds_since(start));

  SeededRng rng(42);
  std::vector<std::string> probes;
  probes.reserve(kSetOps);
  for (uint64_t i = 0; i < kSetOps; ++i) probes.push_back(element(rng.uniform(size)));
  start = Clock::now();
  uint64_t hits = 0;
  for (const auto& p : probes) hits += set.contains(p);
  report("set_contains_per_s", kSetOps / seconds_since(start));
  report("set_contains_hits", static_cast<double>(hits));

  std::vector<std::string> fresh;
  fresh.reserve(kSetOps);
  for (uint64_t i = 0; i < kSetOps; ++i) fresh.push_back(element(size + i));
  start = Clock::now();
  for (const auto& e : fresh) sink = set.add(kReplica, e).size();
  report("set_adds_per_s", kSetOps / seconds_since(start));
  start = Clock::now();
  for (const auto& e : fresh) sink = set.remove(e).size();
  report("set_removes_per_s", kSetOps / seconds_since(start));
  report("set_size_after", static_cast<double>(set.size()));

  // The replication path: another replica's add and remove deltas merged into this set.
  crdt::AwSet remote;
  std::vector<crdt::AwSet> deltas;
  deltas.reserve(2 * kSetOps);
  for (const auto& e : fresh) deltas.push_back(remote.add(kReplica + 1, e));
  for (const auto& e : fresh) deltas.push_back(remote.remove(e));
  start = Clock::now();
  for (const auto& d : deltas) set.merge(d);
  report("set_delta_merges_per_s (another replica's adds, then its removes)",
         deltas.size() / seconds_since(start));
  report("set_size_after_merges", static_cast<double>(set.size()));

  // Encode and decode repeat until about a million elements went through, so small sets are
  // not measured by one cold run.
  const uint64_t reps = std::max<uint64_t>(1, 1'000'000 / size);
  const crdt::DecodeLimits limits{.max_bytes = size_t{1} << 30, .max_entries = 4 * size + 16};
  std::string bytes;
  start = Clock::now();
  for (uint64_t r = 0; r < reps; ++r) bytes = crdt::encode(set);
  double encode_s = seconds_since(start) / reps;
  Result<crdt::AwSet> decoded = crdt::AwSet();
  start = Clock::now();
  for (uint64_t r = 0; r < reps; ++r) decoded = crdt::decode<crdt::AwSet>(bytes, limits);
  double decode_s = seconds_since(start) / reps;
  report("set_encoded_bytes_per_element (20-byte elements)",
         static_cast<double>(bytes.size()) / size);
  report("set_encode_ns_per_element", encode_s * 1e9 / size);
  report("set_decode_ns_per_element", decode_s * 1e9 / size);
  report("set_decode_round_trips", decoded.is_ok() && *decoded == set ? "yes" : "no");
}

}  // namespace

MELD_BENCH(crdt_bench, "crdt",
           "CRDT library in memory: counter increments and merges, OR-Set add/remove/contains "
           "at 1K and 1M elements, encoded bytes per element") {
  counter_bench();
  for (uint64_t size : kSetSizes) set_bench(size);
  return 0;
}

}  // namespace meld::bench
