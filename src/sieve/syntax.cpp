// SPDX-License-Identifier: Apache-2.0
#include "sieve/syntax.hpp"

#include <limits>

#include "base/ascii.hpp"

namespace tern::sieve::detail {

Error syntax_error(std::size_t line, std::string_view message) {
  return Error{ErrorCode::kInvalidInput,
               "line " + std::to_string(line) + ": " + std::string(message)};
}

namespace {

bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

enum class Token {
  kEnd,
  kIdentifier,
  kTag,
  kNumber,
  kString,
  kLeftBracket,
  kRightBracket,
  kLeftParen,
  kRightParen,
  kLeftBrace,
  kRightBrace,
  kComma,
  kSemicolon,
};

// The lexical tokens of RFC 5228 §8.1, one at a time.
class Lexer {
 public:
  explicit Lexer(std::string_view text) : text_(text) {}

  // Reads the next token into kind() / value() / number(). Errors: a malformed
  // token (unterminated string or comment, a number too large, a stray byte).
  Result<void> next() {
    TERN_TRY_VOID(skip_blanks());
    token_line_ = line_;
    value_.clear();
    if (pos_ >= text_.size()) {
      kind_ = Token::kEnd;
      return {};
    }
    char c = text_[pos_];
    switch (c) {
      case '[':
        return single(Token::kLeftBracket);
      case ']':
        return single(Token::kRightBracket);
      case '(':
        return single(Token::kLeftParen);
      case ')':
        return single(Token::kRightParen);
      case '{':
        return single(Token::kLeftBrace);
      case '}':
        return single(Token::kRightBrace);
      case ',':
        return single(Token::kComma);
      case ';':
        return single(Token::kSemicolon);
      case '"':
        return quoted_string();
      case ':': {
        ++pos_;
        if (pos_ >= text_.size() || !is_alpha(text_[pos_])) {
          return syntax_error(line_, "':' must start a tag such as :is");
        }
        value_ = ascii::lower(identifier());
        kind_ = Token::kTag;
        return {};
      }
      default:
        break;
    }
    if (is_digit(c)) {
      return number_token();
    }
    if (is_alpha(c)) {
      std::string word = identifier();
      // "text:" starts a multi-line string (§2.4.2); "text" alone is an identifier.
      if (ascii::iequals(word, "text") && pos_ < text_.size() && text_[pos_] == ':') {
        ++pos_;
        return multiline_string();
      }
      value_ = ascii::lower(word);
      kind_ = Token::kIdentifier;
      return {};
    }
    return syntax_error(line_, "unexpected character '" + printable(c) + "'");
  }

  Token kind() const { return kind_; }

  const std::string& value() const { return value_; }

  std::uint64_t number() const { return number_; }

  std::size_t line() const { return token_line_; }

 private:
  static std::string printable(char c) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      auto b = static_cast<unsigned char>(c);
      return std::string("\\x") + kHex[b >> 4] + kHex[b & 15];
    }
    return std::string(1, c);
  }

  Result<void> single(Token kind) {
    ++pos_;
    kind_ = kind;
    return {};
  }

  std::string identifier() {
    std::size_t start = pos_;
    while (pos_ < text_.size() && (is_alpha(text_[pos_]) || is_digit(text_[pos_]))) {
      ++pos_;
    }
    return std::string(text_.substr(start, pos_ - start));
  }

