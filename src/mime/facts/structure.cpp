// SPDX-License-Identifier: Apache-2.0
// ENVELOPE, BODY and BODYSTRUCTURE rendering and the part table (RFC 9051 §7.5.2,
// RFC 3501 §7.4.2). Dovecot's imap-bodystructure.c and imap-envelope.c are the
// behavioural floor; docs/mime-differences.md "## IMAP" lists where tern differs.
#include <algorithm>
#include <optional>
#include <string>
#include <string_view>

#include "address/address_list.hpp"
#include "mime/facts/facts.hpp"
#include "mime/facts/imap_string.hpp"
#include "mime/facts/order.hpp"
#include "mime/facts/text.hpp"
#include "mime/transfer.hpp"

namespace tern::mime::facts {
namespace {

bool is_wsp(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// A header value as IMAP shows it: folding removed (RFC 5322 §2.2.3: unfolding is
// removing the CRLF only), the blanks after the colon skipped, nothing decoded.
std::string raw_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c != '\r' && c != '\n' && (!out.empty() || (c != ' ' && c != '\t'))) {
      out.push_back(c);
    }
  }
  return out;
}

// Text meant for people (Subject, display names): every run of blanks, tabs and line
// ends becomes one space and the ends are trimmed, as Dovecot sends them, so a
// folded or padded subject shows (and sorts) as one line.
std::string for_humans(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  bool space = false;
  for (char c : value) {
    if (is_wsp(c)) {
      space = !out.empty();
      continue;
    }
    if (space) {
      out.push_back(' ');
      space = false;
    }
    out.push_back(c);
  }
  return out;
}

std::optional<std::string> raw_field(std::string_view raw, const Part& part,
                                     std::string_view name) {
  const HeaderField* f = part.field(raw, name);
  if (f == nullptr) {
    return std::nullopt;
  }
  return raw_value(f->value.in(raw));
}

// Every field named `name`, joined by ", ": RFC 5322 §3.6 allows one of each
// address field, but mail with two To or Cc lines exists and Dovecot shows all of
// their addresses, so nobody is hidden from the reader.
std::optional<std::string> address_fields(std::string_view raw, const Part& part,
                                          std::string_view name) {
  std::optional<std::string> out;
  for (const HeaderField& f : part.fields) {
    if (!iequals(f.name.in(raw), name)) {
      continue;
    }
    if (out) {
      out->append(", ");
      out->append(raw_value(f.value.in(raw)));
    } else {
      out = raw_value(f.value.in(raw));
    }
  }
  return out;
}

void append_raw_nstring(std::string& out, std::string_view raw, const std::optional<Range>& range) {
  if (!range) {
    out += "NIL";
    return;
  }
  append_string(out, raw_value(range->in(raw)));
}

std::uint64_t count_lf(std::string_view s) {
  return static_cast<std::uint64_t>(std::count(s.begin(), s.end(), '\n'));
}

// RFC 9051 §7.5.2 ENVELOPE address list: "(" 1*address ")" or NIL when the field is
// absent or holds no address.
bool append_address_list(std::string& out, const std::optional<std::string>& value) {
  if (!value) {
    return false;
  }
  address::AddressListOptions options;
  // Keep the strict reading of `Doe, John <x@y>` so the structure matches what
  // the field literally says, as Dovecot does.
  options.merge_unquoted_comma_names = false;
  const address::AddressList list = address::parse_address_list(*value, options);
  const auto items = address::envelope_addresses(list);
  if (items.empty()) {
    return false;
  }
  out.push_back('(');
  for (const auto& a : items) {
    const bool marker = !a.host.has_value();
    out.push_back('(');
    append_nstring(out, for_humans(a.name.value_or("")), a.name.has_value());
    out.push_back(' ');
    append_nstring(out, a.adl.value_or(""), a.adl.has_value());
    out.push_back(' ');
    // RFC 9051 §7.5.2 gives NIL host and mailbox a meaning (group markers), and an
    // empty string makes clients show "user@"; a mailbox that lacks one of them
    // gets Dovecot's placeholders instead, so every client shows the same thing.
    if (!marker && a.mailbox.value_or("").empty()) {
      out += "\"MISSING_MAILBOX\"";
    } else {
      append_nstring(out, a.mailbox.value_or(""), a.mailbox.has_value());
    }
    out.push_back(' ');
    if (!marker && a.host->empty()) {
      out += "\"MISSING_DOMAIN\"";
    } else {
      append_nstring(out, a.host.value_or(""), a.host.has_value());
    }
    out.push_back(')');
  }
  out.push_back(')');
  return true;
}

