#include "timeseries/labels.h"

#include <algorithm>
#include <utility>

#include "base/hash.h"
#include "base/varint.h"

namespace meld::ts {
namespace {

bool is_name_char(char c, bool first, bool colon_ok) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon_ok && c == ':') ||
         (!first && c >= '0' && c <= '9');
}

bool is_name(std::string_view s, bool colon_ok) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (!is_name_char(s[i], i == 0, colon_ok)) return false;
  }
  return true;
}

// A name for an error message: cut, and with control bytes shown as '?'.
std::string quoted(std::string_view s) {
  constexpr size_t kShownBytesMax = 64;
  std::string out = "'";
  for (size_t i = 0; i < s.size() && i < kShownBytesMax; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    out += (c < 0x20 || c == 0x7f) ? '?' : s[i];
  }
  if (s.size() > kShownBytesMax) out += "...";
  return out + "'";
}

// Checks one label (value non-empty). Errors are invalid_argument.
// The lengths: a name of 1..kLabelNameBytesMax bytes, a value of at most kLabelValueBytesMax.
Status check_label_lengths(const Label& l) {
  if (l.name.empty()) return Status::invalid_argument("empty label name");
  if (l.name.size() > kLabelNameBytesMax) {
    return Status::invalid_argument("label name " + quoted(l.name) + " is " +
                                    std::to_string(l.name.size()) + " bytes, limit " +
                                    std::to_string(kLabelNameBytesMax));
  }
  if (l.value.size() > kLabelValueBytesMax) {
    return Status::invalid_argument("label " + l.name + " value is " +
                                    std::to_string(l.value.size()) + " bytes, limit " +
                                    std::to_string(kLabelValueBytesMax));
  }
  return Status::ok();
}

// The lengths, then the characters.
Status check_label(const Label& l) {
  MELD_RETURN_IF_ERROR(check_label_lengths(l));
  if (!is_label_name(l.name)) {
    return Status::invalid_argument("invalid label name " + quoted(l.name) +
                                    " (must match [a-zA-Z_][a-zA-Z0-9_]*)");
  }
  if (l.name.starts_with("__") && l.name != kMetricNameLabel) {
    return Status::invalid_argument("label name " + quoted(l.name) +
                                    " is reserved (names starting with __)");
  }
  if (!is_valid_utf8(l.value)) {
    return Status::invalid_argument("label " + l.name + " value is not valid UTF-8");
  }
  if (l.name == kMetricNameLabel && !is_metric_name(l.value)) {
    return Status::invalid_argument("invalid metric name " + quoted(l.value) +
                                    " (must match [a-zA-Z_:][a-zA-Z0-9_:]*)");
  }
  return Status::ok();
}

bool read_string(std::string_view& in, std::string* s) {
  if (in.size() < 4) return false;
  const uint32_t n = get_u32_be(in);
  in.remove_prefix(4);
  if (in.size() < n) return false;
  s->assign(in.substr(0, n));
  in.remove_prefix(n);
  return true;
}

}  // namespace

bool is_metric_name(std::string_view s) {
  return is_name(s, true);
}

bool is_label_name(std::string_view s) {
  return is_name(s, false);
}

