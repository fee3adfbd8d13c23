// SPDX-License-Identifier: Apache-2.0
// Two passes: a lexer turns the field value into tokens (atoms, quoted strings,
// comments, domain literals, specials), then a parser splits the tokens into
// entries and groups and reads each entry as a mailbox. Both are iterative, so
// nesting and length are bounded by the input size alone.
#include "address/address_list.hpp"

#include <algorithm>

#include "address/detail/syntax.hpp"

namespace tern::address {
namespace {

using detail::is_atext;
using detail::is_fws;
using detail::is_non_ascii;

enum class Tok : std::uint8_t {
  kAtom,
  kQuoted,
  kComment,
  kLiteral,
  kDot,
  kAt,
  kComma,
  kColon,
  kSemicolon,
  kLAngle,
  kRAngle,
  kEnd,
};

struct Token {
  Tok kind;
  bool space_before;  // whitespace between this token and the previous one
  std::size_t begin;
  std::size_t end;
};

bool is_word(Tok kind) {
  return kind == Tok::kAtom || kind == Tok::kQuoted;
}

// Bytes that may stand in an atom. RFC 5322 atext, RFC 6532 UTF-8, and — so that
// junk never stops the parse — control characters and the stray closers '\',
// ')' and ']', which get a kInvalidCharacter diagnostic.
bool is_junk_byte(unsigned char c) {
  return (c < 0x20 && !is_fws(c)) || c == 0x7f || c == '\\' || c == ')' || c == ']';
}

bool is_atom_byte(unsigned char c) {
  return is_atext(c) || is_non_ascii(c) || is_junk_byte(c);
}

class Parser {
 public:
  Parser(std::string_view input, const AddressListOptions& options)
      : in_(input), options_(options) {}

  AddressList run() {
    if (in_.size() > options_.limits.max_input_bytes) {
      in_ = in_.substr(0, options_.limits.max_input_bytes);
      diagnose(Problem::kInputTruncated, in_.size());
    }
    lex();
    parse_list();
    std::stable_sort(out_.diagnostics.begin(), out_.diagnostics.end(),
                     [](const Diagnostic& a, const Diagnostic& b) { return a.offset < b.offset; });
    return std::move(out_);
  }

 private:
  struct Range {
    std::size_t begin;  // token indices, end exclusive
    std::size_t end;
  };

  void diagnose(Problem problem, std::size_t offset) {
    if (out_.diagnostics.size() < options_.limits.max_diagnostics) {
      out_.diagnostics.push_back(Diagnostic{problem, offset});
    }
  }

  std::string_view text(const Token& token) const {
    return in_.substr(token.begin, token.end - token.begin);
  }

  std::string_view span(std::size_t first_token, std::size_t last_token) const {
    return in_.substr(toks_[first_token].begin, toks_[last_token].end - toks_[first_token].begin);
  }

  // ---- lexer --------------------------------------------------------------

  // Scans a quoted string, comment or domain literal that opens at in_[i];
  // returns the offset after its closer, or the input size when unterminated.
  // Only comments nest (RFC 5322 §3.2.2 ccontent includes comment).
  std::size_t scan_delimited(std::size_t i, char close, bool nests, Problem unterminated) {
    char open = in_[i];
    std::size_t depth = 1;
    for (std::size_t j = i + 1; j < in_.size(); ++j) {
      char c = in_[j];
      if (c == '\\') {
        ++j;  // RFC 5322 §3.2.1 quoted-pair: the next byte is literal
      } else if (c == close) {
        if (--depth == 0) {
          return j + 1;
        }
      } else if (nests && c == open) {
        ++depth;
      }
    }
    diagnose(unterminated, i);
    return in_.size();
  }

  void push(Tok kind, bool space, std::size_t begin, std::size_t end) {
    toks_.push_back(Token{kind, space, begin, end});
  }

