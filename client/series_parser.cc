#include "client/series_parser.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <utility>

namespace meld::client {
namespace {

constexpr std::string_view kNameLabel = "__name__";

bool is_name_start(char c, bool metric) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (metric && c == ':');
}

bool is_name_char(char c, bool metric) {
  return is_name_start(c, metric) || (c >= '0' && c <= '9');
}

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

// One recursive-descent pass over a selector. Every error names the column where it starts.
class SelectorParser {
 public:
  explicit SelectorParser(std::string_view text) : text_(text) {}

  // Parses a selector at the start of the text; with whole_text, nothing may follow it.
  Result<SeriesPrefix> parse(bool whole_text) {
    if (at_end() || (peek() != '{' && !is_name_start(peek(), true))) {
      return error("expected a metric name or '{', got " + describe_next());
    }
    if (peek() != '{') {
      size_t column = pos_;
      std::string metric(take_name(true));
      MELD_RETURN_IF_ERROR(add_label(kNameLabel, std::move(metric), column));
    }
    if (!at_end() && peek() == '{') {
      ++pos_;
      MELD_RETURN_IF_ERROR(parse_labels());
    }
    if (!at_end() && (whole_text || !is_blank(peek()))) {
      return error("unexpected " + describe_next() + " after the series");
    }
    auto name = std::find_if(labels_.begin(), labels_.end(),
                             [](const Label& l) { return l.name == kNameLabel; });
    if (name == labels_.end()) {
      pos_ = 0;
      return error("series has no metric name: write NAME{...} or {__name__=\"NAME\",...}");
    }
    if (name->value.empty()) {
      pos_ = 0;
      return error("the metric name is empty");
    }
    std::sort(labels_.begin(), labels_.end(),
              [](const Label& a, const Label& b) { return a.name < b.name; });
    return SeriesPrefix{std::move(labels_), pos_};
  }

 private:
  // After "{": labels up to and including "}".
  Status parse_labels() {
    // Each turn consumes at least one byte, so the text length bounds the loop.
    while (true) {
      skip_blanks();
      if (!at_end() && peek() == '}') {
        ++pos_;
        return Status::ok();
      }
      if (at_end() || !is_name_start(peek(), false)) {
        return error("expected a label name or '}', got " + describe_next());
      }
      size_t name_column = pos_;
      std::string name(take_name(false));
      skip_blanks();
      if (!at_end() &&
          (peek() == '!' || (peek() == '=' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '~'))) {
        return error("only '=' matchers are supported, got '" + std::string(text_.substr(pos_, 2)) +
                     "'");
      }
      if (at_end() || peek() != '=') {
        return error("expected '=' after label name '" + name + "', got " + describe_next());
      }
      ++pos_;
      skip_blanks();
      if (at_end() || peek() != '"') {
        return error("expected '\"' to start the value of label '" + name + "', got " +
                     describe_next());
      }
      auto value = take_quoted(name);
      if (!value.is_ok()) return value.status();
      MELD_RETURN_IF_ERROR(add_label(name, std::move(*value), name_column));
      skip_blanks();
      if (!at_end() && peek() == ',') {
        ++pos_;
      } else if (at_end() || peek() != '}') {
        return error("expected ',' or '}' after the value of label '" + name + "', got " +
                     describe_next());
      }
    }
  }

  // At an opening quote: the unescaped value, leaving pos_ after the closing quote.
  Result<std::string> take_quoted(const std::string& label) {
    size_t open = pos_++;
    std::string value;
    while (!at_end() && peek() != '"') {
      char c = text_[pos_];
      if (c == '\\') {
        if (pos_ + 1 >= text_.size()) {
          pos_ = text_.size();
          break;
        }
        char escaped = text_[pos_ + 1];
        if (escaped == 'n') {
          value += '\n';
        } else if (escaped == '"' || escaped == '\\') {
          value += escaped;
        } else {
          return error("unknown escape '\\" + std::string(1, escaped) +
                       "' in the value of label '" + label + "' (use \\\" \\\\ or \\n)");
        }
        pos_ += 2;
      } else {
        value += c;
        ++pos_;
      }
    }
    if (at_end()) {
      pos_ = open;
      return error("unterminated value of label '" + label + "': no closing '\"'");
    }
    ++pos_;
    return value;
  }

