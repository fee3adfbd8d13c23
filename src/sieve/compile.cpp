// SPDX-License-Identifier: Apache-2.0
// compile(): the parsed tree checked against what each command and test takes
// (RFC 5228 §§3–5 and the extensions), into detail::Program.
#include <algorithm>
#include <array>
#include <set>

#include "base/ascii.hpp"
#include "sieve/program.hpp"
#include "sieve/syntax.hpp"
#include "sieve/text.hpp"

namespace tern::sieve {

namespace {

using detail::AddressPart;
using detail::Argument;
using detail::BodyTransform;
using detail::Comparator;
using detail::Match;
using detail::MatchType;
using detail::Node;
using detail::Op;
using detail::Relation;
using detail::Syntax;
using detail::syntax_error;
using detail::Text;
using detail::TextList;

// What `require` accepts. The two comparators every implementation has (RFC
// 5228 §2.7.3) may be required too.
constexpr std::array<std::string_view, 19> kExtensions = {
    "fileinto",
    "envelope",
    "encoded-character",
    "imap4flags",
    "copy",
    "body",
    "variables",
    "relational",
    "subaddress",
    "vacation",
    "vacation-seconds",
    "mailbox",
    "date",
    "index",
    "spamtest",
    "spamtestplus",
    "comparator-i;ascii-numeric",
    "comparator-i;octet",
    "comparator-i;ascii-casemap",
};

// What a command's or test's arguments were, once the tags are taken out.
struct Tags {
  std::optional<Comparator> comparator;
  std::optional<MatchType> match_type;
  std::optional<Relation> relation;
  std::optional<AddressPart> address_part;
};

class Compiler {
 public:
  Result<detail::Program> program(const std::vector<Syntax>& commands) {
    bool requires_allowed = true;
    for (const auto& command : commands) {
      if (command.name == "require") {
        if (!requires_allowed) {
          return syntax_error(command.line, "require must come before any other command");
        }
        TERN_TRY_VOID(require(command));
        continue;
      }
      requires_allowed = false;
    }
    TERN_TRY(auto compiled, block(commands, true));
    program_.commands = std::move(compiled);
    return std::move(program_);
  }

 private:
  bool has(std::string_view extension) const {
    return std::find(program_.required.begin(), program_.required.end(), extension) !=
           program_.required.end();
  }

  Result<void> need(const Syntax& node, std::string_view extension, std::string_view what) {
    if (!has(extension)) {
      return syntax_error(node.line,
                          std::string(what) + " needs require \"" + std::string(extension) + "\"");
    }
    return {};
  }

  Result<void> require(const Syntax& command) {
    if (command.args.size() != 1 || command.args[0].kind != Argument::Kind::kStrings ||
        !command.tests.empty() || command.has_block) {
      return syntax_error(command.line, "require takes one string list");
    }
    for (const auto& name : command.args[0].strings) {
      if (std::find(kExtensions.begin(), kExtensions.end(), name) == kExtensions.end()) {
        return syntax_error(command.line, "unsupported extension \"" + name + "\"");
      }
      if (!has(name)) {
        program_.required.push_back(name);
      }
    }
    program_.variables = has("variables");
    return {};
  }

  // A string as the script wrote it, with RFC 5228 §2.4.2.4 encoded characters
  // decoded when required, marked for variable expansion when "variables" is.
  Result<Text> text(const std::string& raw, std::size_t line) {
    Text out;
    if (has("encoded-character")) {
      auto decoded = detail::decode_encoded_characters(raw);
      if (!decoded) {
        return syntax_error(line, decoded.error().message);
      }
      out.text = std::move(*decoded);
    } else {
      out.text = raw;
    }
    out.expand = program_.variables && out.text.find("${") != std::string::npos;
    return out;
  }

  Result<TextList> texts(const Argument& arg) {
    TextList out;
    for (const auto& raw : arg.strings) {
      TERN_TRY(auto one, text(raw, arg.line));
      out.push_back(std::move(one));
    }
    return out;
  }

