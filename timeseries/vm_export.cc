#include "timeseries/vm_export.h"

#include <zstd.h>

#include <bit>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>

namespace meld::ts {
namespace {

class Parser {
 public:
  Parser(std::string_view text, const ExportLimits& limits) : text_(text), limits_(limits) {}

  Status parse(ExportSeries* series) {
    series->labels.clear();
    series->samples.clear();
    values_.clear();
    timestamps_.clear();
    bool seen_metric = false;
    bool seen_values = false;
    bool seen_timestamps = false;
    MELD_RETURN_IF_ERROR(expect('{'));
    std::string key;
    while (true) {
      MELD_RETURN_IF_ERROR(string(&key));
      MELD_RETURN_IF_ERROR(expect(':'));
      if (key == "metric" && !seen_metric) {
        seen_metric = true;
        MELD_RETURN_IF_ERROR(metric(series));
      } else if (key == "values" && !seen_values) {
        seen_values = true;
        MELD_RETURN_IF_ERROR(values());
      } else if (key == "timestamps" && !seen_timestamps) {
        seen_timestamps = true;
        MELD_RETURN_IF_ERROR(timestamps());
      } else {
        return error("unknown or repeated key \"" + key + "\"");
      }
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      MELD_RETURN_IF_ERROR(expect('}'));
      break;
    }
    skip_space();
    if (pos_ != text_.size()) return error("trailing characters");
    if (!seen_metric || !seen_values || !seen_timestamps) {
      return error("missing \"metric\", \"values\" or \"timestamps\"");
    }
    if (values_.size() != timestamps_.size()) {
      return error("values and timestamps differ in length");
    }
    series->samples.resize(values_.size());
    for (size_t i = 0; i < values_.size(); ++i) {
      series->samples[i] = Sample{timestamps_[i], values_[i]};
    }
    return Status::ok();
  }

 private:
  Status error(const std::string& what) const {
    return Status::invalid_argument("export line, byte " + std::to_string(pos_) + ": " + what);
  }
  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\r' || text_[pos_] == '\n')) {
      ++pos_;
    }
  }
  char peek() {
    skip_space();
    return pos_ < text_.size() ? text_[pos_] : '\0';
  }
  Status expect(char c) {
    if (peek() != c) return error(std::string("expected '") + c + "'");
    ++pos_;
    return Status::ok();
  }

