#include "tests/jepsen/brute_force_oracle.h"

#include <map>
#include <string>
#include <vector>

namespace meld::jepsen::testing {

namespace {

using Registers = std::map<std::string, std::optional<int64_t>>;

// Applies op to the registers; false when its recorded result rules it out.
bool apply(const Op& op, Registers& registers) {
  std::optional<int64_t>& value = registers[op.key];
  switch (op.function) {
    case OpFunction::kRead:
      return op.outcome != OpOutcome::kOk || value == op.read_value;
    case OpFunction::kWrite:
      value = op.value;
      return true;
    case OpFunction::kCas:
      if (value != op.expected) return false;
      value = op.value;
      return true;
  }
  return false;
}

class Search {
 public:
  explicit Search(std::vector<const Op*> ops) : ops_(std::move(ops)), placed_(ops_.size()) {}

  bool linearizable(const Registers& registers) {
    bool ok_left = false;
    for (size_t i = 0; i < ops_.size(); ++i) {
      ok_left |= !placed_[i] && ops_[i]->outcome == OpOutcome::kOk;
    }
    // The info ops not placed yet never took effect.
    if (!ok_left) return true;
    for (size_t c = 0; c < ops_.size(); ++c) {
      if (placed_[c] || !may_go_next(c)) continue;
      Registers next = registers;
      if (!apply(*ops_[c], next)) continue;
      placed_[c] = true;
      bool found = linearizable(next);
      placed_[c] = false;
      if (found) return true;
    }
    return false;
  }

 private:
  // No unplaced ok op completed before ops_[c] was invoked.
  bool may_go_next(size_t c) const {
    for (size_t o = 0; o < ops_.size(); ++o) {
      if (o == c || placed_[o] || ops_[o]->outcome != OpOutcome::kOk) continue;
      if (ops_[o]->complete_time < ops_[c]->invoke_time) return false;
    }
    return true;
  }

  std::vector<const Op*> ops_;
  std::vector<bool> placed_;
};

}  // namespace

std::optional<bool> brute_force_linearizable(const History& history) {
  std::vector<const Op*> ops;
  for (const Op& op : history) {
    if (op.outcome != OpOutcome::kFail) ops.push_back(&op);
  }
  if (ops.size() > kMaxOracleOps) return std::nullopt;
  return Search(std::move(ops)).linearizable({});
}

}  // namespace meld::jepsen::testing