  Result<std::vector<Node>> block(const std::vector<Syntax>& commands, bool top = false) {
    std::vector<Node> out;
    for (std::size_t i = 0; i < commands.size(); ++i) {
      const Syntax& command = commands[i];
      if (command.name == "require") {
        if (!top) {
          return syntax_error(command.line, "require must come before any other command");
        }
        continue;  // checked by program()
      }
      if (command.name == "elsif" || command.name == "else") {
        return syntax_error(command.line, command.name + " without a preceding if");
      }
      if (command.name == "if") {
        Node node;
        node.op = Op::kIf;
        node.line = command.line;
        TERN_TRY_VOID(branch(command, node, true));
        while (i + 1 < commands.size() &&
               (commands[i + 1].name == "elsif" || commands[i + 1].name == "else")) {
          ++i;
          bool is_else = commands[i].name == "else";
          TERN_TRY_VOID(branch(commands[i], node, !is_else));
          if (is_else) {
            break;
          }
        }
        out.push_back(std::move(node));
        continue;
      }
      TERN_TRY(auto node, this->command(command));
      out.push_back(std::move(node));
    }
    return out;
  }

  // One `if`, `elsif` (with a test) or `else` (without) and its block.
  Result<void> branch(const Syntax& command, Node& node, bool with_test) {
    if (!command.args.empty()) {
      return syntax_error(command.line, command.name + " takes no arguments");
    }
    if (!command.has_block) {
      return syntax_error(command.line, command.name + " needs a block");
    }
    if (with_test) {
      if (command.tests.size() != 1 || command.test_list) {
        return syntax_error(command.line, command.name + " takes exactly one test");
      }
      TERN_TRY(auto test, this->test(command.tests[0]));
      node.tests.push_back(std::move(test));
    } else if (!command.tests.empty()) {
      return syntax_error(command.line, "else takes no test");
    }
    TERN_TRY(auto body, block(command.block));
    node.blocks.push_back(std::move(body));
    return {};
  }

  // Takes the tagged arguments of `node` (they come first, RFC 5228 §2.6.2)
  // through `take`, which returns false for a tag the command does not know, and
  // leaves the positional ones in `positional`.
  template <class Take>
  Result<void> split(const Syntax& node, std::vector<const Argument*>& positional, Take take) {
    std::set<std::string> seen;
    for (std::size_t i = 0; i < node.args.size(); ++i) {
      const Argument& arg = node.args[i];
      if (arg.kind != Argument::Kind::kTag) {
        positional.push_back(&arg);
        continue;
      }
      if (!positional.empty()) {
        return syntax_error(
            arg.line, ":" + arg.tag + " must come before the positional arguments of " + node.name);
      }
      if (!seen.insert(arg.tag).second) {
        return syntax_error(arg.line, ":" + arg.tag + " given twice");
      }
      const Argument* value = i + 1 < node.args.size() ? &node.args[i + 1] : nullptr;
      TERN_TRY(auto used, take(arg, value));
      if (used < 0) {
        return syntax_error(arg.line, "unknown tag :" + arg.tag + " for " + node.name);
      }
      i += static_cast<std::size_t>(used);
    }
    return {};
  }

  // The value after a tag that takes one: a string (or list, with `list`) or a number.
  static Result<const Argument*> tag_value(const Argument& tag, const Argument* value,
                                           Argument::Kind kind, bool list = false) {
    if (value == nullptr || value->kind != kind ||
        (kind == Argument::Kind::kStrings && !list && value->strings.size() != 1)) {
      std::string what = kind == Argument::Kind::kNumber ? "a number"
                         : list                          ? "a string list"
                                                         : "a string";
      return syntax_error(tag.line, ":" + tag.tag + " takes " + what);
    }
    return value;
  }