  void lex() {
    // Most tokens span several bytes; this avoids regrowth for typical fields.
    toks_.reserve(in_.size() / 3 + 2);
    bool space = false;
    std::size_t i = 0;
    bool junk_reported = false;
    while (i < in_.size()) {
      auto c = static_cast<unsigned char>(in_[i]);
      if (is_fws(c)) {
        space = true;
        ++i;
        continue;
      }
      std::size_t begin = i;
      switch (c) {
        case '"':
          i = scan_delimited(i, '"', false, Problem::kUnterminatedQuote);
          push(Tok::kQuoted, space, begin, i);
          break;
        case '(':
          i = scan_delimited(i, ')', true, Problem::kUnterminatedComment);
          push(Tok::kComment, space, begin, i);
          break;
        case '[':
          i = scan_delimited(i, ']', false, Problem::kUnterminatedLiteral);
          push(Tok::kLiteral, space, begin, i);
          break;
        case '.':
          push(Tok::kDot, space, i, i + 1);
          ++i;
          break;
        case '@':
          push(Tok::kAt, space, i, i + 1);
          ++i;
          break;
        case ',':
          push(Tok::kComma, space, i, i + 1);
          ++i;
          break;
        case ':':
          push(Tok::kColon, space, i, i + 1);
          ++i;
          break;
        case ';':
          push(Tok::kSemicolon, space, i, i + 1);
          ++i;
          break;
        case '<':
          push(Tok::kLAngle, space, i, i + 1);
          ++i;
          break;
        case '>':
          push(Tok::kRAngle, space, i, i + 1);
          ++i;
          break;
        default:
          while (i < in_.size() && is_atom_byte(static_cast<unsigned char>(in_[i]))) {
            if (!junk_reported && is_junk_byte(static_cast<unsigned char>(in_[i]))) {
              diagnose(Problem::kInvalidCharacter, i);
              junk_reported = true;
            }
            ++i;
          }
          push(Tok::kAtom, space, begin, i);
          break;
      }
      space = false;
    }
    toks_.push_back(Token{Tok::kEnd, space, in_.size(), in_.size()});
  }

  // ---- decoding -----------------------------------------------------------

  // Appends the content of a quoted string or comment: delimiters dropped,
  // quoted-pairs resolved, CR and LF removed (RFC 5322 §2.2.3 unfolding).
  static void append_unquoted(std::string& out, std::string_view raw, char close) {
    raw.remove_prefix(1);
    if (!raw.empty() && raw.back() == close) {
      // The closer is escaped when preceded by an odd number of backslashes.
      std::size_t backslashes = 0;
      while (backslashes + 1 < raw.size() && raw[raw.size() - 2 - backslashes] == '\\') {
        ++backslashes;
      }
      if (backslashes % 2 == 0) {
        raw.remove_suffix(1);
      }
    }
    for (std::size_t i = 0; i < raw.size(); ++i) {
      char c = raw[i];
      if (c == '\\' && i + 1 < raw.size()) {
        out += raw[++i];
      } else if (c != '\r' && c != '\n') {
        out += c;
      }
    }
  }

  // A phrase as people read it: words joined by one space where the input had
  // whitespace or a comment between them, quoted strings unquoted. Specials met
  // on the way are kept as text (kUnquotedSpecial), dots too (kObsoletePhrase).
  // Two words written without space between them (`"Foo"Bar`) are still two
  // words of the phrase (RFC 5322 §3.2.5 phrase = 1*word), so they get a space
  // too, as Dovecot does.
  std::string decode_phrase(Range r) {
    std::string out;
    bool separator = false;
    bool previous_word = false;
    bool reported_special = false;
    bool reported_dot = false;
    for (std::size_t i = r.begin; i < r.end; ++i) {
      const Token& t = toks_[i];
      if (t.kind == Tok::kComment) {
        separator = true;
        continue;
      }
      if (!out.empty() && (separator || t.space_before || (previous_word && is_word(t.kind)))) {
        out += ' ';
      }
      separator = false;
      previous_word = is_word(t.kind);
      if (t.kind == Tok::kQuoted) {
        append_unquoted(out, text(t), '"');
        continue;
      }
      if (t.kind == Tok::kDot) {
        if (!reported_dot) {
          diagnose(Problem::kObsoletePhrase, t.begin);
          reported_dot = true;
        }
      } else if (t.kind != Tok::kAtom && !reported_special) {
        diagnose(Problem::kUnquotedSpecial, t.begin);
        reported_special = true;
      }
      out += text(t);
    }
    return out;
  }

  // Trims comment tokens from both ends of `r`.
  Range significant(Range r) const {
    while (r.begin < r.end && toks_[r.begin].kind == Tok::kComment) {
      ++r.begin;
    }
    while (r.end > r.begin && toks_[r.end - 1].kind == Tok::kComment) {
      --r.end;
    }
    return r;
  }

