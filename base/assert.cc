#include "base/assert.h"

#include <cstdio>
#include <cstdlib>

namespace meld {

void assert_fail(const char* file, int line, const char* cond, std::string_view msg) {
  std::fprintf(stderr, "%s:%d: assertion failed: %s: %.*s\n", file, line, cond,
               static_cast<int>(msg.size()), msg.data());
  std::fflush(stderr);
  std::abort();
}

}  // namespace meld
