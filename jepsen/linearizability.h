// The linearizability checker: is there an order of a history's operations, consistent with
// their real-time order, in which a sequential model explains every result?
//
// The history is checked per key (a register per key: linearizability is compositional, so
// keys are independent) by the Wing & Gong search as improved by Lowe: try to linearize, in
// order, each op that is invoked before the earliest outstanding completion; backtrack when an
// op's completion passes without it; memoise every (linearized set, model state) pair reached so
// that no pair is explored twice (the idea Porcupine uses). `fail` ops are dropped; an `info` op
// may take effect at any time after its invocation, or never; an info read has no effect and is
// dropped. Work is bounded: past CheckOptions::max_states the answer is kUnknown, never a hang.
//
// Pure: no I/O, no threads, no clock. Safe to call from any thread on distinct arguments.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "jepsen/history.h"

namespace meld::jepsen {

// A model's state, as an opaque byte string the model encodes and decodes. States of a few
// words (the register's) stay in std::string's inline buffer, so steps do not allocate.
using ModelState = std::string;

// A sequential specification of one key's object. Implementations are immutable and shared.
// Contract: a read never changes the state (the checker drops info reads on that basis).
class Model {
 public:
  virtual ~Model() = default;
  // The state of a key nobody has written.
  virtual ModelState init() const = 0;
  // The state after `op` takes effect in `state`, or nullopt when `op` cannot have happened
  // there (a read that returned another value, a cas whose expected value is not the state).
  // For an info op the result is unknown, so only its inputs constrain it.
  virtual std::optional<ModelState> step(const ModelState& state, const Op& op) const = 0;
  virtual bool equal(const ModelState& a, const ModelState& b) const = 0;
  // Equal states must hash equally.
  virtual uint64_t hash(const ModelState& state) const = 0;
  // For explanations: "7", "nil".
  virtual std::string describe(const ModelState& state) const = 0;
  // One flag per op of `ops` (one key's ok and info ops): true for an info op the search may
  // leave out because any linearization that includes it stays valid without it. An info op
  // that never took effect is otherwise a candidate at every later step of the search. The
  // default leaves out none.
  virtual std::vector<bool> redundant_info_ops(const std::vector<const Op*>& ops) const;
};

// A read/write/compare-and-set register whose initial value is "no value" (nil). A read of nil
// is an ok read with read_value = nullopt.
class RegisterModel final : public Model {
 public:
  ModelState init() const override;
  std::optional<ModelState> step(const ModelState& state, const Op& op) const override;
  bool equal(const ModelState& a, const ModelState& b) const override;
  uint64_t hash(const ModelState& state) const override;
  std::string describe(const ModelState& state) const override;
  // An info write or cas whose value no ok read returned and no cas expected: taking effect, it
  // can only have been overwritten by a write before anyone looked.
  std::vector<bool> redundant_info_ops(const std::vector<const Op*>& ops) const override;
};

struct CheckOptions {
  // Most search states (successful linearization steps) the whole check may explore, summed
  // over keys. Each costs a memo entry of about 100 bytes plus a few words per op in flight.
  uint64_t max_states = 20'000'000;
  // Linearized ops listed at the end of a violation's explanation.
  size_t explain_tail_ops = 8;
};

enum class CheckOutcome { kLinearizable, kNotLinearizable, kUnknown };

struct CheckResult {
  CheckOutcome outcome = CheckOutcome::kLinearizable;
  // kNotLinearizable: the key without a linearization. kUnknown: the key whose search ran out of
  // budget. Empty when linearizable.
  std::string key;
  uint64_t states_explored = 0;
  // Keys fully decided (linearizable) before the result; keys are checked fewest ops first.
  size_t keys_checked = 0;
  // kNotLinearizable only, as indices into the checked History. The longest prefix of the key's
  // ops the search could linearize, in linearization order, and the ok op that could not be
  // placed after it: its completion passed while no candidate op could take effect next.
  std::vector<size_t> longest_prefix;
  std::optional<size_t> unplaced_op;
  // kNotLinearizable: the model state after longest_prefix, as Model::describe prints it.
  std::string state_after_prefix;
  // A human-readable account of the result; for a violation, the key, the tail of the longest
  // prefix (CheckOptions::explain_tail_ops ops), the state it leaves and the unplaced op.
  std::string explanation;
};

// Checks `history` against `model`, one model instance per key. invalid_argument when the
// history fails validate_history. The model must outlive the call.
Result<CheckResult> check_linearizability(const History& history, const Model& model,
                                          const CheckOptions& options = {});

}  // namespace meld::jepsen