  // The last comment inside `r`, unquoted, with whitespace runs reduced to one
  // space and trimmed.
  std::string last_comment(Range r) const {
    std::string raw;
    for (std::size_t i = r.end; i > r.begin; --i) {
      if (toks_[i - 1].kind == Tok::kComment) {
        append_unquoted(raw, text(toks_[i - 1]), ')');
        break;
      }
    }
    std::string out;
    bool space = false;
    for (char c : raw) {
      if (c == ' ' || c == '\t') {
        space = !out.empty();
        continue;
      }
      if (space) {
        out += ' ';
        space = false;
      }
      out += c;
    }
    return out;
  }

  // Joins the words, dots and literals of a local part or domain, dropping
  // CFWS. `obsolete` is reported once when CFWS or a quoted word shows the
  // RFC 5322 §4.4 obs-local-part / obs-domain form.
  std::string join_dotted(Range r, Problem obsolete, std::string_view& raw) {
    std::string out;
    r = significant(r);
    if (r.begin == r.end) {
      raw = {};
      return out;
    }
    raw = span(r.begin, r.end - 1);
    bool words = false;
    bool quoted = false;
    bool spaced = false;
    bool adjacent_words = false;
    bool previous_word = false;
    for (std::size_t i = r.begin; i < r.end; ++i) {
      const Token& t = toks_[i];
      if (t.kind == Tok::kComment) {
        spaced = true;
        continue;
      }
      if (i > r.begin && t.space_before) {
        spaced = true;
      }
      if (is_word(t.kind) || t.kind == Tok::kLiteral) {
        if (previous_word) {
          adjacent_words = true;
        }
        previous_word = true;
        words = true;
      } else {
        previous_word = false;
      }
      if (t.kind == Tok::kQuoted) {
        quoted = true;
        append_unquoted(out, text(t), '"');
      } else {
        out += text(t);
      }
    }
    if (adjacent_words) {
      diagnose(Problem::kInvalidCharacter, toks_[r.begin].begin);
    } else if (words && (spaced || (quoted && r.end - r.begin > 1))) {
      diagnose(obsolete, toks_[r.begin].begin);
    }
    return out;
  }

  // ---- entries ------------------------------------------------------------

  // Returns the index of the token that ends the entry starting at `i`: a
  // comma, a semicolon, a colon that opens a group (no "@" or "<" seen yet), or
  // the end. Commas inside angle brackets belong to an obs-route only when an
  // "@" follows; otherwise the "<" was never closed.
  std::size_t scan_entry(std::size_t i) const {
    bool angle = false;
    bool seen_address = false;
    for (;; ++i) {
      Tok kind = toks_[i].kind;
      if (kind == Tok::kEnd) {
        return i;
      }
      if (angle) {
        if (kind == Tok::kRAngle) {
          angle = false;
        } else if (kind == Tok::kComma) {
          std::size_t next = i + 1;
          while (toks_[next].kind == Tok::kComment) {
            ++next;
          }
          if (toks_[next].kind != Tok::kAt) {
            return i;
          }
        } else if (kind == Tok::kSemicolon) {
          return i;
        }
        continue;
      }
      switch (kind) {
        case Tok::kLAngle:
          angle = true;
          seen_address = true;
          break;
        case Tok::kAt:
          seen_address = true;
          break;
        case Tok::kComma:
        case Tok::kSemicolon:
          return i;
        case Tok::kColon:
          if (!seen_address) {
            return i;
          }
          break;
        default:
          break;
      }
    }
  }

  bool is_empty_range(Range r) const { return significant(r).begin == significant(r).end; }

  // An entry of words only: no "@", no "<", no ":" (a candidate for the
  // "Doe, John <jdoe@x>" repair).
  bool is_phrase_only(Range r) const {
    if (is_empty_range(r)) {
      return false;
    }
    for (std::size_t i = r.begin; i < r.end; ++i) {
      Tok kind = toks_[i].kind;
      if (kind != Tok::kAtom && kind != Tok::kQuoted && kind != Tok::kDot &&
          kind != Tok::kComment) {
        return false;
      }
    }
    return true;
  }

