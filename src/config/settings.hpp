// SPDX-License-Identifier: Apache-2.0
// The typed settings ternd runs with, produced by config::parse_config() from the
// TOML file (docs/adr/0006-configuration.md). Plain values, comparable with ==.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/log.hpp"
#include "dns/records.hpp"
#include "dnsbl/dnsbl.hpp"

namespace tern::config {

// [server]: identity and process shape. Changing any of it needs a restart.
struct ServerSettings {
  std::string hostname;          // required; lower case; the name in greetings and Received:
  std::string data_dir;          // absolute when the parser was given an absolute base_dir
  std::string user;              // drop privileges to this user after binding; "" = stay
  std::string group;             // "" = the user's primary group
  std::uint32_t io_threads = 0;  // 0 = one per core (the runtime decides)
  std::uint32_t blocking_threads = 16;
  // Key `drain_seconds`: how long shutdown waits for sessions before closing them.
  std::chrono::seconds drain_timeout{10};
  friend bool operator==(const ServerSettings&, const ServerSettings&) = default;
};

enum class LogFormat { kText, kJson };

// [log]
struct LogSettings {
  log::Level level = log::Level::kInfo;
  LogFormat format = LogFormat::kText;
  friend bool operator==(const LogSettings&, const LogSettings&) = default;
};

enum class TlsVersion { kTls12, kTls13 };

// [tls]: one certificate for every TLS listener. `cert` and `key` are both set or
// both empty; they are set whenever a listener uses TLS. Whether the files exist is
// checked by app/, not here.
struct TlsSettings {
  std::string cert;  // path to the PEM certificate chain, resolved
  std::string key;   // path to the PEM private key, resolved
  TlsVersion min_version = TlsVersion::kTls12;
  friend bool operator==(const TlsSettings&, const TlsSettings&) = default;
};

// [limits]: max_connections_per_ip <= max_connections.
struct LimitSettings {
  std::uint32_t max_connections = 10000;
  std::uint32_t max_connections_per_ip = 50;
  friend bool operator==(const LimitSettings&, const LimitSettings&) = default;
};

enum class StoreBackend { kSqlite, kMemory, kPostgres };

// [store]. `url` is required with backend "postgres" and refused with the others;
// `path` and `group_commit` belong to "sqlite".
struct StoreSettings {
  StoreBackend backend = StoreBackend::kSqlite;
  std::string path;  // resolved against data_dir; default "<data_dir>/store"
  bool group_commit = true;
  // Key `url`: the libpq connection URL or key=value string of the shared
  // database ("postgresql://tern@db.example/tern", "host=/run/postgresql dbname=tern").
  std::string url;
  // Key `pool_size`: connections (and concurrent transactions) of this node, 1..256.
  std::uint32_t pool_size = 4;
  // Key `schema`: the schema holding tern's tables ("" = the default search_path).
  std::string schema;
  // Key `blob_dir`: message bytes go to files in this directory (one every node
  // mounts) instead of the database; "" keeps them in the database. Resolved
  // against data_dir.
  std::string blob_dir;
  friend bool operator==(const StoreSettings&, const StoreSettings&) = default;
};

// [auth]: argon2id cost for new hashes (sasl::Argon2Params), and the plaintext
// policy. memory_kib >= 8 * parallelism (an argon2 rule).
struct AuthSettings {
  std::uint32_t argon2_memory_kib = 65536;
  std::uint32_t argon2_iterations = 3;
  std::uint32_t argon2_parallelism = 1;
  // Allow AUTH PLAIN/LOGIN and IMAP LOGIN without TLS on 127.0.0.0/8 and ::1.
  bool allow_plaintext_on_loopback = true;
  // PBKDF2 iterations of the SCRAM-SHA-256 secret stored with each new password
  // (RFC 7677 §4: at least 4096; at most 10,000,000).
  std::uint32_t scram_iterations = 4096;
  // Brute-force policy (domain::AuthThrottle, docs/adr/0008-authentication.md).
  // Failures from one IP within `failure_window` are counted: from the
  // `failures_before_delay`-th on, each attempt waits (1 s, doubling, capped at
  // `max_delay`); at `failures_before_block` the IP is refused for `block_time`.
  // Failures against one account from any IPs are counted too, and block that
  // account's logins at `user_failures_before_block`.
  // 1 <= failures_before_delay <= failures_before_block <= user_failures_before_block.
  std::uint32_t failures_before_delay = 3;
  std::uint32_t failures_before_block = 10;
  std::uint32_t user_failures_before_block = 50;
  std::chrono::seconds failure_window{900};  // key `failure_window_seconds`
  std::chrono::seconds block_time{900};      // key `block_seconds`
  std::chrono::seconds max_delay{15};        // key `max_delay_seconds`
  friend bool operator==(const AuthSettings&, const AuthSettings&) = default;
};

// [addressing]
struct AddressingSettings {
  // Characters that start a sub-address ("user+tag@example.org"); each character
  // is a separator on its own, as in Postfix's recipient_delimiter. "" disables.
  std::string subaddress_separator = "+";
  friend bool operator==(const AddressingSettings&, const AddressingSettings&) = default;
};

enum class UnknownUserPolicy { kReject, kDefer };

// [smtp]: the SMTP, submission and LMTP services (RFC 5321 §4.5.3 limits and
// timeouts, anti-abuse rates). Changing it needs a restart.
struct SmtpSettings {
  // SIZE (RFC 1870); DATA and BDAT beyond it get 552 5.3.4. 1 KiB .. 1 GiB.
  std::uint32_t max_message_bytes = 25 * 1024 * 1024;
  // RFC 5321 §4.5.3.1.8: at least 100. Beyond: 452 4.5.3.
  std::uint32_t max_recipients = 100;
  // Command line without CRLF; RFC 5321 §4.5.3.1.4 gives 512, extensions add.
  std::uint32_t max_line_bytes = 2048;
  // Error replies before 421 and disconnect (Postfix smtpd_hard_error_limit).
  std::uint32_t max_errors = 20;
  // NOOP/RSET/VRFY/HELP/EXPN outside completed messages before 421
  // (Postfix smtpd_junk_command_limit).
  std::uint32_t max_junk_commands = 100;
  // RFC 5321 §4.5.3.2.7: at least 5 minutes.
  std::chrono::seconds command_timeout{300};
  // Per client IP and minute; 0 = unlimited (Postfix's defaults).
  std::uint32_t connections_per_ip_per_minute = 0;
  std::uint32_t messages_per_ip_per_minute = 0;
  // Local recipients that do not exist: "reject" (550 5.1.1) or "defer" (450 4.1.1).
  UnknownUserPolicy unknown_user = UnknownUserPolicy::kReject;
  // Key `trusted_networks`: clients in these blocks ("192.0.2.0/24",
  // "2001:db8::/32", a bare address) skip the MX's [dnsbl] and [greylist], as
  // Postfix's permit_mynetworks comes before reject_rbl_client and the policy
  // service (a backup MX, a known relay). They never make the MX relay, and their
  // messages are still scanned ([antivirus]).
  std::vector<dns::IpNetwork> trusted_networks;
  friend bool operator==(const SmtpSettings&, const SmtpSettings&) = default;
};

// [pop3]: the POP3 service. Changing it needs a restart.
struct Pop3Settings {
  // RFC 2449 §6.8 LOGIN-DELAY: the minimum time between two logins of one account
  // (advertised in CAPA and enforced with -ERR [LOGIN-DELAY]); 0 = none, not
  // advertised. Key `login_delay_seconds`, at most a day.
  std::chrono::seconds login_delay{0};
  friend bool operator==(const Pop3Settings&, const Pop3Settings&) = default;
};

// [imap]: the IMAP service's limits and timeouts (docs/adr/0009-imap-server.md).
// Changing it needs a restart.
struct ImapSettings {
  // Key `preauth_timeout_seconds`: an unauthenticated connection is closed after
  // this long without a command (10 .. 3600).
  std::chrono::seconds preauth_timeout{60};
  // Key `idle_timeout_seconds`: the autologout timer after login, between commands
  // and in IDLE. RFC 9051 §5.4: at least 30 minutes (1800 .. 86400).
  std::chrono::seconds idle_timeout{1800};
  // Key `max_line_bytes`: one command line without its literals (1024 .. 16 MiB;
  // RFC 7162 §4 asks clients to keep lines under 8192, servers to accept that).
  std::uint32_t max_line_bytes = 64 * 1024;
  // Key `max_literal_bytes`: one literal in any command but APPEND (1024 .. 16 MiB).
  std::uint32_t max_literal_bytes = 64 * 1024;
  // Key `max_append_bytes`: one APPEND message, announced as APPENDLIMIT (RFC 7889);
  // 0 (the default) = [smtp] max_message_bytes. At most 1 GiB.
  std::uint32_t max_append_bytes = 0;
  // Key `max_multiappend_bytes`: all messages of one APPEND together (MULTIAPPEND,
  // RFC 3502), held in memory until the last arrives (1 MiB .. 2 GiB); never less
  // than one message of max_append_bytes.
  std::uint32_t max_multiappend_bytes = 128 * 1024 * 1024;
  // Key `max_connections_per_user`: logged-in connections of one account; the next
  // gets BYE right after its login OK (1 .. 10000).
  std::uint32_t max_connections_per_user = 20;
  // Key `max_connections_per_ip`: IMAP connections from one address, on top of
  // [limits] (which count every service); 0 = no IMAP-specific cap.
  std::uint32_t max_connections_per_ip = 0;
  // Key `idle_poll_ms`: how often an idling session re-checks the store for changes
  // made by other processes (100 .. 60000).
  std::chrono::milliseconds idle_poll_interval{2000};
  friend bool operator==(const ImapSettings&, const ImapSettings&) = default;
};

// [queue]: the outbound queue scheduler (services/outbound; Postfix qmgr
// semantics). Changing it needs a restart.
struct QueueSettings {
  // Backoff after the n-th failed attempt: min * 2^(n-1), capped at max (Postfix
  // minimal_backoff_time / maximal_backoff_time). Keys `min_backoff_seconds`,
  // `max_backoff_seconds`.
  std::chrono::seconds min_backoff{300};
  std::chrono::seconds max_backoff{4000};
  // Key `retry_schedule_seconds`: an explicit list of delays ("60, 300, 900"),
  // the last repeating; replaces the exponential backoff when not empty.
  std::vector<std::chrono::seconds> retry_schedule;
  // Key `lifetime_seconds`: pending recipients bounce after this long (5 days).
  std::chrono::seconds lifetime{5 * 24 * 3600};
  // Key `delay_warning_seconds`: one "delayed" DSN after this long; 0 = never.
  std::chrono::seconds delay_warning{4 * 3600};
  // Messages being delivered at once (Postfix qmgr_message_active_limit).
  std::uint32_t active_limit = 1000;
  // Parallel deliveries to one destination domain
  // (default_destination_concurrency_limit) and deliveries started per second to
  // it (0 = unlimited; Postfix default_destination_rate_delay, inverted).
  std::uint32_t destination_concurrency = 20;
  std::uint32_t destination_rate = 0;
  // Key `lease_seconds`: how long a claimed entry is ours; after a crash it becomes
  // claimable again when the lease ends.
  std::chrono::seconds lease{900};
  // Key `poll_interval_ms`: how often the queue is checked for entries from other
  // processes (`tern queue flush`, the LDA).
  std::chrono::milliseconds poll_interval{1000};
  // Received: fields at which a message is bounced as a loop (Postfix hopcount_limit).
  std::uint32_t hop_limit = 50;
  // SRS for alias forwards to other domains: the HMAC secret ("" disables SRS) and
  // the domain of the rewritten addresses ("" = server.hostname); keys
  // `srs_secret`, `srs_domain`, `srs_max_age_days`.
  std::string srs_secret;
  std::string srs_domain;
  std::uint32_t srs_max_age_days = 21;
  friend bool operator==(const QueueSettings&, const QueueSettings&) = default;
};

// [dns]: the resolver (runtime::UnboundResolver). Changing it needs a restart.
struct DnsSettings {
  // Forwarders, "ip" or "ip:port" ("[ipv6]:port"); empty = the name servers of
  // /etc/resolv.conf.
  std::vector<std::string> servers;
  // Key `dnssec`: "off" (default, stored as "") or the path of a trust-anchor
  // file (resolved), which turns DNSSEC validation on.
  std::string trust_anchor_file;
  // Key `timeout_ms`: one lookup's deadline, 100 ms .. 5 min.
  std::chrono::milliseconds timeout{10'000};
  friend bool operator==(const DnsSettings&, const DnsSettings&) = default;
};

// One [[dkim]] entry: a DKIM key of one of our domains (RFC 6376 §3.6.2.1: the
// public key is published at `<selector>._domainkey.<domain>`). A domain may have
// several entries, for rotation: mail from it is signed with every entry whose
// `sign` is true; `sign = false` keeps a key published (for `tern dns records`)
// without signing with it. The algorithm (rsa-sha256 or ed25519-sha256) is that
// of the key; app/ reads the key file when ternd starts and reports a missing or
// unusable file there, naming the config line. (domain, selector) pairs are unique.
struct DkimKeySettings {
  std::string domain;    // lower case
  std::string selector;  // lower case; a DNS label sequence
  std::string key;       // path to the PEM private key (PKCS#8 or traditional), resolved
  bool sign = true;
  std::uint32_t line = 0;  // the entry's line in the config file, for app/'s messages