void append_address_field(std::string& out, const std::optional<std::string>& value) {
  if (!append_address_list(out, value)) {
    out += "NIL";
  }
}

// body-fld-param (RFC 9051 §7.5.2). Values are RFC 2231-decoded as §7.5.2 asks
// ("Servers SHOULD decode parameter-value continuations and parameter-value
// character sets"). `default_charset` adds charset=us-ascii to text/* parts that
// name none, the RFC 2045 §5.2 default made explicit (Dovecot does the same).
void append_params(std::string& out, const std::vector<Parameter>& params, bool default_charset) {
  bool has_charset = false;
  for (const Parameter& p : params) {
    has_charset = has_charset || p.name == "charset";
  }
  if (params.empty() && !default_charset) {
    out += "NIL";
    return;
  }
  out.push_back('(');
  bool first = true;
  for (const Parameter& p : params) {
    if (!first) {
      out.push_back(' ');
    }
    first = false;
    append_string(out, p.name);
    out.push_back(' ');
    append_string(out, p.value);
  }
  if (default_charset && !has_charset) {
    if (!first) {
      out.push_back(' ');
    }
    out += "\"charset\" \"us-ascii\"";
  }
  out.push_back(')');
}

// body-fld-dsp: "(" string SP body-fld-param ")" / nil (RFC 9051 §7.5.2).
void append_disposition(std::string& out, const std::optional<ContentDisposition>& d) {
  if (!d || d->type.empty()) {
    out += "NIL";
    return;
  }
  out.push_back('(');
  append_string(out, d->type);
  out.push_back(' ');
  append_params(out, d->params, false);
  out.push_back(')');
}

// body-fld-lang: nstring / "(" string *(SP string) ")" (RFC 9051 §7.5.2): the
// RFC 3282 language tags, separated by commas and blanks, comments dropped.
void append_language(std::string& out, std::string_view raw, const std::optional<Range>& r) {
  if (!r) {
    out += "NIL";
    return;
  }
  std::vector<std::string> tags;
  std::string cur;
  int comment = 0;
  for (char c : raw_value(r->in(raw))) {
    if (c == '(') {
      ++comment;
    } else if (c == ')' && comment > 0) {
      --comment;
    } else if (comment == 0 && (c == ',' || is_wsp(c))) {
      if (!cur.empty()) {
        tags.push_back(std::move(cur));
        cur.clear();
      }
    } else if (comment == 0) {
      cur.push_back(c);
    }
  }
  if (!cur.empty()) {
    tags.push_back(std::move(cur));
  }
  if (tags.empty()) {
    out += "NIL";
  } else {
    // Always the list form, even for one tag, as Dovecot sends it; clients parse
    // both (RFC 9051 §7.5.2 body-fld-lang).
    out.push_back('(');
    for (std::size_t i = 0; i < tags.size(); ++i) {
      if (i > 0) {
        out.push_back(' ');
      }
      append_string(out, tags[i]);
    }
    out.push_back(')');
  }
}

