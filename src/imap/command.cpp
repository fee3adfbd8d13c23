// SPDX-License-Identifier: Apache-2.0
#include "imap/command.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "base/ascii.hpp"
#include "imap/arguments.hpp"

namespace tern::imap {
std::string ascii_upper(std::string_view s) {
  return ascii::upper(s);
}

namespace {

std::string upper(std::string_view s) {
  return ascii_upper(s);
}

Error bad(std::string message) {
  return Error{ErrorCode::kInvalidInput, std::move(message)};
}

// The recursive-descent parser for one command. Every method consumes its
// production or returns the Arguments error, prefixed once with the command name
// by parse_command().
class Parser {
 public:
  Parser(Arguments& args, const ParseLimits& limits) : a_(args), limits_(limits) {}

  // An atom, upper-cased (keywords are case-insensitive, RFC 9051 §9 note 1).
  Result<std::string> keyword() {
    TERN_TRY(auto word, a_.atom());
    return upper(word);
  }

  Result<void> sp() { return a_.space(); }

  // "(" [keyword *(SP keyword)] ")", the shape of every option list (select
  // parameters, LIST selection and return options, SEARCH return options):
  // `option(name)` consumes what follows each upper-cased keyword. Returns how many
  // keywords there were.
  template <class F>
  Result<std::size_t> option_list(std::string_view what, F&& option) {
    if (!a_.accept('(')) {
      return bad(fmt::format("expected \"(\" before {}", what));
    }
    std::size_t count = 0;
    while (!a_.accept(')')) {
      if (count++ > 0) {
        TERN_TRY_VOID(sp());
      }
      TERN_TRY(auto name, keyword());
      TERN_TRY_VOID(option(name));
    }
    return count;
  }

  Result<Command> none(Command command) {
    TERN_TRY_VOID(a_.end());
    return command;
  }

  Result<Command> id() {
    TERN_TRY_VOID(sp());
    IdCommand cmd;
    if (!a_.accept('(')) {
      TERN_TRY(auto nil, a_.nstring());
      if (nil) {
        return bad("expected \"(\" or NIL");
      }
      TERN_TRY_VOID(a_.end());
      return Command(std::move(cmd));
    }
    cmd.fields.emplace();
    // RFC 2971 §4 grammar requires at least one pair; "()" is accepted as Dovecot does.
    while (!a_.accept(')')) {
      if (!cmd.fields->empty()) {
        TERN_TRY_VOID(sp());
      }
      if (cmd.fields->size() >= limits_.max_id_fields) {
        return bad("too many ID fields");
      }
      TERN_TRY(auto field, a_.string());
      TERN_TRY_VOID(sp());
      TERN_TRY(auto value, a_.nstring());
      cmd.fields->emplace_back(std::move(field), std::move(value));
    }
    TERN_TRY_VOID(a_.end());
    return Command(std::move(cmd));
  }

  Result<Command> authenticate() {
    TERN_TRY_VOID(sp());
    AuthenticateCommand cmd;
    TERN_TRY(cmd.mechanism, keyword());
    if (!a_.at_end()) {
      // RFC 4959 §7: initial-response = base64 / "=".
      TERN_TRY_VOID(sp());
      TERN_TRY(auto response, a_.word());
      cmd.initial_response = std::move(response);
    }
    TERN_TRY_VOID(a_.end());
    return Command(std::move(cmd));
  }

  Result<Command> login() {
    TERN_TRY_VOID(sp());
    LoginCommand cmd;
    TERN_TRY(cmd.user, a_.astring());
    TERN_TRY_VOID(sp());
    TERN_TRY(cmd.password, a_.astring());
    TERN_TRY_VOID(a_.end());
    return Command(std::move(cmd));
  }

  Result<Command> enable() {
    EnableCommand cmd;
    do {
      TERN_TRY_VOID(sp());
      TERN_TRY(auto name, keyword());
      cmd.capabilities.push_back(std::move(name));
    } while (!a_.at_end());
    return Command(std::move(cmd));
  }

  Result<Command> select(bool read_only) {
    TERN_TRY_VOID(sp());
    SelectCommand cmd;
    cmd.read_only = read_only;
    TERN_TRY(cmd.mailbox, a_.mailbox());
    if (!a_.at_end()) {
      TERN_TRY_VOID(sp());
      auto params = option_list("select parameters", [&](const std::string& name) -> Result<void> {
        if (name == "CONDSTORE") {
          cmd.condstore = true;
        } else if (name == "QRESYNC" && !cmd.qresync) {
          TERN_TRY_VOID(sp());
          TERN_TRY(auto q, qresync());
          cmd.qresync = std::move(q);
        } else {
          return bad(fmt::format("unknown select parameter \"{}\"", name));
        }
        return ok();
      });
      if (!params) {
        return params.error();
      }
    }
    TERN_TRY_VOID(a_.end());
    return Command(std::move(cmd));
  }

  // RFC 7162 §3.2.5: "(" uidvalidity SP mod-sequence-value [SP known-uids]
  // [SP seq-match-data] ")".
  Result<QresyncParams> qresync() {
    if (!a_.accept('(')) {
      return bad("expected \"(\" after QRESYNC");
    }
    QresyncParams params;
    TERN_TRY(params.uid_validity, a_.nz_number());
    TERN_TRY_VOID(sp());
    TERN_TRY(params.modseq, a_.number64());
    if (params.modseq == 0) {
      return bad("QRESYNC mod-sequence must be non-zero");
    }
    if (a_.accept(' ')) {
      if (a_.peek() != '(') {
        TERN_TRY(auto known, a_.sequence_set(false));
        params.known_uids = std::move(known);
        if (!a_.accept(' ')) {
          goto close;
        }
      }
      if (!a_.accept('(')) {
        return bad("expected known-sequence-set data");
      }
      TERN_TRY(auto sequence, a_.sequence_set(false));
      TERN_TRY_VOID(sp());
      TERN_TRY(auto uids, a_.sequence_set(false));
      if (!a_.accept(')')) {
        return bad("expected \")\" after known-uid-set");
      }
      params.seq_match = std::make_pair(std::move(sequence), std::move(uids));
    }
  close:
    if (!a_.accept(')')) {
      return bad("expected \")\" after QRESYNC parameters");
    }
    return params;
  }

