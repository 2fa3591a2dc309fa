#include "timeseries/promql_lexer.h"

#include <array>
#include <limits>
#include <utility>

namespace meld::ts {
namespace {

bool is_ident_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_ident_char(char c) {
  return is_ident_start(c) || is_digit(c);
}
bool is_hex_digit(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

}  // namespace

std::string_view token_kind_name(TokenKind kind) {
  switch (kind) {
    case TokenKind::kEnd:
      return "end of input";
    case TokenKind::kIdentifier:
      return "identifier";
    case TokenKind::kNumber:
      return "number";
    case TokenKind::kString:
      return "string";
    case TokenKind::kLeftBrace:
      return "'{'";
    case TokenKind::kRightBrace:
      return "'}'";
    case TokenKind::kLeftParen:
      return "'('";
    case TokenKind::kRightParen:
      return "')'";
    case TokenKind::kLeftBracket:
      return "'['";
    case TokenKind::kRightBracket:
      return "']'";
    case TokenKind::kComma:
      return "','";
    case TokenKind::kEqual:
      return "'='";
    case TokenKind::kNotEqual:
      return "'!='";
    case TokenKind::kRegexMatch:
      return "'=~'";
    case TokenKind::kRegexNoMatch:
      return "'!~'";
    case TokenKind::kPlus:
      return "'+'";
    case TokenKind::kMinus:
      return "'-'";
  }
  return "token";
}

Status Lexer::error_at(size_t offset, std::string_view message) const {
  return Status::invalid_argument("column " + std::to_string(offset + 1) + ": " +
                                  std::string(message));
}

void Lexer::skip_space() {
  while (pos_ < text_.size()) {
    const char c = text_[pos_];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      ++pos_;
    } else if (c == '#') {
      while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
    } else {
      return;
    }
  }
}

Result<Token> Lexer::peek() {
  if (!has_peeked_) {
    Result<Token> t = lex();
    if (!t.is_ok()) return t;
    peeked_ = std::move(t).value();
    has_peeked_ = true;
  }
  return peeked_;
}

Result<Token> Lexer::next() {
  if (has_peeked_) {
    has_peeked_ = false;
    return std::move(peeked_);
  }
  return lex();
}

Result<Token> Lexer::expect(TokenKind kind) {
  Result<Token> t = next();
  if (!t.is_ok()) return t;
  if (t->kind != kind) {
    return error_at(t->offset, "expected " + std::string(token_kind_name(kind)) + ", found " +
                                   std::string(token_kind_name(t->kind)));
  }
  return t;
}

Result<Token> Lexer::lex() {
  skip_space();
  Token t;
  t.offset = pos_;
  if (pos_ == text_.size()) return t;
  const char c = text_[pos_];
  auto punct = [&](TokenKind kind, size_t len) {
    t.kind = kind;
    pos_ += len;
    return t;
  };
  const char c2 = pos_ + 1 < text_.size() ? text_[pos_ + 1] : '\0';
  switch (c) {
    case '{':
      return punct(TokenKind::kLeftBrace, 1);
    case '}':
      return punct(TokenKind::kRightBrace, 1);
    case '(':
      return punct(TokenKind::kLeftParen, 1);
    case ')':
      return punct(TokenKind::kRightParen, 1);
    case '[':
      return punct(TokenKind::kLeftBracket, 1);
    case ']':
      return punct(TokenKind::kRightBracket, 1);
    case ',':
      return punct(TokenKind::kComma, 1);
    case '+':
      return punct(TokenKind::kPlus, 1);
    case '-':
      return punct(TokenKind::kMinus, 1);
    case '=':
      return c2 == '~' ? punct(TokenKind::kRegexMatch, 2) : punct(TokenKind::kEqual, 1);
    case '!':
      if (c2 == '=') return punct(TokenKind::kNotEqual, 2);
      if (c2 == '~') return punct(TokenKind::kRegexNoMatch, 2);
      return error_at(pos_, "unexpected '!' (expected != or !~)");
    case '"':
    case '\'':
    case '`': {
      Result<std::string> s = lex_quoted(c, pos_);
      if (!s.is_ok()) return s.status();
      t.kind = TokenKind::kString;
      t.text = std::move(s).value();
      return t;
    }
    default:
      break;
  }
  if (is_ident_start(c)) {
    const size_t start = pos_;
    while (pos_ < text_.size() && is_ident_char(text_[pos_])) ++pos_;
    t.kind = TokenKind::kIdentifier;
    t.text = std::string(text_.substr(start, pos_ - start));
    return t;
  }
  if (is_digit(c) || (c == '.' && is_digit(c2))) {
    const size_t start = pos_;
    if (c == '0' && (c2 == 'x' || c2 == 'X')) {
      pos_ += 2;
      while (pos_ < text_.size() && is_hex_digit(text_[pos_])) ++pos_;
    } else {
      while (pos_ < text_.size() && is_digit(text_[pos_])) ++pos_;
      if (pos_ < text_.size() && text_[pos_] == '.') {
        ++pos_;
        while (pos_ < text_.size() && is_digit(text_[pos_])) ++pos_;
      }
      if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
        size_t p = pos_ + 1;
        if (p < text_.size() && (text_[p] == '+' || text_[p] == '-')) ++p;
        if (p < text_.size() && is_digit(text_[p])) {
          pos_ = p;
          while (pos_ < text_.size() && is_digit(text_[pos_])) ++pos_;
        }
      }
    }
    if (pos_ < text_.size() && is_ident_char(text_[pos_])) {
      return error_at(start, "bad number or unexpected duration '" +
                                 std::string(text_.substr(start, pos_ - start + 1)) + "'");
    }
    t.kind = TokenKind::kNumber;
    t.text = std::string(text_.substr(start, pos_ - start));
    return t;
  }
  return error_at(pos_, "unexpected character '" + std::string(1, c) + "'");
}