// body-fld-enc: the Content-Transfer-Encoding token as written, or "7bit" when the
// field is absent or empty (RFC 2045 §6.1 default); never NIL, which the RFC 9051
// grammar does not allow here.
void append_encoding(std::string& out, std::string_view raw, const Part& part) {
  std::string token;
  if (!part.encoding_value.empty()) {
    const std::string value = raw_value(part.encoding_value.in(raw));
    for (char c : value) {
      if (is_wsp(c) || c == '(' || c == ';') {
        break;
      }
      token.push_back(c);
    }
  }
  append_string(out, token.empty() ? std::string_view("7bit") : std::string_view(token));
}

// An empty text/plain body, where the grammar needs a body and the message has none.
void append_empty_text_part(std::string& out, bool extended) {
  out += "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0";
  out += extended ? " NIL NIL NIL NIL)" : ")";
}

class Renderer {
 public:
  explicit Renderer(const MessageTree& tree) : tree_(tree), raw_(tree.raw()) {}

  // ENVELOPE of the message whose header is part `index`'s header.
  void envelope(std::string& out, PartIndex index) const {
    const Part& p = tree_.part(index);
    const auto from = address_fields(raw_, p, "From");
    out.push_back('(');
    append_opt(out, raw_field(raw_, p, "Date"));
    out.push_back(' ');
    const auto subject = raw_field(raw_, p, "Subject");
    append_opt(out, subject ? std::optional<std::string>(for_humans(*subject)) : std::nullopt);
    out.push_back(' ');
    append_address_field(out, from);
    // RFC 9051 §7.5.2: a Sender or Reply-To that is absent or empty takes the From
    // value.
    for (std::string_view name : {"Sender", "Reply-To"}) {
      out.push_back(' ');
      if (!append_address_list(out, address_fields(raw_, p, name))) {
        append_address_field(out, from);
      }
    }
    for (std::string_view name : {"To", "Cc", "Bcc"}) {
      out.push_back(' ');
      append_address_field(out, address_fields(raw_, p, name));
    }
    out.push_back(' ');
    append_opt(out, raw_field(raw_, p, "In-Reply-To"));
    out.push_back(' ');
    append_opt(out, raw_field(raw_, p, "Message-ID"));
    out.push_back(')');
  }

  void body(std::string& out, PartIndex index, bool extended) const {
    const Part& p = tree_.part(index);
    if (p.kind == PartKind::kMultipart) {
      multipart(out, p, extended);
    } else {
      single(out, p, extended);
    }
  }

 private:
  static void append_opt(std::string& out, const std::optional<std::string>& v) {
    append_nstring(out, v.value_or(""), v.has_value());
  }

  void multipart(std::string& out, const Part& p, bool extended) const {
    out.push_back('(');
    if (p.children.empty()) {
      // RFC 9051 body-type-mpart needs at least one body; a multipart without
      // parts is shown as one empty text/plain part, as Dovecot does.
      append_empty_text_part(out, extended);
    }
    for (PartIndex child : p.children) {
      body(out, child, extended);
    }
    out.push_back(' ');
    append_string(out, p.content_type.subtype);
    if (extended) {
      out.push_back(' ');
      append_params(out, p.content_type.params, false);
      extension_tail(out, p);
    }
    out.push_back(')');
  }

