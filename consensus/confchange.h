// Membership changes (thesis §4.3 joint consensus; §4.1 single-server changes as the special
// case) and their validation. A ConfChange travels in an EntryType::kConfChange log entry and
// takes effect on every node when that entry is applied.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "consensus/tracker.h"
#include "consensus/types.h"

namespace meld::consensus {

enum class ConfChangeType : uint8_t {
  kAddVoter = 0,    // add as voter, or promote a learner
  kAddLearner = 1,  // add as learner, or demote a voter
  kRemoveNode = 2,
};

struct ConfChangeSingle {
  ConfChangeType type = ConfChangeType::kAddVoter;
  uint64_t node_id = kNoNode;

  friend bool operator==(const ConfChangeSingle&, const ConfChangeSingle&) = default;
};

enum class ConfChangeTransition : uint8_t {
  // One voter change (or only learner changes): a simple change, applied directly (thesis §4.1).
  // Several voter changes: enter a joint configuration and leave it automatically.
  kAuto = 0,
  kJointImplicit = 1,  // always joint; the leader proposes leaving it once it is applied
  kJointExplicit = 2,  // always joint; the application proposes leaving it (empty change)
};

// A membership change. An empty `changes` list with kAuto means "leave the joint configuration".
struct ConfChange {
  ConfChangeTransition transition = ConfChangeTransition::kAuto;
  std::vector<ConfChangeSingle> changes;
  std::string context;  // opaque to Raft, handed back to the application in the entry

  bool leaves_joint() const { return changes.empty() && transition == ConfChangeTransition::kAuto; }
  // True when this change enters a joint configuration (and whether it auto-leaves).
  bool enters_joint(bool* auto_leave) const;
  friend bool operator==(const ConfChange&, const ConfChange&) = default;
};

// Upper bound on the single changes in one ConfChange; bigger ones are rejected as malformed.
inline constexpr size_t kMaxConfChanges = 64;
// Upper bound on ConfChange::context bytes.
inline constexpr size_t kMaxConfChangeContextBytes = 64 * 1024;

// A compact binary encoding (version, transition, changes, context). decode_conf_change rejects
// anything malformed (bad version, unknown type, truncated, trailing bytes, over the bounds) with
// invalid_argument; it never crashes on untrusted bytes.
std::string encode_conf_change(const ConfChange& cc);
Result<ConfChange> decode_conf_change(std::string_view bytes);

// Applies `cc` to `config` and returns the new configuration, or invalid_argument when the change
// is not allowed: node id 0; entering a joint configuration while joint, or from an empty one;
// leaving when not joint; a simple change while joint; a change that leaves no voter. The result
// always satisfies check_config_invariants.
Result<TrackerConfig> apply_conf_change(const TrackerConfig& config, const ConfChange& cc);

// The invariants of a configuration: learners and voters are disjoint; learners_next is only used
// while joint, its members are outgoing voters and not incoming ones; auto_leave only while joint.
Status check_config_invariants(const TrackerConfig& config);

// Builds (and validates) the configuration a ConfState describes, e.g. from a snapshot.
Result<TrackerConfig> config_from_conf_state(const ConfState& cs);

}  // namespace meld::consensus
