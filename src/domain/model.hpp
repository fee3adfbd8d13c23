// SPDX-License-Identifier: Apache-2.0
// The mail model shared by every service and backend (ARCHITECTURE.md §4). Plain
// values: no behaviour that needs I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.hpp"
#include "domain/ids.hpp"

namespace tern::domain {

struct Domain {
  DomainId id{};
  std::string name;  // lower case, A-label form for IDNs
};

struct Account {
  AccountId id{};
  DomainId domain{};
  std::string address;        // "local@domain", normalised by normalize_address()
  std::string password_hash;  // argon2id PHC string, or a crypt(3) hash kept for migration
  // SCRAM-SHA-256 secret (sasl::format_scram_credential()); "" for accounts whose
  // password was never set through tern (imported legacy hashes): they cannot use
  // SCRAM until a PLAIN/LOGIN login upgrades both secrets.
  std::string scram_sha256;
  std::uint64_t quota_bytes = 0;  // 0: no quota
  std::uint64_t used_bytes = 0;   // sum of the sizes of the account's mailbox entries
};

struct NewAccount {
  std::string address;
  std::string password_hash;
  std::uint64_t quota_bytes = 0;
  std::string scram_sha256 = {};  // may be empty (see Account::scram_sha256)
};

// The secrets stored for one account's password, always set together
// (domain::make_credentials() computes both from one password).
struct Credentials {
  std::string password_hash;  // see Account::password_hash
  std::string scram_sha256;   // see Account::scram_sha256; "" = none
};

// An alias maps `source` to `destination`. `source` is a full address, or "@domain"
// for the domain's catch-all. `destination` is any address, local or remote. One
// source may have several destinations (one Alias each).
struct Alias {
  std::string source;
  std::string destination;
  friend bool operator==(const Alias&, const Alias&) = default;
};

// One of an account's Sieve scripts (RFC 5228), as ManageSieve (RFC 5804) keeps
// them: any number per account, at most one active (the one delivery runs).
struct SieveScript {
  std::string name;
  std::string text;
  bool active = false;
  friend bool operator==(const SieveScript&, const SieveScript&) = default;
};

// Whether `name` may name a stored Sieve script: 1 to 255 bytes of UTF-8 with no
// control character (RFC 5804 §1.6: U+0000-001F, U+007F-009F, U+2028, U+2029)
// and no '/', so that a name is also a file name when scripts are exported to a
// directory as Dovecot keeps them.
bool is_valid_sieve_script_name(std::string_view name);

// RFC 6154 special-use attributes a mailbox may carry.
// The statistical spam filter's models (SpamStore, src/spam). A model is
// either the site-wide one (no account) or one account's own.
enum class SpamLabel { kSpam, kHam };

// How often a token (spam::Token::hash) was seen in the messages a model learned
// as spam and as ham.
struct SpamTokenCount {
  std::uint64_t token = 0;
  std::uint32_t spam = 0;
  std::uint32_t ham = 0;
  friend bool operator==(const SpamTokenCount&, const SpamTokenCount&) = default;
};

struct SpamCounts {
  std::uint64_t spam_messages = 0;     // messages learned as spam
  std::uint64_t ham_messages = 0;      // and as ham
  std::vector<SpamTokenCount> tokens;  // of the tokens asked for, those seen; sorted
};

// One message taught to a model.
struct SpamLesson {
  std::optional<AccountId> account;  // nullopt: the site-wide model
  // Names the message (domain: its SHA-256, hex): a message is learned once, and
  // learning it again with the other label moves its counts.
  std::string message_key;
  SpamLabel label = SpamLabel::kSpam;
  std::vector<std::uint64_t> tokens;  // distinct
};

enum class SpamLearned {
  kUnchanged,  // already learned with this label
  kLearned,    // new to the model
  kRelearned,  // had been learned with the other label; its counts moved
};

struct SpamModelStats {
  std::uint64_t spam_messages = 0;
  std::uint64_t ham_messages = 0;
  std::uint64_t tokens = 0;  // distinct tokens with a non-zero count
  friend bool operator==(const SpamModelStats&, const SpamModelStats&) = default;
};

enum class SpecialUse { kNone, kAll, kArchive, kDrafts, kFlagged, kJunk, kSent, kTrash };

// Returns the RFC 6154 attribute ("\\Sent") or "" for kNone.
std::string_view special_use_attribute(SpecialUse use);

struct Mailbox {
  MailboxId id{};
  AccountId account{};
  std::string name;  // UTF-8, "/" separates levels; "INBOX" is the inbox
  SpecialUse special_use = SpecialUse::kNone;
  UidValidity uid_validity{};
  Uid uid_next{1};
  ModSeq highest_modseq{};  // the highest modseq of any change in this mailbox
  bool subscribed = false;
  // The keywords defined in the mailbox (RFC 9051 §7.3.5 FLAGS, §7.1 PERMANENTFLAGS):
  // every keyword an append, copy, move or flag change has put on one of its
  // entries, sorted and unique. The set only grows while the mailbox exists (a
  // keyword stays defined when no message carries it any more, as in Dovecot), so
  // a session can announce it once and keep it. Backends keep it per mailbox, so
  // reading it costs no scan of the entries. Filled by mailboxes() and
  // rename_mailbox(); empty from create_mailbox().
  std::vector<std::string> keywords;
};

// System flags (RFC 9051 §2.3.2) as a bit set. \Recent is per session and not stored.
enum Flag : std::uint8_t {
  kFlagSeen = 1 << 0,
  kFlagAnswered = 1 << 1,
  kFlagFlagged = 1 << 2,
  kFlagDeleted = 1 << 3,
  kFlagDraft = 1 << 4,
};

using Flags = std::uint8_t;
constexpr Flags kAllFlags = 0x1f;

// A message in a mailbox: (mailbox, uid) -> message, with its per-mailbox state.
struct Entry {
  MailboxId mailbox{};
  Uid uid{};
  MessageId message{};
  BlobId blob;  // the SHA-256 of the bytes (read them with MailStore::read_message)
  std::uint64_t size = 0;
  SystemTime internal_date{};
  SystemTime save_date{};
  Flags flags = 0;
  std::vector<std::string> keywords;  // sorted, unique
  ModSeq modseq{};
};

// What append() stores. `raw` is the whole message as received (CRLF line ends);
// `facts` is the message library's serialised parse (envelope, body structure,
// preview), stored beside the message so IMAP and JMAP need not re-read the blob.
struct NewMessage {
  std::string raw;
  SystemTime internal_date{};
  std::string facts;
};

// The parts of a message's stored facts that MailStore::message_summaries() reads
// for many messages at once. A backend keeps them apart (as Dovecot's index cache
// keeps envelopes and header fields), so reading envelopes never touches the
// search text, which is as large as the message's text. A bit set.
enum SummaryPart : std::uint8_t {
  kSummaryEnvelope = 1 << 0,       // the IMAP ENVELOPE string
  kSummaryFacts = 1 << 1,          // the facts record, without its search fields
  kSummarySearchHeaders = 1 << 2,  // case-folded "name:value" lines (SEARCH FROM, SUBJECT ...)
  kSummarySearchText = 1 << 3,     // case-folded text of the text parts (SEARCH BODY)
  kSummaryOrder = 1 << 4,          // what SORT and THREAD compare (mime/facts/order.hpp)
};

using SummaryParts = std::uint8_t;

// One entry's summary. Only the parts asked for are filled; the others stay empty.
// NewMessage::facts is the mime facts encoding (mime/facts/facts.hpp); a backend
// splits it at append (mime::facts::split_facts()).
struct MessageSummary {
  Uid uid{};
  MessageId message{};
  // False when the stored facts are not a readable record: then `envelope` and the
  // search fields are empty and `facts` holds the stored bytes as they are, asked
  // for or not; the caller derives what it needs from the message itself.
  bool has_envelope = false;
  // Meaningful when a search part was asked for. False when no search fields were
  // stored (a record written before they existed, or an unreadable one): the
  // caller derives them from the message.
  bool has_search = false;
  // Meaningful when kSummaryOrder was asked for. False when no order keys were
  // stored (facts written before they existed): the caller derives them.
  bool has_order = false;
  std::string envelope;
  std::string facts;
  std::string search_headers;
  std::string search_text;
  std::string order;  // mime::facts::encode_order_keys()
};

// Where one copy of a NewMessage goes.
struct AppendTarget {
  AccountId account{};
  MailboxId mailbox{};
  Flags flags = 0;
  std::vector<std::string> keywords;
};

struct Appended {
  MailboxId mailbox{};
  Uid uid{};
  ModSeq modseq{};
  MessageId message{};
};

enum class FlagOp { kAdd, kRemove, kReplace };

struct FlagChange {
  FlagOp op = FlagOp::kAdd;
  Flags flags = 0;
  std::vector<std::string> keywords;
  // RFC 7162 §3.1.3: entries whose modseq is above this are not changed and are
  // reported in FlagResult::conflicts instead.
  std::optional<ModSeq> unchanged_since;
};

struct FlagResult {
  std::vector<Entry> changed;  // entries whose flags or keywords changed, with new modseqs
  std::vector<Uid> conflicts;  // UNCHANGEDSINCE failures
};

// What changed in one mailbox after a modseq (CONDSTORE/QRESYNC, JMAP /changes).
struct MailboxChanges {
  std::vector<Entry> changed;  // added or flag-changed entries with modseq > since
  std::vector<Uid> vanished;   // expunged since (from tombstones), ascending
  ModSeq highest{};
};

enum class ChangeKind {
  kMailboxCreated,
  kMailboxRenamed,
  kMailboxDeleted,
  kMailboxSubscription,
  kMessageAdded,
  kFlagsChanged,
  kMessageExpunged,
};

// One row of an account's change log. `uid` is 0 for mailbox-level changes.
struct AccountChange {
  ModSeq modseq{};
  MailboxId mailbox{};
  Uid uid{};
  ChangeKind kind = ChangeKind::kMessageAdded;
};

struct Usage {
  std::uint64_t bytes = 0;
  std::uint64_t messages = 0;
};

// ----- outbound queue (Postfix semantics, ARCHITECTURE.md §4 and model-codebases B6)

enum class QueueState { kQueued, kActive, kHeld };
enum class RecipientState { kPending, kDelivered, kFailed };

struct QueueRecipient {
  std::string address;
  RecipientState state = RecipientState::kPending;
  std::string notify;      // RFC 3461 NOTIFY parameter as received ("" if absent)
  std::string orcpt;       // RFC 3461 ORCPT parameter as received
  std::string last_reply;  // the last SMTP reply or error for this recipient
  // Set with last_reply by the scheduler, for DSNs and `tern queue show`.
  std::string status;       // RFC 3463 enhanced status of the last outcome ("4.4.1")
  std::string remote_host;  // "mx.example.org[192.0.2.1]" when a host answered
};

// How the body was declared at MAIL FROM (RFC 6152 BODY=8BITMIME, RFC 3030
// BODY=BINARYMIME); a transport needs it to choose a downgrade or refuse.
enum class BodyType { kSevenBit, kEightBitMime, kBinaryMime };

// Envelope facts beyond the reverse-path that the submission path records and the
// transport honours. All default to "nothing special" (what old rows load as).
struct QueueEnvelope {
  bool smtputf8 = false;  // RFC 6531 SMTPUTF8 was given at MAIL FROM
  BodyType body = BodyType::kSevenBit;
  bool requiretls = false;  // RFC 8689 REQUIRETLS was given at MAIL FROM
  std::string submitter;    // the authenticated user that submitted it ("" if none)
};

struct NewQueuedMessage {
  std::string raw;
  std::string sender;  // reverse-path; "" is the null sender
  std::vector<QueueRecipient> recipients;
  std::string envid;  // RFC 3461 ENVID
  std::string ret;    // RFC 3461 RET: "FULL", "HDRS" or ""
  SystemTime now{};
  QueueEnvelope envelope;
};

struct QueuedMessage {
  QueueId id{};
  BlobId blob;
  std::uint64_t size = 0;
  std::string sender;
  std::vector<QueueRecipient> recipients;
  std::string envid;
  std::string ret;
  SystemTime created{};
  SystemTime next_attempt{};
  std::uint32_t attempts = 0;
  QueueState state = QueueState::kQueued;
  SystemTime lease_until{};  // meaningful while kActive
  QueueEnvelope envelope;
  bool delay_warned = false;  // an `Action: delayed` DSN went out (at most one)
};

// What a delivery attempt reports back; it releases the claim.
struct QueueUpdate {
  std::vector<QueueRecipient> recipients;  // full replacement of the recipient states
  SystemTime next_attempt{};
  std::uint32_t attempts = 0;
  bool delay_warned = false;
};

}  // namespace tern::domain