bool is_valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t n = 0;
    uint32_t cp = 0;
    if ((c & 0xe0) == 0xc0) {
      n = 1;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;
    for (size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8.
    static constexpr uint32_t kMinForLength[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMinForLength[n] || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return false;
    i += n + 1;
  }
  return true;
}

Result<Labels> Labels::make(std::vector<Label> labels) {
  std::erase_if(labels, [](const Label& l) { return l.value.empty(); });
  if (labels.size() > kLabelsMax) {
    return Status::invalid_argument(std::to_string(labels.size()) + " labels, limit " +
                                    std::to_string(kLabelsMax));
  }
  for (const Label& l : labels) MELD_RETURN_IF_ERROR(check_label(l));
  std::sort(labels.begin(), labels.end());
  for (size_t i = 1; i < labels.size(); ++i) {
    if (labels[i].name == labels[i - 1].name) {
      return Status::invalid_argument("label " + labels[i].name + " given twice");
    }
  }
  return Labels(std::move(labels));
}

Result<Labels> Labels::make_series(std::vector<Label> labels) {
  Result<Labels> made = make(std::move(labels));
  if (made.is_ok() && made->metric_name().empty()) {
    return Status::invalid_argument("no metric name (__name__ label)");
  }
  return made;
}

Result<Labels> Labels::decode(std::string_view bytes) {
  return decode_canonical(bytes, /*check_characters=*/true);
}

Result<Labels> Labels::decode_stored(std::string_view bytes) {
  return decode_canonical(bytes, /*check_characters=*/false);
}

Result<Labels> Labels::decode_canonical(std::string_view bytes, bool check_characters) {
  std::vector<Label> labels;
  while (!bytes.empty()) {
    if (labels.size() == kLabelsMax) {
      return Status::corruption("label set encoding holds more than " + std::to_string(kLabelsMax) +
                                " labels");
    }
    Label l;
    if (!read_string(bytes, &l.name) || !read_string(bytes, &l.value)) {
      return Status::corruption("label set encoding is truncated");
    }
    if (l.value.empty()) return Status::corruption("label set encoding holds an empty value");
    if (!labels.empty() && !(labels.back().name < l.name)) {
      return Status::corruption("label set encoding is not sorted by name");
    }
    if (Status s = check_characters ? check_label(l) : check_label_lengths(l); !s.is_ok()) {
      return Status::corruption("label set encoding: " + s.message());
    }
    labels.push_back(std::move(l));
  }
  return Labels(std::move(labels));
}

std::string_view Labels::get(std::string_view name) const {
  auto it = std::lower_bound(labels_.begin(), labels_.end(), name,
                             [](const Label& l, std::string_view n) { return l.name < n; });
  return it != labels_.end() && it->name == name ? std::string_view(it->value) : std::string_view();
}

std::string Labels::encode() const {
  std::string out;
  for (const Label& l : labels_) {
    put_u32_be(static_cast<uint32_t>(l.name.size()), &out);
    out += l.name;
    put_u32_be(static_cast<uint32_t>(l.value.size()), &out);
    out += l.value;
  }
  return out;
}

uint64_t Labels::series_id() const {
  return series_id_of_encoding(encode());
}

uint64_t series_id_of_encoding(std::string_view canonical_encoding) {
  return hash64(canonical_encoding);
}

Labels Labels::without_metric_name() const {
  std::vector<Label> out;
  out.reserve(labels_.size());
  for (const Label& l : labels_) {
    if (l.name != kMetricNameLabel) out.push_back(l);
  }
  return Labels(std::move(out));
}

Labels Labels::keep_only(std::span<const std::string> names) const {
  std::vector<Label> out;
  for (const Label& l : labels_) {
    if (std::find(names.begin(), names.end(), l.name) != names.end()) out.push_back(l);
  }
  return Labels(std::move(out));
}

Labels Labels::drop(std::span<const std::string> names) const {
  std::vector<Label> out;
  for (const Label& l : labels_) {
    if (l.name != kMetricNameLabel &&
        std::find(names.begin(), names.end(), l.name) == names.end()) {
      out.push_back(l);
    }
  }
  return Labels(std::move(out));
}

std::string Labels::to_string() const {
  std::string out(metric_name());
  out += '{';
  bool first = true;
  for (const Label& l : labels_) {
    if (l.name == kMetricNameLabel) continue;
    if (!first) out += ", ";
    first = false;
    out += l.name;
    out += "=\"";
    for (const char c : l.value) {
      if (c == '"' || c == '\\') out += '\\';
      if (c == '\n') {
        out += "\\n";
        continue;
      }
      out += c;
    }
    out += '"';
  }
  return out + '}';
}

}  // namespace meld::ts
