#include "base/ids.h"

#include <cstdio>

namespace meld {

std::string format_id(uint64_t id) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(id));
  return buf;
}

}  // namespace meld