  Status add_label(std::string_view name, std::string value, size_t column) {
    for (const Label& l : labels_) {
      if (l.name == name) {
        pos_ = column;
        return error("duplicate label '" + std::string(name) + "'");
      }
    }
    labels_.push_back({std::string(name), std::move(value)});
    return Status::ok();
  }

  std::string_view take_name(bool metric) {
    size_t start = pos_;
    while (!at_end() && is_name_char(peek(), metric)) ++pos_;
    return text_.substr(start, pos_ - start);
  }

  void skip_blanks() {
    while (!at_end() && is_blank(peek())) ++pos_;
  }

  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return text_[pos_]; }

  std::string describe_next() const {
    if (at_end()) return "end of input";
    return "'" + std::string(1, peek()) + "'";
  }

  Status error(const std::string& message) const {
    return Status::invalid_argument("column " + std::to_string(pos_ + 1) + ": " + message);
  }

  std::string_view text_;
  size_t pos_ = 0;
  std::vector<Label> labels_;
};

std::string quote(std::string_view text) {
  return "'" + std::string(text) + "'";
}

}  // namespace

Result<std::vector<Label>> parse_series(std::string_view text) {
  auto parsed = SelectorParser(text).parse(true);
  if (!parsed.is_ok()) return parsed.status();
  return std::move(parsed->labels);
}

Result<SeriesPrefix> parse_series_prefix(std::string_view text) {
  return SelectorParser(text).parse(false);
}

std::string format_series(const std::vector<Label>& labels) {
  std::string out;
  for (const Label& l : labels) {
    if (l.name == kNameLabel) out = l.value;
  }
  std::string inner;
  for (const Label& l : labels) {
    if (l.name == kNameLabel) continue;
    if (!inner.empty()) inner += ',';
    inner += l.name;
    inner += "=\"";
    for (char c : l.value) {
      if (c == '"' || c == '\\') {
        inner += '\\';
        inner += c;
      } else if (c == '\n') {
        inner += "\\n";
      } else {
        inner += c;
      }
    }
    inner += '"';
  }
  if (!inner.empty()) out += "{" + inner + "}";
  return out;
}

Result<int64_t> parse_timestamp_ms(std::string_view text) {
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec == std::errc::result_out_of_range) {
    return Status::invalid_argument("timestamp " + quote(text) + " is out of range");
  }
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    return Status::invalid_argument("timestamp " + quote(text) +
                                    " is not an integer number of milliseconds");
  }
  return value;
}

Result<double> parse_sample_value(std::string_view text) {
  // from_chars takes no leading '+', which "+Inf" needs.
  std::string_view digits = text;
  if (digits.starts_with('+')) digits.remove_prefix(1);
  double value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec == std::errc::result_out_of_range) {
    return Status::invalid_argument("value " + quote(text) + " is out of range for a float64");
  }
  if (digits.empty() || (digits.size() < text.size() && digits[0] == '-') || ec != std::errc() ||
      end != digits.data() + digits.size()) {
    return Status::invalid_argument("value " + quote(text) + " is not a number");
  }
  return value;
}

std::string format_sample_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buffer[32];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  MELD_ASSERT(ec == std::errc(), "32 bytes hold any double");
  return std::string(buffer, end);
}

Result<Sample> parse_sample_token(std::string_view token) {
  auto fail = [&](const Status& s) {
    return Status::invalid_argument("sample " + quote(token) + ": " + s.message());
  };
  size_t eq = token.find('=');
  if (eq == std::string_view::npos) {
    return Status::invalid_argument("sample " + quote(token) + " is not TS=VALUE");
  }
  auto ts = parse_timestamp_ms(token.substr(0, eq));
  if (!ts.is_ok()) return fail(ts.status());
  auto value = parse_sample_value(token.substr(eq + 1));
  if (!value.is_ok()) return fail(value.status());
  return Sample{*ts, *value};
}

}  // namespace meld::client
