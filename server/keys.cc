#include "server/keys.h"

namespace meld::server::keys {

std::string counter(std::string_view name) {
  std::string k = "c";
  k += name;
  return k;
}

}  // namespace meld::server::keys