  Result<Command> create() {
    TERN_TRY_VOID(sp());
    CreateCommand cmd;
    TERN_TRY(cmd.mailbox, a_.mailbox());
    if (!a_.at_end()) {
      // RFC 6154 §3: create-param = "USE" SP "(" [use-attr *(SP use-attr)] ")".
      TERN_TRY_VOID(sp());
      if (!a_.accept('(')) {
        return bad("expected \"(\" before CREATE parameters");
      }
      TERN_TRY(auto name, keyword());
      if (name != "USE") {
        return bad(fmt::format("unknown CREATE parameter \"{}\"", name));
      }
      TERN_TRY_VOID(sp());
      TERN_TRY(cmd.special_use, a_.flag_list());
      if (!a_.accept(')')) {
        return bad("expected \")\" after CREATE parameters");
      }
    }
    TERN_TRY_VOID(a_.end());
    return Command(std::move(cmd));
  }

  Result<Command> one_mailbox(bool is_delete, bool subscribe) {
    TERN_TRY_VOID(sp());
    TERN_TRY(auto mailbox, a_.mailbox());
    TERN_TRY_VOID(a_.end());
    if (is_delete) {
      return Command(DeleteCommand{std::move(mailbox)});
    }
    return Command(SubscribeCommand{std::move(mailbox), subscribe});
  }

  // GETQUOTA quota-root-name / GETQUOTAROOT mailbox (RFC 9208 §7).
  Result<Command> get_quota(bool by_mailbox) {
    TERN_TRY_VOID(sp());
    if (by_mailbox) {
      TERN_TRY(auto mailbox, a_.mailbox());
      TERN_TRY_VOID(a_.end());
      return Command(GetQuotaRootCommand{std::move(mailbox)});
    }
    TERN_TRY(auto root, a_.astring());
    TERN_TRY_VOID(a_.end());
    return Command(GetQuotaCommand{std::move(root)});
  }

  // SETQUOTA quota-root-name SP "(" [resource-name SP number64 *(SP ...)] ")"
  // (RFC 9208 §7).
  Result<Command> set_quota() {
    TERN_TRY_VOID(sp());
    SetQuotaCommand cmd;
    TERN_TRY(cmd.root, a_.astring());
    TERN_TRY_VOID(sp());
    auto limits = option_list("resource limits", [&](const std::string& name) -> Result<void> {
      TERN_TRY_VOID(sp());
      TERN_TRY(auto limit, a_.number64());
      cmd.limits.emplace_back(name, limit);
      return ok();
    });
    if (!limits) {
      return limits.error();
    }
    TERN_TRY_VOID(a_.end());
    return Command(std::move(cmd));
  }

  Result<Command> rename() {
    TERN_TRY_VOID(sp());
    RenameCommand cmd;
    TERN_TRY(cmd.from, a_.mailbox());
    TERN_TRY_VOID(sp());
    TERN_TRY(cmd.to, a_.mailbox());
    TERN_TRY_VOID(a_.end());
    return Command(std::move(cmd));
  }

  Result<StatusItem> status_item() {
    TERN_TRY(auto name, keyword());
    static constexpr StatusItem kAll[] = {
        StatusItem::kMessages,       StatusItem::kUidNext,       StatusItem::kUidValidity,
        StatusItem::kUnseen,         StatusItem::kDeleted,       StatusItem::kSize,
        StatusItem::kRecent,         StatusItem::kHighestModSeq, StatusItem::kAppendLimit,
        StatusItem::kDeletedStorage, StatusItem::kMailboxId};
    for (StatusItem item : kAll) {
      if (name == status_item_name(item)) {
        return item;
      }
    }
    return bad(fmt::format("unknown status item \"{}\"", name));
  }

  // "(" status-att *(SP status-att) ")"
  Result<std::vector<StatusItem>> status_items() {
    if (!a_.accept('(')) {
      return bad("expected \"(\" before status items");
    }
    std::vector<StatusItem> items;
    do {
      TERN_TRY(auto item, status_item());
      items.push_back(item);
    } while (a_.accept(' '));
    if (!a_.accept(')')) {
      return bad("expected \")\" after status items");
    }
    return items;
  }

  Result<Command> status() {
    TERN_TRY_VOID(sp());
    StatusCommand cmd;
    TERN_TRY(cmd.mailbox, a_.mailbox());
    TERN_TRY_VOID(sp());
    TERN_TRY(cmd.items, status_items());
    TERN_TRY_VOID(a_.end());
    return Command(std::move(cmd));
  }

  Result<Command> list() {
    TERN_TRY_VOID(sp());
    ListCommand cmd;
    // RFC 5258 §6: list-select-opts = "(" [list-select-opt *(SP list-select-opt)] ")".
    if (a_.peek() == '(') {
      cmd.extended = true;
      auto opts = option_list("selection options", [&](const std::string& opt) -> Result<void> {
        if (opt == "SUBSCRIBED") {
          cmd.select_subscribed = true;
        } else if (opt == "REMOTE") {
          cmd.select_remote = true;
        } else if (opt == "RECURSIVEMATCH") {
          cmd.select_recursive_match = true;
        } else if (opt == "SPECIAL-USE") {
          cmd.select_special_use = true;
        } else {
          return bad(fmt::format("unknown LIST selection option \"{}\"", opt));
        }
        return ok();
      });
      if (!opts) {
        return opts.error();
      }
      // RFC 5258 §3: RECURSIVEMATCH alone is an error.
      if (cmd.select_recursive_match && !cmd.select_subscribed && !cmd.select_special_use) {
        return bad("RECURSIVEMATCH needs another selection option");
      }
      TERN_TRY_VOID(sp());
    }
    TERN_TRY(cmd.reference, a_.mailbox());
    TERN_TRY_VOID(sp());
    if (a_.accept('(')) {
      cmd.extended = true;
      do {
        if (cmd.patterns.size() >= limits_.max_list_patterns) {
          return bad("too many LIST patterns");
        }
        TERN_TRY(auto pattern, a_.list_mailbox());
        cmd.patterns.push_back(std::move(pattern));
      } while (a_.accept(' '));
      if (!a_.accept(')')) {
        return bad("expected \")\" after LIST patterns");
      }
    } else {
      TERN_TRY(auto pattern, a_.list_mailbox());
      cmd.patterns.push_back(std::move(pattern));
    }
    if (!a_.at_end()) {
      TERN_TRY_VOID(sp());
      TERN_TRY(auto word, keyword());
      if (word != "RETURN") {
        return bad("expected RETURN");
      }
      cmd.extended = true;
      TERN_TRY_VOID(sp());
      auto opts = option_list("RETURN options", [&](const std::string& opt) -> Result<void> {
        if (opt == "SUBSCRIBED") {
          cmd.return_subscribed = true;
        } else if (opt == "CHILDREN") {
          cmd.return_children = true;
        } else if (opt == "SPECIAL-USE") {
          cmd.return_special_use = true;
        } else if (opt == "STATUS" && !cmd.return_status) {
          TERN_TRY_VOID(sp());
          TERN_TRY(auto items, status_items());
          cmd.return_status = std::move(items);
        } else {
          return bad(fmt::format("unknown LIST return option \"{}\"", opt));
        }
        return ok();
      });
      if (!opts) {
        return opts.error();
      }
    }
    TERN_TRY_VOID(a_.end());
    return Command(std::move(cmd));
  }