  void single(std::string& out, const Part& p, bool extended) const {
    const ContentType& ct = p.content_type;
    const bool text = ct.type == "text";
    out.push_back('(');
    append_string(out, ct.type);
    out.push_back(' ');
    append_string(out, ct.subtype);
    out.push_back(' ');
    append_params(out, ct.params, text);
    out.push_back(' ');
    append_raw_nstring(out, raw_, p.content_id);
    out.push_back(' ');
    append_raw_nstring(out, raw_, p.content_description);
    out.push_back(' ');
    append_encoding(out, raw_, p);
    out.push_back(' ');
    append_number(out, p.body.size());
    if (p.kind == PartKind::kMessage && !p.children.empty()) {
      // body-type-msg: envelope, body, lines of the encapsulated message.
      out.push_back(' ');
      envelope(out, p.children.front());
      out.push_back(' ');
      body(out, p.children.front(), extended);
      out.push_back(' ');
      append_number(out, count_lf(p.body.in(raw_)));
    } else if (ct.is("message", "rfc822") || ct.is("message", "global")) {
      // A message/rfc822 part the tree did not open (encoded, which RFC 2046 §5.2.1
      // forbids, or past the depth limit) still needs the body-type-msg fields, or a
      // client parsing "MESSAGE" "RFC822" reads the wrong grammar; show an empty
      // message, as Dovecot does.
      out += " (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) ";
      append_empty_text_part(out, extended);
      out.push_back(' ');
      append_number(out, count_lf(p.body.in(raw_)));
    } else if (text) {
      out.push_back(' ');
      append_number(out, count_lf(p.body.in(raw_)));
    }
    if (extended) {
      out.push_back(' ');
      append_raw_nstring(out, raw_, p.content_md5);
      extension_tail(out, p);
    }
    out.push_back(')');
  }

  // body-ext-1part / body-ext-mpart after md5 or params: disposition, language,
  // location.
  void extension_tail(std::string& out, const Part& p) const {
    out.push_back(' ');
    append_disposition(out, p.disposition);
    out.push_back(' ');
    append_language(out, raw_, p.content_language);
    out.push_back(' ');
    append_raw_nstring(out, raw_, p.content_location);
  }

  const MessageTree& tree_;
  std::string_view raw_;
};

PartFacts part_facts(std::string_view raw, const Part& p) {
  PartFacts f;
  f.parent = p.parent == kNoPart ? PartFacts::kNoParent : p.parent;
  f.kind = p.kind;
  f.encoding = p.encoding;
  f.header_begin = p.header.begin;
  f.body_begin = p.body.begin;
  f.body_end = p.body.end;
  f.body_lines = count_lf(p.body.in(raw));
  f.children.assign(p.children.begin(), p.children.end());
  switch (p.encoding) {
    case TransferEncoding::kBase64:
    case TransferEncoding::kQuotedPrintable:
    case TransferEncoding::kUuencode:
      f.binary_size = p.kind == PartKind::kLeaf ? decode_transfer(p.body.in(raw), p.encoding).size()
                                                : p.body.size();
      break;
    case TransferEncoding::kUnknown:
      // RFC 3516 §4.3: BINARY of an encoding the server does not know is refused.
      f.binary_decodable = p.kind != PartKind::kLeaf;
      f.binary_size = p.body.size();
      break;
    default:
      f.binary_size = p.body.size();
      break;
  }
  return f;
}

}  // namespace

Facts compute_facts(std::string_view raw, const ParseLimits& limits) {
  return compute_facts(parse_message(raw, limits));
}

Facts compute_facts(const MessageTree& tree) {
  const std::string_view raw = tree.raw();
  Facts facts;
  facts.size = raw.size();
  facts.lines = count_lf(raw);
  const Renderer renderer(tree);
  renderer.envelope(facts.envelope, 0);
  renderer.body(facts.body, 0, false);
  renderer.body(facts.bodystructure, 0, true);
  facts.preview = make_preview(tree);
  facts.search_headers = make_search_headers(tree);
  facts.search_text = fold_case(extract_search_text(tree));
  facts.has_search = true;
  // From the rendered ENVELOPE, as SORT derives them for a message stored without
  // order keys, so that both give the same order. Reading back an ENVELOPE this
  // file rendered does not fail (the mime_facts fuzz target checks it).
  if (auto envelope = read_envelope(facts.envelope)) {
    facts.order =
        encode_order_keys(order_keys(*envelope, raw_field(raw, tree.part(0), "References")));
    facts.has_order = true;
  }
  facts.parts.reserve(tree.parts().size());
  for (const Part& p : tree.parts()) {
    facts.parts.push_back(part_facts(raw, p));
  }
  return facts;
}

}  // namespace tern::mime::facts