  // An entry "phrase <addr>" with a non-empty phrase.
  bool has_phrase_and_angle(Range r) const {
    Range s = significant(r);
    if (s.begin == s.end || toks_[s.begin].kind == Tok::kLAngle) {
      return false;
    }
    for (std::size_t i = s.begin; i < s.end; ++i) {
      if (toks_[i].kind == Tok::kLAngle) {
        return true;
      }
      if (toks_[i].kind == Tok::kAt) {
        return false;
      }
    }
    return false;
  }

  // Reads the entries of one list level (top level or a group) and appends
  // their mailboxes to `sink`, merging "Doe, John <x>" when enabled.
  // `Sink` is std::vector<Mailbox> (group members) or std::vector<Address>.
  template <class Sink>
  void read_entries(const std::vector<Range>& entries, Sink& sink) {
    bool several = entries.size() > 1;
    // Entries before this index are known not to start a merge; remembering it
    // keeps a long run of phrase-only entries ("a,a,a,...") linear.
    std::size_t no_merge_before = 0;
    for (std::size_t k = 0; k < entries.size(); ++k) {
      Range r = entries[k];
      if (is_empty_range(r)) {
        if (several) {
          diagnose(Problem::kEmptyListElement, toks_[r.end].begin);
        }
        continue;
      }
      if (options_.merge_unquoted_comma_names && k >= no_merge_before && is_phrase_only(r)) {
        std::size_t last = k + 1;
        while (last < entries.size() && is_phrase_only(entries[last])) {
          ++last;
        }
        if (last < entries.size() && has_phrase_and_angle(entries[last])) {
          r.end = entries[last].end;
          k = last;
        } else {
          no_merge_before = last;
        }
      }
      add_mailbox(read_mailbox(r), sink);
    }
  }

  template <class Sink>
  void add_mailbox(std::optional<Mailbox> mailbox, Sink& sink) {
    if (!mailbox) {
      return;
    }
    if (mailbox_count_ >= options_.limits.max_addresses) {
      if (!too_many_reported_) {
        diagnose(Problem::kTooManyAddresses,
                 static_cast<std::size_t>(mailbox->raw.data() - in_.data()));
        too_many_reported_ = true;
      }
      return;
    }
    ++mailbox_count_;
    sink.emplace_back(std::move(*mailbox));
  }

  // Collects entries from `i` up to the end of the current level. In a group
  // the level ends at ";" (then `closed` is set); nested groups are flattened.
  // At the top level a ":" ends the level too: the group it opens is named by
  // tokens [name_begin, returned index).
  std::size_t collect(std::size_t i, bool in_group, std::vector<Range>& entries, bool& closed,
                      std::size_t& name_begin) {
    std::size_t nested = 0;
    closed = false;
    while (true) {
      std::size_t j = scan_entry(i);
      Tok kind = toks_[j].kind;
      if (kind == Tok::kColon) {
        if (!in_group) {
          name_begin = i;
          return j;
        }
        diagnose(Problem::kNestedGroup, toks_[j].begin);
        ++nested;
        i = j + 1;
        continue;
      }
      entries.push_back(Range{i, j});
      if (kind == Tok::kEnd) {
        return j;
      }
      if (kind == Tok::kSemicolon) {
        if (!in_group) {
          // A ';' used as a list separator (Outlook's habit).
          diagnose(Problem::kUnquotedSpecial, toks_[j].begin);
        } else if (nested > 0) {
          // The ";" closing a nested group; the "," after it separates
          // nothing from it, so skip it rather than report an empty element.
          --nested;
          std::size_t k = j + 1;
          while (toks_[k].kind == Tok::kComment) {
            ++k;
          }
          if (toks_[k].kind == Tok::kComma) {
            j = k;
          }
        } else {
          closed = true;
          return j;
        }
      }
      i = j + 1;
    }
  }

  void parse_list() {
    std::size_t i = 0;
    while (true) {
      std::vector<Range> entries;
      bool closed = false;
      std::size_t name_begin = i;
      std::size_t j = collect(i, false, entries, closed, name_begin);
      read_entries(entries, out_.addresses);
      if (toks_[j].kind == Tok::kEnd) {
        return;
      }
      i = read_group(name_begin, j);  // toks_[j] is the ':' opening a group
    }
  }