  static void append_utf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xc0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xe0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else {
      out->push_back(static_cast<char>(0xf0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    }
  }

  Status hex4(uint32_t* cp) {
    if (text_.size() - pos_ < 4) return error("truncated \\u escape");
    uint32_t v = 0;
    const auto [end, ec] = std::from_chars(text_.data() + pos_, text_.data() + pos_ + 4, v, 16);
    if (ec != std::errc() || end != text_.data() + pos_ + 4) return error("bad \\u escape");
    pos_ += 4;
    *cp = v;
    return Status::ok();
  }

  // A JSON string, unescaped, at most label_bytes_max bytes.
  Status string(std::string* out) {
    MELD_RETURN_IF_ERROR(expect('"'));
    out->clear();
    while (true) {
      if (pos_ >= text_.size()) return error("unterminated string");
      if (out->size() > limits_.label_bytes_max) return error("string longer than the limit");
      const char c = text_[pos_++];
      if (c == '"') break;
      if (static_cast<unsigned char>(c) < 0x20) return error("control character in string");
      if (c != '\\') {
        out->push_back(c);
        continue;
      }
      if (pos_ >= text_.size()) return error("unterminated string");
      const char e = text_[pos_++];
      switch (e) {
        case '"':
          out->push_back('"');
          break;
        case '\\':
          out->push_back('\\');
          break;
        case '/':
          out->push_back('/');
          break;
        case 'b':
          out->push_back('\b');
          break;
        case 'f':
          out->push_back('\f');
          break;
        case 'n':
          out->push_back('\n');
          break;
        case 'r':
          out->push_back('\r');
          break;
        case 't':
          out->push_back('\t');
          break;
        case 'u': {
          uint32_t cp = 0;
          MELD_RETURN_IF_ERROR(hex4(&cp));
          if (cp >= 0xd800 && cp < 0xdc00) {  // a high surrogate needs its low half
            uint32_t low = 0;
            if (text_.substr(pos_, 2) != "\\u") return error("lone surrogate");
            pos_ += 2;
            MELD_RETURN_IF_ERROR(hex4(&low));
            if (low < 0xdc00 || low >= 0xe000) return error("lone surrogate");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
          } else if (cp >= 0xdc00 && cp < 0xe000) {
            return error("lone surrogate");
          }
          append_utf8(cp, out);
          break;
        }
        default:
          return error("bad escape");
      }
    }
    if (out->size() > limits_.label_bytes_max) return error("string longer than the limit");
    return Status::ok();
  }

  Status metric(ExportSeries* series) {
    MELD_RETURN_IF_ERROR(expect('{'));
    if (peek() == '}') {
      ++pos_;
      return Status::ok();
    }
    while (true) {
      if (series->labels.size() >= limits_.labels_max) return error("too many labels");
      std::pair<std::string, std::string> label;
      MELD_RETURN_IF_ERROR(string(&label.first));
      MELD_RETURN_IF_ERROR(expect(':'));
      MELD_RETURN_IF_ERROR(string(&label.second));
      series->labels.push_back(std::move(label));
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      return expect('}');
    }
  }

  // The characters of a number token: up to the next ',', ']' or space.
  std::string_view token() {
    const size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] != ',' && text_[pos_] != ']' && text_[pos_] != ' ' &&
           text_[pos_] != '\t' && text_[pos_] != '\r' && text_[pos_] != '\n') {
      ++pos_;
    }
    return text_.substr(start, pos_ - start);
  }

  static bool is_number_start(char c) { return c == '-' || (c >= '0' && c <= '9'); }

  // Parses a JSON array, calling element() for each element.
  template <typename Fn>
  Status array(Fn element) {
    MELD_RETURN_IF_ERROR(expect('['));
    if (peek() == ']') {
      ++pos_;
      return Status::ok();
    }
    while (true) {
      MELD_RETURN_IF_ERROR(element());
      const char c = peek();
      ++pos_;
      if (c == ']') return Status::ok();
      if (c != ',') return error("expected ',' or ']'");
    }
  }

  Status values() {
    std::string word;
    return array([&]() -> Status {
      if (values_.size() >= limits_.samples_max) return error("too many samples");
      const char c = peek();
      if (c == '"') {
        MELD_RETURN_IF_ERROR(string(&word));
        if (word == "NaN") {
          values_.push_back(std::numeric_limits<double>::quiet_NaN());
        } else if (word == "Inf" || word == "+Inf") {
          values_.push_back(std::numeric_limits<double>::infinity());
        } else if (word == "-Inf") {
          values_.push_back(-std::numeric_limits<double>::infinity());
        } else {
          return error("unknown value string \"" + word + "\"");
        }
        return Status::ok();
      }
      if (!is_number_start(c)) return error("expected a number");
      const std::string_view t = token();
      double v = 0;
      const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
      if (ec != std::errc() || end != t.data() + t.size()) return error("bad number");
      values_.push_back(v);
      return Status::ok();
    });
  }

  Status timestamps() {
    return array([&]() -> Status {
      if (timestamps_.size() >= limits_.samples_max) return error("too many samples");
      if (!is_number_start(peek())) return error("expected a timestamp");
      const std::string_view t = token();
      int64_t v = 0;
      const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
      if (ec != std::errc() || end != t.data() + t.size()) return error("bad timestamp");
      timestamps_.push_back(v);
      return Status::ok();
    });
  }

  std::string_view text_;
  const ExportLimits& limits_;
  size_t pos_ = 0;
  std::vector<double> values_;
  std::vector<int64_t> timestamps_;
};

void append_json_string(std::string_view s, std::string* out) {
  out->push_back('"');
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(c);
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      out->append(buf);
    } else {
      out->push_back(c);
    }
  }
  out->push_back('"');
}

}  // namespace

std::string ExportSeries::display_name() const {
  std::string name;
  std::string rest;
  for (const auto& [k, v] : labels) {
    if (k == "__name__") {
      name = v;
      continue;
    }
    rest += rest.empty() ? "" : ",";
    rest += k + "=\"" + v + "\"";
  }
  return name + "{" + rest + "}";
}

Status parse_export_line(std::string_view line, ExportSeries* series, const ExportLimits& limits) {
  if (line.size() > limits.line_bytes_max) {
    return Status::invalid_argument("export line longer than the limit");
  }
  Parser parser(line, limits);
  return parser.parse(series);
}

