// SPDX-License-Identifier: Apache-2.0
// run(): a compiled script evaluated against one message for one recipient
// (RFC 5228 §2.10 action semantics and the extensions' run-time rules).
#include <algorithm>
#include <array>
#include <cmath>
#include <map>

#include "address/address_list.hpp"
#include "base/ascii.hpp"
#include "mime/charset.hpp"
#include "mime/header.hpp"
#include "mime/message.hpp"
#include "mime/transfer.hpp"
#include "sieve/program.hpp"
#include "sieve/text.hpp"

namespace tern::sieve {

namespace {

using detail::AddressPart;
using detail::BodyTransform;
using detail::Comparator;
using detail::Match;
using detail::MatchType;
using detail::Node;
using detail::Op;
using detail::Text;
using detail::TextList;

// A variable's value is cut at this length (RFC 5229 §6 asks for a limit;
// Dovecot's default is 4 KiB).
constexpr std::size_t kMaxVariableBytes = 64 * 1024;

constexpr std::string_view kFlagsVariable = "\x01flags";  // imap4flags' internal variable

// RFC 3501 system flags that a script may set (\Recent is the server's).
std::optional<std::string> canonical_flag(std::string_view flag) {
  static constexpr std::array<std::string_view, 5> kSystem = {"\\Seen", "\\Answered", "\\Flagged",
                                                              "\\Deleted", "\\Draft"};
  if (!flag.empty() && flag[0] == '\\') {
    for (auto system : kSystem) {
      if (ascii::iequals(system, flag)) {
        return std::string(system);
      }
    }
    return std::nullopt;
  }
  // A keyword is an IMAP atom (RFC 3501 §9 flag-keyword).
  for (char c : flag) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '(' || c == ')' || c == '{' || c == '%' || c == '*' ||
        c == '"' || c == '\\' || c == ']') {
      return std::nullopt;
    }
  }
  if (flag.empty()) {
    return std::nullopt;
  }
  return std::string(flag);
}

// The flags of a space-separated list, valid ones only, each once (ASCII
// case-insensitively, the first spelling kept), in order.
std::vector<std::string> split_flags(const std::vector<std::string>& lists) {
  std::vector<std::string> flags;
  for (const auto& list : lists) {
    std::size_t pos = 0;
    while (pos < list.size()) {
      std::size_t end = list.find(' ', pos);
      if (end == std::string::npos) {
        end = list.size();
      }
      auto flag = canonical_flag(std::string_view(list).substr(pos, end - pos));
      if (flag && std::none_of(flags.begin(), flags.end(),
                               [&](const std::string& f) { return ascii::iequals(f, *flag); })) {
        flags.push_back(std::move(*flag));
      }
      pos = end + 1;
    }
  }
  return flags;
}

std::string join_flags(const std::vector<std::string>& flags) {
  std::string out;
  for (const auto& flag : flags) {
    if (!out.empty()) {
      out += ' ';
    }
    out += flag;
  }
  return out;
}

// 64-bit FNV-1a, for vacation's default :handle: stable across processes.
std::string digest(std::string_view text) {
  std::uint64_t h = 14695981039346656037ULL;
  for (char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = kHex[h & 15];
    h >>= 4;
  }
  return out;
}

std::string trim(std::string_view s) {
  std::size_t b = 0;
  std::size_t e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t' || s[b] == '\r' || s[b] == '\n')) {
    ++b;
  }
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r' || s[e - 1] == '\n')) {
    --e;
  }
  return std::string(s.substr(b, e - b));
}

