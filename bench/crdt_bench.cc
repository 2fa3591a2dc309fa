// crdt: the CRDT library in memory, one thread. Counter increments (replica-assigned dots and
// client request ids), delta and full-state merges, OR-Set add / remove / contains at two set
// sizes (--sizes, default 1,000 and 10,000,000), one element per call and in batches
// (AwSet::contains_all / add_all / remove_all), a memory floor (random reads from an array of the
// set's size) that shows the hardware's part of the size ratio, and the canonical encoding's bytes
// per element. No RocksDB, no network.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "base/rng.h"
#include "bench/bench.h"
#include "crdt/codec.h"
#include "crdt/counter.h"
#include "crdt/element_table.h"
#include "crdt/set.h"

namespace meld::bench {
namespace {

using Clock = std::chrono::steady_clock;
using crdt::Dot;

constexpr crdt::ReplicaId kReplica = 1;
constexpr int kSessions = 64;
constexpr uint64_t kCounterOps = 2'000'000;
constexpr uint64_t kSetOps = 200'000;
constexpr uint64_t kMaxSetSize = 100'000'000;
// Members per batched call.
constexpr size_t kBatch = 256;

double peak_rss_gib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / (1024.0 * 1024.0);  // ru_maxrss is in KiB
}

// Keeps the optimiser from discarding a result.
volatile uint64_t sink;

// n distinct random members of a set of elements 0..size-1 (n <= size).
std::vector<std::string> distinct_members(Rng& rng, uint64_t size, uint64_t n) {
  std::unordered_set<uint64_t> seen;
  std::vector<std::string> members;
  members.reserve(n);
  while (members.size() < n) {
    uint64_t i = rng.uniform(size);
    if (seen.insert(i).second) members.push_back(set_element(i));
  }
  return members;
}

// The hardware's side of the size ratio: kSetOps random 8-byte reads from an array of 64 bytes
// per element (the size of an entry of AwSet's table, in the same huge-page-advised memory),
// independent of each other (as the batched lookups) and each depending on the one before (as a
// lookup that must finish before the next starts).
void memory_floor(uint64_t size) {
  const uint64_t words = size * 8;
  crdt::detail::PageBuffer buffer(words * sizeof(uint64_t));
  auto* array = static_cast<uint64_t*>(buffer.data());
  for (uint64_t i = 0; i < words; i += 512) array[i] = 0;  // fault the pages in
  SeededRng rng(7);
  std::vector<uint64_t> positions(kSetOps);
  for (uint64_t& p : positions) p = rng.uniform(words);
  Clock::time_point start = Clock::now();
  double cpu_start = this_thread_cpu_seconds();
  uint64_t sum = 0;
  for (uint64_t p : positions) sum += array[p];
  report("memory_floor_reads_per_s (independent random 8-byte reads, 64 bytes per element)",
         kSetOps / seconds_since(start));
  report("memory_floor_reads_per_cpu_s (the same, per second of this thread's CPU time)",
         kSetOps / (this_thread_cpu_seconds() - cpu_start));
  start = Clock::now();
  cpu_start = this_thread_cpu_seconds();
  uint64_t at = 0;
  // The array holds zeros, but the processor cannot know: each address waits for the last load.
  for (uint64_t p : positions) at = (p ^ array[at]) % words;
  report("memory_floor_reads_per_s (dependent random 8-byte reads)",
         kSetOps / seconds_since(start));
  report("memory_floor_reads_per_cpu_s (dependent, per second of CPU time)",
         kSetOps / (this_thread_cpu_seconds() - cpu_start));
  sink = sum + at;
}

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
  memory_floor(size);
  crdt::AwSet set;
  Clock::time_point start = Clock::now();
  for (uint64_t i = 0; i < size; ++i) sink = set.add(kReplica, set_element(i)).size();
  const double fill_s = seconds_since(start);
  report("set_fill_s", fill_s);
  report("set_fill_adds_per_s (first touch of the memory)", size / fill_s);

  SeededRng rng(42);
  std::vector<std::string> probes;
  probes.reserve(kSetOps);
  for (uint64_t i = 0; i < kSetOps; ++i) probes.push_back(set_element(rng.uniform(size)));
  start = Clock::now();
  double cpu_start = this_thread_cpu_seconds();
  uint64_t hits = 0;
  for (const auto& p : probes) hits += set.contains(p);
  report("set_contains_per_s", kSetOps / seconds_since(start));
  report("set_contains_per_cpu_s (per second of CPU time)",
         kSetOps / (this_thread_cpu_seconds() - cpu_start));
  report("set_contains_hits", static_cast<double>(hits));

  std::vector<std::string> fresh;
  fresh.reserve(kSetOps);
  for (uint64_t i = 0; i < kSetOps; ++i) fresh.push_back(set_element(size + i));
  start = Clock::now();
  for (const auto& e : fresh) sink = set.add(kReplica, e).size();
  report("set_adds_per_s (new elements past the largest)", kSetOps / seconds_since(start));
  start = Clock::now();
  for (const auto& e : fresh) sink = set.remove(e).size();
  report("set_removes_per_s (the elements just added)", kSetOps / seconds_since(start));

