// The laws every CRDT here must satisfy, written once and instantiated per type with
// MELD_CRDT_LAWS(Suite, Traits). A Traits type names the State and how one request (a unique dot
// plus an Op) mutates a state, returning the delta the mutator produced.
//
// Histories are small on purpose (a few requests, three replicas, a few dozen steps): the laws are
// about interleavings, which small histories already exercise, and the suite must stay fast.
#pragma once

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "crdt/codec.h"

namespace meld::crdt::testing {

// (action, subject, amount): each Traits reads them its own way.
using Op = std::tuple<int, int, int>;

struct Request {
  Dot dot;
  Op op;
};

constexpr int kReplicas = 3;
constexpr int kMaxRequests = 24;
constexpr int kMaxSteps = 90;
// Client sessions that issue the requests; their ids share the dot space with replicas.
constexpr ReplicaId kSessions[] = {0x5e55'0001, 0x5e55'0002};
// A session no history uses, for the one extra request a delta law applies.
constexpr ReplicaId kFreshSession = 0x5e55'00ff;

inline rc::Gen<Op> gen_op() {
  return rc::gen::tuple(rc::gen::inRange(0, 4), rc::gen::inRange(0, 4), rc::gen::inRange(-5, 6));
}

// Requests with unique dots: each session numbers its requests 1, 2, 3, ...
inline std::vector<Request> gen_requests() {
  int n = *rc::gen::inRange(0, kMaxRequests + 1);
  auto ops = *rc::gen::container<std::vector<Op>>(n, gen_op());
  std::vector<Request> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(Request{Dot{kSessions[i % 2], static_cast<uint64_t>(i / 2 + 1)}, ops[i]});
  }
  return out;
}

// Three replicas after a random interleaving of: applying a request at a replica (the same request
// may be applied again: a retry, possibly elsewhere), shipping an earlier delta to a replica, and
// merging one replica's full state into another.
template <typename Traits>
struct Universe {
  using State = typename Traits::State;
  std::vector<State> replicas = std::vector<State>(kReplicas);
  std::vector<State> deltas;
  std::vector<Request> requests;
  std::vector<bool> applied;
};

template <typename Traits>
Universe<Traits> gen_universe() {
  Universe<Traits> u;
  u.requests = gen_requests();
  u.applied.assign(u.requests.size(), false);
  int steps = *rc::gen::inRange(0, kMaxSteps + 1);
  auto plan = *rc::gen::container<std::vector<std::tuple<int, int, int>>>(
      steps,
      rc::gen::tuple(rc::gen::inRange(0, 4), rc::gen::inRange(0, 64), rc::gen::inRange(0, 64)));
  for (auto [kind, a, b] : plan) {
    auto& target = u.replicas[b % kReplicas];
    if (kind <= 1 && !u.requests.empty()) {
      size_t k = a % u.requests.size();
      u.deltas.push_back(Traits::apply(target, u.requests[k]));
      u.applied[k] = true;
    } else if (kind == 2 && !u.deltas.empty()) {
      target.merge(u.deltas[a % u.deltas.size()]);
    } else {
      target.merge(u.replicas[a % kReplicas]);
    }
  }
  return u;
}

template <typename State>
State joined(State a, const State& b) {
  a.merge(b);
  return a;
}

template <typename Traits>
void merge_is_commutative() {
  auto u = gen_universe<Traits>();
  RC_ASSERT(joined(u.replicas[0], u.replicas[1]) == joined(u.replicas[1], u.replicas[0]));
}

template <typename Traits>
void merge_is_associative() {
  auto u = gen_universe<Traits>();
  const auto& [a, b, c] = std::tie(u.replicas[0], u.replicas[1], u.replicas[2]);
  RC_ASSERT(joined(joined(a, b), c) == joined(a, joined(b, c)));
}

template <typename Traits>
void merge_is_idempotent() {
  auto u = gen_universe<Traits>();
  RC_ASSERT(joined(u.replicas[0], u.replicas[0]) == u.replicas[0]);
  auto ab = joined(u.replicas[0], u.replicas[1]);
  RC_ASSERT(joined(ab, u.replicas[1]) == ab);
}

// X ⊔ mδ(s) = X ⊔ m(s) for every X that includes the origin state s.
template <typename Traits>
void delta_merge_equals_full_state_merge() {
  auto u = gen_universe<Traits>();
  const auto& origin = u.replicas[0];
  auto x = joined(u.replicas[1], origin);
  auto mutated = origin;
  auto delta = Traits::apply(mutated, Request{Dot{kFreshSession, 1}, *gen_op()});
  RC_ASSERT(joined(x, delta) == joined(x, mutated));
}

