// The test oracle for the linearizability checker: decides linearizability straight from the
// definition, by trying every order of the history's ops that respects real-time order, on one
// map of registers for all keys (so it checks the checker's per-key split too). Exponential:
// for small histories only.
#pragma once

#include <cstddef>
#include <optional>

#include "jepsen/history.h"

namespace meld::jepsen::testing {

inline constexpr size_t kMaxOracleOps = 10;

// True when some order of all ok ops and any subset of info ops, each placed after every ok op
// that completed before it was invoked, explains every ok result (fail ops are left out).
// nullopt when the history has more than kMaxOracleOps ops that are not fail.
std::optional<bool> brute_force_linearizable(const History& history);

}  // namespace meld::jepsen::testing