  Result<Command> lsub() {
    TERN_TRY_VOID(sp());
    LsubCommand cmd;
    TERN_TRY(cmd.reference, a_.mailbox());
    TERN_TRY_VOID(sp());
    TERN_TRY(cmd.pattern, a_.list_mailbox());
    TERN_TRY_VOID(a_.end());
    return Command(std::move(cmd));
  }

  Result<Command> append() {
    TERN_TRY_VOID(sp());
    AppendCommand cmd;
    TERN_TRY(cmd.mailbox, a_.mailbox());
    do {
      TERN_TRY_VOID(sp());
      AppendMessage message;
      if (a_.peek() == '(') {
        TERN_TRY(message.flags, a_.flag_list());
        TERN_TRY_VOID(sp());
      }
      if (a_.peek() == '"') {
        TERN_TRY(auto date, a_.date_time());
        message.internal_date = date;
        TERN_TRY_VOID(sp());
      }
      if (a_.peek() == 'U' || a_.peek() == 'u') {
        // RFC 6855 §4: append-data =/ "UTF8" SP "(" literal8 ")".
        TERN_TRY(auto word, keyword());
        if (word != "UTF8") {
          return bad("expected a message literal");
        }
        TERN_TRY_VOID(sp());
        if (!a_.accept('(')) {
          return bad("expected \"(\" after UTF8");
        }
        TERN_TRY(auto literal, a_.literal());
        if (!a_.accept(')')) {
          return bad("expected \")\" after the UTF8 literal");
        }
        message.data = std::move(literal.payload);
        message.binary = literal.binary;
        message.utf8 = true;
      } else {
        auto literal = a_.literal();
        if (!literal) {
          return bad("expected a message literal");
        }
        message.data = std::move(literal->payload);
        message.binary = literal->binary;
      }
      cmd.messages.push_back(std::move(message));
    } while (!a_.at_end());
    return Command(std::move(cmd));
  }

  Result<Command> compress() {
    TERN_TRY_VOID(sp());
    CompressCommand cmd;
    TERN_TRY(cmd.mechanism, keyword());
    TERN_TRY_VOID(a_.end());
    return Command(std::move(cmd));
  }

  Result<Command> expunge(bool uid) {
    ExpungeCommand cmd;
    if (uid) {
      TERN_TRY_VOID(sp());
      TERN_TRY(auto set, a_.sequence_set());
      cmd.uids = std::move(set);
    }
    TERN_TRY_VOID(a_.end());
    return Command(std::move(cmd));
  }

  // ---- SEARCH

