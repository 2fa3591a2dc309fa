// Structured logging: one line per event, logfmt style, to stderr:
//   ts=2026-11-22T03:53:11.123Z level=info event=storage.open dir=./data families=5
// Event names are stable dotted identifiers (grep-able); fields carry the details.
// Thread-safe: each line is written with a single write call.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>

namespace meld::log {

enum class Level { kDebug = 0, kInfo, kWarn, kError };

struct Field {
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const char* v) : key(k), value(v) {}
  Field(std::string_view k, const std::string& v) : key(k), value(v) {}
  template <typename N, typename = std::enable_if_t<std::is_arithmetic_v<N>>>
  Field(std::string_view k, N v) : key(k), value(number(v)) {}

  std::string_view key;
  std::string value;

 private:
  template <typename N>
  static std::string number(N v) {
    if constexpr (std::is_same_v<N, bool>) {
      return v ? "true" : "false";
    } else {
      return std::to_string(v);
    }
  }
};

// Lines below this level are dropped. Default kInfo; MELD_LOG_LEVEL=debug|info|warn|error
// in the environment sets it at first use.
void set_min_level(Level level);
bool enabled(Level level);

void write(Level level, std::string_view event, std::initializer_list<Field> fields = {});

// Formats one line without writing it (tests and the writer use it). Values containing spaces,
// quotes, '=' or control characters are quoted and escaped.
std::string format_line(Level level, std::string_view event, std::initializer_list<Field> fields);

inline void debug(std::string_view e, std::initializer_list<Field> f = {}) {
  if (enabled(Level::kDebug)) write(Level::kDebug, e, f);
}
inline void info(std::string_view e, std::initializer_list<Field> f = {}) {
  write(Level::kInfo, e, f);
}
inline void warn(std::string_view e, std::initializer_list<Field> f = {}) {
  write(Level::kWarn, e, f);
}
inline void error(std::string_view e, std::initializer_list<Field> f = {}) {
  write(Level::kError, e, f);
}

}  // namespace meld::log