  // Removes of random members and adds of them back, so both land anywhere in the set rather
  // than where the last operations left the caches warm: rounds of distinct random members (at
  // most half the set) until kSetOps of each were done.
  const uint64_t batch = std::min<uint64_t>(kSetOps, std::max<uint64_t>(1, size / 2));
  double remove_s = 0;
  double readd_s = 0;
  for (uint64_t done = 0; done < kSetOps; done += batch) {
    std::vector<std::string> members = distinct_members(rng, size, batch);
    start = Clock::now();
    for (const auto& e : members) sink = set.remove(e).size();
    remove_s += seconds_since(start);
    start = Clock::now();
    for (const auto& e : members) sink = set.add(kReplica, e).size();
    readd_s += seconds_since(start);
  }
  const uint64_t random_ops = (kSetOps + batch - 1) / batch * batch;
  report("set_removes_per_s (random members)", random_ops / remove_s);
  report("set_adds_per_s (those members back, random positions)", random_ops / readd_s);
  report("set_size_after", static_cast<double>(set.size()));

  // The same phases with the batch API (AwSet::contains_all / add_all / remove_all), kBatch
  // members per call as a Sets RPC carries them: fresh members past the ones above, and rounds
  // of distinct random members.
  auto in_batches = [](const std::vector<std::string>& all, auto call) {
    for (size_t at = 0; at < all.size(); at += kBatch) {
      call(std::span<const std::string>(all).subspan(at, std::min(kBatch, all.size() - at)));
    }
  };
  start = Clock::now();
  cpu_start = this_thread_cpu_seconds();
  hits = 0;
  in_batches(probes, [&](std::span<const std::string> batch) {
    for (bool hit : set.contains_all(batch)) hits += hit;
  });
  report("set_contains_per_s (batches of 256)", kSetOps / seconds_since(start));
  report("set_contains_per_cpu_s (batches of 256, per second of CPU time)",
         kSetOps / (this_thread_cpu_seconds() - cpu_start));
  report("set_contains_hits (batches)", static_cast<double>(hits));
  for (uint64_t i = 0; i < kSetOps; ++i) fresh[i] = set_element(size + kSetOps + i);
  start = Clock::now();
  in_batches(fresh,
             [&](std::span<const std::string> b) { sink = set.add_all(kReplica, b).size(); });
  report("set_adds_per_s (batches of 256, new elements past the largest)",
         kSetOps / seconds_since(start));
  start = Clock::now();
  in_batches(fresh, [&](std::span<const std::string> b) { sink = set.remove_all(b).size(); });
  report("set_removes_per_s (batches of 256, the elements just added)",
         kSetOps / seconds_since(start));
  remove_s = 0;
  readd_s = 0;
  for (uint64_t done = 0; done < kSetOps; done += batch) {
    std::vector<std::string> members = distinct_members(rng, size, batch);
    start = Clock::now();
    in_batches(members, [&](std::span<const std::string> b) { sink = set.remove_all(b).size(); });
    remove_s += seconds_since(start);
    start = Clock::now();
    in_batches(members,
               [&](std::span<const std::string> b) { sink = set.add_all(kReplica, b).size(); });
    readd_s += seconds_since(start);
  }
  report("set_removes_per_s (batches of 256, random members)", random_ops / remove_s);
  report("set_adds_per_s (batches of 256, those members back)", random_ops / readd_s);
  report("set_size_after (batches)", static_cast<double>(set.size()));
  for (uint64_t i = 0; i < kSetOps; ++i) fresh[i] = set_element(size + i);

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
  const crdt::DecodeLimits limits{.max_bytes = std::max<size_t>(size_t{1} << 30, 128 * size),
                                  .max_entries = 4 * size + 16};
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
  report("peak_rss_gib (process so far)", peak_rss_gib());
}

}  // namespace

MELD_BENCH(crdt_bench, "crdt",
           "[--sizes N,N,...]: CRDT library in memory: counter increments and merges, OR-Set "
           "add/remove/contains at each size (default 1,000 and 10,000,000 elements; 10M needs "
           "about 10 GiB), encoded bytes per element") {
  std::optional<std::vector<uint64_t>> sizes = std::vector<uint64_t>{1'000, 10'000'000};
  const bool sizes_given = args.size() == 2 && args[0] == "--sizes";
  if (sizes_given) sizes = parse_u64_list(args[1], 1, kMaxSetSize);
  if (!sizes || !(args.empty() || sizes_given)) {
    std::fprintf(stderr, "usage: meld-bench crdt [--sizes N,N,...] (each N in 1..%llu)\n",
                 static_cast<unsigned long long>(kMaxSetSize));
    return 2;
  }
  counter_bench();
  for (uint64_t size : *sizes) set_bench(size);
  return 0;
}

}  // namespace meld::bench
