#include "server/keys.h"

#include "base/assert.h"

namespace meld::server::keys {

void append_u32_be(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

void append_u64_be(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

uint64_t read_u64_be(std::string_view in) {
  MELD_ASSERT(in.size() >= 8, "read_u64_be needs 8 bytes");
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}

std::string prefix_successor(std::string prefix) {
  while (!prefix.empty()) {
    auto last = static_cast<unsigned char>(prefix.back());
    if (last != 0xff) {
      prefix.back() = static_cast<char>(last + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return prefix;
}

std::string counter(std::string_view name) {
  std::string k = "c";
  k += name;
  return k;
}

std::string set_prefix(std::string_view set) {
  std::string k = "s";
  append_u32_be(k, static_cast<uint32_t>(set.size()));
  k += set;
  return k;
}

std::string set_member(std::string_view set, std::string_view member) {
  std::string k = set_prefix(set);
  k += member;
  return k;
}

std::string series_labels(uint64_t series_id) {
  std::string k = "L";
  append_u64_be(k, series_id);
  return k;
}

std::string sample(uint64_t series_id, int64_t timestamp_ms) {
  std::string k = "S";
  append_u64_be(k, series_id);
  append_u64_be(k, static_cast<uint64_t>(timestamp_ms) ^ (uint64_t{1} << 63));
  return k;
}

int64_t sample_timestamp(std::string_view sample_key) {
  MELD_ASSERT(sample_key.size() == 17, "sample key is 17 bytes");
  return static_cast<int64_t>(read_u64_be(sample_key.substr(9)) ^ (uint64_t{1} << 63));
}

}  // namespace meld::server::keys