Result<std::string> Lexer::lex_quoted(char quote, size_t start) {
  std::string out;
  pos_ = start + 1;
  while (true) {
    if (pos_ >= text_.size()) return error_at(start, "unterminated string");
    const char c = text_[pos_++];
    if (c == quote) return out;
    if (quote == '`') {
      out += c;
      continue;
    }
    if (c == '\n') return error_at(start, "unterminated string (newline inside quotes)");
    if (c != '\\') {
      out += c;
      continue;
    }
    if (pos_ >= text_.size()) return error_at(start, "unterminated string");
    const size_t escape_at = pos_ - 1;
    const char e = text_[pos_++];
    switch (e) {
      case 'a':
        out += '\a';
        continue;
      case 'b':
        out += '\b';
        continue;
      case 'f':
        out += '\f';
        continue;
      case 'n':
        out += '\n';
        continue;
      case 'r':
        out += '\r';
        continue;
      case 't':
        out += '\t';
        continue;
      case 'v':
        out += '\v';
        continue;
      case '\\':
        out += '\\';
        continue;
      case '"':
      case '\'':
        if (e != quote) return error_at(escape_at, std::string("unknown escape \\") + e);
        out += e;
        continue;
      default:
        break;
    }
    if (e >= '0' && e <= '7') {
      uint32_t v = 0;
      size_t digits = 0;
      for (--pos_; digits < 3 && pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '7';
           ++digits, ++pos_) {
        v = v * 8 + static_cast<uint32_t>(text_[pos_] - '0');
      }
      if (digits != 3 || v > 255)
        return error_at(escape_at, "octal escape needs 3 digits <= \\377");
      out += static_cast<char>(v);
      continue;
    }
    size_t hex_digits = 0;
    if (e == 'x') hex_digits = 2;
    if (e == 'u') hex_digits = 4;
    if (e == 'U') hex_digits = 8;
    if (hex_digits == 0) return error_at(escape_at, std::string("unknown escape \\") + e);
    uint32_t v = 0;
    for (size_t i = 0; i < hex_digits; ++i, ++pos_) {
      if (pos_ >= text_.size() || !is_hex_digit(text_[pos_])) {
        return error_at(escape_at, std::string("escape \\") + e + " needs " +
                                       std::to_string(hex_digits) + " hex digits");
      }
      v = v * 16 + static_cast<uint32_t>(hex_value(text_[pos_]));
    }
    if (e == 'x') {
      out += static_cast<char>(v);
    } else if (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) {
      return error_at(escape_at, "escape is not a valid Unicode code point");
    } else {
      append_utf8(out, v);
    }
  }
}

Result<int64_t> Lexer::read_duration_ms() {
  MELD_ASSERT(!has_peeked_, "read_duration_ms() after peek()");
  skip_space();
  const size_t start = pos_;
  struct Unit {
    std::string_view name;
    int64_t ms;
  };
  static constexpr std::array<Unit, 7> kUnits = {{{"y", int64_t{365} * 24 * 3600 * 1000},
                                                  {"w", int64_t{7} * 24 * 3600 * 1000},
                                                  {"d", int64_t{24} * 3600 * 1000},
                                                  {"h", int64_t{3600} * 1000},
                                                  {"ms", 1},
                                                  {"m", int64_t{60} * 1000},
                                                  {"s", 1000}}};
  // The order units must come in; "ms" sorts before "m" above only so that it is matched first.
  static constexpr std::array<int, 7> kRank = {0, 1, 2, 3, 6, 4, 5};
  int64_t total = 0;
  int last_rank = -1;
  while (pos_ < text_.size() && is_digit(text_[pos_])) {
    const size_t part = pos_;
    int64_t n = 0;
    while (pos_ < text_.size() && is_digit(text_[pos_])) {
      if (n > (std::numeric_limits<int64_t>::max() - 9) / 10) {
        return error_at(part, "duration is too long");
      }
      n = n * 10 + (text_[pos_++] - '0');
    }
    size_t u = 0;
    while (u < kUnits.size() && !text_.substr(pos_).starts_with(kUnits[u].name)) ++u;
    if (u == kUnits.size()) {
      return error_at(pos_, "duration needs a unit (ms, s, m, h, d, w, y)");
    }
    if (kRank[u] <= last_rank) return error_at(part, "duration units out of order or repeated");
    last_rank = kRank[u];
    pos_ += kUnits[u].name.size();
    if (n > (std::numeric_limits<int64_t>::max() - total) / kUnits[u].ms) {
      return error_at(part, "duration is too long");
    }
    total += n * kUnits[u].ms;
  }
  if (pos_ == start) return error_at(start, "expected a duration like 5m");
  if (pos_ < text_.size() && is_ident_char(text_[pos_])) {
    return error_at(pos_, "bad duration unit");
  }
  if (total == 0) return error_at(start, "duration must be positive");
  return total;
}

}  // namespace meld::ts