  // Blanks, line ends and both kinds of comment (§2.3).
  Result<void> skip_blanks() {
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (c == ' ' || c == '\t' || c == '\r') {
        ++pos_;
      } else if (c == '\n') {
        ++pos_;
        ++line_;
      } else if (c == '#') {
        while (pos_ < text_.size() && text_[pos_] != '\n') {
          ++pos_;
        }
      } else if (c == '/' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '*') {
        std::size_t start_line = line_;
        pos_ += 2;
        for (;;) {
          if (pos_ + 1 >= text_.size()) {
            return syntax_error(start_line, "unterminated /* comment");
          }
          if (text_[pos_] == '*' && text_[pos_ + 1] == '/') {
            pos_ += 2;
            break;
          }
          if (text_[pos_] == '\n') {
            ++line_;
          }
          ++pos_;
        }
      } else {
        break;
      }
    }
    return {};
  }

  // number = 1*DIGIT [ QUANTIFIER ], QUANTIFIER = "K" / "M" / "G" (§2.4.1).
  Result<void> number_token() {
    std::uint64_t value = 0;
    constexpr auto kMax = std::numeric_limits<std::uint64_t>::max();
    while (pos_ < text_.size() && is_digit(text_[pos_])) {
      auto digit = static_cast<std::uint64_t>(text_[pos_] - '0');
      if (value > (kMax - digit) / 10) {
        return syntax_error(line_, "number too large");
      }
      value = value * 10 + digit;
      ++pos_;
    }
    if (pos_ < text_.size()) {
      unsigned shift = 0;
      switch (text_[pos_]) {
        case 'k':
        case 'K':
          shift = 10;
          break;
        case 'm':
        case 'M':
          shift = 20;
          break;
        case 'g':
        case 'G':
          shift = 30;
          break;
        default:
          break;
      }
      if (shift != 0) {
        ++pos_;
        if (value > (kMax >> shift)) {
          return syntax_error(line_, "number too large");
        }
        value <<= shift;
      }
    }
    if (pos_ < text_.size() && (is_alpha(text_[pos_]) || is_digit(text_[pos_]))) {
      return syntax_error(line_, "a number must not run into a word");
    }
    number_ = value;
    kind_ = Token::kNumber;
    return {};
  }

  // Appends a line end as CRLF: strings hold mail text (§2.4.2).
  void append_line_end() { value_ += "\r\n"; }

  // quoted-string (§2.4.2): "\" quotes the next character, whatever it is.
  Result<void> quoted_string() {
    std::size_t start_line = line_;
    ++pos_;
    for (;;) {
      if (pos_ >= text_.size()) {
        return syntax_error(start_line, "unterminated string");
      }
      char c = text_[pos_++];
      if (c == '"') {
        break;
      }
      if (c == '\\') {
        if (pos_ >= text_.size()) {
          return syntax_error(start_line, "unterminated string");
        }
        c = text_[pos_++];
      }
      if (c == '\r' && pos_ < text_.size() && text_[pos_] == '\n') {
        continue;  // the LF that follows writes the line end
      }
      if (c == '\n') {
        ++line_;
        append_line_end();
      } else {
        value_ += c;
      }
    }
    kind_ = Token::kString;
    return {};
  }

  // multi-line (§2.4.2): "text:", blanks, an optional comment, a line end, then
  // lines up to one holding only "."; a line starting with ".." loses one dot.
  Result<void> multiline_string() {
    std::size_t start_line = line_;
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t')) {
      ++pos_;
    }
    if (pos_ < text_.size() && text_[pos_] == '#') {
      while (pos_ < text_.size() && text_[pos_] != '\n') {
        ++pos_;
      }
    }
    if (pos_ < text_.size() && text_[pos_] == '\r') {
      ++pos_;
    }
    if (pos_ >= text_.size() || text_[pos_] != '\n') {
      return syntax_error(line_, "text: must be followed by a line end");
    }
    ++pos_;
    ++line_;
    for (;;) {
      if (pos_ >= text_.size()) {
        return syntax_error(start_line, "multi-line string without its final \".\" line");
      }
      std::size_t end = text_.find('\n', pos_);
      std::string_view line =
          text_.substr(pos_, end == std::string_view::npos ? std::string_view::npos : end - pos_);
      pos_ = end == std::string_view::npos ? text_.size() : end + 1;
      ++line_;
      if (!line.empty() && line.back() == '\r') {
        line.remove_suffix(1);
      }
      if (line == ".") {
        break;
      }
      if (end == std::string_view::npos) {
        return syntax_error(start_line, "multi-line string without its final \".\" line");
      }
      if (line.starts_with("..")) {
        line.remove_prefix(1);  // dot-stuffing; ".foo" stays ".foo" (RFC 5228 §2.4.2)
      }
      value_ += line;
      append_line_end();
    }
    kind_ = Token::kString;
    return {};
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  std::size_t line_ = 1;
  std::size_t token_line_ = 1;
  Token kind_ = Token::kEnd;
  std::string value_;
  std::uint64_t number_ = 0;
};

// Recursive descent over RFC 5228 §8.2, bounded by CompileLimits.
class Parser {
 public:
  Parser(std::string_view text, const CompileLimits& limits) : lexer_(text), limits_(limits) {}

  Result<std::vector<Syntax>> script() {
    TERN_TRY_VOID(advance());
    TERN_TRY(auto commands, command_list(0));
    if (lexer_.kind() != Token::kEnd) {
      return syntax_error(lexer_.line(), "unexpected '}'");
    }
    return commands;
  }

 private:
  Result<void> advance() { return lexer_.next(); }

  Result<void> count(std::size_t line) {
    if (++nodes_ > limits_.max_commands) {
      return syntax_error(line, "script too long (over " + std::to_string(limits_.max_commands) +
                                    " commands and tests)");
    }
    return {};
  }