  Result<SearchKey> search_key(std::size_t depth) {
    if (depth > limits_.max_search_depth) {
      return bad("search keys nested too deeply");
    }
    if (++keys_ > limits_.max_search_keys) {
      return bad("too many search keys");
    }
    SearchKey key;
    using K = SearchKey::Kind;
    if (a_.accept('(')) {
      key.kind = K::kAnd;
      do {
        TERN_TRY(auto child, search_key(depth + 1));
        key.children.push_back(std::move(child));
      } while (a_.accept(' '));
      if (!a_.accept(')')) {
        return bad("expected \")\" after search keys");
      }
      return key;
    }
    char first = a_.peek();
    if ((first >= '0' && first <= '9') || first == '*' || first == '$') {
      key.kind = K::kSequenceSet;
      TERN_TRY(key.set, a_.sequence_set());
      return key;
    }
    TERN_TRY(auto name, keyword());

    struct Simple {
      std::string_view name;
      K kind;
    };

    static constexpr Simple kNoArgument[] = {{"ALL", K::kAll},
                                             {"ANSWERED", K::kAnswered},
                                             {"DELETED", K::kDeleted},
                                             {"DRAFT", K::kDraft},
                                             {"FLAGGED", K::kFlagged},
                                             {"SEEN", K::kSeen},
                                             {"UNANSWERED", K::kUnanswered},
                                             {"UNDELETED", K::kUndeleted},
                                             {"UNDRAFT", K::kUndraft},
                                             {"UNFLAGGED", K::kUnflagged},
                                             {"UNSEEN", K::kUnseen},
                                             {"NEW", K::kNew},
                                             {"OLD", K::kOld},
                                             {"RECENT", K::kRecent},
                                             // RFC 8514 §4.3
                                             {"SAVEDATESUPPORTED", K::kSaveDateSupported}};
    for (const auto& s : kNoArgument) {
      if (name == s.name) {
        key.kind = s.kind;
        return key;
      }
    }
    static constexpr Simple kStringArgument[] = {
        {"BCC", K::kBcc},         {"BODY", K::kBody}, {"CC", K::kCc}, {"FROM", K::kFrom},
        {"SUBJECT", K::kSubject}, {"TEXT", K::kText}, {"TO", K::kTo}};
    for (const auto& s : kStringArgument) {
      if (name == s.name) {
        key.kind = s.kind;
        TERN_TRY_VOID(sp());
        TERN_TRY(key.text, a_.astring());
        return key;
      }
    }
    static constexpr Simple kDateArgument[] = {{"BEFORE", K::kBefore},
                                               {"ON", K::kOn},
                                               {"SINCE", K::kSince},
                                               {"SENTBEFORE", K::kSentBefore},
                                               {"SENTON", K::kSentOn},
                                               {"SENTSINCE", K::kSentSince},
                                               // RFC 8514 §4.3: the save date's day.
                                               {"SAVEDBEFORE", K::kSavedBefore},
                                               {"SAVEDON", K::kSavedOn},
                                               {"SAVEDSINCE", K::kSavedSince}};
    for (const auto& s : kDateArgument) {
      if (name == s.name) {
        key.kind = s.kind;
        TERN_TRY_VOID(sp());
        TERN_TRY(key.date, a_.date());
        return key;
      }
    }
    if (name == "EMAILID" || name == "THREADID") {
      // RFC 8474 §7: search-key =/ "EMAILID" SP objectid / "THREADID" SP objectid.
      key.kind = name == "EMAILID" ? K::kEmailId : K::kThreadId;
      TERN_TRY_VOID(sp());
      TERN_TRY(key.text, a_.atom());
      if (!is_object_id(key.text)) {
        return bad("expected an objectid");
      }
      return key;
    }
    if (name == "KEYWORD" || name == "UNKEYWORD") {
      key.kind = name == "KEYWORD" ? K::kKeyword : K::kUnkeyword;
      TERN_TRY_VOID(sp());
      TERN_TRY(key.text, a_.atom());
      return key;
    }
    if (name == "HEADER") {
      key.kind = K::kHeader;
      TERN_TRY_VOID(sp());
      TERN_TRY(key.field, a_.astring());
      TERN_TRY_VOID(sp());
      TERN_TRY(key.text, a_.astring());
      return key;
    }
    if (name == "LARGER" || name == "SMALLER") {
      key.kind = name == "LARGER" ? K::kLarger : K::kSmaller;
      TERN_TRY_VOID(sp());
      TERN_TRY(key.number, a_.number64());
      return key;
    }
    if (name == "OLDER" || name == "YOUNGER") {
      // RFC 5032 §3: OLDER / YOUNGER nz-number (seconds).
      key.kind = name == "OLDER" ? K::kOlder : K::kYounger;
      TERN_TRY_VOID(sp());
      TERN_TRY(key.number, a_.nz_number());
      return key;
    }
    if (name == "UID") {
      key.kind = K::kUid;
      TERN_TRY_VOID(sp());
      TERN_TRY(key.set, a_.sequence_set());
      return key;
    }
    if (name == "NOT") {
      key.kind = K::kNot;
      TERN_TRY_VOID(sp());
      TERN_TRY(auto child, search_key(depth + 1));
      key.children.push_back(std::move(child));
      return key;
    }
    if (name == "OR") {
      key.kind = K::kOr;
      for (int i = 0; i < 2; ++i) {
        TERN_TRY_VOID(sp());
        TERN_TRY(auto child, search_key(depth + 1));
        key.children.push_back(std::move(child));
      }
      return key;
    }
    if (name == "MODSEQ") {
      // RFC 7162 §3.1.5: MODSEQ [SP entry-name SP entry-type-req] SP mod-sequence-valzer.
      key.kind = K::kModSeq;
      TERN_TRY_VOID(sp());
      if (a_.peek() == '"') {
        TERN_TRY(key.field, a_.string());
        TERN_TRY_VOID(sp());
        TERN_TRY(auto type, keyword());
        if (type != "PRIV" && type != "SHARED" && type != "ALL") {
          return bad("MODSEQ entry type must be priv, shared or all");
        }
        TERN_TRY_VOID(sp());
      }
      TERN_TRY(key.number, a_.number64());
      return key;
    }
    return bad(fmt::format("unknown search key \"{}\"", name));
  }

  Result<Command> search(bool uid) {
    SearchCommand cmd;
    cmd.uid = uid;
    TERN_TRY_VOID(sp());
    // RFC 4731 §3: search-return-opts first, then the charset, then the keys.
    TERN_TRY(cmd.return_opts, return_options("SEARCH"));
    if (starts_with_keyword("CHARSET")) {
      TERN_TRY(auto ignored, keyword());
      (void)ignored;
      TERN_TRY_VOID(sp());
      TERN_TRY(auto charset, a_.astring());
      cmd.charset = upper(charset);
      TERN_TRY_VOID(sp());
    }
    TERN_TRY_VOID(search_keys(cmd.key));
    return Command(std::move(cmd));
  }

  // [RETURN (option ...) SP] (RFC 4731 §3, RFC 5267 §3.2 for SORT); nullopt
  // without RETURN.
  Result<std::optional<SearchReturn>> return_options(std::string_view command) {
    if (!starts_with_keyword("RETURN")) {
      return std::optional<SearchReturn>();
    }
    TERN_TRY(auto ignored, keyword());
    (void)ignored;
    TERN_TRY_VOID(sp());
    SearchReturn ret;
    auto count = option_list("RETURN options", [&](const std::string& opt) -> Result<void> {
      if (opt == "MIN") {
        ret.min = true;
      } else if (opt == "MAX") {
        ret.max = true;
      } else if (opt == "ALL") {
        ret.all = true;
      } else if (opt == "COUNT") {
        ret.count = true;
      } else if (opt == "SAVE") {
        ret.save = true;
      } else {
        return bad(fmt::format("unknown {} return option \"{}\"", command, opt));
      }
      return ok();
    });
    if (!count) {
      return count.error();
    }
    // RFC 4731 §3.1: "RETURN ()" means ALL.
    if (*count == 0) {
      ret.all = true;
    }
    TERN_TRY_VOID(sp());
    return std::optional<SearchReturn>(ret);
  }

  // 1*(SP search-key) after the first SP, into `all` (a kAnd), to the end.
  Result<void> search_keys(SearchKey& all) {
    all.kind = SearchKey::Kind::kAnd;
    while (true) {
      TERN_TRY(auto key, search_key(0));
      all.children.push_back(std::move(key));
      if (a_.at_end()) {
        return ok();
      }
      TERN_TRY_VOID(sp());
    }
  }

