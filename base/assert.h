// MELD_ASSERT: checks an invariant whose failure is a bug in this code. It stays on in release
// builds (TigerBeetle's rule: storage and consensus invariants are never compiled out) and aborts
// with the file, line, condition and message.
#pragma once

#include <string_view>

namespace meld {
[[noreturn]] void assert_fail(const char* file, int line, const char* cond, std::string_view msg);
}  // namespace meld

#define MELD_ASSERT(cond, ...)                                                       \
  do {                                                                               \
    if (!(cond)) [[unlikely]]                                                        \
      ::meld::assert_fail(__FILE__, __LINE__, #cond, std::string_view{__VA_ARGS__}); \
  } while (0)