  Result<std::vector<Syntax>> command_list(std::size_t depth) {
    std::vector<Syntax> commands;
    while (lexer_.kind() == Token::kIdentifier) {
      TERN_TRY(auto command, this->command(depth));
      commands.push_back(std::move(command));
    }
    if (lexer_.kind() != Token::kEnd && lexer_.kind() != Token::kRightBrace) {
      return syntax_error(lexer_.line(), "expected a command");
    }
    return commands;
  }

  // command = identifier arguments (";" / block)
  Result<Syntax> command(std::size_t depth) {
    Syntax command;
    command.name = lexer_.value();
    command.line = lexer_.line();
    TERN_TRY_VOID(count(command.line));
    TERN_TRY_VOID(advance());
    TERN_TRY_VOID(arguments(command, depth));
    if (lexer_.kind() == Token::kSemicolon) {
      TERN_TRY_VOID(advance());
      return command;
    }
    if (lexer_.kind() != Token::kLeftBrace) {
      return syntax_error(lexer_.line(), "missing ';' after " + command.name);
    }
    if (depth + 1 > limits_.max_nesting) {
      return syntax_error(lexer_.line(), "blocks nested too deep");
    }
    TERN_TRY_VOID(advance());
    command.has_block = true;
    TERN_TRY(auto block, command_list(depth + 1));
    command.block = std::move(block);
    if (lexer_.kind() != Token::kRightBrace) {
      return syntax_error(lexer_.line(), "missing '}'");
    }
    TERN_TRY_VOID(advance());
    return command;
  }

  // arguments = *argument [ test / test-list ]
  Result<void> arguments(Syntax& node, std::size_t depth) {
    for (;;) {
      Argument arg;
      arg.line = lexer_.line();
      if (lexer_.kind() == Token::kTag) {
        arg.kind = Argument::Kind::kTag;
        arg.tag = lexer_.value();
      } else if (lexer_.kind() == Token::kNumber) {
        arg.kind = Argument::Kind::kNumber;
        arg.number = lexer_.number();
      } else if (lexer_.kind() == Token::kString) {
        arg.strings.push_back(lexer_.value());
      } else if (lexer_.kind() == Token::kLeftBracket) {
        arg.list = true;
        for (;;) {
          TERN_TRY_VOID(advance());
          if (lexer_.kind() != Token::kString) {
            return syntax_error(lexer_.line(), "expected a string in the list");
          }
          arg.strings.push_back(lexer_.value());
          TERN_TRY_VOID(advance());
          if (lexer_.kind() == Token::kRightBracket) {
            break;
          }
          if (lexer_.kind() != Token::kComma) {
            return syntax_error(lexer_.line(), "expected ',' or ']' in the string list");
          }
        }
      } else {
        break;
      }
      node.args.push_back(std::move(arg));
      TERN_TRY_VOID(advance());
    }
    if (lexer_.kind() == Token::kIdentifier) {
      if (depth + 1 > limits_.max_nesting) {
        return syntax_error(lexer_.line(), "tests nested too deep");
      }
      TERN_TRY(auto test, this->test(depth + 1));
      node.tests.push_back(std::move(test));
    } else if (lexer_.kind() == Token::kLeftParen) {
      if (depth + 1 > limits_.max_nesting) {
        return syntax_error(lexer_.line(), "tests nested too deep");
      }
      node.test_list = true;
      for (;;) {
        TERN_TRY_VOID(advance());
        if (lexer_.kind() != Token::kIdentifier) {
          return syntax_error(lexer_.line(), "expected a test in the list");
        }
        TERN_TRY(auto test, this->test(depth + 1));
        node.tests.push_back(std::move(test));
        if (lexer_.kind() == Token::kRightParen) {
          break;
        }
        if (lexer_.kind() != Token::kComma) {
          return syntax_error(lexer_.line(), "expected ',' or ')' in the test list");
        }
      }
      TERN_TRY_VOID(advance());
    }
    return {};
  }

  // test = identifier arguments
  Result<Syntax> test(std::size_t depth) {
    Syntax test;
    test.name = lexer_.value();
    test.line = lexer_.line();
    TERN_TRY_VOID(count(test.line));
    TERN_TRY_VOID(advance());
    TERN_TRY_VOID(arguments(test, depth));
    return test;
  }

  Lexer lexer_;
  const CompileLimits& limits_;
  std::size_t nodes_ = 0;
};

}  // namespace

Result<std::vector<Syntax>> parse(std::string_view text, const CompileLimits& limits) {
  if (text.size() > limits.max_script_bytes) {
    return syntax_error(
        1, "script too large (over " + std::to_string(limits.max_script_bytes) + " bytes)");
  }
  Parser parser(text, limits);
  return parser.script();
}

}  // namespace tern::sieve::detail