void append_export_line(const ExportSeries& series, std::string* out) {
  out->append("{\"metric\":{");
  for (size_t i = 0; i < series.labels.size(); ++i) {
    if (i > 0) out->push_back(',');
    append_json_string(series.labels[i].first, out);
    out->push_back(':');
    append_json_string(series.labels[i].second, out);
  }
  out->append("},\"values\":[");
  char buf[64];
  for (size_t i = 0; i < series.samples.size(); ++i) {
    if (i > 0) out->push_back(',');
    const double v = series.samples[i].value;
    if (std::isnan(v)) {
      out->append("\"NaN\"");
    } else if (std::isinf(v)) {
      out->append(v > 0 ? "\"+Inf\"" : "\"-Inf\"");
    } else {
      const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
      out->append(buf, end);
    }
  }
  out->append("],\"timestamps\":[");
  for (size_t i = 0; i < series.samples.size(); ++i) {
    if (i > 0) out->push_back(',');
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, series.samples[i].timestamp_ms);
    out->append(buf, end);
  }
  out->append("]}\n");
}

ExportLineSplitter::ExportLineSplitter(bool zstd_compressed, size_t line_bytes_max)
    : line_bytes_max_(line_bytes_max) {
  if (zstd_compressed) {
    dctx_ = ZSTD_createDCtx();
    MELD_ASSERT(dctx_ != nullptr, "ZSTD_createDCtx failed");
  }
}

ExportLineSplitter::~ExportLineSplitter() {
  ZSTD_freeDCtx(dctx_);
}

Status ExportLineSplitter::take_lines(const LineFn& on_line) {
  size_t start = 0;
  while (true) {
    const size_t nl = pending_.find('\n', start);
    if (nl == std::string::npos) break;
    if (nl > start) {
      const Status s = on_line(std::string_view(pending_).substr(start, nl - start));
      if (!s.is_ok()) {
        pending_.erase(0, nl + 1);
        return s;
      }
    }
    start = nl + 1;
  }
  pending_.erase(0, start);
  if (pending_.size() > line_bytes_max_) {
    return Status::resource_exhausted("export line longer than " + std::to_string(line_bytes_max_) +
                                      " bytes");
  }
  return Status::ok();
}

Status ExportLineSplitter::feed(std::string_view input, const LineFn& on_line) {
  if (dctx_ == nullptr) {
    pending_.append(input);
    return take_lines(on_line);
  }
  ZSTD_inBuffer in{input.data(), input.size(), 0};
  const size_t chunk_bytes = ZSTD_DStreamOutSize();
  while (in.pos < in.size) {
    const size_t old_size = pending_.size();
    pending_.resize(old_size + chunk_bytes);
    ZSTD_outBuffer out{pending_.data() + old_size, chunk_bytes, 0};
    const size_t r = ZSTD_decompressStream(dctx_, &out, &in);
    pending_.resize(old_size + out.pos);
    if (ZSTD_isError(r)) {
      return Status::corruption(std::string("zstd: ") + ZSTD_getErrorName(r));
    }
    frame_remaining_hint_ = r;
    MELD_RETURN_IF_ERROR(take_lines(on_line));
  }
  // Flush output the decoder still holds for input it already consumed.
  while (frame_remaining_hint_ != 0) {
    const size_t old_size = pending_.size();
    pending_.resize(old_size + chunk_bytes);
    ZSTD_outBuffer out{pending_.data() + old_size, chunk_bytes, 0};
    const size_t r = ZSTD_decompressStream(dctx_, &out, &in);
    pending_.resize(old_size + out.pos);
    if (ZSTD_isError(r)) return Status::corruption(std::string("zstd: ") + ZSTD_getErrorName(r));
    frame_remaining_hint_ = r;
    MELD_RETURN_IF_ERROR(take_lines(on_line));
    if (out.pos < chunk_bytes) break;  // no more output without more input
  }
  return Status::ok();
}

Status ExportLineSplitter::finish(const LineFn& on_line) {
  if (dctx_ != nullptr && frame_remaining_hint_ != 0) {
    return Status::corruption("zstd: stream ends inside a frame");
  }
  if (pending_.empty()) return Status::ok();
  std::string last;
  last.swap(pending_);
  return on_line(last);
}

}  // namespace meld::ts