  // The comparator, match type and address part tags (RFC 5228 §2.7, RFC 5231,
  // RFC 5233, RFC 5260 §6 index). Returns the number of arguments it consumed
  // after the tag, or -1 when the tag is none of these.
  Result<int> match_tag(const Argument& tag, const Argument* value, Tags& tags, Match& match,
                        bool address_parts, bool index) {
    auto set_type = [&](MatchType type) -> Result<void> {
      if (tags.match_type) {
        return syntax_error(tag.line, "only one match type may be given");
      }
      tags.match_type = type;
      return {};
    };
    if (tag.tag == "is" || tag.tag == "contains" || tag.tag == "matches") {
      TERN_TRY_VOID(set_type(tag.tag == "is"         ? MatchType::kIs
                             : tag.tag == "contains" ? MatchType::kContains
                                                     : MatchType::kMatches));
      return 0;
    }
    if (tag.tag == "value" || tag.tag == "count") {
      if (!has("relational")) {
        return syntax_error(tag.line, ":" + tag.tag + " needs require \"relational\"");
      }
      TERN_TRY_VOID(set_type(tag.tag == "value" ? MatchType::kValue : MatchType::kCount));
      TERN_TRY(auto arg, tag_value(tag, value, Argument::Kind::kStrings));
      static constexpr std::array<std::pair<std::string_view, Relation>, 6> kRelations = {{
          {"gt", Relation::kGt},
          {"ge", Relation::kGe},
          {"lt", Relation::kLt},
          {"le", Relation::kLe},
          {"eq", Relation::kEq},
          {"ne", Relation::kNe},
      }};
      std::string name = ascii::lower(arg->strings[0]);
      auto found = std::find_if(kRelations.begin(), kRelations.end(),
                                [&](const auto& r) { return r.first == name; });
      if (found == kRelations.end()) {
        return syntax_error(tag.line, "unknown relation \"" + arg->strings[0] + "\"");
      }
      match.relation = found->second;
      return 1;
    }
    if (tag.tag == "comparator") {
      TERN_TRY(auto arg, tag_value(tag, value, Argument::Kind::kStrings));
      const std::string& name = arg->strings[0];
      if (name == "i;octet") {
        tags.comparator = Comparator::kOctet;
      } else if (name == "i;ascii-casemap") {
        tags.comparator = Comparator::kAsciiCasemap;
      } else if (name == "i;ascii-numeric") {
        if (!has("comparator-i;ascii-numeric")) {
          return syntax_error(tag.line,
                              "comparator \"i;ascii-numeric\" needs require "
                              "\"comparator-i;ascii-numeric\"");
        }
        tags.comparator = Comparator::kAsciiNumeric;
      } else {
        return syntax_error(tag.line, "unknown comparator \"" + name + "\"");
      }
      return 1;
    }
    if (address_parts) {
      static constexpr std::array<std::pair<std::string_view, AddressPart>, 5> kParts = {{
          {"all", AddressPart::kAll},
          {"localpart", AddressPart::kLocalPart},
          {"domain", AddressPart::kDomain},
          {"user", AddressPart::kUser},
          {"detail", AddressPart::kDetail},
      }};
      auto found = std::find_if(kParts.begin(), kParts.end(),
                                [&](const auto& p) { return p.first == tag.tag; });
      if (found != kParts.end()) {
        if (tags.address_part) {
          return syntax_error(tag.line, "only one address part may be given");
        }
        if ((found->second == AddressPart::kUser || found->second == AddressPart::kDetail) &&
            !has("subaddress")) {
          return syntax_error(tag.line, ":" + tag.tag + " needs require \"subaddress\"");
        }
        tags.address_part = found->second;
        return 0;
      }
    }
    if (index && tag.tag == "index") {
      if (!has("index")) {
        return syntax_error(tag.line, ":index needs require \"index\"");
      }
      TERN_TRY(auto arg, tag_value(tag, value, Argument::Kind::kNumber));
      if (arg->number == 0 || arg->number > 0xffffffffu) {
        return syntax_error(tag.line, ":index must be 1 or more");
      }
      match.index = static_cast<std::uint32_t>(arg->number);
      return 1;
    }
    if (index && tag.tag == "last") {
      if (!has("index")) {
        return syntax_error(tag.line, ":last needs require \"index\"");
      }
      match.last = true;
      return 0;
    }
    return -1;
  }

  // Applies what match_tag() collected, with the RFC 5228 §2.7.3 defaults.
  static Result<void> finish_match(const Syntax& node, const Tags& tags, Match& match) {
    match.type = tags.match_type.value_or(MatchType::kIs);
    match.comparator = tags.comparator.value_or(Comparator::kAsciiCasemap);
    match.part = tags.address_part.value_or(AddressPart::kAll);
    // RFC 4790 §9.1: i;ascii-numeric has no substring operation.
    if (match.comparator == Comparator::kAsciiNumeric &&
        (match.type == MatchType::kContains || match.type == MatchType::kMatches)) {
      return syntax_error(node.line,
                          "comparator \"i;ascii-numeric\" cannot be used with :contains "
                          "or :matches");
    }
    if (match.last && match.index == 0) {
      return syntax_error(node.line, ":last needs :index");
    }
    return {};
  }

  // Checks that the positional arguments are string lists (`lists` of them;
  // `single` marks those that must be one string) and nothing else.
  static Result<void> positional_strings(const Syntax& node,
                                         const std::vector<const Argument*>& positional,
                                         std::size_t count,
                                         std::initializer_list<bool> single = {}) {
    if (positional.size() != count) {
      return syntax_error(node.line, node.name + " takes " + std::to_string(count) +
                                         (count == 1 ? " argument" : " arguments") + ", not " +
                                         std::to_string(positional.size()));
    }
    std::size_t i = 0;
    for (bool one : single) {
      if (i < positional.size() && one &&
          (positional[i]->kind != Argument::Kind::kStrings || positional[i]->strings.size() != 1 ||
           positional[i]->list)) {
        return syntax_error(positional[i]->line, node.name + ": expected a string");
      }
      ++i;
    }
    for (const auto* arg : positional) {
      if (arg->kind != Argument::Kind::kStrings) {
        return syntax_error(arg->line, node.name + ": expected a string or a string list");
      }
    }
    return {};
  }