  // Reads "name : members ;" with the name in tokens [name_begin, colon).
  // Returns the index of the token after the group (and its trailing junk).
  std::size_t read_group(std::size_t name_begin, std::size_t colon) {
    Group group;
    Range name = significant(Range{name_begin, colon});
    if (name.begin < name.end) {
      group.display_name = decode_phrase(name);
      group.display_name_raw = span(name.begin, name.end - 1);
    }
    std::vector<Range> entries;
    bool closed = false;
    std::size_t unused = 0;
    std::size_t j = collect(colon + 1, true, entries, closed, unused);
    read_entries(entries, group.members);
    if (!closed) {
      diagnose(Problem::kUnterminatedGroup, toks_[j].begin);
    }
    std::size_t first = name.begin < name.end ? name.begin : colon;
    std::size_t last = closed ? j : (j > colon ? j - 1 : colon);
    group.raw = span(first, std::max(first, last));
    out_.addresses.emplace_back(std::move(group));
    if (!closed) {
      return j;
    }
    // RFC 5322 §3.4: after ";" only CFWS before the next "," may follow. Anything
    // else is read as the next list element with its comma missing, as in
    // `"Colleagues": a@x; Friends: b@y, c@z;` — dropping it would lose addresses.
    std::size_t k = j + 1;
    while (toks_[k].kind == Tok::kComment) {
      ++k;
    }
    if (toks_[k].kind == Tok::kComma) {
      return k + 1;
    }
    if (toks_[k].kind != Tok::kEnd) {
      diagnose(Problem::kMissingComma, toks_[k].begin);
    }
    return k;
  }

  // ---- one mailbox --------------------------------------------------------

  // Reads tokens [r.begin, r.end) as one mailbox; nullopt when there is
  // nothing but comments.
  std::optional<Mailbox> read_mailbox(Range whole) {
    Range r = significant(whole);
    if (r.begin == r.end) {
      return std::nullopt;
    }
    Mailbox m;
    m.raw = span(r.begin, r.end - 1);

    std::size_t angle = r.end;
    std::size_t at = r.end;
    for (std::size_t i = r.begin; i < r.end; ++i) {
      if (toks_[i].kind == Tok::kLAngle) {
        angle = i;
        break;
      }
      if (toks_[i].kind == Tok::kAt && at == r.end) {
        at = i;
      }
    }
    if (angle != r.end) {
      read_name_addr(r, angle, m);
    } else if (at != r.end) {
      read_bare_addr_spec(r, whole.end, at, m);
    } else {
      read_words_only(r, whole.end, m);
    }
    return m;
  }

  void set_display_name(Range phrase, Mailbox& m) {
    Range p = significant(phrase);
    if (p.begin == p.end) {
      return;
    }
    m.display_name = decode_phrase(p);
    m.display_name_raw = span(p.begin, p.end - 1);
  }

  // phrase "<" [route ":"] addr-spec ">" (RFC 5322 §3.4 name-addr, §4.4 obs-angle-addr).
  void read_name_addr(Range r, std::size_t angle, Mailbox& m) {
    set_display_name(Range{r.begin, angle}, m);
    m.angle_brackets = true;
    std::size_t close = r.end;
    for (std::size_t i = angle + 1; i < r.end; ++i) {
      if (toks_[i].kind == Tok::kRAngle) {
        close = i;
        break;
      }
    }
    if (close == r.end) {
      diagnose(Problem::kMissingAngleBracket, toks_[r.end].begin);
    } else if (significant(Range{close + 1, r.end}).begin != r.end) {
      diagnose(Problem::kTrailingGarbage, toks_[close + 1].begin);
    }
    Range inner = significant(Range{angle + 1, close});
    if (inner.begin == inner.end) {
      diagnose(Problem::kEmptyAngleAddress, toks_[angle].begin);
      return;
    }
    // obs-route = obs-domain-list ":"; it starts with "@" (or "," in the wild).
    if (toks_[inner.begin].kind == Tok::kAt || toks_[inner.begin].kind == Tok::kComma) {
      for (std::size_t i = inner.begin; i < inner.end; ++i) {
        if (toks_[i].kind == Tok::kColon) {
          diagnose(Problem::kObsoleteRoute, toks_[inner.begin].begin);
          for (std::size_t k = inner.begin; k < i; ++k) {
            if (toks_[k].kind != Tok::kComment) {
              m.route += text(toks_[k]);
            }
          }
          inner.begin = i + 1;
          break;
        }
      }
    }
    std::size_t at = inner.end;
    for (std::size_t i = inner.begin; i < inner.end; ++i) {
      if (toks_[i].kind == Tok::kAt) {
        at = i;
        break;
      }
    }
    read_local_part(Range{inner.begin, at}, m);
    if (at == inner.end) {
      if (!m.local_part.empty()) {
        diagnose(Problem::kMissingDomain, toks_[inner.end].begin);
      }
      return;
    }
    read_domain(Range{at + 1, inner.end}, m);
  }

