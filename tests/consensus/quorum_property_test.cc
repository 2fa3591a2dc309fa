// Laws of the quorum arithmetic and of membership-change validation, checked by rapidcheck.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <limits>
#include <map>

#include "consensus/confchange.h"
#include "consensus/quorum.h"

namespace meld::consensus {
namespace {

// Voter ids 1..n with a match index each.
std::map<uint64_t, uint64_t> gen_matches(size_t min_voters) {
  size_t n = *rc::gen::inRange<size_t>(min_voters, 10);
  std::map<uint64_t, uint64_t> m;
  for (uint64_t id = 1; id <= n; ++id) m[id] = *rc::gen::inRange<uint64_t>(0, 50);
  return m;
}

VoterSet keys(const std::map<uint64_t, uint64_t>& m) {
  VoterSet s;
  for (const auto& [id, v] : m) s.insert(id);
  return s;
}

// Brute force: the largest v such that at least a majority acknowledged >= v.
uint64_t brute_committed(const std::map<uint64_t, uint64_t>& m) {
  uint64_t best = 0;
  for (const auto& [id, candidate] : m) {
    size_t at_least = 0;
    for (const auto& [other, v] : m) at_least += v >= candidate;
    if (at_least >= m.size() / 2 + 1) best = std::max(best, candidate);
  }
  return best;
}

RC_GTEST_PROP(Quorum, CommittedIndexIsTheQuorumthLargestMatch, ()) {
  std::map<uint64_t, uint64_t> m = gen_matches(1);
  uint64_t got = majority_committed_index(keys(m), [&](uint64_t id) { return m.at(id); });
  RC_ASSERT(got == brute_committed(m));
  std::vector<uint64_t> sorted;
  for (const auto& [id, v] : m) sorted.push_back(v);
  std::sort(sorted.rbegin(), sorted.rend());
  RC_ASSERT(got == sorted[m.size() / 2]);
}

RC_GTEST_PROP(Quorum, JointCommittedIndexIsTheMinimumOfBothMajorities, ()) {
  std::map<uint64_t, uint64_t> all = gen_matches(1);
  // Two overlapping or disjoint subsets of the same nodes.
  VoterSet in;
  VoterSet out;
  for (const auto& [id, v] : all) {
    if (*rc::gen::arbitrary<bool>()) in.insert(id);
    if (*rc::gen::arbitrary<bool>()) out.insert(id);
  }
  RC_PRE(!in.empty());
  AckedFn acked = [&](uint64_t id) { return all.at(id); };
  JointConfig joint{in, out};
  uint64_t expected = majority_committed_index(in, acked);
  if (!out.empty()) expected = std::min(expected, majority_committed_index(out, acked));
  RC_ASSERT(joint.committed_index(acked) == expected);
  // An empty outgoing half never constrains.
  RC_ASSERT((JointConfig{in, {}}.committed_index(acked)) == majority_committed_index(in, acked));
}

RC_GTEST_PROP(Quorum, VoteResultMatchesCounting, ()) {
  size_t n = *rc::gen::inRange<size_t>(1, 10);
  std::map<uint64_t, int> votes;
  VoterSet voters;
  for (uint64_t id = 1; id <= n; ++id) {
    voters.insert(id);
    votes[id] = *rc::gen::inRange(-1, 2);
  }
  size_t yes = 0;
  size_t no = 0;
  for (const auto& [id, v] : votes) {
    yes += v == 1;
    no += v == 0;
  }
  size_t q = n / 2 + 1;
  VoteResult expected = yes >= q      ? VoteResult::kWon
                        : n - no >= q ? VoteResult::kPending
                                      : VoteResult::kLost;
  RC_ASSERT(majority_vote_result(voters, [&](uint64_t id) { return votes.at(id); }) == expected);
}

RC_GTEST_PROP(Quorum, JointVoteWinsOnlyIfBothHalvesWin, ()) {
  std::map<uint64_t, int> votes;
  VoterSet in;
  VoterSet out;
  for (uint64_t id = 1; id <= 7; ++id) {
    votes[id] = *rc::gen::inRange(-1, 2);
    if (*rc::gen::arbitrary<bool>()) in.insert(id);
    if (*rc::gen::arbitrary<bool>()) out.insert(id);
  }
  RC_PRE(!in.empty() && !out.empty());
  VoteFn vote = [&](uint64_t id) { return votes.at(id); };
  VoteResult a = majority_vote_result(in, vote);
  VoteResult b = majority_vote_result(out, vote);
  VoteResult joint = JointConfig{in, out}.vote_result(vote);
  RC_ASSERT((joint == VoteResult::kWon) == (a == VoteResult::kWon && b == VoteResult::kWon));
  RC_ASSERT((joint == VoteResult::kLost) == (a == VoteResult::kLost || b == VoteResult::kLost));
}

// Node ids from min_id to 7 (0 is the invalid id).
ConfChangeSingle gen_single(uint64_t min_id) {
  ConfChangeSingle ch;
  ch.type = static_cast<ConfChangeType>(*rc::gen::inRange(0, 3));
  ch.node_id = *rc::gen::inRange<uint64_t>(min_id, 8);
  return ch;
}

ConfChange gen_change(uint64_t min_id = 0) {
  ConfChange cc;
  cc.transition = static_cast<ConfChangeTransition>(*rc::gen::inRange(0, 3));
  size_t n = *rc::gen::inRange<size_t>(0, 5);
  for (size_t i = 0; i < n; ++i) cc.changes.push_back(gen_single(min_id));
  return cc;
}

RC_GTEST_PROP(ConfChangeLaws, EveryAcceptedChangeKeepsTheInvariants, ()) {
  TrackerConfig cfg;
  cfg.voters.incoming = {1, 2, 3};
  for (int step = 0; step < 20; ++step) {
    ConfChange cc = gen_change();
    Result<TrackerConfig> next = apply_conf_change(cfg, cc);
    if (!next.is_ok()) {
      RC_ASSERT(next.status().code() == StatusCode::kInvalidArgument);
      continue;
    }
    RC_ASSERT(check_config_invariants(*next).is_ok());
    RC_ASSERT(!next->voters.incoming.empty());
    bool auto_leave = false;
    if (!cc.leaves_joint() && !cc.enters_joint(&auto_leave)) {
      // A simple change alters at most one voter (thesis §4.1).
      size_t diff = 0;
      for (uint64_t id : cfg.voters.incoming) diff += next->voters.incoming.count(id) == 0;
      for (uint64_t id : next->voters.incoming) diff += cfg.voters.incoming.count(id) == 0;
      RC_ASSERT(diff <= 1u);
    }
    if (cc.enters_joint(&auto_leave)) {
      RC_ASSERT(next->voters.outgoing == cfg.voters.incoming);
      RC_ASSERT(next->auto_leave == auto_leave);
    }
    if (cc.leaves_joint()) RC_ASSERT(!next->voters.is_joint());
    cfg = *next;
  }
}

RC_GTEST_PROP(ConfChangeLaws, JointThenLeaveEqualsTheTargetConfiguration, ()) {
  TrackerConfig cfg;
  cfg.voters.incoming = {1, 2, 3};
  ConfChange cc = gen_change(1);
  cc.transition = ConfChangeTransition::kJointExplicit;
  RC_PRE(!cc.changes.empty());
  Result<TrackerConfig> joint = apply_conf_change(cfg, cc);
  RC_PRE(joint.is_ok());
  Result<TrackerConfig> left = apply_conf_change(*joint, ConfChange{});
  RC_ASSERT(left.is_ok());
  RC_ASSERT(left->voters.incoming == joint->voters.incoming);
  RC_ASSERT(left->learners_next.empty());
  // Every node the change demoted to learner is a learner now.
  for (uint64_t id : joint->learners_next) RC_ASSERT(left->learners.count(id) == 1u);
  // A second joint change while joint is refused.
  RC_ASSERT(!apply_conf_change(*joint, cc).is_ok());
}

RC_GTEST_PROP(ConfChangeLaws, EncodingRoundTrips, ()) {
  ConfChange cc = gen_change();
  for (ConfChangeSingle& ch : cc.changes) ch.node_id = *rc::gen::arbitrary<uint64_t>();
  cc.context = *rc::gen::arbitrary<std::string>();
  Result<ConfChange> back = decode_conf_change(encode_conf_change(cc));
  RC_ASSERT(back.is_ok());
  RC_ASSERT(*back == cc);
}

RC_GTEST_PROP(ConfChangeLaws, DecodingArbitraryBytesNeverCrashes, (std::string bytes)) {
  Result<ConfChange> cc = decode_conf_change(bytes);
  if (!cc.is_ok()) RC_ASSERT(cc.status().code() == StatusCode::kInvalidArgument);
  // Truncations of a valid encoding are rejected.
  std::string valid = encode_conf_change(ConfChange{ConfChangeTransition::kAuto, {{}}, "ctx"});
  size_t cut = *rc::gen::inRange<size_t>(0, valid.size());
  RC_ASSERT(!decode_conf_change(std::string_view(valid).substr(0, cut)).is_ok());
}

}  // namespace
}  // namespace meld::consensus