  static Result<void> no_tests(const Syntax& node) {
    if (!node.tests.empty()) {
      return syntax_error(node.line, node.name + " takes no test");
    }
    return {};
  }

  // RFC 5322 §3.6.8 field-name: printable US-ASCII except ':'.
  static bool valid_header_name(std::string_view name) {
    if (name.empty()) {
      return false;
    }
    return std::all_of(name.begin(), name.end(), [](char c) {
      auto u = static_cast<unsigned char>(c);
      return u >= 33 && u <= 126 && c != ':';
    });
  }

  // RFC 5228 §5.1: the address test is restricted to fields that hold
  // addresses — RFC 5322's and the common trace and list ones.
  static bool address_header(std::string_view name) {
    static constexpr std::array<std::string_view, 22> kFields = {
        "from",
        "sender",
        "to",
        "cc",
        "bcc",
        "reply-to",
        "resent-from",
        "resent-sender",
        "resent-to",
        "resent-cc",
        "resent-bcc",
        "resent-reply-to",
        "return-path",
        "errors-to",
        "delivered-to",
        "x-original-to",
        "envelope-to",
        "x-envelope-to",
        "mail-followup-to",
        "mail-reply-to",
        "disposition-notification-to",
        "return-receipt-to",
    };
    return std::any_of(kFields.begin(), kFields.end(),
                       [&](std::string_view f) { return ascii::iequals(f, name); });
  }

  static Result<void> check_header_names(const TextList& names, std::size_t line) {
    for (const auto& name : names) {
      if (!name.expand && !valid_header_name(name.text)) {
        return syntax_error(line, "invalid header name \"" + name.text + "\"");
      }
    }
    return {};
  }

  // The flags tag of keep and fileinto (RFC 5232 §5).
  Result<int> flags_tag(const Argument& tag, const Argument* value, Node& node) {
    if (tag.tag != "flags") {
      return -1;
    }
    if (!has("imap4flags")) {
      return syntax_error(tag.line, ":flags needs require \"imap4flags\"");
    }
    TERN_TRY(auto arg, tag_value(tag, value, Argument::Kind::kStrings, true));
    TERN_TRY(auto list, texts(*arg));
    node.flags = std::move(list);
    return 1;
  }