  // addr-spec without angle brackets, possibly after a phrase that should have
  // been quoted and bracketed ("Joe Public joe@x").
  // `tail` is the end of the entry including trailing comments, where the old
  // "addr (Name)" comment lives.
  void read_bare_addr_spec(Range r, std::size_t tail, std::size_t at, Mailbox& m) {
    // The local part is the run of words joined by dots right before "@".
    std::size_t local_begin = at;
    bool want_word = true;
    for (std::size_t i = at; i > r.begin; --i) {
      const Token& t = toks_[i - 1];
      if (t.kind == Tok::kComment) {
        continue;
      }
      if (want_word ? is_word(t.kind) : t.kind == Tok::kDot) {
        local_begin = i - 1;
        want_word = !want_word;
        continue;
      }
      break;
    }
    if (!is_empty_range(Range{r.begin, local_begin})) {
      diagnose(Problem::kMissingAngleBracket, toks_[r.begin].begin);
      set_display_name(Range{r.begin, local_begin}, m);
    } else {
      m.comment = last_comment(Range{local_begin, tail});
    }
    read_local_part(Range{local_begin, at}, m);
    read_domain(Range{at + 1, r.end}, m);
  }

  // Words only: a bare local part ("undisclosed-recipients", "john.doe", the
  // word (dot word)* shape) or a phrase with no address at all ("Joe Public").
  void read_words_only(Range r, std::size_t tail, Mailbox& m) {
    bool want_word = true;
    bool local = true;
    std::size_t words = 0;
    for (std::size_t i = r.begin; i < r.end && local; ++i) {
      Tok kind = toks_[i].kind;
      if (kind == Tok::kComment) {
        continue;
      }
      if (want_word ? is_word(kind) : kind == Tok::kDot) {
        words += want_word ? 1 : 0;
        want_word = !want_word;
      } else {
        local = false;
      }
    }
    // A lone quoted string ("Undisclosed Recipients") is meant as a name.
    if (want_word || (words == 1 && toks_[r.begin].kind == Tok::kQuoted)) {
      local = false;
    }
    if (!local) {
      diagnose(Problem::kMissingAddress, toks_[r.begin].begin);
      set_display_name(r, m);
      return;
    }
    diagnose(Problem::kMissingDomain, toks_[r.end - 1].end);
    read_local_part(r, m);
    m.comment = last_comment(Range{r.begin, tail});
  }

  void read_local_part(Range r, Mailbox& m) {
    m.local_part = join_dotted(r, Problem::kObsoleteLocalPart, m.local_part_raw);
    if (m.local_part_raw.empty() && m.local_part.empty()) {
      diagnose(Problem::kMissingLocalPart, toks_[r.end].begin);
    }
  }

  // domain = dot-atom / domain-literal / obs-domain; anything after the last
  // label that is not a comment is trailing garbage.
  void read_domain(Range r, Mailbox& m) {
    Range s = significant(r);
    std::size_t end = s.begin;
    bool want_label = true;
    for (std::size_t i = s.begin; i < s.end; ++i) {
      Tok kind = toks_[i].kind;
      if (kind == Tok::kComment) {
        continue;
      }
      bool fits = want_label ? (kind == Tok::kAtom || kind == Tok::kLiteral) : kind == Tok::kDot;
      if (!fits) {
        // Tolerate a trailing dot ("example.org.") as part of the domain.
        break;
      }
      want_label = !want_label;
      end = i + 1;
    }
    if (significant(Range{end, s.end}).begin != s.end) {
      diagnose(Problem::kTrailingGarbage, toks_[end].begin);
    }
    m.domain = join_dotted(Range{s.begin, end}, Problem::kObsoleteDomain, m.domain_raw);
    if (m.domain.empty()) {
      diagnose(Problem::kMissingDomain, toks_[s.begin].begin);
    }
  }

