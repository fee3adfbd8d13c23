// SPDX-License-Identifier: Apache-2.0
#include "imap/command.hpp"

#include <string>

#include <gtest/gtest.h>

#include "imap/command_reader.hpp"

namespace tern::imap {
namespace {

// Frames `input` (one command, literals as "{n+}" so no continuation is needed) and
// parses it.
Result<Command> parse(const std::string& input) {
  CommandReader reader;
  reader.receive(std::string_view(input));
  auto event = reader.next();
  auto* raw = std::get_if<RawCommand>(&event);
  if (raw == nullptr) {
    return Error{ErrorCode::kInternal, "not framed"};
  }
  return parse_command(*raw);
}

template <class T>
T parse_as(const std::string& input) {
  auto command = parse(input);
  EXPECT_TRUE(command.has_value()) << input << ": " << command.error().message;
  if (!command || !std::holds_alternative<T>(*command)) {
    ADD_FAILURE() << "wrong command type for " << input;
    return T{};
  }
  return std::get<T>(*command);
}

std::string error_of(const std::string& input) {
  auto command = parse(input);
  EXPECT_FALSE(command.has_value()) << input;
  return command ? "" : command.error().message;
}

TEST(ImapCommandTest, SimpleCommands) {
  EXPECT_TRUE(std::holds_alternative<CapabilityCommand>(*parse("a CAPABILITY\r\n")));
  EXPECT_TRUE(std::holds_alternative<NoopCommand>(*parse("a noop\r\n")));
  EXPECT_TRUE(std::holds_alternative<LogoutCommand>(*parse("a LOGOUT\r\n")));
  EXPECT_TRUE(std::holds_alternative<StartTlsCommand>(*parse("a STARTTLS\r\n")));
  EXPECT_TRUE(std::holds_alternative<NamespaceCommand>(*parse("a NAMESPACE\r\n")));
  EXPECT_TRUE(std::holds_alternative<IdleCommand>(*parse("a IDLE\r\n")));
  EXPECT_TRUE(std::holds_alternative<CheckCommand>(*parse("a CHECK\r\n")));
  EXPECT_TRUE(std::holds_alternative<CloseCommand>(*parse("a CLOSE\r\n")));
  EXPECT_TRUE(std::holds_alternative<UnselectCommand>(*parse("a UNSELECT\r\n")));
  EXPECT_FALSE(parse_as<ExpungeCommand>("a EXPUNGE\r\n").uids.has_value());
  EXPECT_EQ(parse_as<CompressCommand>("a compress deflate\r\n").mechanism, "DEFLATE");
  EXPECT_EQ(error_of("a COMPRESS\r\n"), "COMPRESS: missing argument");
  EXPECT_EQ(error_of("a NOOP x\r\n"), "NOOP: unexpected arguments");
  EXPECT_EQ(error_of("a FROB\r\n"), "unknown command \"FROB\"");
  EXPECT_FALSE(is_valid_tag("a+"));
  EXPECT_TRUE(is_valid_tag("A.1]"));
}

TEST(ImapCommandTest, LoginAndAuthenticate) {
  auto login = parse_as<LoginCommand>("a LOGIN \"us\\\"er\" {4+}\r\np ss\r\n");
  EXPECT_EQ(login.user, "us\"er");
  EXPECT_EQ(login.password, "p ss");
  EXPECT_EQ(error_of("a LOGIN user\r\n"), "LOGIN: missing argument");

  auto auth = parse_as<AuthenticateCommand>("a authenticate plain AHUAcA==\r\n");
  EXPECT_EQ(auth.mechanism, "PLAIN");
  EXPECT_EQ(auth.initial_response, "AHUAcA==");
  EXPECT_FALSE(parse_as<AuthenticateCommand>("a AUTHENTICATE SCRAM-SHA-256\r\n")
                   .initial_response.has_value());
  EXPECT_EQ(parse_as<AuthenticateCommand>("a AUTHENTICATE PLAIN =\r\n").initial_response, "=");
}

TEST(ImapCommandTest, EnableAndId) {
  auto enable = parse_as<EnableCommand>("a ENABLE condstore IMAP4rev2\r\n");
  EXPECT_EQ(enable.capabilities, (std::vector<std::string>{"CONDSTORE", "IMAP4REV2"}));
  EXPECT_EQ(error_of("a ENABLE\r\n"), "ENABLE: missing argument");

  auto id = parse_as<IdCommand>("a ID (\"name\" \"mutt\" \"os\" NIL)\r\n");
  ASSERT_TRUE(id.fields.has_value());
  ASSERT_EQ(id.fields->size(), 2u);
  EXPECT_EQ((*id.fields)[0].second, "mutt");
  EXPECT_FALSE((*id.fields)[1].second.has_value());
  EXPECT_FALSE(parse_as<IdCommand>("a ID NIL\r\n").fields.has_value());
  EXPECT_EQ(error_of("a ID \"x\"\r\n"), "ID: expected \"(\" or NIL");
}

TEST(ImapCommandTest, SelectWithCondstoreAndQresync) {
  auto select = parse_as<SelectCommand>("a SELECT inbox\r\n");
  EXPECT_EQ(select.mailbox, "INBOX");
  EXPECT_FALSE(select.read_only);

  auto examine = parse_as<SelectCommand>("a EXAMINE Sent (CONDSTORE)\r\n");
  EXPECT_TRUE(examine.read_only);
  EXPECT_TRUE(examine.condstore);

  auto q = parse_as<SelectCommand>(
      "a SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541 "
      "(1,3,5 1,3:4)))\r\n");
  ASSERT_TRUE(q.qresync.has_value());
  EXPECT_EQ(q.qresync->uid_validity, 67890007u);
  EXPECT_EQ(q.qresync->modseq, 20050715194045000u);
  ASSERT_TRUE(q.qresync->known_uids.has_value());
  EXPECT_EQ(q.qresync->known_uids->ranges().size(), 3u);
  ASSERT_TRUE(q.qresync->seq_match.has_value());

  auto q2 = parse_as<SelectCommand>("a SELECT INBOX (QRESYNC (1 5))\r\n");
  EXPECT_FALSE(q2.qresync->known_uids.has_value());
  EXPECT_EQ(error_of("a SELECT INBOX (QRESYNC (1 0))\r\n"),
            "SELECT: QRESYNC mod-sequence must be non-zero");
  EXPECT_EQ(error_of("a SELECT INBOX (FOO)\r\n"), "SELECT: unknown select parameter \"FOO\"");
}

TEST(ImapCommandTest, MailboxCommands) {
  auto create = parse_as<CreateCommand>("a CREATE \"My Sent\" (USE (\\Sent))\r\n");
  EXPECT_EQ(create.mailbox, "My Sent");
  EXPECT_EQ(create.special_use, (std::vector<std::string>{"\\Sent"}));
  EXPECT_EQ(parse_as<DeleteCommand>("a DELETE foo\r\n").mailbox, "foo");
  auto rename = parse_as<RenameCommand>("a RENAME INBOX Old\r\n");
  EXPECT_EQ(rename.from, "INBOX");
  EXPECT_EQ(rename.to, "Old");
  EXPECT_TRUE(parse_as<SubscribeCommand>("a SUBSCRIBE x\r\n").subscribe);
  EXPECT_FALSE(parse_as<SubscribeCommand>("a UNSUBSCRIBE x\r\n").subscribe);
  EXPECT_EQ(error_of("a RENAME x\r\n"), "RENAME: missing argument");
}

TEST(ImapCommandTest, ListBasicAndExtended) {
  auto basic = parse_as<ListCommand>("a LIST \"\" *\r\n");
  EXPECT_FALSE(basic.extended);
  EXPECT_EQ(basic.patterns, (std::vector<std::string>{"*"}));

  auto ext = parse_as<ListCommand>(
      "a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (\"*\" %/x) RETURN (CHILDREN SPECIAL-USE "
      "STATUS (MESSAGES UNSEEN SIZE))\r\n");
  EXPECT_TRUE(ext.extended);
  EXPECT_TRUE(ext.select_subscribed);
  EXPECT_TRUE(ext.select_recursive_match);
  EXPECT_EQ(ext.patterns, (std::vector<std::string>{"*", "%/x"}));
  EXPECT_TRUE(ext.return_children);
  EXPECT_TRUE(ext.return_special_use);
  ASSERT_TRUE(ext.return_status.has_value());
  EXPECT_EQ(ext.return_status->size(), 3u);

  EXPECT_EQ(error_of("a LIST (RECURSIVEMATCH) \"\" *\r\n"),
            "LIST: RECURSIVEMATCH needs another selection option");
  EXPECT_EQ(error_of("a LIST \"\" * RETURN (BOGUS)\r\n"),
            "LIST: unknown LIST return option \"BOGUS\"");
  auto lsub = parse_as<LsubCommand>("a LSUB \"\" %\r\n");
  EXPECT_EQ(lsub.pattern, "%");
}

TEST(ImapCommandTest, Status) {
  auto status = parse_as<StatusCommand>(
      "a STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE RECENT HIGHESTMODSEQ "
      "APPENDLIMIT deleted-storage)\r\n");
  EXPECT_EQ(status.items.size(), 10u);
  EXPECT_EQ(status.items[5], StatusItem::kSize);
  EXPECT_EQ(status.items[9], StatusItem::kDeletedStorage);
  EXPECT_EQ(error_of("a STATUS INBOX (MESSAGES FOO)\r\n"), "STATUS: unknown status item \"FOO\"");
  EXPECT_EQ(error_of("a STATUS INBOX ()\r\n"), "STATUS: expected an atom");
}

// RFC 8514 §5: fetch-att =/ "SAVEDATE".
TEST(ImapCommandTest, SaveDate) {
  auto fetch = parse_as<FetchCommand>("a UID FETCH 1:* (SAVEDATE savedate)\r\n");
  ASSERT_EQ(fetch.items.size(), 2u);
  EXPECT_EQ(fetch.items[0].kind, FetchItem::Kind::kSaveDate);
  EXPECT_EQ(fetch.items[1].kind, FetchItem::Kind::kSaveDate);
  EXPECT_EQ(error_of("a FETCH 1 SAVEDATE[]\r\n").rfind("FETCH: ", 0), 0u);
}

// RFC 8474 §7: fetch-att, search-key and status-att.
TEST(ImapCommandTest, ObjectIds) {
  auto fetch = parse_as<FetchCommand>("a FETCH 1:* (EMAILID threadid)\r\n");
  ASSERT_EQ(fetch.items.size(), 2u);
  EXPECT_EQ(fetch.items[0].kind, FetchItem::Kind::kEmailId);
  EXPECT_EQ(fetch.items[1].kind, FetchItem::Kind::kThreadId);
  auto search = parse_as<SearchCommand>("a SEARCH EMAILID M6d99ac-3_2 THREADID T1\r\n");
  ASSERT_EQ(search.key.children.size(), 2u);
  EXPECT_EQ(search.key.children[0].kind, SearchKey::Kind::kEmailId);
  EXPECT_EQ(search.key.children[0].text, "M6d99ac-3_2");  // case kept: ids are exact
  EXPECT_EQ(search.key.children[1].kind, SearchKey::Kind::kThreadId);
  EXPECT_EQ(error_of("a SEARCH EMAILID a.b\r\n"), "SEARCH: expected an objectid");
  EXPECT_EQ(error_of("a SEARCH EMAILID\r\n").rfind("SEARCH: ", 0), 0u);
  EXPECT_EQ(error_of("a SEARCH EMAILID " + std::string(256, 'x') + "\r\n"),
            "SEARCH: expected an objectid");
  auto status = parse_as<StatusCommand>("a STATUS INBOX (MAILBOXID UIDNEXT)\r\n");
  ASSERT_EQ(status.items.size(), 2u);
  EXPECT_EQ(status.items[0], StatusItem::kMailboxId);
  EXPECT_TRUE(is_object_id("F1795968430"));
  EXPECT_FALSE(is_object_id(""));
  EXPECT_FALSE(is_object_id("a b"));
}

// RFC 8970 §6.
TEST(ImapCommandTest, Preview) {
  auto fetch = parse_as<FetchCommand>("a FETCH 1:* (UID PREVIEW (LAZY) preview FLAGS)\r\n");
  ASSERT_EQ(fetch.items.size(), 4u);
  EXPECT_EQ(fetch.items[1].kind, FetchItem::Kind::kPreview);
  EXPECT_EQ(fetch.items[2].kind, FetchItem::Kind::kPreview);
  EXPECT_EQ(fetch.items[3].kind, FetchItem::Kind::kFlags);
  EXPECT_EQ(parse_as<FetchCommand>("a FETCH 1 PREVIEW\r\n").items.size(), 1u);
  EXPECT_EQ(error_of("a FETCH 1 (PREVIEW (EAGER))\r\n"),
            "FETCH: unknown PREVIEW modifier \"EAGER\"");
  EXPECT_EQ(error_of("a FETCH 1 (PREVIEW ())\r\n"), "FETCH: expected a PREVIEW modifier");
}

// RFC 5256 §5.
TEST(ImapCommandTest, Thread) {
  auto thread = parse_as<ThreadCommand>("a THREAD references utf-8 SUBJECT plan\r\n");
  EXPECT_FALSE(thread.uid);
  EXPECT_EQ(thread.algorithm, ThreadCommand::Algorithm::kReferences);
  EXPECT_EQ(thread.charset, "UTF-8");
  EXPECT_EQ(thread.key.children.size(), 1u);
  auto uid = parse_as<ThreadCommand>("a UID THREAD ORDEREDSUBJECT US-ASCII ALL\r\n");
  EXPECT_TRUE(uid.uid);
  EXPECT_EQ(uid.algorithm, ThreadCommand::Algorithm::kOrderedSubject);
  EXPECT_EQ(command_name(Command(uid)), "UID THREAD");
  EXPECT_EQ(error_of("a THREAD REFS UTF-8 ALL\r\n"),
            "THREAD: unknown threading algorithm \"REFS\"");
  EXPECT_EQ(error_of("a THREAD REFERENCES UTF-8\r\n").rfind("THREAD: ", 0), 0u);
  EXPECT_EQ(state_error(ThreadCommand{}, SessionState::kAuthenticated), "no mailbox selected");
}

// RFC 5256 §5.
TEST(ImapCommandTest, Sort) {
  auto sort = parse_as<SortCommand>("a SORT (SUBJECT reverse DATE) utf-8 UNSEEN FROM bob\r\n");
  EXPECT_FALSE(sort.uid);
  ASSERT_EQ(sort.criteria.size(), 2u);
  EXPECT_EQ(sort.criteria[0].key, SortCriterion::Key::kSubject);
  EXPECT_FALSE(sort.criteria[0].reverse);
  EXPECT_EQ(sort.criteria[1].key, SortCriterion::Key::kDate);
  EXPECT_TRUE(sort.criteria[1].reverse);
  EXPECT_EQ(sort.charset, "UTF-8");
  EXPECT_EQ(sort.key.kind, SearchKey::Kind::kAnd);
  EXPECT_EQ(sort.key.children.size(), 2u);
  auto uid = parse_as<SortCommand>(
      "a UID SORT (ARRIVAL CC FROM SIZE TO DisplayFrom REVERSE DISPLAYTO) \"US-ASCII\" ALL\r\n");
  EXPECT_TRUE(uid.uid);
  ASSERT_EQ(uid.criteria.size(), 7u);
  EXPECT_EQ(uid.criteria[5].key, SortCriterion::Key::kDisplayFrom);  // RFC 5957 §4
  EXPECT_EQ(uid.criteria[6].key, SortCriterion::Key::kDisplayTo);
  EXPECT_TRUE(uid.criteria[6].reverse);
  EXPECT_EQ(command_name(Command(uid)), "UID SORT");

  // RFC 5267 §3.2: ESORT's RETURN options come first.
  auto esort = parse_as<SortCommand>("a SORT RETURN (MIN ALL) (DATE) UTF-8 ALL\r\n");
  ASSERT_TRUE(esort.return_opts.has_value());
  EXPECT_TRUE(esort.return_opts->min && esort.return_opts->all && !esort.return_opts->max);
  EXPECT_TRUE(parse_as<SortCommand>("a SORT RETURN () (DATE) UTF-8 ALL\r\n").return_opts->all);
  EXPECT_FALSE(sort.return_opts.has_value());
  EXPECT_EQ(error_of("a SORT RETURN (FIRST) (DATE) UTF-8 ALL\r\n"),
            "SORT: unknown SORT return option \"FIRST\"");
  EXPECT_EQ(error_of("a SORT () UTF-8 ALL\r\n").rfind("SORT: ", 0), 0u);
  EXPECT_EQ(error_of("a SORT (COLOR) UTF-8 ALL\r\n"), "SORT: unknown sort criterion \"COLOR\"");
  EXPECT_EQ(error_of("a SORT (REVERSE) UTF-8 ALL\r\n").rfind("SORT: ", 0), 0u);
  EXPECT_EQ(error_of("a SORT DATE UTF-8 ALL\r\n"), "SORT: expected \"(\" before sort criteria");
  EXPECT_EQ(error_of("a SORT (DATE) UTF-8\r\n").rfind("SORT: ", 0), 0u);  // no search key
  EXPECT_EQ(error_of("a SORT (DATE) ALL\r\n").rfind("SORT: ", 0), 0u);    // no charset
  std::string many = "a SORT (";
  for (int i = 0; i < 17; ++i) {
    many += i == 0 ? "DATE" : " DATE";
  }
  EXPECT_EQ(error_of(many + ") UTF-8 ALL\r\n"), "SORT: too many sort criteria");
  EXPECT_EQ(state_error(SortCommand{}, SessionState::kAuthenticated), "no mailbox selected");
}

// RFC 9208 §7.
TEST(ImapCommandTest, Quota) {
  EXPECT_EQ(parse_as<GetQuotaCommand>("a GETQUOTA \"\"\r\n").root, "");
  EXPECT_EQ(parse_as<GetQuotaCommand>("a getquota user/alice\r\n").root, "user/alice");
  EXPECT_EQ(parse_as<GetQuotaRootCommand>("a GETQUOTAROOT inbox\r\n").mailbox, "INBOX");
  auto set = parse_as<SetQuotaCommand>("a SETQUOTA \"\" (storage 512 MESSAGE 1000)\r\n");
  EXPECT_EQ(set.root, "");
  ASSERT_EQ(set.limits.size(), 2u);
  EXPECT_EQ(set.limits[0], (std::pair<std::string, std::uint64_t>{"STORAGE", 512}));
  EXPECT_EQ(set.limits[1], (std::pair<std::string, std::uint64_t>{"MESSAGE", 1000}));
  EXPECT_TRUE(parse_as<SetQuotaCommand>("a SETQUOTA x ()\r\n").limits.empty());

  EXPECT_EQ(error_of("a GETQUOTA\r\n"), "GETQUOTA: missing argument");
  EXPECT_EQ(error_of("a GETQUOTAROOT INBOX x\r\n").rfind("GETQUOTAROOT: ", 0), 0u);
  EXPECT_EQ(error_of("a SETQUOTA \"\" (STORAGE)\r\n").rfind("SETQUOTA: ", 0), 0u);
  EXPECT_EQ(error_of("a SETQUOTA \"\" STORAGE 5\r\n"),
            "SETQUOTA: expected \"(\" before resource limits");
  EXPECT_EQ(error_of("a SETQUOTA \"\" (STORAGE 99999999999999999999)\r\n").rfind("SETQUOTA: ", 0),
            0u);
  EXPECT_EQ(state_error(GetQuotaRootCommand{}, SessionState::kNotAuthenticated), "log in first");
  EXPECT_EQ(state_error(GetQuotaCommand{}, SessionState::kSelected), "");
}

TEST(ImapCommandTest, Append) {
  auto append = parse_as<AppendCommand>(
      "a APPEND Drafts (\\Seen $Label) \" 7-Feb-1994 21:52:25 -0800\" {5+}\r\nhello\r\n");
  EXPECT_EQ(append.mailbox, "Drafts");
  ASSERT_EQ(append.messages.size(), 1u);
  EXPECT_EQ(append.messages[0].flags, (std::vector<std::string>{"\\Seen", "$Label"}));
  EXPECT_EQ(append.messages[0].internal_date, 760686745);
  EXPECT_EQ(append.messages[0].data, "hello");
  EXPECT_FALSE(append.messages[0].binary);

  auto binary = parse_as<AppendCommand>(std::string("a APPEND x ~{3+}\r\na\0b\r\n", 23));
  EXPECT_EQ(binary.messages[0].data, std::string("a\0b", 3));
  EXPECT_TRUE(binary.messages[0].binary);

  auto multi = parse_as<AppendCommand>("a APPEND x {1+}\r\na (\\Seen) {1+}\r\nb\r\n");
  ASSERT_EQ(multi.messages.size(), 2u);
  EXPECT_EQ(multi.messages[1].data, "b");

  auto utf8 = parse_as<AppendCommand>("a APPEND x UTF8 (~{2+}\r\nhi)\r\n");
  EXPECT_TRUE(utf8.messages[0].utf8);

  EXPECT_EQ(error_of("a APPEND x (\\Seen) hello\r\n"), "APPEND: expected a message literal");
}

TEST(ImapCommandTest, SearchKeys) {
  auto search = parse_as<SearchCommand>(
      "a UID SEARCH RETURN (MIN COUNT SAVE) CHARSET utf-8 OR FROM alice (SUBJECT {3+}\r\nhey "
      "UNSEEN) NOT SINCE 1-Feb-1994 HEADER X-Spam yes LARGER 100 1:5,7 UID $ MODSEQ "
      "\"/flags/\\\\draft\" all 620162338\r\n");
  EXPECT_TRUE(search.uid);
  EXPECT_EQ(search.charset, "UTF-8");
  ASSERT_TRUE(search.return_opts.has_value());
  EXPECT_TRUE(search.return_opts->min);
  EXPECT_TRUE(search.return_opts->count);
  EXPECT_TRUE(search.return_opts->save);
  EXPECT_FALSE(search.return_opts->all);
  using K = SearchKey::Kind;
  const auto& keys = search.key.children;
  ASSERT_EQ(keys.size(), 7u);
  EXPECT_EQ(keys[0].kind, K::kOr);
  EXPECT_EQ(keys[0].children[0].kind, K::kFrom);
  EXPECT_EQ(keys[0].children[1].kind, K::kAnd);
  EXPECT_EQ(keys[0].children[1].children[0].text, "hey");
  EXPECT_EQ(keys[1].kind, K::kNot);
  EXPECT_EQ(keys[1].children[0].kind, K::kSince);
  EXPECT_EQ(keys[1].children[0].date, 760060800);
  EXPECT_EQ(keys[2].field, "X-Spam");
  EXPECT_EQ(keys[3].number, 100u);
  EXPECT_EQ(keys[4].kind, K::kSequenceSet);
  EXPECT_TRUE(keys[5].set.is_saved_result());
  EXPECT_EQ(keys[6].kind, K::kModSeq);
  EXPECT_EQ(keys[6].field, "/flags/\\draft");
  EXPECT_EQ(keys[6].number, 620162338u);

  EXPECT_TRUE(parse_as<SearchCommand>("a SEARCH RETURN () ALL\r\n").return_opts->all);
  // RFC 5032 §4: OLDER / YOUNGER nz-number.
  auto within = parse_as<SearchCommand>("a SEARCH older 60 YOUNGER 4294967295\r\n");
  ASSERT_EQ(within.key.children.size(), 2u);
  EXPECT_EQ(within.key.children[0].kind, K::kOlder);
  EXPECT_EQ(within.key.children[0].number, 60u);
  EXPECT_EQ(within.key.children[1].kind, K::kYounger);
  EXPECT_EQ(error_of("a SEARCH YOUNGER 0\r\n").rfind("SEARCH: ", 0), 0u);
  EXPECT_EQ(error_of("a SEARCH OLDER\r\n").rfind("SEARCH: ", 0), 0u);
  // RFC 8514 §5: SAVEDBEFORE / SAVEDON / SAVEDSINCE date, SAVEDATESUPPORTED.
  auto saved = parse_as<SearchCommand>(
      "a SEARCH SAVEDBEFORE 2-Jan-1970 savedon 1-Jan-1970 SAVEDSINCE 1-Jan-1970 "
      "SAVEDATESUPPORTED\r\n");
  ASSERT_EQ(saved.key.children.size(), 4u);
  EXPECT_EQ(saved.key.children[0].kind, K::kSavedBefore);
  EXPECT_EQ(saved.key.children[0].date, 86400);
  EXPECT_EQ(saved.key.children[1].kind, K::kSavedOn);
  EXPECT_EQ(saved.key.children[2].kind, K::kSavedSince);
  EXPECT_EQ(saved.key.children[3].kind, K::kSaveDateSupported);
  EXPECT_EQ(error_of("a SEARCH SAVEDON\r\n").rfind("SEARCH: ", 0), 0u);
  EXPECT_EQ(error_of("a SEARCH SAVEDSINCE 1-Foo-2020\r\n"), "SEARCH: invalid date");
  EXPECT_EQ(error_of("a SEARCH FROBNICATE\r\n"), "SEARCH: unknown search key \"FROBNICATE\"");
  EXPECT_EQ(error_of("a SEARCH\r\n"), "SEARCH: missing argument");
  EXPECT_EQ(error_of("a SEARCH SINCE 31-Feb-2020\r\n"), "SEARCH: invalid date");
}

TEST(ImapCommandTest, SearchDepthIsBounded) {
  std::string deep = "a SEARCH ";
  for (int i = 0; i < 100; ++i) {
    deep += "NOT ";
  }
  deep += "ALL\r\n";
  EXPECT_EQ(error_of(deep), "SEARCH: search keys nested too deeply");
}

TEST(ImapCommandTest, FetchItems) {
  using K = FetchItem::Kind;
  auto fetch = parse_as<FetchCommand>(
      "a FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY BODYSTRUCTURE RFC822 "
      "RFC822.HEADER RFC822.TEXT BODY[] body.peek[HEADER.FIELDS (From \"X]\")]<10.20> "
      "BINARY.PEEK[1.2]<0.5> BINARY.SIZE[1] BINARY[] MODSEQ)\r\n");
  ASSERT_EQ(fetch.items.size(), 16u);
  EXPECT_EQ(fetch.items[5].kind, K::kBody);
  EXPECT_EQ(fetch.items[10].kind, K::kBodySection);
  EXPECT_EQ(fetch.items[10].section, "");
  EXPECT_FALSE(fetch.items[10].peek);
  EXPECT_TRUE(fetch.items[11].peek);
  EXPECT_EQ(fetch.items[11].section, "HEADER.FIELDS (From \"X]\")");
  EXPECT_EQ(fetch.items[11].partial, std::make_pair(10u, 20u));
  EXPECT_EQ(fetch.items[12].kind, K::kBinary);
  EXPECT_EQ(fetch.items[12].part, (std::vector<std::uint32_t>{1, 2}));
  EXPECT_EQ(fetch.items[13].kind, K::kBinarySize);
  EXPECT_TRUE(fetch.items[14].part.empty());
  EXPECT_EQ(fetch.items[15].kind, K::kModSeq);

  EXPECT_EQ(parse_as<FetchCommand>("a FETCH 1 ALL\r\n").items.size(), 4u);
  EXPECT_EQ(parse_as<FetchCommand>("a FETCH 1 fast\r\n").items.size(), 3u);
  EXPECT_EQ(parse_as<FetchCommand>("a FETCH 1 FULL\r\n").items.size(), 5u);
  EXPECT_EQ(parse_as<FetchCommand>("a FETCH 1 BODY[TEXT]\r\n").items[0].section, "TEXT");

  auto modifiers =
      parse_as<FetchCommand>("a UID FETCH 1:* FLAGS (CHANGEDSINCE 12345 VANISHED)\r\n");
  EXPECT_TRUE(modifiers.uid);
  EXPECT_EQ(modifiers.changed_since, 12345u);
  EXPECT_TRUE(modifiers.vanished);

  EXPECT_EQ(error_of("a FETCH 1 (VANISHED)\r\n"), "FETCH: unknown data item \"VANISHED\"");
  EXPECT_EQ(error_of("a FETCH 1 FLAGS (VANISHED)\r\n"),
            "FETCH: unknown FETCH modifier \"VANISHED\"");
  EXPECT_EQ(error_of("a UID FETCH 1 FLAGS (VANISHED)\r\n"),
            "UID FETCH: VANISHED requires CHANGEDSINCE");
  EXPECT_EQ(error_of("a FETCH 1 BODY[HEADER\r\n"), "FETCH: unterminated section specifier");
  EXPECT_EQ(error_of("a FETCH 1 BODY[]<5>\r\n"), "FETCH: expected \".\" in a partial range");
  EXPECT_EQ(error_of("a FETCH 1 BINARY[0]\r\n"), "FETCH: expected a non-zero number");
  EXPECT_EQ(error_of("a FETCH 0 FLAGS\r\n").substr(0, 7), "FETCH: ");
  EXPECT_EQ(error_of("a FETCH 1 ()\r\n"), "FETCH: expected a data item");
}

TEST(ImapCommandTest, Store) {
  auto store = parse_as<StoreCommand>("a STORE 1:3 +FLAGS.SILENT (\\Deleted $Junk)\r\n");
  EXPECT_EQ(store.op, StoreCommand::Op::kAdd);
  EXPECT_TRUE(store.silent);
  EXPECT_EQ(store.flags, (std::vector<std::string>{"\\Deleted", "$Junk"}));

  auto bare = parse_as<StoreCommand>("a UID STORE 5 -FLAGS \\Seen \\Flagged\r\n");
  EXPECT_TRUE(bare.uid);
  EXPECT_EQ(bare.op, StoreCommand::Op::kRemove);
  EXPECT_EQ(bare.flags.size(), 2u);

  auto conditional = parse_as<StoreCommand>("a STORE 1 (UNCHANGEDSINCE 320162338) FLAGS ()\r\n");
  EXPECT_EQ(conditional.unchanged_since, 320162338u);
  EXPECT_EQ(conditional.op, StoreCommand::Op::kReplace);
  EXPECT_TRUE(conditional.flags.empty());

  EXPECT_EQ(error_of("a STORE 1 LABELS (x)\r\n"), "STORE: unknown STORE item \"LABELS\"");
  EXPECT_EQ(error_of("a STORE 1 FLAGS (\\*)\r\n"), "STORE: expected a flag");
}

TEST(ImapCommandTest, CopyMoveAndUidExpunge) {
  auto copy = parse_as<CopyCommand>("a COPY 2:4 Trash\r\n");
  EXPECT_FALSE(copy.move);
  EXPECT_EQ(copy.mailbox, "Trash");
  auto move = parse_as<CopyCommand>("a UID MOVE 42 \"Archive/2024\"\r\n");
  EXPECT_TRUE(move.move);
  EXPECT_TRUE(move.uid);
  auto expunge = parse_as<ExpungeCommand>("a UID EXPUNGE 3000:3002\r\n");
  ASSERT_TRUE(expunge.uids.has_value());
  EXPECT_EQ(error_of("a UID FROB 1\r\n"), "unknown UID command \"FROB\"");
  EXPECT_EQ(error_of("a UID\r\n"), "UID: missing command");
}

TEST(ImapCommandTest, StateTable) {
  Command fetch = FetchCommand{};
  Command login = LoginCommand{};
  Command select = SelectCommand{};
  Command enable = EnableCommand{};
  Command noop = NoopCommand{};
  EXPECT_EQ(state_error(fetch, SessionState::kAuthenticated), "no mailbox selected");
  EXPECT_EQ(state_error(fetch, SessionState::kSelected), "");
  EXPECT_EQ(state_error(select, SessionState::kNotAuthenticated), "log in first");
  EXPECT_EQ(state_error(login, SessionState::kSelected), "already authenticated");
  EXPECT_EQ(state_error(enable, SessionState::kAuthenticated), "");
  EXPECT_NE(state_error(enable, SessionState::kSelected), "");
  EXPECT_EQ(state_error(noop, SessionState::kNotAuthenticated), "");
  EXPECT_EQ(command_name(Command{CopyCommand{true, true, {}, ""}}), "UID MOVE");
}

}  // namespace
}  // namespace tern::imap