  // RFC 5256 §5: "THREAD" SP thread-alg SP search-criteria.
  Result<Command> thread(bool uid) {
    ThreadCommand cmd;
    cmd.uid = uid;
    TERN_TRY_VOID(sp());
    TERN_TRY(auto algorithm, keyword());
    if (algorithm == "ORDEREDSUBJECT") {
      cmd.algorithm = ThreadCommand::Algorithm::kOrderedSubject;
    } else if (algorithm == "REFERENCES") {
      cmd.algorithm = ThreadCommand::Algorithm::kReferences;
    } else {
      return bad(fmt::format("unknown threading algorithm \"{}\"", algorithm));
    }
    TERN_TRY_VOID(sp());
    TERN_TRY_VOID(search_criteria(cmd.charset, cmd.key));
    return Command(std::move(cmd));
  }

  // RFC 5256 §5: search-criteria = charset 1*(SP search-key), to the end; the
  // charset (not optional here, unlike SEARCH's) upper-cased.
  Result<void> search_criteria(std::string& charset, SearchKey& key) {
    TERN_TRY(auto name, a_.astring());
    charset = upper(name);
    TERN_TRY_VOID(sp());
    return search_keys(key);
  }

  // RFC 5256 §5: "SORT" SP sort-criteria SP charset 1*(SP search-key).
  Result<Command> sort(bool uid) {
    SortCommand cmd;
    cmd.uid = uid;
    TERN_TRY_VOID(sp());
    TERN_TRY(cmd.return_opts, return_options("SORT"));  // RFC 5267 §3.2 (ESORT)
    if (!a_.accept('(')) {
      return bad("expected \"(\" before sort criteria");
    }
    static constexpr std::pair<std::string_view, SortCriterion::Key> kKeys[] = {
        {"ARRIVAL", SortCriterion::Key::kArrival},
        {"CC", SortCriterion::Key::kCc},
        {"DATE", SortCriterion::Key::kDate},
        {"FROM", SortCriterion::Key::kFrom},
        {"SIZE", SortCriterion::Key::kSize},
        {"SUBJECT", SortCriterion::Key::kSubject},
        {"TO", SortCriterion::Key::kTo},
        {"DISPLAYFROM", SortCriterion::Key::kDisplayFrom},
        {"DISPLAYTO", SortCriterion::Key::kDisplayTo}};
    do {
      SortCriterion criterion;
      TERN_TRY(auto name, keyword());
      if (name == "REVERSE") {
        criterion.reverse = true;
        TERN_TRY_VOID(sp());
        TERN_TRY(name, keyword());
      }
      const auto* known = std::find_if(std::begin(kKeys), std::end(kKeys),
                                       [&](const auto& k) { return k.first == name; });
      if (known == std::end(kKeys)) {
        return bad(fmt::format("unknown sort criterion \"{}\"", name));
      }
      criterion.key = known->second;
      if (cmd.criteria.size() == limits_.max_sort_criteria) {
        return bad("too many sort criteria");
      }
      cmd.criteria.push_back(criterion);
    } while (a_.accept(' '));
    if (!a_.accept(')')) {
      return bad("expected \")\" after sort criteria");
    }
    TERN_TRY_VOID(sp());
    TERN_TRY_VOID(search_criteria(cmd.charset, cmd.key));
    return Command(std::move(cmd));
  }

  bool starts_with_keyword(std::string_view word) const {
    std::string_view rest = a_.rest();
    return rest.size() > word.size() && rest[word.size()] == ' ' &&
           upper(rest.substr(0, word.size())) == word;
  }

  // ---- FETCH

  // "<" number "." nz-number ">"
  Result<std::optional<std::pair<std::uint32_t, std::uint32_t>>> partial() {
    if (!a_.accept('<')) {
      return std::optional<std::pair<std::uint32_t, std::uint32_t>>();
    }
    TERN_TRY(auto origin, a_.number());
    if (!a_.accept('.')) {
      return bad("expected \".\" in a partial range");
    }
    TERN_TRY(auto length, a_.nz_number());
    if (!a_.accept('>')) {
      return bad("expected \">\" after a partial range");
    }
    return std::optional(std::make_pair(origin, length));
  }

  // The text between "[" and the matching "]". Field names in HEADER.FIELDS are
  // astrings, which may hold "]" (RFC 9051 §9 ASTRING-CHAR), so brackets inside the
  // parenthesised list or a quoted string do not close the section.
  Result<std::string> section_text() {
    std::string_view rest = a_.rest();
    int parens = 0;
    bool quoted = false;
    for (std::size_t i = 0; i < rest.size(); ++i) {
      char c = rest[i];
      if (quoted) {
        if (c == '\\') {
          ++i;
        } else if (c == '"') {
          quoted = false;
        }
      } else if (c == '"') {
        quoted = true;
      } else if (c == '(') {
        ++parens;
      } else if (c == ')') {
        --parens;
      } else if (c == ']' && parens <= 0) {
        std::string text(rest.substr(0, i));
        a_.advance(i + 1);
        return text;
      } else if (c == '{' || c == '\r' || c == '\n') {
        break;  // literals in section specifiers are not supported (Dovecot neither)
      }
    }
    return bad("unterminated section specifier");
  }

  // section-binary = "[" [section-part] "]"; section-part = nz-number *("." nz-number)
  Result<std::vector<std::uint32_t>> binary_part() {
    if (!a_.accept('[')) {
      return bad("expected \"[\" after BINARY");
    }
    std::vector<std::uint32_t> part;
    if (a_.accept(']')) {
      return part;
    }
    do {
      TERN_TRY(auto n, a_.nz_number());
      part.push_back(n);
    } while (a_.accept('.'));
    if (!a_.accept(']')) {
      return bad("expected \"]\" after BINARY part numbers");
    }
    return part;
  }

  // The name of a fetch-att: letters, digits, "." and "822" up to "[", SP, ")".
  std::string fetch_att_name() {
    std::string_view rest = a_.rest();
    std::size_t n = 0;
    while (n < rest.size()) {
      char c = rest[n];
      bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                c == '.' || c == '-';
      if (!ok) {
        break;
      }
      ++n;
    }
    std::string name = upper(rest.substr(0, n));
    a_.advance(n);
    return name;
  }