  Result<Node> command(const Syntax& command) {
    Node node;
    node.line = command.line;
    std::vector<const Argument*> positional;
    const std::string& name = command.name;
    if (command.has_block) {
      return syntax_error(command.line, name + " takes no block");
    }
    TERN_TRY_VOID(no_tests(command));
    if (name == "stop" || name == "discard") {
      node.op = name == "stop" ? Op::kStop : Op::kDiscard;
      TERN_TRY_VOID(positional_strings(command, {}, 0));
      if (!command.args.empty()) {
        return syntax_error(command.line, name + " takes no arguments");
      }
      return node;
    }
    if (name == "keep") {
      node.op = Op::kKeep;
      TERN_TRY_VOID(split(command, positional, [&](const Argument& tag, const Argument* value) {
        return flags_tag(tag, value, node);
      }));
      TERN_TRY_VOID(positional_strings(command, positional, 0));
      return node;
    }
    if (name == "fileinto") {
      TERN_TRY_VOID(need(command, "fileinto", "fileinto"));
      node.op = Op::kFileInto;
      TERN_TRY_VOID(split(command, positional,
                          [&](const Argument& tag, const Argument* value) -> Result<int> {
                            if (tag.tag == "copy") {
                              if (auto needed = need(command, "copy", ":copy"); !needed) {
                                return needed.error();
                              }
                              node.copy = true;
                              return 0;
                            }
                            if (tag.tag == "create") {
                              if (auto needed = need(command, "mailbox", ":create"); !needed) {
                                return needed.error();
                              }
                              node.create = true;
                              return 0;
                            }
                            return flags_tag(tag, value, node);
                          }));
      TERN_TRY_VOID(positional_strings(command, positional, 1, {true}));
      TERN_TRY(auto mailbox, texts(*positional[0]));
      if (!mailbox[0].expand && mailbox[0].text.empty()) {
        return syntax_error(command.line, "fileinto needs a mailbox name");
      }
      node.first = std::move(mailbox);
      return node;
    }
    if (name == "redirect") {
      node.op = Op::kRedirect;
      TERN_TRY_VOID(
          split(command, positional, [&](const Argument& tag, const Argument*) -> Result<int> {
            if (tag.tag == "copy") {
              if (auto needed = need(command, "copy", ":copy"); !needed) {
                return needed.error();
              }
              node.copy = true;
              return 0;
            }
            return -1;
          }));
      TERN_TRY_VOID(positional_strings(command, positional, 1, {true}));
      TERN_TRY(auto address, texts(*positional[0]));
      if (!address[0].expand && !detail::redirect_address(address[0].text)) {
        return syntax_error(command.line, "redirect: invalid address \"" + address[0].text + "\"");
      }
      node.first = std::move(address);
      return node;
    }
    if (name == "setflag" || name == "addflag" || name == "removeflag") {
      TERN_TRY_VOID(need(command, "imap4flags", name));
      node.op = name == "setflag"   ? Op::kSetFlag
                : name == "addflag" ? Op::kAddFlag
                                    : Op::kRemoveFlag;
      TERN_TRY_VOID(split(command, positional,
                          [](const Argument&, const Argument*) -> Result<int> { return -1; }));
      if (positional.size() == 2) {
        TERN_TRY_VOID(positional_strings(command, positional, 2, {true}));
        TERN_TRY(auto variable, texts(*positional[0]));
        TERN_TRY_VOID(variable_name(command, variable[0].text));
        node.variable = std::move(variable[0]);
        TERN_TRY(auto flags, texts(*positional[1]));
        node.first = std::move(flags);
      } else {
        TERN_TRY_VOID(positional_strings(command, positional, 1));
        TERN_TRY(auto flags, texts(*positional[0]));
        node.first = std::move(flags);
      }
      return node;
    }
    if (name == "set") {
      TERN_TRY_VOID(need(command, "variables", "set"));
      node.op = Op::kSet;
      TERN_TRY_VOID(
          split(command, positional, [&](const Argument& tag, const Argument*) -> Result<int> {
            static constexpr std::array<std::pair<std::string_view, unsigned>, 6> kModifiers = {{
                {"lower", detail::kLower},
                {"upper", detail::kUpper},
                {"lowerfirst", detail::kLowerFirst},
                {"upperfirst", detail::kUpperFirst},
                {"quotewildcard", detail::kQuoteWildcard},
                {"length", detail::kLength},
            }};
            for (const auto& [modifier, bit] : kModifiers) {
              if (tag.tag == modifier) {
                // RFC 5229 §4.1: one modifier of each precedence.
                unsigned same = (bit & (detail::kLower | detail::kUpper)) != 0
                                    ? detail::kLower | detail::kUpper
                                : (bit & (detail::kLowerFirst | detail::kUpperFirst)) != 0
                                    ? detail::kLowerFirst | detail::kUpperFirst
                                    : bit;
                if ((node.modifiers & same) != 0) {
                  return syntax_error(tag.line, "set: two modifiers of the same precedence");
                }
                node.modifiers |= bit;
                return 0;
              }
            }
            return -1;
          }));
      TERN_TRY_VOID(positional_strings(command, positional, 2, {true, true}));
      TERN_TRY(auto variable, texts(*positional[0]));
      TERN_TRY_VOID(variable_name(command, variable[0].text));
      node.variable = std::move(variable[0]);
      TERN_TRY(auto value, texts(*positional[1]));
      node.first = std::move(value);
      return node;
    }
    if (name == "vacation") {
      TERN_TRY_VOID(need(command, "vacation", "vacation"));
      node.op = Op::kVacation;
      bool days = false;
      TERN_TRY_VOID(split(
          command, positional, [&](const Argument& tag, const Argument* value) -> Result<int> {
            if (tag.tag == "days" || tag.tag == "seconds") {
              if (tag.tag == "seconds") {
                if (auto needed = need(command, "vacation-seconds", ":seconds"); !needed) {
                  return needed.error();
                }
              }
              if (days) {
                return syntax_error(tag.line, "vacation: :days and :seconds exclude each other");
              }
              days = true;
              TERN_TRY(auto arg, tag_value(tag, value, Argument::Kind::kNumber));
              constexpr std::uint64_t kMaxSeconds = 365ULL * 86400;
              std::uint64_t seconds = tag.tag == "days"
                                          ? std::min<std::uint64_t>(arg->number, 365) * 86400
                                          : arg->number;
              node.number = std::min(seconds, kMaxSeconds);
              return 1;
            }
            if (tag.tag == "subject" || tag.tag == "from" || tag.tag == "handle") {
              TERN_TRY(auto arg, tag_value(tag, value, Argument::Kind::kStrings));
              TERN_TRY(auto list, texts(*arg));
              // RFC 5230 §4.3: a :from that is no mailbox-list is an error.
              if (tag.tag == "from" && !list[0].expand && !detail::mailbox_list(list[0].text)) {
                return syntax_error(tag.line,
                                    "vacation: :from \"" + list[0].text + "\" is no address");
              }
              (tag.tag == "subject" ? node.subject
               : tag.tag == "from"  ? node.from
                                    : node.handle) = std::move(list[0]);
              return 1;
            }
            if (tag.tag == "addresses") {
              TERN_TRY(auto arg, tag_value(tag, value, Argument::Kind::kStrings, true));
              TERN_TRY(auto list, texts(*arg));
              node.addresses = std::move(list);
              return 1;
            }
            if (tag.tag == "mime") {
              node.mime = true;
              return 0;
            }
            return -1;
          }));
      if (!days) {
        node.number = 7 * 86400;  // RFC 5230 §4.1: the default is 7 days
      }
      TERN_TRY_VOID(positional_strings(command, positional, 1, {true}));
      TERN_TRY(auto reason, texts(*positional[0]));
      node.first = std::move(reason);
      return node;
    }
    if (name == "if" || name == "elsif" || name == "else" || name == "require") {
      return syntax_error(command.line, name + " is misplaced");
    }
    return syntax_error(command.line, "unknown command \"" + name + "\"");
  }