  // Compares everything but `line`: moving an entry in the file changes nothing.
  friend bool operator==(const DkimKeySettings& a, const DkimKeySettings& b) {
    return a.domain == b.domain && a.selector == b.selector && a.key == b.key && a.sign == b.sign;
  }
};

// What inbound SMTP does with a message whose DMARC policy (after pct=) is
// p=reject: refuse it with 550 5.7.1 (RFC 7489 §6.6.3, the default), deliver it
// to Junk as for p=quarantine, or only record the result.
enum class DmarcRejectAction { kReject, kQuarantine, kIgnore };

// How DKIM signatures with an l= tag are judged (RFC 6376 §8.2 calls l= a risk):
// "accept" honours l=, "appended" (default) gives `policy` when the body goes on
// past l=, "always" gives `policy` to any signature with l=.
enum class DkimLengthPolicy { kAccept, kPolicyIfAppended, kPolicyAlways };

// [mailauth]: SPF, DKIM, DMARC, ARC and iprev on mail received by the `smtp`
// (MX) listeners; submission and LMTP do not run them. The MX removes incoming
// fields claiming authserv_id (RFC 8601 §5), adds one Authentication-Results
// field, applies DMARC dispositions and ARC-seals alias forwards
// (docs/adr/0011-mailauth.md, "Inbound verification"). Changing it needs a restart.
struct MailauthSettings {
  // The authserv-id of our Authentication-Results fields (RFC 8601 §2.5);
  // "" = server.hostname.
  std::string authserv_id;
  DmarcRejectAction dmarc_reject = DmarcRejectAction::kReject;
  DkimLengthPolicy dkim_length_policy = DkimLengthPolicy::kPolicyIfAppended;
  // false: no checks and no Authentication-Results on inbound mail (spoofed fields
  // claiming our authserv-id are still removed).
  bool verify_inbound = true;
  // Key `dns_timeout_seconds` (1..300): one deadline for all the DNS lookups of one
  // message's checks; what has no answer by then is temperror (never a reject).
  std::chrono::seconds dns_timeout{20};
  // Host names (lower case) of ARC sealers whose passing chain (RFC 8617) lifts a
  // DMARC reject or quarantine, for mailing lists and forwarders the site trusts.
  // Empty (default, as Postfix/OpenDMARC): ARC never overrides DMARC.
  std::vector<std::string> trusted_arc_sealers;
  friend bool operator==(const MailauthSettings&, const MailauthSettings&) = default;
};

// The TLS policy of outbound SMTP: never, opportunistic STARTTLS, mandatory
// STARTTLS without checking the certificate, or with the chain and name checked.
enum class OutboundTls { kNone, kMay, kEncrypt, kVerify };

// Returns "none", "may", "encrypt" or "verify".
std::string_view outbound_tls_name(OutboundTls tls);

// [outbound]: the SMTP client of services/delivery. RFC 5321 §4.5.3.2 timeouts.
// Changing it needs a restart.
struct OutboundSettings {
  std::string helo_name;                         // "" = server.hostname
  std::chrono::seconds connect_timeout{30};      // Postfix smtp_connect_timeout
  std::chrono::seconds greeting_timeout{300};    // §4.5.3.2.1
  std::chrono::seconds command_timeout{300};     // §4.5.3.2.2, §4.5.3.2.3
  std::chrono::seconds data_init_timeout{120};   // §4.5.3.2.4
  std::chrono::seconds data_block_timeout{180};  // §4.5.3.2.5
  std::chrono::seconds data_term_timeout{600};   // §4.5.3.2.6
  OutboundTls tls = OutboundTls::kMay;
  std::string ca_file;         // PEM CAs for "verify"; "" = the system store
  std::uint16_t mx_port = 25;  // the port of MX hosts (tests use others)
  // Connection reuse: an idle session is kept this long, and carries at most
  // this many messages (Postfix smtp_connection_cache_time_limit, _reuse_count_limit).
  std::chrono::seconds connection_idle{5};
  std::uint32_t messages_per_connection = 100;
  // RFC 8461 MTA-STS: fetch and apply the destination's policy (the HTTPS fetch
  // trusts `ca_file` too, or the system store). `mta_sts_port` is the policy
  // host's HTTPS port, 443 but for tests.
  bool mta_sts = true;
  std::uint16_t mta_sts_port = 443;
  // How often every cached MTA-STS policy is re-checked (its `_mta-sts` id, a new
  // policy fetched when it changed) so it does not expire unnoticed; RFC 8461
  // §3.3 suggests daily. The first pass runs a minute after start.
  std::chrono::seconds mta_sts_refresh{86400};
  // RFC 7672 DANE: DNSSEC-validated TLSA records of an MX make TLS mandatory and
  // authenticate its certificate (needs [dns] dnssec).
  bool dane = true;
  friend bool operator==(const OutboundSettings&, const OutboundSettings&) = default;
};

// One [[transport]]: how mail for one domain travels instead of MX lookup.
//   route = "smtp:[relay.example.net]:587"   that host, no MX lookup
//   route = "smtp:relay.example.net"         the MX hosts of relay.example.net
//   route = "lmtp:127.0.0.1:24" | "lmtp:[::1]:24" | "lmtp:unix:/run/lmtp.sock"
struct TransportSettings {
  enum class Protocol { kSmtp, kLmtp };

