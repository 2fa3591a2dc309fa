#include "storage/big_set_value.h"

#include <algorithm>
#include <iterator>
#include <optional>
#include <utility>

#include "base/assert.h"
#include "base/varint.h"

namespace meld::storage::big_set_format {
namespace {

void put_dot(crdt::Dot dot, std::string& out) {
  put_varint(dot.replica, &out);
  put_varint(dot.counter, &out);
}

bool is_sorted_set(const std::vector<crdt::Dot>& dots) {
  return std::adjacent_find(dots.begin(), dots.end(),
                            [](crdt::Dot a, crdt::Dot b) { return !(a < b); }) == dots.end();
}

class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}

  size_t remaining() const { return bytes_.size() - pos_; }

  // A canonical varint (base/varint.h, no padding), or nullopt (with *error set).
  std::optional<uint64_t> varint(std::string* error) {
    const size_t start = pos_;
    uint64_t v = 0;
    if (!get_varint(bytes_, &pos_, &v)) {
      *error = "truncated varint or one over 64 bits";
      return std::nullopt;
    }
    if (pos_ - start != varint_bytes(v)) {
      *error = "overlong varint";
      return std::nullopt;
    }
    return v;
  }

  // count sorted dots, each with a counter > 0 and greater than the previous one.
  bool dots(uint64_t count, std::vector<crdt::Dot>& out, std::string* error) {
    out.reserve(out.size() + count);
    for (uint64_t i = 0; i < count; ++i) {
      std::optional<uint64_t> replica = varint(error);
      if (!replica) return false;
      std::optional<uint64_t> counter = varint(error);
      if (!counter) return false;
      if (*counter == 0) {
        *error = "dot with counter 0";
        return false;
      }
      crdt::Dot dot{*replica, *counter};
      if (i > 0 && !(out.back() < dot)) {
        *error = "dots out of order or repeated";
        return false;
      }
      out.push_back(dot);
    }
    return true;
  }

 private:
  std::string_view bytes_;
  size_t pos_ = 0;
};

Status corrupt(const std::string& why) {
  return Status::corruption("big set element value: " + why);
}

}  // namespace

std::string encode_element_value(const ElementState& state) {
  MELD_ASSERT(is_sorted_set(state.dots) && is_sorted_set(state.context) &&
                  std::includes(state.context.begin(), state.context.end(), state.dots.begin(),
                                state.dots.end()),
              "encoding a big set element state that breaks its invariants");
  std::string out;
  out.reserve(3 + 6 * state.context.size());
  out.push_back(static_cast<char>(kElementValueFormat));
  put_varint(state.dots.size(), &out);
  for (crdt::Dot dot : state.dots) put_dot(dot, out);
  put_varint(state.context.size() - state.dots.size(), &out);
  std::vector<crdt::Dot> rest;
  std::set_difference(state.context.begin(), state.context.end(), state.dots.begin(),
                      state.dots.end(), std::back_inserter(rest));
  for (crdt::Dot dot : rest) put_dot(dot, out);
  return out;
}

Result<ElementState> decode_element_value(std::string_view bytes) {
  if (bytes.empty()) return corrupt("empty");
  if (static_cast<uint8_t>(bytes[0]) != kElementValueFormat) {
    return corrupt("unknown format " + std::to_string(static_cast<uint8_t>(bytes[0])));
  }
  Reader reader(bytes.substr(1));
  std::string error;
  ElementState state;
  // A dot takes at least 2 bytes: a count past remaining() / 2 cannot be honest.
  std::optional<uint64_t> n = reader.varint(&error);
  if (!n) return corrupt(error);
  if (*n > kMaxElementValueDots || *n > reader.remaining() / 2) {
    return corrupt(std::to_string(*n) + " dots in " + std::to_string(bytes.size()) + " bytes");
  }
  if (!reader.dots(*n, state.dots, &error)) return corrupt(error);
  std::optional<uint64_t> m = reader.varint(&error);
  if (!m) return corrupt(error);
  if (*m > kMaxElementValueDots - *n || *m > reader.remaining() / 2) {
    return corrupt(std::to_string(*m) + " context dots in " + std::to_string(bytes.size()) +
                   " bytes");
  }
  std::vector<crdt::Dot> rest;
  if (!reader.dots(*m, rest, &error)) return corrupt(error);
  if (reader.remaining() != 0) {
    return corrupt(std::to_string(reader.remaining()) + " trailing bytes");
  }
  state.context.reserve(state.dots.size() + rest.size());
  std::set_union(state.dots.begin(), state.dots.end(), rest.begin(), rest.end(),
                 std::back_inserter(state.context));
  if (state.context.size() != state.dots.size() + rest.size()) {
    return corrupt("a context dot is also a dot");
  }
  return state;
}

ElementState join_element_states(const ElementState& a, const ElementState& b) {
  std::vector<crdt::Dot> both;
  std::set_intersection(a.dots.begin(), a.dots.end(), b.dots.begin(), b.dots.end(),
                        std::back_inserter(both));
  std::vector<crdt::Dot> only_a;
  std::set_difference(a.dots.begin(), a.dots.end(), b.context.begin(), b.context.end(),
                      std::back_inserter(only_a));
  std::vector<crdt::Dot> only_b;
  std::set_difference(b.dots.begin(), b.dots.end(), a.context.begin(), a.context.end(),
                      std::back_inserter(only_b));
  std::vector<crdt::Dot> kept;
  std::set_union(both.begin(), both.end(), only_a.begin(), only_a.end(), std::back_inserter(kept));
  ElementState out;
  std::set_union(kept.begin(), kept.end(), only_b.begin(), only_b.end(),
                 std::back_inserter(out.dots));
  std::set_union(a.context.begin(), a.context.end(), b.context.begin(), b.context.end(),
                 std::back_inserter(out.context));
  return out;
}

void trim_element_state(ElementState& state) {
  state.context = state.dots;
}

}  // namespace meld::storage::big_set_format
