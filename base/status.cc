#include "base/status.h"

#include <array>

namespace meld {
namespace {

constexpr std::array<std::string_view, 12> kNames = {
    "ok",
    "not_found",
    "invalid_argument",
    "already_exists",
    "resource_exhausted",
    "unavailable",
    "io_error",
    "corruption",
    "busy",
    "aborted",
    "deadline_exceeded",
    "internal",
};

}  // namespace

std::string_view status_code_name(StatusCode code) {
  auto i = static_cast<size_t>(code);
  return i < kNames.size() ? kNames[i] : "internal";
}

StatusCode status_code_from_name(std::string_view name) {
  for (size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == name) return static_cast<StatusCode>(i);
  }
  return StatusCode::kInternal;
}

std::string Status::to_string() const {
  if (is_ok()) return "ok";
  std::string s(status_code_name(code_));
  s += ": ";
  s += message_;
  return s;
}

}  // namespace meld