  Result<FetchItem> fetch_att() {
    using K = FetchItem::Kind;
    FetchItem item;
    std::string name = fetch_att_name();

    struct Simple {
      std::string_view name;
      K kind;
    };

    static constexpr Simple kSimple[] = {
        {"UID", K::kUid},
        {"FLAGS", K::kFlags},
        {"INTERNALDATE", K::kInternalDate},
        {"RFC822.SIZE", K::kRfc822Size},
        {"ENVELOPE", K::kEnvelope},
        {"BODYSTRUCTURE", K::kBodyStructure},
        {"RFC822", K::kRfc822},
        {"RFC822.HEADER", K::kRfc822Header},
        {"RFC822.TEXT", K::kRfc822Text},
        {"MODSEQ", K::kModSeq},
        {"SAVEDATE", K::kSaveDate},  // RFC 8514 §4.2
        {"EMAILID", K::kEmailId},    // RFC 8474 §5.3
        {"THREADID", K::kThreadId},
    };
    for (const auto& s : kSimple) {
      if (name == s.name) {
        item.kind = s.kind;
        return item;
      }
    }
    if (name == "BODY" || name == "BODY.PEEK") {
      if (a_.peek() != '[') {
        if (name == "BODY.PEEK") {
          return bad("expected \"[\" after BODY.PEEK");
        }
        item.kind = K::kBody;
        return item;
      }
      a_.accept('[');
      item.kind = K::kBodySection;
      item.peek = name == "BODY.PEEK";
      TERN_TRY(item.section, section_text());
      TERN_TRY(item.partial, partial());
      return item;
    }
    if (name == "BINARY" || name == "BINARY.PEEK") {
      item.kind = K::kBinary;
      item.peek = name == "BINARY.PEEK";
      TERN_TRY(item.part, binary_part());
      TERN_TRY(item.partial, partial());
      return item;
    }
    if (name == "BINARY.SIZE") {
      item.kind = K::kBinarySize;
      TERN_TRY(item.part, binary_part());
      return item;
    }
    if (name == "PREVIEW") {
      // RFC 8970 §6: "PREVIEW" [SP "(" preview-mod *(SP preview-mod) ")"]. LAZY is
      // the only modifier; tern keeps every preview, so it changes nothing.
      item.kind = K::kPreview;
      if (a_.rest().substr(0, 2) == " (") {
        a_.advance(1);
        auto mods = option_list("PREVIEW modifiers", [&](const std::string& mod) -> Result<void> {
          if (mod != "LAZY") {
            return bad(fmt::format("unknown PREVIEW modifier \"{}\"", mod));
          }
          return ok();
        });
        if (!mods) {
          return mods.error();
        }
        if (*mods == 0) {
          return bad("expected a PREVIEW modifier");
        }
      }
      return item;
    }
    if (name.empty()) {
      return bad("expected a data item");
    }
    return bad(fmt::format("unknown data item \"{}\"", name));
  }

  Result<Command> fetch(bool uid) {
    using K = FetchItem::Kind;
    FetchCommand cmd;
    cmd.uid = uid;
    TERN_TRY_VOID(sp());
    TERN_TRY(cmd.set, a_.sequence_set());
    TERN_TRY_VOID(sp());
    if (a_.accept('(')) {
      do {
        if (cmd.items.size() >= limits_.max_fetch_items) {
          return bad("too many data items");
        }
        TERN_TRY(auto item, fetch_att());
        cmd.items.push_back(std::move(item));
      } while (a_.accept(' '));
      if (!a_.accept(')')) {
        return bad("expected \")\" after data items");
      }
    } else {
      std::string_view rest = a_.rest();
      std::size_t n = rest.find(' ');
      std::string word = upper(rest.substr(0, n));
      // RFC 9051 §6.4.5 macros.
      auto add = [&](std::initializer_list<K> kinds) {
        for (K k : kinds) {
          FetchItem item;
          item.kind = k;
          cmd.items.push_back(item);
        }
      };
      if (word == "ALL") {
        add({K::kFlags, K::kInternalDate, K::kRfc822Size, K::kEnvelope});
      } else if (word == "FAST") {
        add({K::kFlags, K::kInternalDate, K::kRfc822Size});
      } else if (word == "FULL") {
        add({K::kFlags, K::kInternalDate, K::kRfc822Size, K::kEnvelope, K::kBody});
      }
      if (!cmd.items.empty()) {
        a_.advance(word.size());
      } else {
        TERN_TRY(auto item, fetch_att());
        cmd.items.push_back(std::move(item));
      }
    }
    if (!a_.at_end()) {
      // RFC 7162 §3.1.4 / §3.2.6: fetch-modifiers.
      TERN_TRY_VOID(sp());
      if (!a_.accept('(')) {
        return bad("expected \"(\" before FETCH modifiers");
      }
      do {
        TERN_TRY(auto name, keyword());
        if (name == "CHANGEDSINCE" && !cmd.changed_since) {
          TERN_TRY_VOID(sp());
          TERN_TRY(auto modseq, a_.number64());
          cmd.changed_since = modseq;
        } else if (name == "VANISHED" && uid) {
          cmd.vanished = true;
        } else {
          return bad(fmt::format("unknown FETCH modifier \"{}\"", name));
        }
      } while (a_.accept(' '));
      if (!a_.accept(')')) {
        return bad("expected \")\" after FETCH modifiers");
      }
      // RFC 7162 §3.2.6: VANISHED requires CHANGEDSINCE.
      if (cmd.vanished && !cmd.changed_since) {
        return bad("VANISHED requires CHANGEDSINCE");
      }
    }
    TERN_TRY_VOID(a_.end());
    return Command(std::move(cmd));
  }

  Result<Command> store(bool uid) {
    StoreCommand cmd;
    cmd.uid = uid;
    TERN_TRY_VOID(sp());
    TERN_TRY(cmd.set, a_.sequence_set());
    TERN_TRY_VOID(sp());
    if (a_.accept('(')) {
      // RFC 7162 §3.1.3: store-modifier = "UNCHANGEDSINCE" SP mod-sequence-valzer.
      TERN_TRY(auto name, keyword());
      if (name != "UNCHANGEDSINCE") {
        return bad(fmt::format("unknown STORE modifier \"{}\"", name));
      }
      TERN_TRY_VOID(sp());
      TERN_TRY(auto modseq, a_.number64());
      cmd.unchanged_since = modseq;
      if (!a_.accept(')')) {
        return bad("expected \")\" after STORE modifiers");
      }
      TERN_TRY_VOID(sp());
    }
    if (a_.accept('+')) {
      cmd.op = StoreCommand::Op::kAdd;
    } else if (a_.accept('-')) {
      cmd.op = StoreCommand::Op::kRemove;
    }
    TERN_TRY(auto what, keyword());
    if (what == "FLAGS.SILENT") {
      cmd.silent = true;
    } else if (what != "FLAGS") {
      return bad(fmt::format("unknown STORE item \"{}\"", what));
    }
    TERN_TRY_VOID(sp());
    if (a_.peek() == '(') {
      TERN_TRY(cmd.flags, a_.flag_list());
    } else {
      do {
        TERN_TRY(auto flag, a_.flag());
        cmd.flags.push_back(std::move(flag));
      } while (a_.accept(' '));
    }
    TERN_TRY_VOID(a_.end());
    return Command(std::move(cmd));
  }

