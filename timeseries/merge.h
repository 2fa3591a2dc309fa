// Out-of-order merge: folding late samples into a sorted run, with one rule for duplicate
// timestamps that does not depend on arrival order (replicas receive samples in different
// orders and must converge on the same series).
//
// Duplicate rule: of several samples with the same timestamp, the one whose value bits, read as
// an unsigned 64-bit integer, are the largest wins. This is a total order on all float64 bit
// patterns (NaN payloads and -0.0 included), so the winner is the same for any arrival order and
// any grouping of merges: merge is commutative, associative and idempotent. A consequence worth
// knowing: every negative value (sign bit set) beats every positive one, and a Prometheus stale
// marker (NaN 0x7ff0000000000002) beats every finite positive value and +Inf (0x7ff0...0) but
// loses to negative values and to NaNs with larger payloads.
#pragma once

#include <span>
#include <vector>

#include "timeseries/sample.h"

namespace meld::ts {

// True when a wins over b for the same timestamp under the duplicate rule.
bool duplicate_wins(double a, double b);

// Sorts samples by timestamp and resolves duplicate timestamps by the rule above, in place: the
// result is strictly increasing in time.
void sort_and_resolve(std::vector<Sample>* samples);

// Merges run (strictly increasing timestamps, asserted) with late samples in any order and with
// any duplicates into one strictly increasing run, duplicates resolved by the rule above; equal
// to sort_and_resolve() of the concatenation. O(n + k log k) for k late samples.
std::vector<Sample> merge_samples(std::span<const Sample> run, std::vector<Sample> late);

}  // namespace meld::ts
