// Quorum arithmetic for majority and joint configurations (§5.2, §5.3, thesis §4.3). Pure
// functions of a voter set and a lookup; no state.
#pragma once

#include <cstdint>
#include <functional>
#include <set>

namespace meld::consensus {

using VoterSet = std::set<uint64_t>;

enum class VoteResult { kPending, kLost, kWon };

// Returns the acknowledged value (typically a match index) for a voter; 0 when unknown.
using AckedFn = std::function<uint64_t(uint64_t id)>;
// Returns a voter's vote: -1 not yet voted, 0 rejected, 1 granted.
using VoteFn = std::function<int(uint64_t id)>;

// The largest value v such that a majority of `voters` acknowledged at least v: with the values
// sorted in descending order, the (n/2+1)-th one. An empty set returns UINT64_MAX, so that it
// never constrains the joint minimum below.
uint64_t majority_committed_index(const VoterSet& voters, const AckedFn& acked);

// kWon when a majority granted, kLost when a majority can no longer be reached, kPending
// otherwise. An empty set wins (it constrains nothing in a joint configuration).
VoteResult majority_vote_result(const VoterSet& voters, const VoteFn& vote);

// A joint configuration (thesis §4.3): decisions need a majority of `incoming` and of
// `outgoing`. In a simple configuration `outgoing` is empty.
struct JointConfig {
  VoterSet incoming;
  VoterSet outgoing;

  bool is_joint() const { return !outgoing.empty(); }
  bool contains(uint64_t id) const { return incoming.count(id) > 0 || outgoing.count(id) > 0; }
  // Union of both voter sets.
  VoterSet ids() const;
  // Minimum of both majorities' committed index.
  uint64_t committed_index(const AckedFn& acked) const;
  // kWon only if both majorities won; kLost if either lost.
  VoteResult vote_result(const VoteFn& vote) const;

  friend bool operator==(const JointConfig&, const JointConfig&) = default;
};

}  // namespace meld::consensus