// Requests applied at random origins (some retried at a second one), their deltas delivered to
// every replica in random order with duplicates and losses, then a ring of full-state merges:
// every replica ends equal to the join of all deltas.
template <typename Traits>
void replicas_converge_despite_reordering_duplicates_and_loss() {
  using State = typename Traits::State;
  auto requests = gen_requests();
  std::vector<State> replicas(kReplicas);
  std::vector<State> deltas;
  for (const Request& r : requests) {
    deltas.push_back(Traits::apply(replicas[*rc::gen::inRange(0, kReplicas)], r));
    if (*rc::gen::inRange(0, 4) == 0) {
      deltas.push_back(Traits::apply(replicas[*rc::gen::inRange(0, kReplicas)], r));
    }
  }
  State reference;
  for (const State& d : deltas) reference.merge(d);
  if (!deltas.empty()) {
    for (State& replica : replicas) {
      int n = *rc::gen::inRange(0, static_cast<int>(2 * deltas.size()) + 1);
      auto order = *rc::gen::container<std::vector<int>>(
          n, rc::gen::inRange(0, static_cast<int>(deltas.size())));
      for (int i : order) replica.merge(deltas[i]);
    }
  }
  for (int i = 1; i <= kReplicas + 1; ++i) {
    replicas[i % kReplicas].merge(replicas[(i - 1) % kReplicas]);
  }
  for (const State& replica : replicas) RC_ASSERT(replica == reference);
}

template <typename Traits>
void encoding_round_trips() {
  auto u = gen_universe<Traits>();
  for (const auto& state : u.replicas) {
    auto decoded = decode<typename Traits::State>(encode(state));
    RC_ASSERT(decoded.is_ok());
    RC_ASSERT(*decoded == state);
  }
}

// Equal states reached by different merge orders encode to identical bytes.
template <typename Traits>
void equal_states_encode_identically() {
  auto u = gen_universe<Traits>();
  const auto& [a, b, c] = std::tie(u.replicas[0], u.replicas[1], u.replicas[2]);
  auto left = joined(joined(a, b), c);
  auto right = joined(c, joined(b, a));
  RC_ASSERT(left == right);
  RC_ASSERT(encode(left) == encode(right));
}

// Whatever decode accepts is a valid state: it round-trips.
template <typename State>
void check_accepted_state(const Result<State>& decoded) {
  if (!decoded.is_ok()) return;
  auto again = decode<State>(encode(*decoded));
  RC_ASSERT(again.is_ok());
  RC_ASSERT(*again == *decoded);
}

// Random words, half the time behind a well-formed one-segment table so that the bytes reach the
// schema checks rather than stopping at the framing.
template <typename Traits>
void decoding_random_bytes_never_crashes() {
  auto words = *rc::gen::container<std::vector<uint64_t>>(rc::gen::arbitrary<uint64_t>());
  if (!words.empty() && *rc::gen::arbitrary<bool>()) {
    words[0] = static_cast<uint64_t>(words.size() - 1) << 32;
  }
  std::string bytes(reinterpret_cast<const char*>(words.data()), words.size() * sizeof(uint64_t));
  bytes.resize(bytes.size() - *rc::gen::inRange<size_t>(0, bytes.empty() ? 1 : 8));
  check_accepted_state(decode<typename Traits::State>(bytes));
}

// Valid encodings with a few bytes overwritten reach deeper into the decoder than random bytes.
template <typename Traits>
void decoding_corrupted_encodings_never_crashes() {
  auto u = gen_universe<Traits>();
  std::string bytes = encode(u.replicas[0]);
  int flips = *rc::gen::inRange(1, 4);
  for (int i = 0; i < flips; ++i) {
    size_t at = *rc::gen::inRange<size_t>(0, bytes.size());
    bytes[at] = *rc::gen::arbitrary<char>();
  }
  if (*rc::gen::inRange(0, 4) == 0) bytes.resize(*rc::gen::inRange<size_t>(0, bytes.size()));
  check_accepted_state(decode<typename Traits::State>(bytes));
}

}  // namespace meld::crdt::testing

#define MELD_CRDT_LAW(Suite, Traits, Name, law) \
  RC_GTEST_PROP(Suite, Name, ()) {              \
    ::meld::crdt::testing::law<Traits>();       \
  }

#define MELD_CRDT_LAWS(Suite, Traits)                                                         \
  MELD_CRDT_LAW(Suite, Traits, MergeIsCommutative, merge_is_commutative)                      \
  MELD_CRDT_LAW(Suite, Traits, MergeIsAssociative, merge_is_associative)                      \
  MELD_CRDT_LAW(Suite, Traits, MergeIsIdempotent, merge_is_idempotent)                        \
  MELD_CRDT_LAW(Suite, Traits, DeltaMergeEqualsFullStateMerge,                                \
                delta_merge_equals_full_state_merge)                                          \
  MELD_CRDT_LAW(Suite, Traits, ReplicasConvergeDespiteReorderingDuplicatesAndLoss,            \
                replicas_converge_despite_reordering_duplicates_and_loss)                     \
  MELD_CRDT_LAW(Suite, Traits, EncodingRoundTrips, encoding_round_trips)                      \
  MELD_CRDT_LAW(Suite, Traits, EqualStatesEncodeIdentically, equal_states_encode_identically) \
  MELD_CRDT_LAW(Suite, Traits, DecodingRandomBytesNeverCrashes,                               \
                decoding_random_bytes_never_crashes)                                          \
  MELD_CRDT_LAW(Suite, Traits, DecodingCorruptedEncodingsNeverCrashes,                        \
                decoding_corrupted_encodings_never_crashes)
