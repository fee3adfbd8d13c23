// SPDX-License-Identifier: Apache-2.0
// imap::Command: the typed model of every client command of RFC 9051 (IMAP4rev2) and
// RFC 3501 (IMAP4rev1), with the extension syntax tern parses (RFC 7162 CONDSTORE/
// QRESYNC, RFC 4731 ESEARCH, RFC 5182 SEARCHRES, RFC 5258 LIST-EXTENDED, RFC 5819
// LIST-STATUS, RFC 6154 SPECIAL-USE, RFC 3516 BINARY, RFC 4315 UIDPLUS, RFC 6851
// MOVE, RFC 2971 ID, RFC 5161 ENABLE, RFC 3502 MULTIAPPEND, RFC 6855 UTF8 APPEND),
// and parse_command(), which turns a framed RawCommand into one of them.
//
// Parsing is pure syntax: whether a mailbox exists, whether the command is allowed in
// the session's state or whether an extension was enabled is decided elsewhere (the
// engine checks states, the handlers everything else). A parse error is a
// kInvalidInput Error whose message is fit for the tagged BAD the engine sends.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "base/result.hpp"
#include "imap/command_reader.hpp"
#include "imap/sequence_set.hpp"

namespace tern::imap {

// ----- commands valid in any state (RFC 9051 §6.1)

struct CapabilityCommand {};

struct NoopCommand {};

struct LogoutCommand {};

// ID (RFC 2971 §3.1): field/value pairs, or nullopt for "ID NIL".
struct IdCommand {
  std::optional<std::vector<std::pair<std::string, std::optional<std::string>>>> fields;
};

// ----- not authenticated (RFC 9051 §6.2)

struct StartTlsCommand {};

// AUTHENTICATE mechanism [initial-response] (RFC 9051 §6.2.2, RFC 4959 SASL-IR).
// `initial_response` is the base64 text as sent; "=" stands for an empty response.
struct AuthenticateCommand {
  std::string mechanism;  // upper-cased
  std::optional<std::string> initial_response;
};

struct LoginCommand {
  std::string user;
  std::string password;
};

// ----- authenticated (RFC 9051 §6.3)

// ENABLE capability... (RFC 5161); names upper-cased.
struct EnableCommand {
  std::vector<std::string> capabilities;
};

// QRESYNC select parameter (RFC 7162 §3.2.5).
struct QresyncParams {
  std::uint32_t uid_validity = 0;
  std::uint64_t modseq = 0;
  std::optional<SequenceSet> known_uids;
  // seq-match-data: (known-sequence-set known-uid-set)
  std::optional<std::pair<SequenceSet, SequenceSet>> seq_match;
};

// SELECT / EXAMINE mailbox [(CONDSTORE | QRESYNC (...))].
struct SelectCommand {
  std::string mailbox;     // as sent (modified UTF-7 or UTF-8); "INBOX" canonical
  bool read_only = false;  // EXAMINE
  bool condstore = false;
  std::optional<QresyncParams> qresync;
};

// CREATE mailbox [(USE (\Sent ...))] (RFC 6154 §3, CREATE-SPECIAL-USE).
struct CreateCommand {
  std::string mailbox;
  std::vector<std::string> special_use;  // attributes as sent ("\Sent")
};

struct DeleteCommand {
  std::string mailbox;
};

struct RenameCommand {
  std::string from;
  std::string to;
};

struct SubscribeCommand {
  std::string mailbox;
  bool subscribe = true;  // false: UNSUBSCRIBE
};

// STATUS data items (RFC 9051 §6.3.11, RFC 7162 HIGHESTMODSEQ, RFC 8438 SIZE,
// RFC 7889 APPENDLIMIT, RFC 3501 RECENT).
enum class StatusItem : std::uint8_t {
  kMessages,
  kUidNext,
  kUidValidity,
  kUnseen,
  kDeleted,
  kSize,
  kRecent,
  kHighestModSeq,
  kAppendLimit,
  kDeletedStorage,  // RFC 9208 §4.1.4
  kMailboxId,       // RFC 8474 §4.3
};

// The wire name of a status item ("UIDNEXT").
std::string_view status_item_name(StatusItem item);

// RFC 8474 §7: objectid = 1*255(ALPHA / DIGIT / "_" / "-").
bool is_object_id(std::string_view text);

// LIST [(selection)] reference patterns [RETURN (options)] (RFC 9051 §6.3.9,
// RFC 5258, RFC 5819, RFC 6154). A basic LIST has no selection and no return options.
struct ListCommand {
  bool select_subscribed = false;
  bool select_remote = false;
  bool select_recursive_match = false;
  bool select_special_use = false;
  std::string reference;
  std::vector<std::string> patterns;  // one for the basic form
  bool return_subscribed = false;
  bool return_children = false;
  bool return_special_use = false;
  std::optional<std::vector<StatusItem>> return_status;
  bool extended = false;  // any selection or return option, or several patterns
};

// LSUB reference pattern (RFC 3501 §6.3.9; IMAP4rev1 only).
struct LsubCommand {
  std::string reference;
  std::string pattern;
};

struct NamespaceCommand {};

struct StatusCommand {
  std::string mailbox;
  std::vector<StatusItem> items;
};

// One message of APPEND (RFC 9051 §6.3.12; several with MULTIAPPEND, RFC 3502).
struct AppendMessage {
  std::vector<std::string> flags;
  std::optional<std::int64_t> internal_date;  // Unix seconds
  std::string data;
  bool binary = false;  // sent as literal8 "~{n}" (RFC 3516 §4.4)
  bool utf8 = false;    // sent as UTF8 (~{n}) (RFC 6855 §4)
};

struct AppendCommand {
  std::string mailbox;
  std::vector<AppendMessage> messages;
};

struct IdleCommand {};

// COMPRESS mechanism (RFC 4978 §3); the name upper-cased ("DEFLATE").
struct CompressCommand {
  std::string mechanism;
};

// ----- selected (RFC 9051 §6.4)

struct CheckCommand {};

struct CloseCommand {};

struct UnselectCommand {};

// EXPUNGE, or UID EXPUNGE uid-set (RFC 4315 §2.1) when `uids` is set.
struct ExpungeCommand {
  std::optional<SequenceSet> uids;
};

// A SEARCH key (RFC 9051 §6.4.4, RFC 3501 §6.4.4, RFC 7162 §3.1.5 MODSEQ).
struct SearchKey {
  enum class Kind : std::uint8_t {
    kAll,
    kAnswered,
    kDeleted,
    kDraft,
    kFlagged,
    kSeen,
    kUnanswered,
    kUndeleted,
    kUndraft,
    kUnflagged,
    kUnseen,
    kNew,     // IMAP4rev1: RECENT UNSEEN
    kOld,     // IMAP4rev1: NOT RECENT
    kRecent,  // IMAP4rev1
    kKeyword,
    kUnkeyword,
    kBcc,
    kBody,
    kCc,
    kFrom,
    kSubject,
    kText,
    kTo,
    kHeader,  // name in `field`, value in `text`
    kBefore,  // dates: `number` is the day's UTC midnight in Unix seconds
    kOn,
    kSince,
    kSentBefore,
    kSentOn,
    kSentSince,
    kSavedBefore,  // RFC 8514: dates as kBefore, against the save date
    kSavedOn,
    kSavedSince,
    kSaveDateSupported,  // RFC 8514: every message, when the mailbox keeps save dates
    kEmailId,            // RFC 8474: `text` is the objectid
    kThreadId,
    kLarger,
    kSmaller,
    kOlder,  // RFC 5032 WITHIN: `number` seconds, against the INTERNALDATE
    kYounger,
    kUid,          // `set`
    kSequenceSet,  // `set`
    kModSeq,       // `number` (RFC 7162); `field` the entry name if given
    kNot,          // one child
    kOr,           // two children
    kAnd,          // a parenthesised list: all children
  };
  Kind kind = Kind::kAll;
  std::string text;   // string argument, keyword
  std::string field;  // HEADER field name; MODSEQ entry name
  std::int64_t date = 0;
  std::uint64_t number = 0;
  SequenceSet set;
  std::vector<SearchKey> children;
};

// ESEARCH RETURN options (RFC 4731 §3.1, RFC 5182 SAVE).
struct SearchReturn {
  bool min = false;
  bool max = false;
  bool all = false;
  bool count = false;
  bool save = false;
};

// SEARCH [RETURN (...)] [CHARSET x] key... ; UID SEARCH.
struct SearchCommand {
  bool uid = false;
  std::optional<std::string> charset;       // upper-cased
  std::optional<SearchReturn> return_opts;  // present: ESEARCH response form
  SearchKey key;                            // kAnd of the top-level keys
};

// A SORT criterion (RFC 5256 §3, RFC 5957 §4 DISPLAYFROM and DISPLAYTO): the key and
// whether REVERSE precedes it.
struct SortCriterion {
  enum class Key : std::uint8_t {
    kArrival,
    kCc,
    kDate,
    kFrom,
    kSize,
    kSubject,
    kTo,
    kDisplayFrom,
    kDisplayTo,
  };
  Key key = Key::kArrival;
  bool reverse = false;
};

// SORT (criteria) charset key... ; UID SORT (RFC 5256 §3). The charset is not
// optional here, unlike SEARCH's.
struct SortCommand {
  bool uid = false;
  std::optional<SearchReturn> return_opts;  // ESORT (RFC 5267 §3.2): the ESEARCH form
  std::vector<SortCriterion> criteria;
  std::string charset;  // upper-cased
  SearchKey key;        // kAnd of the top-level keys
};

// THREAD algorithm charset key... ; UID THREAD (RFC 5256 §3).
struct ThreadCommand {
  enum class Algorithm : std::uint8_t { kOrderedSubject, kReferences };
  bool uid = false;
  Algorithm algorithm = Algorithm::kReferences;
  std::string charset;  // upper-cased
  SearchKey key;        // kAnd of the top-level keys
};

// One FETCH data item (RFC 9051 §6.4.5, RFC 3516 BINARY, RFC 7162 MODSEQ).
struct FetchItem {
  enum class Kind : std::uint8_t {
    kUid,
    kFlags,
    kInternalDate,
    kRfc822Size,
    kEnvelope,
    kBody,           // BODY: the non-extensible structure
    kBodyStructure,  // BODYSTRUCTURE
    kRfc822,         // IMAP4rev1: BODY[] with \Seen
    kRfc822Header,   // IMAP4rev1: BODY.PEEK[HEADER]
    kRfc822Text,     // IMAP4rev1: BODY[TEXT] with \Seen
    kBodySection,    // BODY[section]<partial> / BODY.PEEK[...]
    kBinary,         // BINARY[part]<partial> / BINARY.PEEK[...]
    kBinarySize,     // BINARY.SIZE[part]
    kModSeq,
    kPreview,   // RFC 8970 PREVIEW, with or without (LAZY)
    kSaveDate,  // RFC 8514 SAVEDATE
    kEmailId,   // RFC 8474 EMAILID
    kThreadId,  // RFC 8474 THREADID
  };
  Kind kind = Kind::kUid;
  bool peek = false;
  // BODY[...]: the section specifier as sent between the brackets ("1.HEADER",
  // "HEADER.FIELDS (FROM TO)"); the handler parses it against the message (the
  // message library owns section semantics). BINARY: the part numbers.
  std::string section;
  std::vector<std::uint32_t> part;
  std::optional<std::pair<std::uint32_t, std::uint32_t>> partial;  // <origin.length>
};

struct FetchCommand {
  bool uid = false;
  SequenceSet set;
  std::vector<FetchItem> items;
  std::optional<std::uint64_t> changed_since;  // CHANGEDSINCE (RFC 7162 §3.1.4)
  bool vanished = false;                       // VANISHED (RFC 7162 §3.2.6)
};

// STORE set [(UNCHANGEDSINCE n)] [+|-]FLAGS[.SILENT] flags.
struct StoreCommand {
  enum class Op : std::uint8_t { kReplace, kAdd, kRemove };
  bool uid = false;
  SequenceSet set;
  std::optional<std::uint64_t> unchanged_since;
  Op op = Op::kReplace;
  bool silent = false;
  std::vector<std::string> flags;
};

// GETQUOTA quota-root (RFC 9208 §4.1.1).
struct GetQuotaCommand {
  std::string root;
};

// GETQUOTAROOT mailbox (RFC 9208 §4.1.2).
struct GetQuotaRootCommand {
  std::string mailbox;
};

// SETQUOTA quota-root (resource limit ...) (RFC 9208 §4.1.3); resource names
// upper-cased.
struct SetQuotaCommand {
  std::string root;
  std::vector<std::pair<std::string, std::uint64_t>> limits;
};

// COPY / MOVE set mailbox, and their UID forms.
struct CopyCommand {
  bool uid = false;
  bool move = false;
  SequenceSet set;
  std::string mailbox;
};

using Command =
    std::variant<CapabilityCommand, NoopCommand, LogoutCommand, IdCommand, StartTlsCommand,
                 AuthenticateCommand, LoginCommand, EnableCommand, SelectCommand, CreateCommand,
                 DeleteCommand, RenameCommand, SubscribeCommand, ListCommand, LsubCommand,
                 NamespaceCommand, StatusCommand, AppendCommand, IdleCommand, CheckCommand,
                 CloseCommand, UnselectCommand, ExpungeCommand, SearchCommand, FetchCommand,
                 StoreCommand, CopyCommand, CompressCommand, GetQuotaCommand, GetQuotaRootCommand,
                 SetQuotaCommand, SortCommand, ThreadCommand>;

// ASCII upper-casing, for keywords and echoed section specifiers.
std::string ascii_upper(std::string_view s);

// Session states (RFC 9051 §3).
enum class SessionState : std::uint8_t { kNotAuthenticated, kAuthenticated, kSelected, kLogout };

// Where a command may be issued (RFC 9051 §6). Returns "" when `command` is valid
// in `state`, otherwise the reason for the tagged BAD.
std::string_view state_error(const Command& command, SessionState state);

// The command name as IMAP writes it ("UID FETCH"), for logs and BAD texts.
std::string_view command_name(const Command& command);

// Limits of the parser beyond the reader's framing limits.
struct ParseLimits {
  std::size_t max_search_depth = 32;    // nesting of NOT / OR / ( ) in SEARCH
  std::size_t max_search_keys = 1000;   // keys in one SEARCH
  std::size_t max_fetch_items = 100;    // items in one FETCH
  std::size_t max_list_patterns = 100;  // patterns in one LIST
  std::size_t max_sort_criteria = 16;   // criteria in one SORT (7 keys, each once)
  std::size_t max_id_fields = 30;       // RFC 2971 §3.3: at most 30 field/value pairs
};

// Parses a framed command. kInvalidInput with a precise message ("unknown command
// \"FOO\"", "FETCH: unknown data item \"BODDY\"") on any syntax error; the message
// is sent as the text of a tagged BAD. Never throws, allocates within the command.
Result<Command> parse_command(const RawCommand& raw, const ParseLimits& limits = {});

}  // namespace tern::imap