// Crude text of an HTML part for body :text (RFC 5173 §5.1 allows it): tags
// dropped, the common entities decoded.
std::string html_text(std::string_view html) {
  std::string out;
  bool in_tag = false;
  for (std::size_t i = 0; i < html.size(); ++i) {
    char c = html[i];
    if (in_tag) {
      in_tag = c != '>';
      continue;
    }
    if (c == '<') {
      in_tag = true;
      continue;
    }
    if (c == '&') {
      static constexpr std::array<std::pair<std::string_view, char>, 5> kEntities = {
          {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&nbsp;", ' '}}};
      bool done = false;
      for (const auto& [entity, ch] : kEntities) {
        if (html.substr(i, entity.size()) == entity) {
          out += ch;
          i += entity.size() - 1;
          done = true;
          break;
        }
      }
      if (done) {
        continue;
      }
    }
    out += c;
  }
  return out;
}

}  // namespace

class Runner {
 public:
  // A default-constructed Script has no program: it keeps, as an empty script does.
  static Outcome run(const Script& script, std::string_view message, const Envelope& envelope,
                     const Environment& environment) {
    if (!script.program_) {
      static const detail::Program kEmpty;
      return Runner(kEmpty, message, envelope, environment).run();
    }
    return Runner(*script.program_, message, envelope, environment).run();
  }

 private:
  Runner(const detail::Program& program, std::string_view message, const Envelope& envelope,
         const Environment& environment)
      : program_(program), message_(message), envelope_(envelope), environment_(environment) {}

  Outcome run() {
    Outcome outcome;
    block(program_.commands);
    if (error_) {
      // RFC 5228 §2.10.6: a run-time error keeps the message, and nothing else.
      outcome.error = std::move(error_);
      outcome.implicit_keep = true;
      outcome.actions.push_back(Action{ActionKind::kKeep, "INBOX", {}, false, {}, {}});
      return outcome;
    }
    finish(outcome);
    return outcome;
  }

  // --- control

  // Returns false after `stop` or a run-time error (then error_ is set).
  bool block(const std::vector<Node>& nodes) {
    for (const auto& node : nodes) {
      if (!command(node) || error_) {
        return false;
      }
    }
    return true;
  }

  // Counts one command or test; false (and a run-time error) past the limit.
  bool step(const Node& node) {
    if (++steps_ > environment_.max_steps) {
      fail(node, "the script took too many steps");
    }
    return !error_;
  }

  // A run-time error (RFC 5228 §2.10.6): the first one ends the run.
  void fail(const Node& node, std::string message) {
    if (!error_) {
      error_ = "line " + std::to_string(node.line) + ": " + std::move(message);
    }
  }

  bool command(const Node& node) {
    if (!step(node)) {
      return false;
    }
    switch (node.op) {
      case Op::kIf:
        for (std::size_t i = 0; i < node.blocks.size(); ++i) {
          bool taken = i >= node.tests.size() || test(node.tests[i]);
          if (error_) {
            return false;
          }
          if (taken) {
            return block(node.blocks[i]);
          }
        }
        return true;
      case Op::kStop:
        return false;
      case Op::kKeep:
        store(node, "INBOX", node.flags ? expand_list(*node.flags) : current_flags());
        implicit_keep_ = false;
        return true;
      case Op::kDiscard:
        implicit_keep_ = false;
        return true;
      case Op::kFileInto: {
        std::string mailbox = expand(node.first[0]);
        if (mailbox.empty()) {
          fail(node, "fileinto: the mailbox name is empty");
          return false;
        }
        if (ascii::iequals(mailbox, "INBOX")) {
          mailbox = "INBOX";
        }
        store(node, std::move(mailbox), node.flags ? expand_list(*node.flags) : current_flags());
        if (!node.copy) {
          implicit_keep_ = false;
        }
        return true;
      }
      case Op::kRedirect: {
        std::string address = expand(node.first[0]);
        if (!detail::redirect_address(address)) {
          fail(node, "redirect: invalid address \"" + address + "\"");
          return false;
        }
        if (!count_action(node)) {
          return false;
        }
        bool seen = std::any_of(actions_.begin(), actions_.end(), [&](const Action& a) {
          return a.kind == ActionKind::kRedirect && ascii::iequals(a.address, address);
        });
        if (!seen) {
          if (++redirects_ > environment_.max_redirects) {
            fail(node,
                 "too many redirects (over " + std::to_string(environment_.max_redirects) + ")");
            return false;
          }
          Action action;
          action.kind = ActionKind::kRedirect;
          action.address = std::move(address);
          actions_.push_back(std::move(action));
        }
        if (!node.copy) {
          implicit_keep_ = false;
        }
        return true;
      }
      case Op::kSetFlag:
      case Op::kAddFlag:
      case Op::kRemoveFlag: {
        std::string name =
            node.variable ? ascii::lower(expand(*node.variable)) : std::string(kFlagsVariable);
        std::vector<std::string> given = split_flags(expand_list(node.first));
        std::vector<std::string> flags;
        if (node.op != Op::kSetFlag) {
          flags = split_flags({variables_[name]});
        }
        for (const auto& flag : given) {
          auto at = std::find_if(flags.begin(), flags.end(),
                                 [&](const std::string& f) { return ascii::iequals(f, flag); });
          if (node.op == Op::kRemoveFlag) {
            if (at != flags.end()) {
              flags.erase(at);
            }
          } else if (at == flags.end()) {
            flags.push_back(flag);
          }
        }
        variables_[name] = join_flags(flags);
        return true;
      }
      case Op::kSet:
        variables_[ascii::lower(node.variable->text)] =
            modify(expand(node.first[0]), node.modifiers);
        return true;
      case Op::kVacation:
        vacation(node);
        return true;
      default:
        fail(node, "internal error: a test used as a command");
        return false;
    }
  }

  bool count_action(const Node& node) {
    if (++action_count_ > environment_.max_actions) {
      fail(node, "too many actions (over " + std::to_string(environment_.max_actions) + ")");
    }
    return !error_;
  }

  void store(const Node& node, std::string mailbox, const std::vector<std::string>& flag_lists) {
    if (!count_action(node)) {
      return;
    }
    for (const auto& action : actions_) {
      if ((action.kind == ActionKind::kKeep || action.kind == ActionKind::kFileInto) &&
          action.mailbox == mailbox) {
        return;  // RFC 5228 §2.10.3: stored once
      }
    }
    Action action;
    action.kind =
        mailbox == "INBOX" && node.op == Op::kKeep ? ActionKind::kKeep : ActionKind::kFileInto;
    action.mailbox = std::move(mailbox);
    action.flags = split_flags(flag_lists);
    action.create = node.create;
    actions_.push_back(std::move(action));
  }

  std::vector<std::string> current_flags() {
    if (!has("imap4flags")) {
      return {};
    }
    return {variables_[std::string(kFlagsVariable)]};
  }

  bool has(std::string_view extension) const {
    return std::find(program_.required.begin(), program_.required.end(), extension) !=
           program_.required.end();
  }

  // RFC 5229 §4.1, in order of precedence.
  static std::string modify(std::string value, unsigned modifiers) {
    if ((modifiers & detail::kLower) != 0) {
      value = ascii::lower(value);
    }
    if ((modifiers & detail::kUpper) != 0) {
      value = ascii::upper(value);
    }
    if ((modifiers & detail::kLowerFirst) != 0 && !value.empty()) {
      value[0] = ascii::to_lower(value[0]);
    }
    if ((modifiers & detail::kUpperFirst) != 0 && !value.empty()) {
      value[0] = ascii::to_upper(value[0]);
    }
    if ((modifiers & detail::kQuoteWildcard) != 0) {
      value = detail::quote_wildcards(value);
    }
    if ((modifiers & detail::kLength) != 0) {
      value = std::to_string(detail::utf8_length(value));
    }
    if (value.size() > kMaxVariableBytes) {
      value.resize(kMaxVariableBytes);
    }
    return value;
  }

  // --- strings

  // RFC 5229 §3: "${name}" and "${N}" replaced by their values; anything else,
  // including a name that is no identifier, stays as written.
  std::string expand(const Text& text) {
    if (!text.expand) {
      return text.text;
    }
    std::string out;
    const std::string& s = text.text;
    std::size_t i = 0;
    while (i < s.size()) {
      if (s[i] == '$' && i + 1 < s.size() && s[i + 1] == '{') {
        std::size_t close = s.find('}', i + 2);
        if (close != std::string::npos) {
          std::string_view name = std::string_view(s).substr(i + 2, close - i - 2);
          if (auto value = variable(name)) {
            out += *value;
            i = close + 1;
            continue;
          }
        }
      }
      out += s[i++];
    }
    if (out.size() > kMaxVariableBytes) {
      out.resize(kMaxVariableBytes);
    }
    return out;
  }

  std::optional<std::string> variable(std::string_view name) {
    if (name.empty()) {
      return std::nullopt;
    }
    if (std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      auto index = ascii::to_number<std::size_t>(name);
      if (index && *index < match_variables_.size()) {
        return match_variables_[*index];
      }
      return std::string();
    }
    bool identifier =
        !(name[0] >= '0' && name[0] <= '9') && std::all_of(name.begin(), name.end(), [](char c) {
          return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_';
        });
    if (!identifier) {
      return std::nullopt;
    }
    auto found = variables_.find(ascii::lower(name));
    return found == variables_.end() ? std::string() : found->second;
  }

  std::vector<std::string> expand_list(const TextList& list) {
    std::vector<std::string> out;
    out.reserve(list.size());
    for (const auto& text : list) {
      out.push_back(expand(text));
    }
    return out;
  }

  // --- the message

  const mime::MessageTree& tree() {
    if (!tree_) {
      tree_ = mime::parse_message(message_);
    }
    return *tree_;
  }

  // The values of the fields named `name` of the message's header, in order.
  std::vector<std::string_view> fields(std::string_view name) {
    std::vector<std::string_view> out;
    for (const auto& field : tree().root().fields) {
      if (ascii::iequals(field.name.in(message_), name)) {
        out.push_back(field.value.in(message_));
      }
    }
    return out;
  }

  // The fields of every name in `names`, counted in the order of the list
  // (RFC 5260 §6), or with :index the one field it picks.
  std::vector<std::string_view> fields(const TextList& names, const Match& match) {
    std::vector<std::string_view> out;
    for (const auto& name : names) {
      auto some = fields(expand(name));
      out.insert(out.end(), some.begin(), some.end());
    }
    if (match.index != 0) {
      if (match.index > out.size()) {
        return {};
      }
      std::size_t at = match.last ? out.size() - match.index : match.index - 1;
      return {out[at]};
    }
    return out;
  }

  static std::string decoded(std::string_view raw) {
    return trim(mime::decode_words(mime::unfold(raw)));
  }

  // The values of the address part `part` of each address in `value`. A field
  // that is no address list matches no :localpart or :domain (RFC 5228 §2.7.4);
  // its :all is the field's text, as Pigeonhole compares it.
  void address_values(std::string_view raw, AddressPart part, std::vector<std::string>& out) {
    std::string unfolded = mime::unfold(raw);
    auto list = address::parse_address_list(unfolded);
    if (list.has_errors()) {
      if (part == AddressPart::kAll) {
        out.push_back(trim(unfolded));
      }
      return;
    }
    for (const auto* mailbox : list.mailboxes()) {
      if (mailbox->local_part.empty() && mailbox->domain.empty()) {
        continue;
      }
      if (auto value = address_part(mailbox->local_part, mailbox->domain, part)) {
        out.push_back(std::move(*value));
      }
    }
  }

  std::optional<std::string> address_part(const std::string& local, const std::string& domain,
                                          AddressPart part) {
    switch (part) {
      case AddressPart::kAll:
        return domain.empty() ? local : local + "@" + domain;
      case AddressPart::kLocalPart:
        return local;
      case AddressPart::kDomain:
        return domain;
      case AddressPart::kUser:
      case AddressPart::kDetail: {
        // RFC 5233 §4: split at the first separator.
        std::size_t at = local.find_first_of(environment_.subaddress_separators);
        if (part == AddressPart::kUser) {
          return at == std::string::npos ? local : local.substr(0, at);
        }
        if (at == std::string::npos) {
          return std::nullopt;  // no detail: this address matches nothing
        }
        return local.substr(at + 1);
      }
    }
    return std::nullopt;
  }

  // The texts body tests compare (RFC 5173 §5).
  std::vector<std::string> body_values(const Node& node) {
    const auto& t = tree();
    if (node.transform == BodyTransform::kRaw) {
      return {std::string(t.root().body.in(message_))};
    }
    std::vector<std::string> types;
    if (node.transform == BodyTransform::kContent) {
      types = expand_list(node.content_types);
    }
    std::vector<std::string> out;
    for (const auto& part : t.parts()) {
      const auto& type = part.content_type;
      bool wanted = false;
      if (node.transform == BodyTransform::kText) {
        wanted = part.kind == mime::PartKind::kLeaf && ascii::iequals(type.type, "text");
      } else {
        for (const auto& want : types) {
          std::size_t slash = want.find('/');
          wanted = wanted || want.empty() ||
                   (slash == std::string::npos
                        ? ascii::iequals(type.type, want)
                        : ascii::iequals(type.type, want.substr(0, slash)) &&
                              ascii::iequals(type.subtype, want.substr(slash + 1)));
        }
      }
      if (!wanted) {
        continue;
      }
      if (part.kind == mime::PartKind::kMultipart) {
        // RFC 5173 §5.2: a multipart is searched in its prologue and epilogue.
        out.push_back(std::string(part.preamble.in(message_)) +
                      std::string(part.epilogue.in(message_)));
        continue;
      }
      if (part.kind == mime::PartKind::kMessage) {
        continue;  // its embedded parts are listed after it
      }
      std::string bytes = mime::decode_transfer(part.body.in(message_), part.encoding);
      const std::string* charset = type.param("charset");
      std::string text = mime::to_utf8(bytes, charset ? *charset : "us-ascii");
      if (node.transform == BodyTransform::kText && ascii::iequals(type.subtype, "html")) {
        text = html_text(text);
      }
      out.push_back(std::move(text));
    }
    return out;
  }

  // --- tests

  // The test's value; on a run-time error, false with error_ set.
  bool test(const Node& node) {
    if (!step(node)) {
      return false;
    }
    switch (node.op) {
      case Op::kTrue:
        return true;
      case Op::kFalse:
        return false;
      case Op::kNot:
        return !test(node.tests[0]) && !error_;
      case Op::kAllOf:
        return std::all_of(node.tests.begin(), node.tests.end(),
                           [&](const Node& t) { return test(t) && !error_; });
      case Op::kAnyOf:
        return std::any_of(node.tests.begin(), node.tests.end(),
                           [&](const Node& t) { return test(t) || error_; }) &&
               !error_;
      case Op::kSize:
        return node.over ? message_.size() > node.number : message_.size() < node.number;
      case Op::kExists:
        for (const auto& name : node.first) {
          if (fields(expand(name)).empty()) {
            return false;
          }
        }
        return true;
      case Op::kHeader: {
        std::vector<std::string> values;
        for (auto raw : fields(node.first, node.match)) {
          values.push_back(decoded(raw));
        }
        return compare(node, values);
      }
      case Op::kAddress: {
        std::vector<std::string> values;
        for (auto raw : fields(node.first, node.match)) {
          address_values(raw, node.match.part, values);
        }
        return compare(node, values);
      }
      case Op::kEnvelope: {
        std::vector<std::string> values;
        for (const auto& name : node.first) {
          std::string part = ascii::lower(expand(name));
          const std::string* address = part == "from" ? &envelope_.from
                                       : part == "to" ? &envelope_.to
                                                      : nullptr;
          if (address == nullptr) {
            continue;
          }
          if (address->empty()) {
            // RFC 5228 §5.4: the null reverse-path is "" whatever the part.
            if (node.match.type != MatchType::kCount) {
              values.emplace_back();
            }
            continue;
          }
          std::size_t at = address->rfind('@');
          std::string local = at == std::string::npos ? *address : address->substr(0, at);
          std::string domain = at == std::string::npos ? std::string() : address->substr(at + 1);
          if (auto value = address_part(local, domain, node.match.part)) {
            values.push_back(std::move(*value));
          }
        }
        return compare(node, values);
      }
      case Op::kString: {
        std::vector<std::string> values = expand_list(node.first);
        if (node.match.type == MatchType::kCount) {
          // RFC 5229 §5: :count counts the non-empty strings.
          std::erase_if(values, [](const std::string& v) { return v.empty(); });
        }
        return compare(node, values);
      }
      case Op::kHasFlag: {
        std::vector<std::string> lists;
        if (node.variables.empty()) {
          lists.push_back(variables_[std::string(kFlagsVariable)]);
        } else {
          for (const auto& name : node.variables) {
            lists.push_back(variables_[ascii::lower(name.text)]);
          }
        }
        return compare(node, split_flags(lists));
      }
      case Op::kBody:
        return compare(node, body_values(node));
      case Op::kMailboxExists:
        for (const auto& name : node.first) {
          std::string mailbox = expand(name);
          if (!environment_.mailbox_exists || !environment_.mailbox_exists(mailbox)) {
            return false;
          }
        }
        return true;
      case Op::kDate:
      case Op::kCurrentDate:
        return date(node);
      case Op::kSpamTest: {
        // RFC 5235 §3.1: one normalized result, whose :count is "1" when the
        // message was tested and "0" when not.
        std::vector<std::string> values;
        bool tested = environment_.spam_score && !std::isnan(*environment_.spam_score);
        if (tested || node.match.type != MatchType::kCount) {
          values.push_back(detail::spamtest_result(environment_.spam_score, node.percent));
        }
        return compare(node, values);
      }
      default:
        fail(node, "internal error: a command used as a test");
        return false;
    }
  }

  // RFC 5260 §4 and §5.
  bool date(const Node& node) {
    std::string part = expand(*node.date_part);
    std::optional<int> zone;
    if (node.zone) {
      zone = detail::parse_zone(expand(*node.zone));
      if (!zone) {
        return false;  // an expanded zone that is no zone
      }
    }
    std::vector<std::string> values;
    if (node.op == Op::kCurrentDate) {
      if (auto value =
              detail::date_part(part, environment_.now, zone.value_or(environment_.zone_minutes))) {
        values.push_back(std::move(*value));
      }
    } else {
      for (auto raw : fields(node.first, node.match)) {
        std::string text = mime::unfold(raw);
        // RFC 5260 §4: for a field such as Received, the date after the last ";".
        if (auto semicolon = text.rfind(';'); semicolon != std::string::npos) {
          text = text.substr(semicolon + 1);
        }
        auto parsed = mime::parse_date_time(text);
        if (!parsed || !parsed->has_time) {
          continue;
        }
        int shown =
            node.original_zone ? parsed->zone_minutes : zone.value_or(environment_.zone_minutes);
        if (auto value = detail::date_part(part, parsed->unix_seconds(), shown)) {
          values.push_back(std::move(*value));
        }
      }
    }
    return compare(node, values);
  }

  // True when some value matches some key (RFC 5228 §2.7.1); :count compares
  // the number of values (RFC 5231 §4.2). A :matches that succeeds sets the
  // match variables (RFC 5229 §3.2).
  bool compare(const Node& node, const std::vector<std::string>& values) {
    std::vector<std::string> keys = expand_list(node.second);
    const Match& match = node.match;
    if (match.type == MatchType::kCount) {
      std::string count = std::to_string(values.size());
      return std::any_of(keys.begin(), keys.end(), [&](const std::string& key) {
        return detail::relation_holds(match.comparator, match.relation, count, key);
      });
    }
    std::vector<std::string> captures;
    bool capture = program_.variables && match.type == MatchType::kMatches;
    bool quadratic = match.type == MatchType::kContains || match.type == MatchType::kMatches;
    for (const auto& value : values) {
      for (const auto& key : keys) {
        work_ += value.size() * (quadratic ? std::max<std::size_t>(key.size(), 1) : 1) + 1;
        if (work_ > environment_.max_work) {
          fail(node, "the script's comparisons took too much work");
          return false;
        }
        if (detail::matches(match, value, key, capture ? &captures : nullptr)) {
          if (capture) {
            match_variables_ = std::move(captures);
          }
          return true;
        }
      }
    }
    return false;
  }

  // --- vacation (RFC 5230)

  bool personal(const std::vector<std::string>& mine) {
    static constexpr std::array<std::string_view, 6> kFields = {
        "to", "cc", "bcc", "resent-to", "resent-cc", "resent-bcc"};
    for (auto name : kFields) {
      for (auto raw : fields(name)) {
        std::vector<std::string> addresses;
        address_values(raw, AddressPart::kAll, addresses);
        for (const auto& address : addresses) {
          if (std::any_of(mine.begin(), mine.end(),
                          [&](const std::string& m) { return ascii::iequals(m, address); })) {
            return true;
          }
        }
      }
    }
    return false;
  }

  // RFC 5230 §4.5–4.6: whether a reply is appropriate at all.
  bool should_reply(const std::vector<std::string>& mine) {
    const std::string& sender = envelope_.from;
    if (sender.empty()) {
      return false;
    }
    std::string local = ascii::lower(sender.substr(0, sender.rfind('@')));
    if (local == "mailer-daemon" || local == "listserv" || local == "majordomo" ||
        local.starts_with("owner-") || local.ends_with("-request") || local == "postmaster") {
      return false;
    }
    if (std::any_of(mine.begin(), mine.end(),
                    [&](const std::string& m) { return ascii::iequals(m, sender); })) {
      return false;  // never answer oneself
    }
    for (auto raw : fields("auto-submitted")) {
      if (!ascii::iequals(trim(mime::unfold(raw)).substr(0, 2), "no")) {
        return false;
      }
    }
    static constexpr std::array<std::string_view, 7> kListFields = {
        "list-id",   "list-help",  "list-subscribe", "list-unsubscribe",
        "list-post", "list-owner", "list-archive"};
    for (auto name : kListFields) {
      if (!fields(name).empty()) {
        return false;
      }
    }
    for (auto raw : fields("precedence")) {
      std::string value = ascii::lower(trim(mime::unfold(raw)));
      if (value == "bulk" || value == "junk" || value == "list") {
        return false;
      }
    }
    return personal(mine);
  }

  void vacation(const Node& node) {
    if (vacation_seen_) {
      fail(node, "vacation may be executed only once");
      return;
    }
    vacation_seen_ = true;
    Vacation v;
    v.reason = expand(node.first[0]);
    v.subject = node.subject ? expand(*node.subject) : std::string();
    v.from = node.from ? expand(*node.from) : std::string();
    if (!v.from.empty() && !detail::mailbox_list(v.from)) {
      fail(node, "vacation: :from \"" + v.from + "\" is no address");
      return;
    }
    v.addresses = expand_list(node.addresses);
    v.seconds = static_cast<std::uint32_t>(node.number);
    v.mime = node.mime;
    v.handle =
        node.handle
            ? expand(*node.handle)
            : digest(v.reason + '\0' + v.subject + '\0' + v.from + '\0' + (v.mime ? "mime" : ""));
    std::vector<std::string> mine = v.addresses;
    mine.push_back(envelope_.to);
    std::string user = envelope_.to;
    if (auto at = user.rfind('@'); at != std::string::npos) {
      std::string local = user.substr(0, at);
      std::size_t sep = local.find_first_of(environment_.subaddress_separators);
      if (sep != std::string::npos) {
        mine.push_back(local.substr(0, sep) + user.substr(at));
      }
    }
    if (!should_reply(mine)) {
      return;
    }
    if (v.subject.empty()) {
      auto subject = fields("subject");
      v.subject = subject.empty() ? "Automated reply" : "Auto: " + decoded(subject[0]);
    }
    if (!count_action(node)) {
      return;
    }
    Action action;
    action.kind = ActionKind::kVacation;
    action.vacation = std::move(v);
    actions_.push_back(std::move(action));
  }

  // --- the outcome

  void finish(Outcome& outcome) {
    outcome.actions = std::move(actions_);
    if (implicit_keep_) {
      bool stored =
          std::any_of(outcome.actions.begin(), outcome.actions.end(), [](const Action& a) {
            return (a.kind == ActionKind::kKeep || a.kind == ActionKind::kFileInto) &&
                   a.mailbox == "INBOX";
          });
      outcome.implicit_keep = true;
      if (!stored) {
        Action keep;
        keep.kind = ActionKind::kKeep;
        keep.mailbox = "INBOX";
        keep.flags = split_flags(current_flags());
        outcome.actions.push_back(std::move(keep));
      }
      return;
    }
    bool delivered = std::any_of(outcome.actions.begin(), outcome.actions.end(),
                                 [](const Action& a) { return a.kind != ActionKind::kVacation; });
    if (!delivered) {
      outcome.actions.push_back(Action{ActionKind::kDiscard, {}, {}, false, {}, {}});
    }
  }

  const detail::Program& program_;
  std::string_view message_;
  const Envelope& envelope_;
  const Environment& environment_;
  std::optional<mime::MessageTree> tree_;
  std::map<std::string, std::string> variables_;
  std::vector<std::string> match_variables_;
  std::vector<Action> actions_;
  bool implicit_keep_ = true;
  bool vacation_seen_ = false;
  std::size_t steps_ = 0;
  std::uint64_t work_ = 0;  // Environment::max_work
  std::size_t action_count_ = 0;
  std::size_t redirects_ = 0;
  std::optional<std::string> error_;
};

Outcome run(const Script& script, std::string_view message, const Envelope& envelope,
            const Environment& environment) {
  return Runner::run(script, message, envelope, environment);
}

}  // namespace tern::sieve