  std::string domain;  // lower case; matches the destination exactly
  std::string route;   // as written
  Protocol protocol = Protocol::kSmtp;
  std::string host;                // a name or IP literal; "" for a unix socket
  std::uint16_t port = 0;          // 0 = [outbound] mx_port (smtp) or 24 (lmtp)
  bool mx_lookup = false;          // smtp without [...]
  std::string unix_path;           // lmtp:unix:, resolved
  std::string auth_user;           // SMTP AUTH; needs auth_password_file
  std::string auth_password_file;  // resolved; the first line is the password
  bool has_tls = false;            // `tls` was given; else [outbound] tls applies
  OutboundTls tls = OutboundTls::kMay;
  friend bool operator==(const TransportSettings&, const TransportSettings&) = default;
};

enum class ListenerRole { kSmtp, kSubmission, kLmtp, kImap, kPop3, kManageSieve, kHttp };

enum class TlsMode { kNone, kImplicit, kStartTls };

// Returns "smtp", "submission", "lmtp", "imap", "pop3", "managesieve" or "http".
std::string_view role_name(ListenerRole role);

// Returns "none", "implicit" or "starttls".
std::string_view tls_mode_name(TlsMode mode);

// True when `role` may be served with `mode`:
//   smtp        none, starttls      (MX; RFC 3207, no implicit TLS on port 25)
//   submission  none, starttls, implicit (RFC 8314)
//   lmtp        none, starttls
//   imap, pop3  none, starttls, implicit
//   managesieve none, starttls, implicit (RFC 5804 §1.8: STARTTLS on 4190)
//   http        none, implicit
// Plaintext login on a "none" listener is governed by the auth policy, not here.
bool is_allowed_tls_mode(ListenerRole role, TlsMode mode);

// One [[listener]] entry. `address` is "host:port", or "unix:<path>" for a local
// stream socket (role lmtp only, tls none), e.g. for Postfix's
// `mailbox_transport = lmtp:unix:/var/lib/tern/lmtp.sock`.
struct ListenerSettings {
  std::string name;  // unique among listeners
  ListenerRole role = ListenerRole::kSmtp;
  std::string host;        // as written, without IPv6 brackets: "0.0.0.0", "::1", "localhost"
  std::uint16_t port = 0;  // 0 = any free port (tests)
  TlsMode tls = TlsMode::kNone;
  // A "unix:" address: the socket's path, resolved against server.data_dir, at
  // most 107 bytes (sun_path); host is "" and port 0. Empty for TCP listeners.
  // The client must be able to search the directory: data_dir is 0700, and
  // Debian's Postfix runs lmtp chrooted, so for Postfix put the socket under its
  // queue directory ("unix:/var/spool/postfix/private/tern-lmtp", named
  // "lmtp:unix:private/tern-lmtp" in main.cf), as Dovecot's documentation does.
  std::string unix_path;
  // Key `socket_mode`, an octal string ("0660"): the socket file's permission
  // bits, at most 0777. Connecting needs write permission on the file.
  std::uint32_t socket_mode = 0660;
  // Keys `socket_owner`/`socket_group`: user and group names for the socket file
  // (checked when ternd starts). "" = server.user (when set) and the owner's
  // primary group (server.group when the owner is server.user).
  std::string socket_owner;
  std::string socket_group;
  friend bool operator==(const ListenerSettings&, const ListenerSettings&) = default;
};

// [mta_sts]: the MTA-STS policy ternd publishes for its own domains on the HTTP
// listener, at https://mta-sts.<domain>/.well-known/mta-sts.txt (RFC 8461 §3.2).
// The policy's mx list is server.hostname followed by `mx` (extra names or
// "*.example.org" wildcards, RFC 8461 §4.1), de-duplicated.
enum class MtaStsMode { kTesting, kEnforce, kNone };

// Returns "testing", "enforce" or "none" (the policy's `mode:` values).
std::string_view mta_sts_mode_name(MtaStsMode mode);

struct MtaStsSettings {
  MtaStsMode mode = MtaStsMode::kTesting;
  std::vector<std::string> mx;  // extra MX host patterns, lower case
  // Key `max_age_seconds`: 1..31557600 (RFC 8461 §3.2); one week by default.
  std::chrono::seconds max_age{604800};
  friend bool operator==(const MtaStsSettings&, const MtaStsSettings&) = default;
};

// [reports]: DMARC aggregate reports (RFC 9990) and SMTP TLS reports (RFC 8460)
// that this server sends daily about the mail it received and delivered, and the
// reading of reports others send to `inbox` (domain/reports/README.md). Data are
// recorded whatever `enabled` says; nothing is sent unless it is true. Changing it
// needs a restart.
struct ReportsSettings {
  bool enabled = false;  // send reports
  bool dmarc = true;     // DMARC aggregate reports, when enabled
  bool tls = true;       // TLS reports, when enabled
  // Key `interval_seconds`: the reporting period, whole hours dividing a day
  // (3600..86400); periods start at 00:00 UTC (RFC 9990 §3.1.1.4).
  std::chrono::seconds interval{86400};
  std::string org_name;       // <org_name> / organization-name; "" = server.hostname
  std::string email;          // contact and From:; "" = "postmaster@" + submitter
  std::string submitter;      // our domain in file names and Subject; "" = domain of
                              // server.hostname without its first label
  std::string extra_contact;  // <extra_contact_info>; "" = none
  // Key `retention_days` (1..3650): recorded data and received reports are kept
  // this long.
  std::uint32_t retention_days = 31;
  // A local account whose INBOX receives reports (publish it as rua=); its new
  // messages are read every `ingest_interval_seconds` (60..86400). "" = none.
  std::string inbox;
  std::chrono::seconds ingest_interval{300};
  friend bool operator==(const ReportsSettings&, const ReportsSettings&) = default;
};

// [spam]: the built-in statistical spam filter (domain/spam_filter.hpp,
// docs/adr/0023-spam-filter.md). Changing it needs a restart.
struct SpamSettings {
  // Classify every local delivery with the site's and the recipient's models;
  // spam goes to the recipient's Junk mailbox.
  bool classify = true;
  // IMAP COPY/MOVE into Junk teaches spam, out of Junk (not to Trash) ham.
  bool learn_from_moves = true;
  // Key `spam_threshold` (50..100): a score at or above this percent is spam.
  std::uint32_t spam_percent = 90;
  // Key `ham_threshold` (0..spam_threshold): below this percent is ham; between
  // the two, unsure (delivered as ham, shown so by `tern spam check`).
  std::uint32_t ham_percent = 20;
  // Messages learned as spam, and as ham, before a model gives verdicts.
  std::uint32_t min_messages = 10;
  // At most this many messages of one COPY/MOVE are learned.
  std::uint32_t max_learn_per_command = 1000;
  friend bool operator==(const SpamSettings&, const SpamSettings&) = default;
};

// [antivirus]: messages are scanned by ClamAV's clamd before they are accepted
// (services/smtp/antivirus.hpp). Off unless `clamd` is set. Changing it needs a
// restart.
enum class AntivirusFailure {
  kDefer,   // "defer": 451 4.3.0, the sender retries (clamav-milter's OnFail Defer)
  kAccept,  // "accept": the message is delivered unscanned (logged)
};

// [[milter]]: mail filters over the Sendmail 8 milter protocol (OpenDKIM,
// clamav-milter, rspamd's proxy, spamass-milter), asked about every message at
// the end of DATA, in file order (services/smtp/milter.hpp). Changing them needs
// a restart.
enum class MilterFailure {
  kTempfail,  // "tempfail": 451 4.7.1, the sender retries (Postfix's milter_default_action)
  kAccept,    // "accept": the message goes on without this filter (logged)
  kReject,    // "reject": 550 5.7.1
};

struct MilterSettings {
  // Key `name`: for the logs; default "milter<N>" (N from 1, in file order).
  std::string name;
  // Key `address` (required): "unix:<path>" (relative to the config file's
  // folder), "inet:<ip>:<port>" as in Postfix's smtpd_milters, or "<ip>:<port>".
  std::string unix_path;
  std::string host;  // an IP literal
  std::uint16_t port = 0;
  // Key `roles`: the listener roles whose messages the filter sees, as for
  // [antivirus]; default smtp and submission.
  bool smtp = true;
  bool submission = true;
  bool lmtp = false;
  // Key `on_failure`: "tempfail", "accept" or "reject", when the filter cannot
  // be reached, times out or breaks the protocol.
  MilterFailure on_failure = MilterFailure::kTempfail;
  // Key `timeout_seconds` (1..600): for the connect, and for each write and read.
  std::chrono::seconds timeout{30};