  Result<Command> copy(bool uid, bool move) {
    CopyCommand cmd;
    cmd.uid = uid;
    cmd.move = move;
    TERN_TRY_VOID(sp());
    TERN_TRY(cmd.set, a_.sequence_set());
    TERN_TRY_VOID(sp());
    TERN_TRY(cmd.mailbox, a_.mailbox());
    TERN_TRY_VOID(a_.end());
    return Command(std::move(cmd));
  }

 private:
  Arguments& a_;
  const ParseLimits& limits_;
  std::size_t keys_ = 0;
};

Result<Command> dispatch(Parser& p, std::string_view name, bool uid) {
  if (uid) {
    if (name == "FETCH") {
      return p.fetch(true);
    }
    if (name == "SEARCH") {
      return p.search(true);
    }
    if (name == "SORT") {
      return p.sort(true);
    }
    if (name == "THREAD") {
      return p.thread(true);
    }
    if (name == "STORE") {
      return p.store(true);
    }
    if (name == "COPY" || name == "MOVE") {
      return p.copy(true, name == "MOVE");
    }
    if (name == "EXPUNGE") {
      return p.expunge(true);
    }
    return bad(fmt::format("unknown UID command \"{}\"", name));
  }
  if (name == "CAPABILITY") {
    return p.none(CapabilityCommand{});
  }
  if (name == "NOOP") {
    return p.none(NoopCommand{});
  }
  if (name == "LOGOUT") {
    return p.none(LogoutCommand{});
  }
  if (name == "ID") {
    return p.id();
  }
  if (name == "STARTTLS") {
    return p.none(StartTlsCommand{});
  }
  if (name == "AUTHENTICATE") {
    return p.authenticate();
  }
  if (name == "LOGIN") {
    return p.login();
  }
  if (name == "ENABLE") {
    return p.enable();
  }
  if (name == "SELECT") {
    return p.select(false);
  }
  if (name == "EXAMINE") {
    return p.select(true);
  }
  if (name == "CREATE") {
    return p.create();
  }
  if (name == "DELETE") {
    return p.one_mailbox(true, false);
  }
  if (name == "RENAME") {
    return p.rename();
  }
  if (name == "SUBSCRIBE") {
    return p.one_mailbox(false, true);
  }
  if (name == "UNSUBSCRIBE") {
    return p.one_mailbox(false, false);
  }
  if (name == "LIST") {
    return p.list();
  }
  if (name == "LSUB") {
    return p.lsub();
  }
  if (name == "NAMESPACE") {
    return p.none(NamespaceCommand{});
  }
  if (name == "STATUS") {
    return p.status();
  }
  if (name == "APPEND") {
    return p.append();
  }
  if (name == "GETQUOTA") {
    return p.get_quota(false);
  }
  if (name == "GETQUOTAROOT") {
    return p.get_quota(true);
  }
  if (name == "SETQUOTA") {
    return p.set_quota();
  }
  if (name == "IDLE") {
    return p.none(IdleCommand{});
  }
  if (name == "COMPRESS") {
    return p.compress();
  }
  if (name == "CHECK") {
    return p.none(CheckCommand{});
  }
  if (name == "CLOSE") {
    return p.none(CloseCommand{});
  }
  if (name == "UNSELECT") {
    return p.none(UnselectCommand{});
  }
  if (name == "EXPUNGE") {
    return p.expunge(false);
  }
  if (name == "SEARCH") {
    return p.search(false);
  }
  if (name == "SORT") {
    return p.sort(false);
  }
  if (name == "THREAD") {
    return p.thread(false);
  }
  if (name == "FETCH") {
    return p.fetch(false);
  }
  if (name == "STORE") {
    return p.store(false);
  }
  if (name == "COPY") {
    return p.copy(false, false);
  }
  if (name == "MOVE") {
    return p.copy(false, true);
  }
  return bad(fmt::format("unknown command \"{}\"", name));
}

}  // namespace

std::string_view status_item_name(StatusItem item) {
  switch (item) {
    case StatusItem::kMessages:
      return "MESSAGES";
    case StatusItem::kUidNext:
      return "UIDNEXT";
    case StatusItem::kUidValidity:
      return "UIDVALIDITY";
    case StatusItem::kUnseen:
      return "UNSEEN";
    case StatusItem::kDeleted:
      return "DELETED";
    case StatusItem::kSize:
      return "SIZE";
    case StatusItem::kRecent:
      return "RECENT";
    case StatusItem::kHighestModSeq:
      return "HIGHESTMODSEQ";
    case StatusItem::kAppendLimit:
      return "APPENDLIMIT";
    case StatusItem::kDeletedStorage:
      return "DELETED-STORAGE";
    case StatusItem::kMailboxId:
      return "MAILBOXID";
  }
  return "";
}

bool is_object_id(std::string_view text) {
  return !text.empty() && text.size() <= 255 && std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

Result<Command> parse_command(const RawCommand& raw, const ParseLimits& limits) {
  if (!is_valid_tag(raw.tag)) {
    return bad("invalid tag");
  }
  if (raw.name.empty()) {
    return bad("missing command");
  }
  Arguments args(raw);
  Parser parser(args, limits);
  std::string name = upper(raw.name);
  bool uid = name == "UID";
  std::string shown = name;
  if (uid) {
    if (!args.space()) {
      return bad("UID: missing command");
    }
    auto sub = parser.keyword();
    if (!sub) {
      return bad("UID: missing command");
    }
    name = *sub;
    shown = "UID " + name;
  }
  auto command = dispatch(parser, name, uid);
  const bool unknown_command =
      !command && (command.error().message.rfind("unknown command", 0) == 0 ||
                   command.error().message.rfind("unknown UID command", 0) == 0);
  if (!command && !unknown_command) {
    return bad(fmt::format("{}: {}", shown, command.error().message));
  }
  return command;
}

std::string_view command_name(const Command& command) {
  return std::visit(
      [](const auto& c) -> std::string_view {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, CapabilityCommand>) {
          return "CAPABILITY";
        } else if constexpr (std::is_same_v<T, NoopCommand>) {
          return "NOOP";
        } else if constexpr (std::is_same_v<T, LogoutCommand>) {
          return "LOGOUT";
        } else if constexpr (std::is_same_v<T, IdCommand>) {
          return "ID";
        } else if constexpr (std::is_same_v<T, StartTlsCommand>) {
          return "STARTTLS";
        } else if constexpr (std::is_same_v<T, AuthenticateCommand>) {
          return "AUTHENTICATE";
        } else if constexpr (std::is_same_v<T, LoginCommand>) {
          return "LOGIN";
        } else if constexpr (std::is_same_v<T, EnableCommand>) {
          return "ENABLE";
        } else if constexpr (std::is_same_v<T, SelectCommand>) {
          return c.read_only ? "EXAMINE" : "SELECT";
        } else if constexpr (std::is_same_v<T, CreateCommand>) {
          return "CREATE";
        } else if constexpr (std::is_same_v<T, DeleteCommand>) {
          return "DELETE";
        } else if constexpr (std::is_same_v<T, RenameCommand>) {
          return "RENAME";
        } else if constexpr (std::is_same_v<T, SubscribeCommand>) {
          return c.subscribe ? "SUBSCRIBE" : "UNSUBSCRIBE";
        } else if constexpr (std::is_same_v<T, ListCommand>) {
          return "LIST";
        } else if constexpr (std::is_same_v<T, LsubCommand>) {
          return "LSUB";
        } else if constexpr (std::is_same_v<T, NamespaceCommand>) {
          return "NAMESPACE";
        } else if constexpr (std::is_same_v<T, GetQuotaCommand>) {
          return "GETQUOTA";
        } else if constexpr (std::is_same_v<T, GetQuotaRootCommand>) {
          return "GETQUOTAROOT";
        } else if constexpr (std::is_same_v<T, SetQuotaCommand>) {
          return "SETQUOTA";
        } else if constexpr (std::is_same_v<T, StatusCommand>) {
          return "STATUS";
        } else if constexpr (std::is_same_v<T, AppendCommand>) {
          return "APPEND";
        } else if constexpr (std::is_same_v<T, IdleCommand>) {
          return "IDLE";
        } else if constexpr (std::is_same_v<T, CheckCommand>) {
          return "CHECK";
        } else if constexpr (std::is_same_v<T, CloseCommand>) {
          return "CLOSE";
        } else if constexpr (std::is_same_v<T, UnselectCommand>) {
          return "UNSELECT";
        } else if constexpr (std::is_same_v<T, ExpungeCommand>) {
          return c.uids ? "UID EXPUNGE" : "EXPUNGE";
        } else if constexpr (std::is_same_v<T, SearchCommand>) {
          return c.uid ? "UID SEARCH" : "SEARCH";
        } else if constexpr (std::is_same_v<T, SortCommand>) {
          return c.uid ? "UID SORT" : "SORT";
        } else if constexpr (std::is_same_v<T, ThreadCommand>) {
          return c.uid ? "UID THREAD" : "THREAD";
        } else if constexpr (std::is_same_v<T, FetchCommand>) {
          return c.uid ? "UID FETCH" : "FETCH";
        } else if constexpr (std::is_same_v<T, StoreCommand>) {
          return c.uid ? "UID STORE" : "STORE";
        } else if constexpr (std::is_same_v<T, CompressCommand>) {
          return "COMPRESS";
        } else if constexpr (std::is_same_v<T, CopyCommand>) {
          if (c.move) {
            return c.uid ? "UID MOVE" : "MOVE";
          }
          return c.uid ? "UID COPY" : "COPY";
        }
      },
      command);
}

std::string_view state_error(const Command& command, SessionState state) {
  // RFC 9051 §6.1: valid in any state.
  if (std::holds_alternative<CapabilityCommand>(command) ||
      std::holds_alternative<NoopCommand>(command) ||
      std::holds_alternative<LogoutCommand>(command) ||
      std::holds_alternative<IdCommand>(command)) {
    return "";
  }
  bool pre_auth = std::holds_alternative<StartTlsCommand>(command) ||
                  std::holds_alternative<AuthenticateCommand>(command) ||
                  std::holds_alternative<LoginCommand>(command);
  if (std::holds_alternative<CompressCommand>(command) &&
      state == SessionState::kNotAuthenticated) {
    return "log in first";
  }
  bool selected_only = std::holds_alternative<CheckCommand>(command) ||
                       std::holds_alternative<CloseCommand>(command) ||
                       std::holds_alternative<UnselectCommand>(command) ||
                       std::holds_alternative<ExpungeCommand>(command) ||
                       std::holds_alternative<SearchCommand>(command) ||
                       std::holds_alternative<SortCommand>(command) ||
                       std::holds_alternative<ThreadCommand>(command) ||
                       std::holds_alternative<FetchCommand>(command) ||
                       std::holds_alternative<StoreCommand>(command) ||
                       std::holds_alternative<CopyCommand>(command);
  switch (state) {
    case SessionState::kNotAuthenticated:
      return pre_auth ? "" : "log in first";
    case SessionState::kAuthenticated:
      if (pre_auth) {
        return "already authenticated";
      }
      return selected_only ? "no mailbox selected" : "";
    case SessionState::kSelected:
      if (pre_auth) {
        return "already authenticated";
      }
      // RFC 5161 §3.1: ENABLE only in the authenticated state, before SELECT.
      if (std::holds_alternative<EnableCommand>(command)) {
        return "ENABLE is not allowed while a mailbox is selected";
      }
      return "";
    case SessionState::kLogout:
      return "logging out";
  }
  return "";
}

}  // namespace tern::imap
