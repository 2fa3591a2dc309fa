#include "client/json.h"

#include <charconv>
#include <cmath>

#include "base/assert.h"
#include "client/series_parser.h"

namespace meld::client {
namespace {

// Length of the valid UTF-8 sequence starting at bytes[i], or 0 when none does there. Overlong
// forms, surrogates and code points above U+10FFFF are not valid (RFC 3629).
size_t utf8_sequence_length(std::string_view bytes, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(bytes[k]); };
  unsigned char lead = byte(i);
  size_t length = 0;
  unsigned char min_second = 0x80;
  unsigned char max_second = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) min_second = 0xA0;
    if (lead == 0xED) max_second = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) min_second = 0x90;
    if (lead == 0xF4) max_second = 0x8F;
  } else {
    return 0;
  }
  if (i + length > bytes.size()) return 0;
  if (byte(i + 1) < min_second || byte(i + 1) > max_second) return 0;
  for (size_t k = 2; k < length; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  }
  return length;
}

void append_unicode_escape(std::string& out, unsigned char byte) {
  constexpr char kHex[] = "0123456789abcdef";
  out += "\\u00";
  out += kHex[byte >> 4];
  out += kHex[byte & 0xF];
}

}  // namespace

std::string json_quote(std::string_view bytes) {
  std::string out = "\"";
  size_t i = 0;
  while (i < bytes.size()) {
    auto c = static_cast<unsigned char>(bytes[i]);
    if (c >= 0x80) {
      size_t length = utf8_sequence_length(bytes, i);
      if (length == 0) {
        append_unicode_escape(out, c);
        ++i;
      } else {
        out.append(bytes.substr(i, length));
        i += length;
      }
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7F) {
          append_unicode_escape(out, c);
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  out += '"';
  return out;
}

void JsonWriter::before_value() {
  if (frames_.empty()) {
    MELD_ASSERT(text_.empty(), "a JSON document holds one value");
    return;
  }
  if (frames_.back() == Frame::kObject) {
    MELD_ASSERT(after_key_, "a value in a JSON object needs a key");
  } else if (!first_in_frame_) {
    text_ += ',';
  }
  first_in_frame_ = false;
  after_key_ = false;
}

JsonWriter& JsonWriter::begin_object() {
  before_value();
  text_ += '{';
  frames_.push_back(Frame::kObject);
  first_in_frame_ = true;
  return *this;
}

JsonWriter& JsonWriter::begin_array() {
  before_value();
  text_ += '[';
  frames_.push_back(Frame::kArray);
  first_in_frame_ = true;
  return *this;
}

void JsonWriter::end(Frame frame, char close) {
  MELD_ASSERT(!frames_.empty() && frames_.back() == frame && !after_key_,
              "unbalanced JSON end or a key without a value");
  frames_.pop_back();
  text_ += close;
  first_in_frame_ = false;
}

JsonWriter& JsonWriter::end_object() {
  end(Frame::kObject, '}');
  return *this;
}

JsonWriter& JsonWriter::end_array() {
  end(Frame::kArray, ']');
  return *this;
}

JsonWriter& JsonWriter::key(std::string_view name) {
  MELD_ASSERT(!frames_.empty() && frames_.back() == Frame::kObject && !after_key_,
              "a JSON key belongs in an object, before its value");
  if (!first_in_frame_) text_ += ',';
  text_ += json_quote(name);
  text_ += ':';
  after_key_ = true;
  return *this;
}

JsonWriter& JsonWriter::string(std::string_view bytes) {
  before_value();
  text_ += json_quote(bytes);
  return *this;
}

JsonWriter& JsonWriter::number(int64_t value) {
  before_value();
  text_ += std::to_string(value);
  return *this;
}

JsonWriter& JsonWriter::number(uint64_t value) {
  before_value();
  text_ += std::to_string(value);
  return *this;
}

JsonWriter& JsonWriter::number(double value) {
  if (!std::isfinite(value)) return string(format_sample_value(value));
  before_value();
  text_ += format_sample_value(value);
  return *this;
}

JsonWriter& JsonWriter::boolean(bool value) {
  before_value();
  text_ += value ? "true" : "false";
  return *this;
}

}  // namespace meld::client