  friend bool operator==(const MilterSettings&, const MilterSettings&) = default;
};

struct AntivirusSettings {
  // Key `clamd`: "unix:<path>" (relative to the config file's folder) or
  // "<ip>:<port>" / "[<ipv6>]:<port>". "" = no scanning.
  std::string clamd_unix_path;
  std::string clamd_host;  // an IP literal
  std::uint16_t clamd_port = 0;
  // Key `roles`: the listener roles whose messages are scanned: any of "smtp",
  // "submission", "lmtp". LMTP is left out by default: the MTA in front scans.
  bool scan_smtp = true;
  bool scan_submission = true;
  bool scan_lmtp = false;
  // Key `on_failure`: "defer" or "accept", when clamd cannot be reached or
  // cannot scan the message (a timeout, its own limits).
  AntivirusFailure on_failure = AntivirusFailure::kDefer;
  // Key `max_message_bytes` (1 KiB..1 GiB): larger messages are delivered
  // unscanned, as clamav-milter's MaxFileSize; keep it within clamd's
  // StreamMaxLength (Debian's default 25M).
  std::uint32_t max_message_bytes = 25 * 1024 * 1024;
  // Key `timeout_seconds` (1..600): for the connect, and for each write and read.
  std::chrono::seconds timeout{30};