  std::string_view in_;
  const AddressListOptions& options_;
  std::vector<Token> toks_;
  AddressList out_;
  std::size_t mailbox_count_ = 0;
  bool too_many_reported_ = false;
};

}  // namespace

bool is_obsolete(Problem problem) {
  switch (problem) {
    case Problem::kObsoleteRoute:
    case Problem::kObsoleteLocalPart:
    case Problem::kObsoleteDomain:
    case Problem::kObsoletePhrase:
    case Problem::kEmptyListElement:
      return true;
    default:
      return false;
  }
}

std::string_view problem_name(Problem problem) {
  switch (problem) {
    case Problem::kObsoleteRoute:
      return "obsolete_route";
    case Problem::kObsoleteLocalPart:
      return "obsolete_local_part";
    case Problem::kObsoleteDomain:
      return "obsolete_domain";
    case Problem::kObsoletePhrase:
      return "obsolete_phrase";
    case Problem::kEmptyListElement:
      return "empty_list_element";
    case Problem::kMissingAngleBracket:
      return "missing_angle_bracket";
    case Problem::kMissingLocalPart:
      return "missing_local_part";
    case Problem::kMissingDomain:
      return "missing_domain";
    case Problem::kMissingAddress:
      return "missing_address";
    case Problem::kEmptyAngleAddress:
      return "empty_angle_address";
    case Problem::kUnquotedSpecial:
      return "unquoted_special";
    case Problem::kUnterminatedQuote:
      return "unterminated_quote";
    case Problem::kUnterminatedComment:
      return "unterminated_comment";
    case Problem::kUnterminatedLiteral:
      return "unterminated_literal";
    case Problem::kUnterminatedGroup:
      return "unterminated_group";
    case Problem::kNestedGroup:
      return "nested_group";
    case Problem::kTrailingGarbage:
      return "trailing_garbage";
    case Problem::kMissingComma:
      return "missing_comma";
    case Problem::kInvalidCharacter:
      return "invalid_character";
    case Problem::kInputTruncated:
      return "input_truncated";
    case Problem::kTooManyAddresses:
      return "too_many_addresses";
  }
  return "unknown";
}

std::string Mailbox::addr_spec() const {
  if (domain.empty()) {
    return detail::render_local(local_part);
  }
  return detail::render_local(local_part) + "@" + domain;
}

bool AddressList::has_errors() const {
  return std::any_of(diagnostics.begin(), diagnostics.end(),
                     [](const Diagnostic& d) { return !is_obsolete(d.problem); });
}

std::vector<const Mailbox*> AddressList::mailboxes() const {
  std::vector<const Mailbox*> out;
  for (const Address& address : addresses) {
    if (const auto* mailbox = std::get_if<Mailbox>(&address)) {
      out.push_back(mailbox);
    } else {
      for (const Mailbox& member : std::get<Group>(address).members) {
        out.push_back(&member);
      }
    }
  }
  return out;
}

AddressList parse_address_list(std::string_view input, const AddressListOptions& options) {
  return Parser(input, options).run();
}

namespace {

EnvelopeAddress envelope_item(const Mailbox& m) {
  EnvelopeAddress item;
  if (m.display_name && !m.display_name->empty()) {
    item.name = *m.display_name;
  } else if (!m.comment.empty()) {
    item.name = m.comment;
  }
  if (!m.route.empty()) {
    item.adl = m.route;
  }
  item.mailbox = m.local_part.empty() ? std::string(kMissingMailbox) : m.local_part;
  item.host = m.domain.empty() ? std::string(kMissingDomain) : m.domain;
  return item;
}

}  // namespace

std::vector<EnvelopeAddress> envelope_addresses(const AddressList& list) {
  std::vector<EnvelopeAddress> out;
  for (const Address& address : list.addresses) {
    if (const auto* mailbox = std::get_if<Mailbox>(&address)) {
      out.push_back(envelope_item(*mailbox));
      continue;
    }
    // RFC 9051 §7.5.2: a group is [NIL NIL groupname NIL] ... [NIL NIL NIL NIL].
    const auto& group = std::get<Group>(address);
    EnvelopeAddress start;
    start.mailbox = group.display_name;
    out.push_back(std::move(start));
    for (const Mailbox& member : group.members) {
      out.push_back(envelope_item(member));
    }
    out.push_back(EnvelopeAddress{});
  }
  return out;
}

}  // namespace tern::address