  static Result<void> variable_name(const Syntax& node, std::string_view name) {
    // RFC 5229 §3: identifier, possibly with a namespace ("a.b"); namespaces we
    // do not implement are an error there, so only plain identifiers are taken.
    bool ok = !name.empty() && !(name[0] >= '0' && name[0] <= '9');
    for (char c : name) {
      ok = ok &&
           ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_');
    }
    if (!ok) {
      return syntax_error(node.line,
                          node.name + ": invalid variable name \"" + std::string(name) + "\"");
    }
    return {};
  }

  Result<Node> test(const Syntax& test) {
    Node node;
    node.line = test.line;
    const std::string& name = test.name;
    std::vector<const Argument*> positional;
    Tags tags;
    if (name == "allof" || name == "anyof") {
      node.op = name == "allof" ? Op::kAllOf : Op::kAnyOf;
      if (!test.args.empty() || !test.test_list || test.tests.empty()) {
        return syntax_error(test.line, name + " takes a list of tests");
      }
      for (const auto& sub : test.tests) {
        TERN_TRY(auto compiled, this->test(sub));
        node.tests.push_back(std::move(compiled));
      }
      return node;
    }
    if (name == "not") {
      node.op = Op::kNot;
      if (!test.args.empty() || test.test_list || test.tests.size() != 1) {
        return syntax_error(test.line, "not takes one test");
      }
      TERN_TRY(auto compiled, this->test(test.tests[0]));
      node.tests.push_back(std::move(compiled));
      return node;
    }
    TERN_TRY_VOID(no_tests(test));
    if (name == "true" || name == "false") {
      node.op = name == "true" ? Op::kTrue : Op::kFalse;
      if (!test.args.empty()) {
        return syntax_error(test.line, name + " takes no arguments");
      }
      return node;
    }
    auto matching = [&](bool address_parts, bool index) {
      return [&, address_parts, index](const Argument& tag, const Argument* value) {
        return match_tag(tag, value, tags, node.match, address_parts, index);
      };
    };
    if (name == "address" || name == "envelope") {
      node.op = name == "address" ? Op::kAddress : Op::kEnvelope;
      if (node.op == Op::kEnvelope) {
        TERN_TRY_VOID(need(test, "envelope", "envelope"));
      }
      TERN_TRY_VOID(split(test, positional, matching(true, node.op == Op::kAddress)));
      TERN_TRY_VOID(finish_match(test, tags, node.match));
      TERN_TRY_VOID(positional_strings(test, positional, 2));
      TERN_TRY(auto names, texts(*positional[0]));
      TERN_TRY(auto keys, texts(*positional[1]));
      if (node.op == Op::kAddress) {
        TERN_TRY_VOID(check_header_names(names, test.line));
        for (const auto& header : names) {
          if (!header.expand && !address_header(header.text)) {
            return syntax_error(test.line, "address: \"" + header.text + "\" holds no addresses");
          }
        }
      } else {
        for (auto& part : names) {
          if (!part.expand) {
            part.text = ascii::lower(part.text);
            if (part.text != "from" && part.text != "to") {
              return syntax_error(test.line,
                                  "envelope: unknown envelope part \"" + part.text + "\"");
            }
          }
        }
      }
      node.first = std::move(names);
      node.second = std::move(keys);
      return node;
    }
    if (name == "header") {
      node.op = Op::kHeader;
      TERN_TRY_VOID(split(test, positional, matching(false, true)));
      TERN_TRY_VOID(finish_match(test, tags, node.match));
      TERN_TRY_VOID(positional_strings(test, positional, 2));
      TERN_TRY(auto names, texts(*positional[0]));
      TERN_TRY_VOID(check_header_names(names, test.line));
      TERN_TRY(auto keys, texts(*positional[1]));
      node.first = std::move(names);
      node.second = std::move(keys);
      return node;
    }
    if (name == "string") {
      TERN_TRY_VOID(need(test, "variables", "string"));
      node.op = Op::kString;
      TERN_TRY_VOID(split(test, positional, matching(false, false)));
      TERN_TRY_VOID(finish_match(test, tags, node.match));
      TERN_TRY_VOID(positional_strings(test, positional, 2));
      TERN_TRY(auto sources, texts(*positional[0]));
      TERN_TRY(auto keys, texts(*positional[1]));
      node.first = std::move(sources);
      node.second = std::move(keys);
      return node;
    }
    if (name == "hasflag") {
      TERN_TRY_VOID(need(test, "imap4flags", "hasflag"));
      node.op = Op::kHasFlag;
      TERN_TRY_VOID(split(test, positional, matching(false, false)));
      TERN_TRY_VOID(finish_match(test, tags, node.match));
      if (positional.size() == 2) {
        TERN_TRY_VOID(positional_strings(test, positional, 2));
        TERN_TRY(auto variables, texts(*positional[0]));
        for (const auto& variable : variables) {
          TERN_TRY_VOID(variable_name(test, variable.text));
        }
        node.variables = std::move(variables);
        TERN_TRY(auto keys, texts(*positional[1]));
        node.second = std::move(keys);
      } else {
        TERN_TRY_VOID(positional_strings(test, positional, 1));
        TERN_TRY(auto keys, texts(*positional[0]));
        node.second = std::move(keys);
      }
      return node;
    }
    if (name == "exists") {
      node.op = Op::kExists;
      TERN_TRY_VOID(split(test, positional,
                          [](const Argument&, const Argument*) -> Result<int> { return -1; }));
      TERN_TRY_VOID(positional_strings(test, positional, 1));
      TERN_TRY(auto names, texts(*positional[0]));
      TERN_TRY_VOID(check_header_names(names, test.line));
      node.first = std::move(names);
      return node;
    }
    if (name == "size") {
      node.op = Op::kSize;
      bool which = false;
      TERN_TRY_VOID(
          split(test, positional, [&](const Argument& tag, const Argument*) -> Result<int> {
            if (tag.tag == "over" || tag.tag == "under") {
              if (which) {
                return syntax_error(tag.line, "size takes :over or :under, not both");
              }
              which = true;
              node.over = tag.tag == "over";
              return 0;
            }
            return -1;
          }));
      if (!which || positional.size() != 1 || positional[0]->kind != Argument::Kind::kNumber) {
        return syntax_error(test.line, "size takes :over or :under and a number");
      }
      node.number = positional[0]->number;
      return node;
    }
    if (name == "body") {
      TERN_TRY_VOID(need(test, "body", "body"));
      node.op = Op::kBody;
      bool transform = false;
      TERN_TRY_VOID(
          split(test, positional, [&](const Argument& tag, const Argument* value) -> Result<int> {
            if (tag.tag == "raw" || tag.tag == "text" || tag.tag == "content") {
              if (transform) {
                return syntax_error(tag.line, "body takes one of :raw, :content and :text");
              }
              transform = true;
              if (tag.tag == "content") {
                node.transform = BodyTransform::kContent;
                TERN_TRY(auto arg, tag_value(tag, value, Argument::Kind::kStrings, true));
                TERN_TRY(auto types, texts(*arg));
                node.content_types = std::move(types);
                return 1;
              }
              node.transform = tag.tag == "raw" ? BodyTransform::kRaw : BodyTransform::kText;
              return 0;
            }
            return match_tag(tag, value, tags, node.match, false, false);
          }));
      TERN_TRY_VOID(finish_match(test, tags, node.match));
      TERN_TRY_VOID(positional_strings(test, positional, 1));
      TERN_TRY(auto keys, texts(*positional[0]));
      node.second = std::move(keys);
      return node;
    }
    if (name == "mailboxexists") {
      TERN_TRY_VOID(need(test, "mailbox", "mailboxexists"));
      node.op = Op::kMailboxExists;
      TERN_TRY_VOID(split(test, positional,
                          [](const Argument&, const Argument*) -> Result<int> { return -1; }));
      TERN_TRY_VOID(positional_strings(test, positional, 1));
      TERN_TRY(auto names, texts(*positional[0]));
      node.first = std::move(names);
      return node;
    }
    if (name == "date" || name == "currentdate") {
      TERN_TRY_VOID(need(test, "date", name));
      node.op = name == "date" ? Op::kDate : Op::kCurrentDate;
      TERN_TRY_VOID(
          split(test, positional, [&](const Argument& tag, const Argument* value) -> Result<int> {
            if (tag.tag == "zone") {
              if (node.original_zone) {
                return syntax_error(tag.line, ":zone and :originalzone exclude each other");
              }
              TERN_TRY(auto arg, tag_value(tag, value, Argument::Kind::kStrings));
              TERN_TRY(auto zone, texts(*arg));
              if (!zone[0].expand && !detail::parse_zone(zone[0].text)) {
                return syntax_error(tag.line, "invalid zone \"" + zone[0].text + "\"");
              }
              node.zone = std::move(zone[0]);
              return 1;
            }
            if (tag.tag == "originalzone" && node.op == Op::kDate) {
              if (node.zone) {
                return syntax_error(tag.line, ":zone and :originalzone exclude each other");
              }
              node.original_zone = true;
              return 0;
            }
            return match_tag(tag, value, tags, node.match, false, node.op == Op::kDate);
          }));
      TERN_TRY_VOID(finish_match(test, tags, node.match));
      if (node.op == Op::kDate) {
        TERN_TRY_VOID(positional_strings(test, positional, 3, {true, true}));
      } else {
        TERN_TRY_VOID(positional_strings(test, positional, 2, {true}));
      }
      std::size_t at = 0;
      if (node.op == Op::kDate) {
        TERN_TRY(auto header, texts(*positional[at++]));
        TERN_TRY_VOID(check_header_names(header, test.line));
        node.first = std::move(header);
      }
      TERN_TRY(auto part, texts(*positional[at++]));
      if (!part[0].expand && !detail::date_part_known(part[0].text)) {
        return syntax_error(test.line, "unknown date part \"" + part[0].text + "\"");
      }
      node.date_part = std::move(part[0]);
      TERN_TRY(auto keys, texts(*positional[at]));
      node.second = std::move(keys);
      return node;
    }
    if (name == "spamtest") {
      // RFC 5235 §3.2: either capability enables the test, only "spamtestplus"
      // its :percent.
      if (!has("spamtest") && !has("spamtestplus")) {
        return syntax_error(test.line, "spamtest needs require \"spamtest\" or \"spamtestplus\"");
      }
      node.op = Op::kSpamTest;
      TERN_TRY_VOID(
          split(test, positional, [&](const Argument& tag, const Argument* value) -> Result<int> {
            if (tag.tag == "percent") {
              if (!has("spamtestplus")) {
                return syntax_error(tag.line, ":percent needs require \"spamtestplus\"");
              }
              node.percent = true;
              return 0;
            }
            return match_tag(tag, value, tags, node.match, false, false);
          }));
      TERN_TRY_VOID(finish_match(test, tags, node.match));
      TERN_TRY_VOID(positional_strings(test, positional, 1));
      TERN_TRY(auto keys, texts(*positional[0]));
      node.second = std::move(keys);
      return node;
    }
    return syntax_error(test.line, "unknown test \"" + name + "\"");
  }

  detail::Program program_;
};

}  // namespace

std::string_view supported_extensions() {
  return "fileinto envelope encoded-character imap4flags copy body variables relational "
         "subaddress vacation vacation-seconds mailbox comparator-i;ascii-numeric date index "
         "spamtest spamtestplus";
}

const std::vector<std::string>& Script::required() const {
  static const std::vector<std::string> kNone;
  return program_ ? program_->required : kNone;
}

Result<Script> compile(std::string_view text, const CompileLimits& limits) {
  TERN_TRY(auto syntax, detail::parse(text, limits));
  Compiler compiler;
  TERN_TRY(auto program, compiler.program(syntax));
  Script script;
  script.program_ = std::make_shared<const detail::Program>(std::move(program));
  return script;
}

}  // namespace tern::sieve