  bool enabled() const { return !clamd_unix_path.empty() || clamd_port != 0; }

  friend bool operator==(const AntivirusSettings&, const AntivirusSettings&) = default;
};

// [dnsbl]: DNS block- and allowlists of client addresses for the MX (RFC 5782,
// dnsbl/dnsbl.hpp). Looked up when a client connects; a client whose sites'
// weights add up to `threshold` gets 554 5.7.1 for every RCPT. Changing it
// needs a restart.
struct DnsblSettings {
  // Key `sites`: postscreen_dnsbl_sites syntax, "zone[=pattern][*weight]". Empty:
  // no lookups.
  std::vector<dnsbl::Site> sites;
  // Key `threshold` (1..1000), as postscreen_dnsbl_threshold.
  std::int32_t threshold = 1;
  friend bool operator==(const DnsblSettings&, const DnsblSettings&) = default;
};

// [greylist]: the MX defers the first attempt of each (client network, sender,
// recipient) triplet (domain/greylist.hpp: postgrey's rules and defaults).
// Changing it needs a restart.
struct GreylistSettings {
  bool enabled = false;
  std::chrono::seconds delay{300};               // key `delay_seconds` (1..86400)
  std::chrono::seconds retry_window{2 * 86400};  // key `retry_window_hours` (1..720)
  std::chrono::seconds max_age{35 * 86400};      // key `max_age_days` (1..365)
  // Key `auto_allow_clients` (0..1000): a client network with this many passed
  // triplets passes at once; 0 never.
  std::uint32_t auto_allow_clients = 5;
  friend bool operator==(const GreylistSettings&, const GreylistSettings&) = default;
};

// The whole configuration. Every field has been validated; the defaults above
// apply to keys the file leaves out.
struct Settings {
  ServerSettings server;
  LogSettings log;
  TlsSettings tls;
  LimitSettings limits;
  StoreSettings store;
  AuthSettings auth;
  AddressingSettings addressing;
  SmtpSettings smtp;
  Pop3Settings pop3;
  ImapSettings imap;
  QueueSettings queue;
  DnsSettings dns;
  OutboundSettings outbound;
  MtaStsSettings mta_sts;
  std::vector<TransportSettings> transports;  // [[transport]], domains unique
  MailauthSettings mailauth;
  std::vector<DkimKeySettings> dkim;  // [[dkim]], in file order
  ReportsSettings reports;
  SpamSettings spam;
  AntivirusSettings antivirus;
  std::vector<MilterSettings> milters;  // [[milter]], in file order
  DnsblSettings dnsbl;
  GreylistSettings greylist;
  std::vector<ListenerSettings> listeners;  // in file order; names and addresses unique
  friend bool operator==(const Settings&, const Settings&) = default;
};

// True when both have the same listeners, in any order (same name, role, address,
// TLS mode and socket file settings each). A SIGHUP reload that keeps the listeners keeps the
// sockets.
bool same_listeners(const Settings& a, const Settings& b);

// Which sections differ between two settings, for a SIGHUP reload.
struct SettingsDiff {
  bool server = false;
  bool log = false;
  bool tls = false;
  bool limits = false;
  bool store = false;
  bool auth = false;
  bool addressing = false;
  bool smtp = false;
  bool pop3 = false;
  bool imap = false;
  bool queue = false;
  bool dns = false;
  bool outbound = false;  // [outbound] or [[transport]]
  bool mta_sts = false;
  bool mailauth = false;  // [mailauth] or [[dkim]]
  bool reports = false;
  bool spam = false;
  bool antivirus = false;
  bool dnsbl = false;
  bool greylist = false;
  bool listeners = false;  // !same_listeners()

  // True when nothing differs.
  bool empty() const;

  // True when a running ternd cannot apply the change and must be restarted:
  // [server], [store], [smtp], [pop3], [imap], [queue], [dns], [outbound] or
  // [[transport]], [mailauth] or [[dkim]], [reports], [spam], [antivirus], [dnsbl] or [greylist]
  // changed. Log, TLS (certificates are reloaded), limits, auth and addressing apply live; listener
  // changes apply live as far as the process may still bind the ports (app/ decides, since
  // privileges are dropped).
  bool needs_restart() const;

  // The changed section names in file order ("server", "log", ..., "listener"),
  // joined with ", "; "" when empty(). For the reload log line.
  std::string describe() const;
};

SettingsDiff diff_settings(const Settings& before, const Settings& after);

}  // namespace tern::config
