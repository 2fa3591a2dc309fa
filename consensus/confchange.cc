#include "consensus/confchange.h"

namespace meld::consensus {
namespace {

constexpr uint8_t kConfChangeVersion = 1;

void put_u64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

bool get_u64(std::string_view* in, uint64_t* v) {
  if (in->size() < 8) return false;
  *v = 0;
  for (int i = 0; i < 8; ++i) {
    *v |= static_cast<uint64_t>(static_cast<uint8_t>((*in)[i])) << (8 * i);
  }
  in->remove_prefix(8);
  return true;
}

bool get_u8(std::string_view* in, uint8_t* v) {
  if (in->empty()) return false;
  *v = static_cast<uint8_t>((*in)[0]);
  in->remove_prefix(1);
  return true;
}

void remove_node(TrackerConfig* c, uint64_t id) {
  c->voters.incoming.erase(id);
  c->learners.erase(id);
  c->learners_next.erase(id);
}

void make_voter(TrackerConfig* c, uint64_t id) {
  c->learners.erase(id);
  c->learners_next.erase(id);
  c->voters.incoming.insert(id);
}

// A voter of the outgoing configuration cannot become a learner until the joint configuration is
// left (it still votes there), so it is staged in learners_next (thesis §4.3, etcd's approach).
void make_learner(TrackerConfig* c, uint64_t id) {
  c->voters.incoming.erase(id);
  if (c->voters.outgoing.count(id) > 0) {
    c->learners.erase(id);
    c->learners_next.insert(id);
  } else {
    c->learners_next.erase(id);
    c->learners.insert(id);
  }
}

Status apply_changes(TrackerConfig* c, const std::vector<ConfChangeSingle>& changes) {
  for (const ConfChangeSingle& ch : changes) {
    if (ch.node_id == kNoNode) return Status::invalid_argument("conf change for node id 0");
    switch (ch.type) {
      case ConfChangeType::kAddVoter:
        make_voter(c, ch.node_id);
        break;
      case ConfChangeType::kAddLearner:
        make_learner(c, ch.node_id);
        break;
      case ConfChangeType::kRemoveNode:
        remove_node(c, ch.node_id);
        break;
    }
  }
  if (c->voters.incoming.empty()) return Status::invalid_argument("conf change removes all voters");
  return Status::ok();
}

}  // namespace

bool ConfChange::enters_joint(bool* auto_leave) const {
  if (leaves_joint()) return false;
  // kAuto with several changes goes through joint consensus: the single-step case is only safe
  // when at most one voter changes (thesis §4.1), and a learner change may demote a voter.
  bool joint = transition != ConfChangeTransition::kAuto || changes.size() > 1;
  if (auto_leave != nullptr) *auto_leave = transition != ConfChangeTransition::kJointExplicit;
  return joint;
}

std::string encode_conf_change(const ConfChange& cc) {
  std::string out;
  out.push_back(static_cast<char>(kConfChangeVersion));
  out.push_back(static_cast<char>(cc.transition));
  put_u64(&out, cc.changes.size());
  for (const ConfChangeSingle& ch : cc.changes) {
    out.push_back(static_cast<char>(ch.type));
    put_u64(&out, ch.node_id);
  }
  put_u64(&out, cc.context.size());
  out.append(cc.context);
  return out;
}

Result<ConfChange> decode_conf_change(std::string_view in) {
  ConfChange cc;
  uint8_t version = 0;
  uint8_t transition = 0;
  uint64_t count = 0;
  if (!get_u8(&in, &version) || version != kConfChangeVersion) {
    return Status::invalid_argument("conf change: bad version");
  }
  if (!get_u8(&in, &transition) || transition > 2) {
    return Status::invalid_argument("conf change: bad transition");
  }
  cc.transition = static_cast<ConfChangeTransition>(transition);
  if (!get_u64(&in, &count) || count > kMaxConfChanges) {
    return Status::invalid_argument("conf change: bad change count");
  }
  for (uint64_t i = 0; i < count; ++i) {
    uint8_t type = 0;
    ConfChangeSingle ch;
    if (!get_u8(&in, &type) || type > 2 || !get_u64(&in, &ch.node_id)) {
      return Status::invalid_argument("conf change: bad change");
    }
    ch.type = static_cast<ConfChangeType>(type);
    cc.changes.push_back(ch);
  }
  uint64_t context_bytes = 0;
  if (!get_u64(&in, &context_bytes) || context_bytes > kMaxConfChangeContextBytes ||
      context_bytes != in.size()) {
    return Status::invalid_argument("conf change: bad context length");
  }
  cc.context.assign(in);
  return cc;
}

Status check_config_invariants(const TrackerConfig& c) {
  for (uint64_t id : c.learners) {
    if (c.voters.contains(id)) return Status::invalid_argument("a learner is also a voter");
  }
  for (uint64_t id : c.learners_next) {
    if (c.voters.outgoing.count(id) == 0) {
      return Status::invalid_argument("learners_next member is not an outgoing voter");
    }
    if (c.voters.incoming.count(id) > 0 || c.learners.count(id) > 0) {
      return Status::invalid_argument("learners_next member is an incoming voter or a learner");
    }
  }
  if (!c.voters.is_joint()) {
    if (!c.learners_next.empty()) return Status::invalid_argument("learners_next while not joint");
    if (c.auto_leave) return Status::invalid_argument("auto_leave while not joint");
  }
  for (const auto* set : {&c.voters.incoming, &c.voters.outgoing, &c.learners, &c.learners_next}) {
    if (set->count(kNoNode) > 0) return Status::invalid_argument("node id 0 in configuration");
  }
  return Status::ok();
}

Result<TrackerConfig> apply_conf_change(const TrackerConfig& config, const ConfChange& cc) {
  TrackerConfig next = config;
  if (cc.leaves_joint()) {
    // Leaving a joint configuration (thesis §4.3): C_new alone decides from now on.
    if (!config.voters.is_joint()) {
      return Status::invalid_argument("conf change: leave joint while not joint");
    }
    next.voters.outgoing.clear();
    next.learners.insert(next.learners_next.begin(), next.learners_next.end());
    next.learners_next.clear();
    next.auto_leave = false;
  } else if (bool auto_leave = false; cc.enters_joint(&auto_leave)) {
    if (config.voters.is_joint()) {
      return Status::invalid_argument("conf change: already in a joint configuration");
    }
    if (config.voters.incoming.empty()) {
      return Status::invalid_argument("conf change: cannot enter joint from an empty config");
    }
    next.voters.outgoing = config.voters.incoming;
    MELD_RETURN_IF_ERROR(apply_changes(&next, cc.changes));
    next.auto_leave = auto_leave;
  } else {
    if (config.voters.is_joint()) {
      return Status::invalid_argument("conf change: simple change while joint");
    }
    MELD_RETURN_IF_ERROR(apply_changes(&next, cc.changes));
    // Single-server change (thesis §4.1): old and new majorities overlap only if at most one
    // voter is added or removed; enters_joint sends every multi-change through joint consensus.
    size_t diff = 0;
    for (uint64_t id : config.voters.incoming) diff += next.voters.incoming.count(id) == 0;
    for (uint64_t id : next.voters.incoming) diff += config.voters.incoming.count(id) == 0;
    MELD_ASSERT(diff <= 1, "a simple conf change changed more than one voter");
  }
  MELD_RETURN_IF_ERROR(check_config_invariants(next));
  return next;
}

Result<TrackerConfig> config_from_conf_state(const ConfState& cs) {
  TrackerConfig c;
  c.voters.incoming.insert(cs.voters.begin(), cs.voters.end());
  c.voters.outgoing.insert(cs.voters_outgoing.begin(), cs.voters_outgoing.end());
  c.learners.insert(cs.learners.begin(), cs.learners.end());
  c.learners_next.insert(cs.learners_next.begin(), cs.learners_next.end());
  c.auto_leave = cs.auto_leave;
  MELD_RETURN_IF_ERROR(check_config_invariants(c));
  return c;
}

}  // namespace meld::consensus
