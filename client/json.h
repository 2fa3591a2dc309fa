// A small JSON writer for meldctl's --json output: one compact document, built in memory.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace meld::client {

// The JSON string literal (quotes included) for bytes. Valid UTF-8 passes through; quote,
// backslash and control characters are escaped; each byte that is not part of a valid UTF-8
// sequence becomes \u00XX (so a byte string survives as a string of code points U+0000..U+00FF).
std::string json_quote(std::string_view bytes);

// Builds one document value by value. The caller nests begin/end calls properly and calls key()
// before each value inside an object; the writer adds the commas and colons. Misuse (a value in
// an object without a key, an unbalanced end) is a bug and asserts.
class JsonWriter {
 public:
  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& key(std::string_view name);

  JsonWriter& string(std::string_view bytes);
  JsonWriter& number(int64_t value);
  JsonWriter& number(uint64_t value);
  JsonWriter& number(uint32_t value) { return number(static_cast<uint64_t>(value)); }
  // Finite values as numbers; NaN and infinities, which JSON lacks, as the strings "NaN",
  // "+Inf" and "-Inf".
  JsonWriter& number(double value);
  JsonWriter& boolean(bool value);

  // The document so far; complete once every begin has its end.
  const std::string& text() const { return text_; }

 private:
  enum class Frame { kObject, kArray };
  void before_value();
  void end(Frame frame, char close);

  std::string text_;
  std::vector<Frame> frames_;
  bool first_in_frame_ = true;
  bool after_key_ = false;
};

}  // namespace meld::client
