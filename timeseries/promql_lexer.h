// The tokens of the PromQL subset that matcher.h (selectors) and query.h (queries) parse. Pure;
// input is untrusted text, every error is invalid_argument("column N: ...") with the 1-based
// byte column where the problem starts.
//
// Tokens: identifiers [a-zA-Z_:][a-zA-Z0-9_:]*; numbers (decimal with optional fraction and
// exponent, or 0x hexadecimal); strings in double or single quotes with Go's escapes (\a \b \f
// \n \r \t \v \\ \" \' \xHH \OOO \uHHHH \UHHHHHHHH) or in backquotes without escapes;
// punctuation { } ( ) [ ] , = != =~ !~ + -. Whitespace and # comments (to the end of the line)
// separate tokens. Durations (`5m`, `1h30m`) are read on request, by read_duration().
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace meld::ts {

enum class TokenKind {
  kEnd,
  kIdentifier,
  kNumber,
  kString,  // text holds the unescaped value
  kLeftBrace,
  kRightBrace,
  kLeftParen,
  kRightParen,
  kLeftBracket,
  kRightBracket,
  kComma,
  kEqual,         // =
  kNotEqual,      // !=
  kRegexMatch,    // =~
  kRegexNoMatch,  // !~
  kPlus,
  kMinus,
};

struct Token {
  TokenKind kind = TokenKind::kEnd;
  std::string text;   // identifier or number text, or the unescaped string
  size_t offset = 0;  // byte offset of the token's first byte in the input
};

// Human name of a token kind for messages ("'{'", "identifier").
std::string_view token_kind_name(TokenKind kind);

// Reads tokens from text, which must outlive the lexer. Not thread-safe.
class Lexer {
 public:
  explicit Lexer(std::string_view text) : text_(text) {}

  // The next token without consuming it.
  Result<Token> peek();
  // The next token, consumed.
  Result<Token> next();
  // Consumes the next token if it has the kind; errors name what was expected otherwise.
  Result<Token> expect(TokenKind kind);
  // Reads a duration at the current position (after whitespace): one or more <integer><unit>
  // parts with units ms, s, m, h, d (24h), w (7d), y (365d), each unit at most once and in that
  // descending order. Errors when absent, zero, or past int64 milliseconds.
  Result<int64_t> read_duration_ms();

  // "column N: message".
  Status error_at(size_t offset, std::string_view message) const;

 private:
  Result<Token> lex();
  Result<std::string> lex_quoted(char quote, size_t start);
  void skip_space();

  std::string_view text_;
  size_t pos_ = 0;
  bool has_peeked_ = false;
  Token peeked_;
};

}  // namespace meld::ts
