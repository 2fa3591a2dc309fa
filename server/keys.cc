#include "server/keys.h"

namespace meld::server::keys {

void append_u32_be(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
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

}  // namespace meld::server::keys
