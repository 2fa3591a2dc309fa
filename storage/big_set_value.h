// The value of an element key in the big_set family (storage/big_set_format.h): the element's
// dots and causal context, without the element (the key holds it). Internal to storage/; pure
// (no RocksDB), so the decoder can be fuzzed alone (tests/fuzz/big_set_value_decode_fuzz.cc).
//
// Encoding (canonical: equal states give identical bytes):
//   u8 kElementValueFormat
//   varint n, then n dots: the element's dots D
//   varint m, then m dots: the context's dots outside D (C \ D)
// where a dot is varint replica, varint counter (counter > 0), each list strictly increasing by
// (replica, counter), and varints are base/varint.h's, without padding. A stored value (the result
// of a full merge) has m = 0: its context is its dots. An operand (an element delta) names in C \ D
// the dots it observed or removes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "crdt/causal_context.h"

namespace meld::storage::big_set_format {

inline constexpr uint8_t kElementValueFormat = 1;
// The most dots (D and C \ D together) a value may hold; past it decoding fails. A delta names
// at most BigSet::kMaxDeltaDots; this bounds what joins of many of them may hold.
inline constexpr size_t kMaxElementValueDots = size_t{1} << 20;

// An element's state: dots ⊆ context, both sorted and without duplicates.
struct ElementState {
  std::vector<crdt::Dot> dots;
  std::vector<crdt::Dot> context;

  friend bool operator==(const ElementState&, const ElementState&) = default;
};

// The encoding above. Precondition (asserted): the state's invariants hold.
std::string encode_element_value(const ElementState& state);

// The state the bytes encode; corruption (saying what is wrong) for anything that is not the
// canonical encoding of a state within kMaxElementValueDots: unknown format, truncation, trailing
// bytes, overlong varints, a zero counter, lists out of order or with duplicates, a context dot
// that is also a dot. Any input, never a crash; allocation bounded by the input's size.
Result<ElementState> decode_element_value(std::string_view bytes);

// The AwSet join of two states of one element (crdt/set.h, per element):
//   dots    (D1 ∩ D2) ∪ (D1 \ C2) ∪ (D2 \ C1)
//   context C1 ∪ C2
// Commutative, associative and idempotent.
ElementState join_element_states(const ElementState& a, const ElementState& b);

// What a full merge stores: the context reduced to the dots (why that is safe:
// storage/big_set.h).
void trim_element_state(ElementState& state);

}  // namespace meld::storage::big_set_format
