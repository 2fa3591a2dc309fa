#include "consensus/quorum.h"

#include <algorithm>
#include <limits>
#include <vector>

namespace meld::consensus {

uint64_t majority_committed_index(const VoterSet& voters, const AckedFn& acked) {
  if (voters.empty()) return std::numeric_limits<uint64_t>::max();
  std::vector<uint64_t> values;
  values.reserve(voters.size());
  for (uint64_t id : voters) values.push_back(acked(id));
  std::sort(values.begin(), values.end());
  // Ascending order: the quorum'th largest sits at n - quorum.
  size_t quorum = values.size() / 2 + 1;
  return values[values.size() - quorum];
}

VoteResult majority_vote_result(const VoterSet& voters, const VoteFn& vote) {
  if (voters.empty()) return VoteResult::kWon;
  size_t granted = 0;
  size_t missing = 0;
  for (uint64_t id : voters) {
    int v = vote(id);
    if (v < 0) {
      ++missing;
    } else if (v > 0) {
      ++granted;
    }
  }
  size_t quorum = voters.size() / 2 + 1;
  if (granted >= quorum) return VoteResult::kWon;
  if (granted + missing >= quorum) return VoteResult::kPending;
  return VoteResult::kLost;
}

VoterSet JointConfig::ids() const {
  VoterSet all = incoming;
  all.insert(outgoing.begin(), outgoing.end());
  return all;
}

uint64_t JointConfig::committed_index(const AckedFn& acked) const {
  return std::min(majority_committed_index(incoming, acked),
                  majority_committed_index(outgoing, acked));
}

VoteResult JointConfig::vote_result(const VoteFn& vote) const {
  VoteResult in = majority_vote_result(incoming, vote);
  VoteResult out = majority_vote_result(outgoing, vote);
  if (in == out) return in;
  if (in == VoteResult::kLost || out == VoteResult::kLost) return VoteResult::kLost;
  return VoteResult::kPending;
}

}  // namespace meld::consensus
