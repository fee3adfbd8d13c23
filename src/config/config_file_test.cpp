// SPDX-License-Identifier: Apache-2.0
#include "config/config_file.hpp"

#include <string>

#include <gtest/gtest.h>

namespace tern::config {
namespace {

constexpr std::string_view kFile = "var/tern.toml";
constexpr std::string_view kBase = "/etc/tern";

Result<Settings> parse(std::string_view text) {
  return parse_config(text, kFile, kBase);
}

// The error message of a parse that must fail.
std::string error_of(std::string_view text) {
  auto result = parse(text);
  if (result) {
    ADD_FAILURE() << "parse succeeded for:\n" << text;
    return "";
  }
  EXPECT_EQ(result.error().code, ErrorCode::kInvalidInput);
  return result.error().message;
}

TEST(ParseConfig, MinimalFileGetsDefaults) {
  auto settings = parse("[server]\nhostname = \"Mail.Example.org\"\n");
  ASSERT_TRUE(settings) << settings.error().message;
  EXPECT_EQ(settings->server.hostname, "mail.example.org");
  EXPECT_EQ(settings->server.data_dir, "/etc/tern");
  EXPECT_EQ(settings->server.user, "");
  EXPECT_EQ(settings->server.io_threads, 0u);
  EXPECT_EQ(settings->server.blocking_threads, 16u);
  EXPECT_EQ(settings->server.drain_timeout, std::chrono::seconds(10));
  EXPECT_EQ(settings->log.level, log::Level::kInfo);
  EXPECT_EQ(settings->log.format, LogFormat::kText);
  EXPECT_EQ(settings->tls.cert, "");
  EXPECT_EQ(settings->tls.min_version, TlsVersion::kTls12);
  EXPECT_EQ(settings->limits.max_connections, 10000u);
  EXPECT_EQ(settings->limits.max_connections_per_ip, 50u);
  EXPECT_EQ(settings->store.backend, StoreBackend::kSqlite);
  EXPECT_EQ(settings->store.path, "/etc/tern/store");
  EXPECT_TRUE(settings->store.group_commit);
  EXPECT_EQ(settings->auth.argon2_memory_kib, 65536u);
  EXPECT_EQ(settings->auth.argon2_iterations, 3u);
  EXPECT_EQ(settings->auth.argon2_parallelism, 1u);
  EXPECT_TRUE(settings->auth.allow_plaintext_on_loopback);
  EXPECT_EQ(settings->auth.scram_iterations, 4096u);
  EXPECT_EQ(settings->auth.failures_before_delay, 3u);
  EXPECT_EQ(settings->auth.failures_before_block, 10u);
  EXPECT_EQ(settings->addressing.subaddress_separator, "+");
  EXPECT_TRUE(settings->outbound.mta_sts);  // issue #8: both on unless switched off
  EXPECT_EQ(settings->outbound.mta_sts_port, 443);
  EXPECT_EQ(settings->outbound.mta_sts_refresh, std::chrono::seconds(86400));
  EXPECT_TRUE(settings->outbound.dane);
  EXPECT_TRUE(settings->listeners.empty());
}

TEST(ParseConfig, ReadsEveryKey) {
  auto settings = parse(R"(
[server]
hostname = "mx.example.org"
data_dir = "../data"
user = "tern"
group = "mail"
io_threads = 4
blocking_threads = 8
drain_seconds = 30

[log]
level = "debug"
format = "json"

[tls]
cert = "certs/fullchain.pem"
key = "/etc/ssl/private/tern.key"
min_version = "1.3"

[limits]
max_connections = 500
max_connections_per_ip = 20

[store]
backend = "memory"
path = "db"
group_commit = false

[auth]
argon2_memory_kib = 19456
argon2_iterations = 2
argon2_parallelism = 1
allow_plaintext_on_loopback = false
scram_iterations = 10000
failures_before_delay = 2
failures_before_block = 5
user_failures_before_block = 20
failure_window_seconds = 600
block_seconds = 3600
max_delay_seconds = 8

[addressing]
subaddress_separator = ""

[[listener]]
name = "mx"
role = "smtp"
address = "0.0.0.0:25"
tls = "starttls"

[[listener]]
name = "imaps"
role = "imap"
address = "[::1]:993"
tls = "implicit"

[[listener]]
name = "lmtp"
role = "lmtp"
address = "localhost:0"
)");
  ASSERT_TRUE(settings) << settings.error().message;
  const Settings& s = *settings;
  EXPECT_EQ(s.server.data_dir, "/etc/data");
  EXPECT_EQ(s.server.user, "tern");
  EXPECT_EQ(s.server.group, "mail");
  EXPECT_EQ(s.server.io_threads, 4u);
  EXPECT_EQ(s.server.blocking_threads, 8u);
  EXPECT_EQ(s.server.drain_timeout, std::chrono::seconds(30));
  EXPECT_EQ(s.log.level, log::Level::kDebug);
  EXPECT_EQ(s.log.format, LogFormat::kJson);
  EXPECT_EQ(s.tls.cert, "/etc/tern/certs/fullchain.pem");
  EXPECT_EQ(s.tls.key, "/etc/ssl/private/tern.key");
  EXPECT_EQ(s.tls.min_version, TlsVersion::kTls13);
  EXPECT_EQ(s.limits.max_connections, 500u);
  EXPECT_EQ(s.limits.max_connections_per_ip, 20u);
  EXPECT_EQ(s.store.backend, StoreBackend::kMemory);
  EXPECT_EQ(s.store.path, "/etc/data/db");
  EXPECT_FALSE(s.store.group_commit);
  EXPECT_EQ(s.auth.argon2_memory_kib, 19456u);
  EXPECT_EQ(s.auth.argon2_iterations, 2u);
  EXPECT_FALSE(s.auth.allow_plaintext_on_loopback);
  EXPECT_EQ(s.auth.scram_iterations, 10000u);
  EXPECT_EQ(s.auth.failures_before_delay, 2u);
  EXPECT_EQ(s.auth.failures_before_block, 5u);
  EXPECT_EQ(s.auth.user_failures_before_block, 20u);
  EXPECT_EQ(s.auth.failure_window, std::chrono::seconds(600));
  EXPECT_EQ(s.auth.block_time, std::chrono::seconds(3600));
  EXPECT_EQ(s.auth.max_delay, std::chrono::seconds(8));
  EXPECT_EQ(s.addressing.subaddress_separator, "");
  ASSERT_EQ(s.listeners.size(), 3u);
  EXPECT_EQ(s.listeners[0].name, "mx");
  EXPECT_EQ(s.listeners[0].role, ListenerRole::kSmtp);
  EXPECT_EQ(s.listeners[0].host, "0.0.0.0");
  EXPECT_EQ(s.listeners[0].port, 25);
  EXPECT_EQ(s.listeners[0].tls, TlsMode::kStartTls);
  EXPECT_EQ(s.listeners[1].host, "::1");
  EXPECT_EQ(s.listeners[1].port, 993);
  EXPECT_EQ(s.listeners[1].tls, TlsMode::kImplicit);
  EXPECT_EQ(s.listeners[2].host, "localhost");
  EXPECT_EQ(s.listeners[2].port, 0);
  EXPECT_EQ(s.listeners[2].tls, TlsMode::kNone);
}

TEST(ParseConfig, AbsoluteStorePathIgnoresDataDir) {
  auto settings = parse("[server]\nhostname = \"a.b\"\n[store]\npath = \"/var/lib/tern\"\n");
  ASSERT_TRUE(settings) << settings.error().message;
  EXPECT_EQ(settings->store.path, "/var/lib/tern");
}

TEST(ParseConfig, EmptyBaseDirKeepsPathsRelative) {
  auto settings = parse_config("[server]\nhostname = \"a.b\"\n", kFile, "");
  ASSERT_TRUE(settings) << settings.error().message;
  EXPECT_EQ(settings->server.data_dir, ".");
  EXPECT_EQ(settings->store.path, "store");
}

TEST(ParseConfig, SpamSection) {
  auto defaults = parse("[server]\nhostname = \"a.b\"\n");
  ASSERT_TRUE(defaults) << defaults.error().message;
  EXPECT_TRUE(defaults->spam.classify);
  EXPECT_TRUE(defaults->spam.learn_from_moves);
  EXPECT_EQ(defaults->spam.spam_percent, 90u);
  EXPECT_EQ(defaults->spam.ham_percent, 20u);
  EXPECT_EQ(defaults->spam.min_messages, 10u);

  auto set = parse(
      "[server]\nhostname = \"a.b\"\n[spam]\nclassify = false\nlearn_from_moves = false\n"
      "spam_threshold = 95\nham_threshold = 10\nmin_messages = 50\n"
      "max_learn_per_command = 0\n");
  ASSERT_TRUE(set) << set.error().message;
  EXPECT_FALSE(set->spam.classify);
  EXPECT_FALSE(set->spam.learn_from_moves);
  EXPECT_EQ(set->spam.spam_percent, 95u);
  EXPECT_EQ(set->spam.ham_percent, 10u);
  EXPECT_EQ(set->spam.min_messages, 50u);
  EXPECT_EQ(set->spam.max_learn_per_command, 0u);

  EXPECT_EQ(error_of("[server]\nhostname = \"a.b\"\n[spam]\nspam_threshold = 40\n"),
            "var/tern.toml:4: spam.spam_threshold: expected an integer from 50 to 100, got 40");
  EXPECT_EQ(error_of("[server]\nhostname = \"a.b\"\n[spam]\nham_threshold = 95\n"),
            "var/tern.toml:4: spam.ham_threshold: expected at most spam_threshold (90), got 95");
  EXPECT_EQ(error_of("[server]\nhostname = \"a.b\"\n[spam]\nlearn = true\n"),
            "var/tern.toml:4: unknown key \"spam.learn\"");
}

TEST(ParseConfig, MilterTables) {
  auto defaults = parse("[server]\nhostname = \"a.b\"\n");
  ASSERT_TRUE(defaults) << defaults.error().message;
  EXPECT_TRUE(defaults->milters.empty());

  auto two = parse(
      "[server]\nhostname = \"a.b\"\n"
      "[[milter]]\nname = \"opendkim\"\naddress = \"inet:127.0.0.1:8891\"\n"
      "roles = [\"submission\"]\non_failure = \"accept\"\ntimeout_seconds = 7\n"
      "[[milter]]\naddress = \"unix:clamav-milter.sock\"\n");
  ASSERT_TRUE(two) << two.error().message;
  ASSERT_EQ(two->milters.size(), 2u);
  const MilterSettings& dkim = two->milters[0];
  EXPECT_EQ(dkim.name, "opendkim");
  EXPECT_EQ(dkim.host, "127.0.0.1");
  EXPECT_EQ(dkim.port, 8891);
  EXPECT_FALSE(dkim.smtp);
  EXPECT_TRUE(dkim.submission);
  EXPECT_FALSE(dkim.lmtp);
  EXPECT_EQ(dkim.on_failure, MilterFailure::kAccept);
  EXPECT_EQ(dkim.timeout, std::chrono::seconds(7));
  const MilterSettings& av = two->milters[1];
  EXPECT_EQ(av.name, "milter2");
  EXPECT_EQ(av.unix_path, "/etc/tern/clamav-milter.sock");
  EXPECT_TRUE(av.smtp);
  EXPECT_TRUE(av.submission);
  EXPECT_EQ(av.on_failure, MilterFailure::kTempfail);

  const std::string head = "[server]\nhostname = \"a.b\"\n[[milter]]\n";
  EXPECT_EQ(error_of(head + "name = \"x\"\n"),
            "var/tern.toml:3: missing key \"milter[0].address\"");
  EXPECT_EQ(error_of(head + "address = \"inet:localhost:8891\"\n"),
            "var/tern.toml:4: milter[0].address: expected \"unix:<path>\" or an IP address and "
            "port (\"inet:127.0.0.1:8891\"), got \"inet:localhost:8891\"");
  EXPECT_EQ(error_of(head + "address = \"unix:m\"\non_failure = \"defer\"\n"),
            "var/tern.toml:5: milter[0].on_failure: expected one of tempfail, accept, reject, got "
            "\"defer\"");
  EXPECT_EQ(error_of(head + "address = \"unix:m\"\n[[milter]]\nname = \"milter1\"\n"
                            "address = \"unix:n\"\n"),
            "var/tern.toml:6: milter[1].name: \"milter1\" names an earlier [[milter]] too");
  EXPECT_EQ(error_of("milter = \"unix:m\"\n[server]\nhostname = \"a.b\"\n"),
            "var/tern.toml:1: milter: expected an array of tables ([[milter]]), got a string");
}

TEST(ParseConfig, AntivirusSection) {
  auto defaults = parse("[server]\nhostname = \"a.b\"\n");
  ASSERT_TRUE(defaults) << defaults.error().message;
  EXPECT_FALSE(defaults->antivirus.enabled());

  auto local = parse(
      "[server]\nhostname = \"a.b\"\n[antivirus]\nclamd = \"unix:clamd.sock\"\n"
      "roles = [\"lmtp\"]\non_failure = \"accept\"\nmax_message_bytes = 4096\n"
      "timeout_seconds = 5\n");
  ASSERT_TRUE(local) << local.error().message;
  EXPECT_TRUE(local->antivirus.enabled());
  EXPECT_EQ(local->antivirus.clamd_unix_path, "/etc/tern/clamd.sock");  // beside the config
  EXPECT_FALSE(local->antivirus.scan_smtp);
  EXPECT_FALSE(local->antivirus.scan_submission);
  EXPECT_TRUE(local->antivirus.scan_lmtp);
  EXPECT_EQ(local->antivirus.on_failure, AntivirusFailure::kAccept);
  EXPECT_EQ(local->antivirus.max_message_bytes, 4096u);
  EXPECT_EQ(local->antivirus.timeout, std::chrono::seconds(5));

  auto tcp = parse("[server]\nhostname = \"a.b\"\n[antivirus]\nclamd = \"[::1]:3310\"\n");
  ASSERT_TRUE(tcp) << tcp.error().message;
  EXPECT_EQ(tcp->antivirus.clamd_host, "::1");
  EXPECT_EQ(tcp->antivirus.clamd_port, 3310);
  EXPECT_TRUE(tcp->antivirus.scan_smtp);
  EXPECT_TRUE(tcp->antivirus.scan_submission);
  EXPECT_FALSE(tcp->antivirus.scan_lmtp);
  EXPECT_EQ(tcp->antivirus.on_failure, AntivirusFailure::kDefer);

  EXPECT_EQ(error_of("[server]\nhostname = \"a.b\"\n[antivirus]\nclamd = \"clamav.local:3310\"\n"),
            "var/tern.toml:4: antivirus.clamd: expected \"unix:<path>\" or an IP address and port "
            "(\"127.0.0.1:3310\"), got \"clamav.local:3310\"");
  EXPECT_EQ(error_of("[server]\nhostname = \"a.b\"\n[antivirus]\nclamd = \"unix:\"\n"),
            "var/tern.toml:4: antivirus.clamd: expected \"unix:<path>\", got \"unix:\"");
  EXPECT_EQ(error_of("[server]\nhostname = \"a.b\"\n[antivirus]\nroles = [\"imap\"]\n"),
            "var/tern.toml:4: antivirus.roles: expected roles among smtp, submission, lmtp, got "
            "\"imap\"");
  EXPECT_EQ(error_of("[server]\nhostname = \"a.b\"\n[antivirus]\non_failure = \"reject\"\n"),
            "var/tern.toml:4: antivirus.on_failure: expected one of defer, accept, got \"reject\"");
}

TEST(ParseConfig, DnsblSection) {
  auto defaults = parse("[server]\nhostname = \"a.b\"\n");
  ASSERT_TRUE(defaults) << defaults.error().message;
  EXPECT_TRUE(defaults->dnsbl.sites.empty());
  EXPECT_EQ(defaults->dnsbl.threshold, 1);

  auto set = parse(
      "[server]\nhostname = \"a.b\"\n[dnsbl]\n"
      "sites = [\"zen.spamhaus.org=127.0.0.[2..11]*3\", \"list.dnswl.org*-2\"]\nthreshold = 3\n");
  ASSERT_TRUE(set) << set.error().message;
  ASSERT_EQ(set->dnsbl.sites.size(), 2u);
  EXPECT_EQ(set->dnsbl.sites[0].zone, "zen.spamhaus.org");
  EXPECT_EQ(set->dnsbl.sites[0].weight, 3);
  EXPECT_EQ(set->dnsbl.sites[1].weight, -2);
  EXPECT_EQ(set->dnsbl.threshold, 3);

  EXPECT_EQ(error_of("[server]\nhostname = \"a.b\"\n[dnsbl]\nsites = [\"zen.spamhaus.org*x\"]\n"),
            "var/tern.toml:4: dnsbl.sites: invalid DNSBL site \"zen.spamhaus.org*x\": the weight "
            "after '*' must be an integer from -1000 to 1000");
  EXPECT_EQ(error_of("[server]\nhostname = \"a.b\"\n[dnsbl]\nthreshold = 0\n"),
            "var/tern.toml:4: dnsbl.threshold: expected an integer from 1 to 1000, got 0");
}

TEST(ParseConfig, GreylistSection) {
  auto defaults = parse("[server]\nhostname = \"a.b\"\n");
  ASSERT_TRUE(defaults) << defaults.error().message;
  EXPECT_FALSE(defaults->greylist.enabled);
  EXPECT_EQ(defaults->greylist.delay, std::chrono::seconds(300));
  EXPECT_EQ(defaults->greylist.retry_window, std::chrono::hours(48));
  EXPECT_EQ(defaults->greylist.max_age, std::chrono::hours(35 * 24));
  EXPECT_EQ(defaults->greylist.auto_allow_clients, 5u);

  auto set = parse(
      "[server]\nhostname = \"a.b\"\n[greylist]\nenabled = true\ndelay_seconds = 60\n"
      "retry_window_hours = 12\nmax_age_days = 7\nauto_allow_clients = 0\n");
  ASSERT_TRUE(set) << set.error().message;
  EXPECT_TRUE(set->greylist.enabled);
  EXPECT_EQ(set->greylist.delay, std::chrono::seconds(60));
  EXPECT_EQ(set->greylist.retry_window, std::chrono::hours(12));
  EXPECT_EQ(set->greylist.max_age, std::chrono::hours(7 * 24));
  EXPECT_EQ(set->greylist.auto_allow_clients, 0u);

  EXPECT_EQ(error_of("[server]\nhostname = \"a.b\"\n[greylist]\ndelay_seconds = 0\n"),
            "var/tern.toml:4: greylist.delay_seconds: expected an integer from 1 to 86400, got 0");
}

TEST(ParseConfig, TrustedNetworks) {
  auto set = parse(
      "[server]\nhostname = \"a.b\"\n[smtp]\n"
      "trusted_networks = [\"192.0.2.0/24\", \"2001:db8::/32\", \"198.51.100.7\"]\n");
  ASSERT_TRUE(set) << set.error().message;
  ASSERT_EQ(set->smtp.trusted_networks.size(), 3u);
  EXPECT_EQ(set->smtp.trusted_networks[0].prefix, 24);
  EXPECT_EQ(set->smtp.trusted_networks[2].prefix, 32);
  EXPECT_EQ(
      error_of("[server]\nhostname = \"a.b\"\n[smtp]\ntrusted_networks = [\"192.0.2.0/33\"]\n"),
      "var/tern.toml:4: smtp.trusted_networks: expected address blocks (\"192.0.2.0/24\", "
      "\"2001:db8::/32\"), got \"192.0.2.0/33\"");
}

TEST(ParseConfig, ReportsUnknownKeyWithLine) {
  EXPECT_EQ(error_of("[server]\nhostname = \"a.b\"\nhostnme = \"x\"\n"),
            "var/tern.toml:3: unknown key \"server.hostnme\"");
}

TEST(ParseConfig, ReportsUnknownTable) {
  EXPECT_EQ(error_of("[server]\nhostname = \"a.b\"\n\n[serverr]\nx = 1\n"),
            "var/tern.toml:4: unknown table \"serverr\"");
  EXPECT_EQ(error_of("[server]\nhostname = \"a.b\"\n[server.extra]\nx = 1\n"),
            "var/tern.toml:3: unknown table \"server.extra\"");
}

TEST(ParseConfig, ReportsUnknownTopLevelKey) {
  EXPECT_EQ(error_of("verbose = true\n[server]\nhostname = \"a.b\"\n"),
            "var/tern.toml:1: unknown key \"verbose\"");
}

TEST(ParseConfig, ReportsValueOutsideEnumeration) {
  EXPECT_EQ(error_of("[server]\nhostname = \"a.b\"\n\n\n\n[log]\nlevel = \"loud\"\n"),
            "var/tern.toml:7: log.level: expected one of debug, info, warn, error, got \"loud\"");
  EXPECT_EQ(error_of("[server]\nhostname = \"a.b\"\n[tls]\nmin_version = \"1.1\"\n"),
            "var/tern.toml:4: tls.min_version: expected one of 1.2, 1.3, got \"1.1\"");
  EXPECT_EQ(
      error_of("[server]\nhostname = \"a.b\"\n[store]\nbackend = \"mysql\"\n"),
      "var/tern.toml:4: store.backend: expected one of sqlite, memory, postgres, got \"mysql\"");
}

TEST(ParseConfig, ReadsPostgresStore) {
  auto settings = parse(
      "[server]\nhostname = \"a.b\"\n[store]\nbackend = \"postgres\"\n"
      "url = \"postgresql://tern@db.example/tern\"\npool_size = 12\nschema = \"node_a\"\n"
      "blob_dir = \"/srv/tern-blobs\"\n");
  ASSERT_TRUE(settings) << settings.error().message;
  EXPECT_EQ(settings->store.backend, StoreBackend::kPostgres);
  EXPECT_EQ(settings->store.url, "postgresql://tern@db.example/tern");
  EXPECT_EQ(settings->store.pool_size, 12u);
  EXPECT_EQ(settings->store.schema, "node_a");
  EXPECT_EQ(settings->store.blob_dir, "/srv/tern-blobs");
  auto keywords = parse(
      "[server]\nhostname = \"a.b\"\n[store]\nbackend = \"postgres\"\n"
      "url = \"host=/run/postgresql dbname=tern\"\n");
  ASSERT_TRUE(keywords) << keywords.error().message;
  EXPECT_EQ(keywords->store.url, "host=/run/postgresql dbname=tern");
  EXPECT_EQ(keywords->store.pool_size, 4u);
  EXPECT_EQ(keywords->store.blob_dir, "");
}

TEST(ParseConfig, ReportsPostgresStoreProblems) {
  EXPECT_EQ(error_of("[server]\nhostname = \"a.b\"\n[store]\nbackend = \"postgres\"\n"),
            "var/tern.toml:3: missing key \"store.url\"");
  EXPECT_EQ(error_of("[server]\nhostname = \"a.b\"\n[store]\nbackend = \"postgres\"\n"
                     "url = \"db.example\"\n"),
            "var/tern.toml:5: store.url: expected a postgresql:// URL or key=value connection "
            "string, got \"db.example\"");
  EXPECT_EQ(error_of("[server]\nhostname = \"a.b\"\n[store]\nurl = \"postgresql://x/y\"\n"),
            "var/tern.toml:4: store.url: only used with store.backend = \"postgres\"");
  EXPECT_EQ(error_of("[server]\nhostname = \"a.b\"\n[store]\nblob_dir = \"b\"\n"),
            "var/tern.toml:4: store.blob_dir: only used with store.backend = \"postgres\"");
  EXPECT_EQ(error_of("[server]\nhostname = \"a.b\"\n[store]\nbackend = \"postgres\"\n"
                     "url = \"postgresql:///t\"\npool_size = 0\n"),
            "var/tern.toml:6: store.pool_size: expected an integer from 1 to 256, got 0");
  EXPECT_EQ(error_of("[server]\nhostname = \"a.b\"\n[store]\nbackend = \"postgres\"\n"
                     "url = \"postgresql:///t\"\nschema = \"Tern; drop\"\n"),
            "var/tern.toml:6: store.schema: expected a lower-case SQL identifier "
            "([a-z_][a-z0-9_]*, at most 63), got \"Tern; drop\"");
}

TEST(ParseConfig, ReportsWrongType) {
  EXPECT_EQ(error_of("[server]\nhostname = \"a.b\"\n[limits]\nmax_connections = \"many\"\n"),
            "var/tern.toml:4: limits.max_connections: expected an integer, got a string");
  EXPECT_EQ(error_of("[server]\nhostname = 7\n"),
            "var/tern.toml:2: server.hostname: expected a string, got an integer");
  EXPECT_EQ(error_of("[server]\nhostname = \"a.b\"\n[store]\ngroup_commit = \"yes\"\n"),
            "var/tern.toml:4: store.group_commit: expected a boolean, got a string");
  EXPECT_EQ(error_of("[server]\nhostname = \"a.b\"\n[log]\nlevel = 1.5\n"),
            "var/tern.toml:4: log.level: expected a string, got a floating-point number");
  EXPECT_EQ(error_of("log = 3\n[server]\nhostname = \"a.b\"\n"),
            "var/tern.toml:1: log: expected a table, got an integer");
}

TEST(ParseConfig, ReportsIntegerOutOfRange) {
  EXPECT_EQ(error_of("[server]\nhostname = \"a.b\"\nblocking_threads = 0\n"),
            "var/tern.toml:3: server.blocking_threads: expected an integer from 1 to 1024, got 0");
  EXPECT_EQ(error_of("[server]\nhostname = \"a.b\"\nio_threads = -1\n"),
            "var/tern.toml:3: server.io_threads: expected an integer from 0 to 1024, got -1");
  EXPECT_EQ(error_of("[server]\nhostname = \"a.b\"\n[limits]\nmax_connections = 99999999999999\n"),
            "var/tern.toml:4: limits.max_connections: expected an integer from 1 to 10000000, got "
            "99999999999999");
}

TEST(ParseConfig, ReportsInconsistentLimits) {
  EXPECT_EQ(error_of("[server]\nhostname = \"a.b\"\n[limits]\nmax_connections = 10\n"
                     "max_connections_per_ip = 11\n"),
            "var/tern.toml:5: limits.max_connections_per_ip: must not exceed "
            "limits.max_connections (10), got 11");
  EXPECT_EQ(error_of("[server]\nhostname = \"a.b\"\n[auth]\nargon2_memory_kib = 16\n"
                     "argon2_parallelism = 4\n"),
            "var/tern.toml:4: auth.argon2_memory_kib: must be at least 8 * "
            "auth.argon2_parallelism (32), got 16");
  EXPECT_EQ(error_of("[server]\nhostname = \"a.b\"\n[auth]\nfailures_before_delay = 5\n"
                     "failures_before_block = 4\n"),
            "var/tern.toml:5: auth.failures_before_block: must be at least "
            "auth.failures_before_delay (5), got 4");
  EXPECT_EQ(error_of("[server]\nhostname = \"a.b\"\n[auth]\nuser_failures_before_block = 9\n"),
            "var/tern.toml:4: auth.user_failures_before_block: must be at least "
            "auth.failures_before_block (10), got 9");
  EXPECT_EQ(error_of("[server]\nhostname = \"a.b\"\n[auth]\nscram_iterations = 100\n"),
            "var/tern.toml:4: auth.scram_iterations: expected an integer from 4096 to 10000000, "
            "got 100");
  EXPECT_EQ(error_of("[server]\nhostname = \"a.b\"\n[auth]\nmax_delay_seconds = 61\n"),
            "var/tern.toml:4: auth.max_delay_seconds: expected an integer from 0 to 60, got 61");
}

TEST(ParseConfig, ReportsMissingHostname) {
  EXPECT_EQ(error_of(""), "var/tern.toml:1: missing key \"server.hostname\"");
  EXPECT_EQ(error_of("\n\n[server]\nuser = \"tern\"\n"),
            "var/tern.toml:3: missing key \"server.hostname\"");
}

TEST(ParseConfig, ReportsBadHostname) {
  EXPECT_EQ(error_of("[server]\nhostname = \"mail example\"\n"),
            "var/tern.toml:2: server.hostname: expected a domain name, got \"mail example\"");
  EXPECT_FALSE(parse("[server]\nhostname = \"-a.b\"\n"));
  EXPECT_FALSE(parse("[server]\nhostname = \"a..b\"\n"));
  EXPECT_FALSE(parse("[server]\nhostname = \"a.b.\"\n"));
}

TEST(ParseConfig, RejectsControlCharactersInStrings) {
  EXPECT_EQ(error_of("[server]\nhostname = \"a.b\"\nuser = \"te\\u0000rn\"\n"),
            "var/tern.toml:3: server.user: must not contain control characters, got "
            "\"te\\x00rn\"");
}

TEST(ParseConfig, ReportsSyntaxErrorWithColumn) {
  std::string message = error_of("[server]\nhostname = \"a.b\"\nuser = tern\n");
  EXPECT_EQ(message.rfind("var/tern.toml:3:", 0), 0u) << message;
  EXPECT_NE(message.find("syntax error"), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos);
}

TEST(ParseConfig, ReportsDuplicateKeyAsSyntaxError) {
  std::string message = error_of("[server]\nhostname = \"a.b\"\nhostname = \"c.d\"\n");
  EXPECT_EQ(message.rfind("var/tern.toml:3:", 0), 0u) << message;
}

TEST(ParseConfig, ReportsEveryProblemOnePerLineSortedByLine) {
  std::string message = error_of(
      "[log]\nlevel = \"loud\"\n[server]\nhostname = \"a.b\"\nbogus = 1\n[limits]\n"
      "max_connections = true\n");
  EXPECT_EQ(message,
            "var/tern.toml:2: log.level: expected one of debug, info, warn, error, got \"loud\"\n"
            "var/tern.toml:5: unknown key \"server.bogus\"\n"
            "var/tern.toml:7: limits.max_connections: expected an integer, got a boolean");
}

TEST(ParseConfig, ReportsBadListenerAddress) {
  constexpr std::string_view kHead =
      "[server]\nhostname = \"a.b\"\n[[listener]]\nname = \"x\"\n"
      "role = \"smtp\"\n";
  for (std::string_view bad : {"25", "host", ":25", "host:", "host:65536", "host:-1", "::1:25",
                               "[::1]25", "[::1]", "[1.2.3.4]:25", "host:2x5", "[]:25"}) {
    std::string text = std::string(kHead) + "address = \"" + std::string(bad) + "\"\n";
    std::string message = error_of(text);
    EXPECT_EQ(message.rfind("var/tern.toml:6: listener[0].address: expected \"host:port\"", 0), 0u)
        << bad << " -> " << message;
  }
}

TEST(ParseConfig, AcceptsPortBounds) {
  auto settings = parse(
      "[server]\nhostname = \"a.b\"\n[[listener]]\nname = \"a\"\nrole = \"smtp\"\n"
      "address = \"127.0.0.1:65535\"\n");
  ASSERT_TRUE(settings) << settings.error().message;
  EXPECT_EQ(settings->listeners[0].port, 65535);
}

TEST(ParseConfig, ReportsMissingListenerKeys) {
  EXPECT_EQ(error_of("[server]\nhostname = \"a.b\"\n[[listener]]\nrole = \"smtp\"\n"),
            "var/tern.toml:3: missing key \"listener[0].name\"\n"
            "var/tern.toml:3: missing key \"listener[0].address\"");
}

TEST(ParseConfig, ReportsUnknownListenerRoleAndKey) {
  EXPECT_EQ(error_of("[server]\nhostname = \"a.b\"\n[[listener]]\nname = \"a\"\n"
                     "role = \"ftp\"\naddress = \"h:1\"\nport = 2\n"),
            "var/tern.toml:5: listener[0].role: expected one of smtp, submission, lmtp, imap, "
            "pop3, managesieve, http, got \"ftp\"\n"
            "var/tern.toml:7: unknown key \"listener[0].port\"");
}

TEST(ParseConfig, ReportsDuplicateListenerNameAndAddress) {
  EXPECT_EQ(error_of("[server]\nhostname = \"a.b\"\n"
                     "[[listener]]\nname = \"a\"\nrole = \"smtp\"\naddress = \"h:25\"\n"
                     "[[listener]]\nname = \"a\"\nrole = \"lmtp\"\naddress = \"h:24\"\n"
                     "[[listener]]\nname = \"b\"\nrole = \"lmtp\"\naddress = \"h:25\"\n"),
            "var/tern.toml:8: listener[1].name: \"a\" is already the name of an earlier listener\n"
            "var/tern.toml:14: listener[2].address: \"h:25\" is already used by listener \"a\"");
}

TEST(ParseConfig, AllowsSeveralListenersOnPortZero) {
  EXPECT_TRUE(
      parse("[server]\nhostname = \"a.b\"\n"
            "[[listener]]\nname = \"a\"\nrole = \"smtp\"\naddress = \"h:0\"\n"
            "[[listener]]\nname = \"b\"\nrole = \"imap\"\naddress = \"h:0\"\n"));
}

TEST(ParseConfig, ReportsRoleTlsCombinations) {
  constexpr std::string_view kHead =
      "[server]\nhostname = \"a.b\"\n[tls]\ncert = \"c\"\nkey = \"k\"\n[[listener]]\n"
      "name = \"x\"\naddress = \"h:1\"\n";
  auto check = [&](std::string_view role, std::string_view tls, bool allowed) {
    std::string text = std::string(kHead) + "role = \"" + std::string(role) + "\"\ntls = \"" +
                       std::string(tls) + "\"\n";
    auto result = parse(text);
    EXPECT_EQ(static_cast<bool>(result), allowed) << role << "/" << tls;
  };
  check("smtp", "none", true);
  check("smtp", "starttls", true);
  check("smtp", "implicit", false);
  check("submission", "implicit", true);
  check("submission", "starttls", true);
  check("lmtp", "starttls", true);
  check("lmtp", "implicit", false);
  check("imap", "implicit", true);
  check("pop3", "starttls", true);
  check("managesieve", "starttls", true);
  check("managesieve", "implicit", true);
  check("managesieve", "none", true);
  check("http", "implicit", true);
  check("http", "starttls", false);
  EXPECT_EQ(error_of(std::string(kHead) + "role = \"http\"\ntls = \"starttls\"\n"),
            "var/tern.toml:10: listener[0].tls: role http accepts none, implicit, got "
            "\"starttls\"");
}

TEST(ParseConfig, ReadsAUnixSocketListener) {
  auto settings = parse(
      "[server]\nhostname = \"a.b\"\ndata_dir = \"/var/lib/tern\"\n"
      "[[listener]]\nname = \"lmtp-local\"\nrole = \"lmtp\"\naddress = \"unix:lmtp.sock\"\n"
      "socket_mode = \"0620\"\nsocket_owner = \"tern\"\nsocket_group = \"postfix\"\n"
      "[[listener]]\nname = \"abs\"\nrole = \"lmtp\"\naddress = \"unix:/run/tern/lmtp.sock\"\n");
  ASSERT_TRUE(settings) << settings.error().message;
  ASSERT_EQ(settings->listeners.size(), 2u);
  const auto& local = settings->listeners[0];
  EXPECT_EQ(local.unix_path, "/var/lib/tern/lmtp.sock");
  EXPECT_EQ(local.host, "");
  EXPECT_EQ(local.port, 0);
  EXPECT_EQ(local.socket_mode, 0620u);
  EXPECT_EQ(local.socket_owner, "tern");
  EXPECT_EQ(local.socket_group, "postfix");
  EXPECT_EQ(settings->listeners[1].unix_path, "/run/tern/lmtp.sock");
  EXPECT_EQ(settings->listeners[1].socket_mode, 0660u);
  EXPECT_EQ(settings->listeners[1].socket_owner, "");
}

TEST(ParseConfig, ReportsUnixSocketMistakesWithFileLineAndKey) {
  constexpr std::string_view kHead =
      "[server]\nhostname = \"a.b\"\n[tls]\ncert = \"c\"\nkey = \"k\"\n";
  EXPECT_EQ(error_of(std::string(kHead) +
                     "[[listener]]\nname = \"x\"\nrole = \"smtp\"\naddress = \"unix:/s.sock\"\n"),
            "var/tern.toml:9: listener[0].address: a \"unix:\" address is only for role lmtp, "
            "got role smtp");
  EXPECT_EQ(error_of(std::string(kHead) +
                     "[[listener]]\nname = \"x\"\nrole = \"lmtp\"\naddress = \"unix:/s.sock\"\n"
                     "tls = \"starttls\"\n"),
            "var/tern.toml:10: listener[0].tls: a \"unix:\" listener accepts none, got "
            "\"starttls\"");
  EXPECT_EQ(error_of(std::string(kHead) +
                     "[[listener]]\nname = \"x\"\nrole = \"lmtp\"\naddress = \"unix:\"\n"),
            "var/tern.toml:9: listener[0].address: expected \"unix:<path>\", got \"unix:\"");
  EXPECT_EQ(error_of(std::string(kHead) +
                     "[[listener]]\nname = \"x\"\nrole = \"lmtp\"\naddress = \"unix:/s\"\n"
                     "socket_mode = \"4660\"\n"),
            "var/tern.toml:10: listener[0].socket_mode: expected an octal mode from \"000\" to "
            "\"0777\" such as \"0660\", got \"4660\"");
  EXPECT_EQ(error_of(std::string(kHead) +
                     "[[listener]]\nname = \"x\"\nrole = \"lmtp\"\naddress = \"unix:/s\"\n"
                     "socket_mode = \"rw\"\nsocket_group = \"post fix\"\n"),
            "var/tern.toml:10: listener[0].socket_mode: expected an octal mode from \"000\" to "
            "\"0777\" such as \"0660\", got \"rw\"\n"
            "var/tern.toml:11: listener[0].socket_group: expected a user or group name, got "
            "\"post fix\"");
  EXPECT_EQ(error_of(std::string(kHead) +
                     "[[listener]]\nname = \"x\"\nrole = \"lmtp\"\naddress = \"h:24\"\n"
                     "socket_mode = \"0600\"\n"),
            "var/tern.toml:10: listener[0].socket_mode: only a listener with a \"unix:\" address "
            "has a socket file");
  EXPECT_EQ(error_of(std::string(kHead) +
                     "[[listener]]\nname = \"x\"\nrole = \"lmtp\"\naddress = \"unix:/" +
                     std::string(110, 'p') + "\"\n"),
            "var/tern.toml:9: listener[0].address: the socket path \"/" + std::string(110, 'p') +
                "\" is longer than 107 bytes");
  EXPECT_EQ(error_of(std::string(kHead) +
                     "[[listener]]\nname = \"x\"\nrole = \"lmtp\"\naddress = \"unix:/s\"\n"
                     "[[listener]]\nname = \"y\"\nrole = \"lmtp\"\naddress = \"unix:/./s\"\n"),
            "var/tern.toml:13: listener[1].address: \"unix:/./s\" is already used by listener "
            "\"x\"");
}

TEST(ParseConfig, TlsListenerNeedsCertificate) {
  EXPECT_EQ(error_of("[server]\nhostname = \"a.b\"\n[[listener]]\nname = \"s\"\n"
                     "role = \"submission\"\naddress = \"h:465\"\ntls = \"implicit\"\n"),
            "var/tern.toml:7: listener[0].tls: \"implicit\" needs tls.cert and tls.key in [tls]");
}

TEST(ParseConfig, CertWithoutKeyIsAnError) {
  EXPECT_EQ(error_of("[server]\nhostname = \"a.b\"\n[tls]\ncert = \"c.pem\"\n"),
            "var/tern.toml:3: missing key \"tls.key\"");
}

TEST(ParseConfig, ListenerMustBeArrayOfTables) {
  EXPECT_EQ(error_of("listener = 1\n[server]\nhostname = \"a.b\"\n"),
            "var/tern.toml:1: listener: expected an array of tables ([[listener]]), got an "
            "integer");
  EXPECT_EQ(error_of("listener = [1]\n[server]\nhostname = \"a.b\"\n"),
            "var/tern.toml:1: listener[0]: expected a table, got an integer");
}

TEST(ParseConfig, ValidatesSubaddressSeparator) {
  auto ok = parse("[server]\nhostname = \"a.b\"\n[addressing]\nsubaddress_separator = \"+-\"\n");
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->addressing.subaddress_separator, "+-");
  std::string message =
      error_of("[server]\nhostname = \"a.b\"\n[addressing]\nsubaddress_separator = \"a\"\n");
  EXPECT_EQ(message.rfind("var/tern.toml:4: addressing.subaddress_separator: expected", 0), 0u)
      << message;
  EXPECT_FALSE(parse("[server]\nhostname = \"a.b\"\n[addressing]\nsubaddress_separator = \"@\"\n"));
}

TEST(ParseConfig, ReadsAndValidatesSmtp) {
  auto ok = parse(
      "[server]\nhostname = \"a.b\"\n[smtp]\nmax_message_bytes = 1048576\nmax_recipients = 200\n"
      "max_line_bytes = 4096\nmax_errors = 5\nmax_junk_commands = 50\n"
      "command_timeout_seconds = 60\nconnections_per_ip_per_minute = 30\n"
      "messages_per_ip_per_minute = 10\nunknown_user = \"defer\"\n");
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->smtp.max_message_bytes, 1048576u);
  EXPECT_EQ(ok->smtp.max_recipients, 200u);
  EXPECT_EQ(ok->smtp.max_line_bytes, 4096u);
  EXPECT_EQ(ok->smtp.max_errors, 5u);
  EXPECT_EQ(ok->smtp.max_junk_commands, 50u);
  EXPECT_EQ(ok->smtp.command_timeout, std::chrono::seconds(60));
  EXPECT_EQ(ok->smtp.connections_per_ip_per_minute, 30u);
  EXPECT_EQ(ok->smtp.messages_per_ip_per_minute, 10u);
  EXPECT_EQ(ok->smtp.unknown_user, UnknownUserPolicy::kDefer);
  auto defaults = parse("[server]\nhostname = \"a.b\"\n");
  ASSERT_TRUE(defaults);
  EXPECT_EQ(defaults->smtp, SmtpSettings{});
  // RFC 5321 §4.5.3.1.8: fewer than 100 recipients is not allowed.
  std::string message = error_of("[server]\nhostname = \"a.b\"\n[smtp]\nmax_recipients = 10\n");
  EXPECT_EQ(message.rfind("var/tern.toml:4: smtp.max_recipients:", 0), 0u) << message;
  EXPECT_FALSE(parse("[server]\nhostname = \"a.b\"\n[smtp]\nunknown_user = \"bounce\"\n"));
  EXPECT_FALSE(parse("[server]\nhostname = \"a.b\"\n[smtp]\nmax_line_bytes = 100\n"));
  EXPECT_FALSE(parse("[server]\nhostname = \"a.b\"\n[smtp]\nmax_message_bytes = 10\n"));
  EXPECT_FALSE(parse("[server]\nhostname = \"a.b\"\n[smtp]\nbogus = 1\n"));
}

TEST(ParseConfig, ReadsAndValidatesPop3) {
  auto ok = parse("[server]\nhostname = \"a.b\"\n[pop3]\nlogin_delay_seconds = 900\n");
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->pop3.login_delay, std::chrono::seconds(900));
  auto defaults = parse("[server]\nhostname = \"a.b\"\n");
  ASSERT_TRUE(defaults);
  EXPECT_EQ(defaults->pop3.login_delay, std::chrono::seconds(0));
  EXPECT_EQ(error_of("[server]\nhostname = \"a.b\"\n[pop3]\nlogin_delay_seconds = 86401\n"),
            "var/tern.toml:4: pop3.login_delay_seconds: expected an integer from 0 to 86400, got "
            "86401");
  EXPECT_FALSE(parse("[server]\nhostname = \"a.b\"\n[pop3]\nbogus = 1\n"));
}

TEST(ParseConfig, ReadsAndValidatesImap) {
  auto ok = parse(
      "[server]\nhostname = \"a.b\"\n[imap]\npreauth_timeout_seconds = 30\n"
      "idle_timeout_seconds = 3600\nmax_line_bytes = 8192\nmax_literal_bytes = 4096\n"
      "max_append_bytes = 1048576\nmax_multiappend_bytes = 4194304\n"
      "max_connections_per_user = 5\nmax_connections_per_ip = 7\nidle_poll_ms = 500\n");
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->imap.preauth_timeout, std::chrono::seconds(30));
  EXPECT_EQ(ok->imap.idle_timeout, std::chrono::seconds(3600));
  EXPECT_EQ(ok->imap.max_line_bytes, 8192u);
  EXPECT_EQ(ok->imap.max_literal_bytes, 4096u);
  EXPECT_EQ(ok->imap.max_append_bytes, 1048576u);
  EXPECT_EQ(ok->imap.max_multiappend_bytes, 4194304u);
  EXPECT_EQ(ok->imap.max_connections_per_user, 5u);
  EXPECT_EQ(ok->imap.max_connections_per_ip, 7u);
  EXPECT_EQ(ok->imap.idle_poll_interval, std::chrono::milliseconds(500));
  // Without max_append_bytes, APPEND takes what SMTP takes.
  auto defaults = parse("[server]\nhostname = \"a.b\"\n[smtp]\nmax_message_bytes = 2097152\n");
  ASSERT_TRUE(defaults) << defaults.error().message;
  EXPECT_EQ(defaults->imap.max_append_bytes, 2097152u);
  EXPECT_EQ(defaults->imap.idle_timeout, std::chrono::seconds(1800));
  // RFC 9051 §5.4: no autologout under 30 minutes.
  EXPECT_EQ(error_of("[server]\nhostname = \"a.b\"\n[imap]\nidle_timeout_seconds = 600\n"),
            "var/tern.toml:4: imap.idle_timeout_seconds: expected an integer from 1800 to 86400, "
            "got 600");
  EXPECT_EQ(error_of("[server]\nhostname = \"a.b\"\n[imap]\nmax_append_bytes = 8388608\n"
                     "max_multiappend_bytes = 2097152\n"),
            "var/tern.toml:5: imap.max_multiappend_bytes: must be at least max_append_bytes "
            "(8388608)");
  EXPECT_EQ(error_of("[server]\nhostname = \"a.b\"\n[imap]\nidle_poll_ms = \"fast\"\n"),
            "var/tern.toml:4: imap.idle_poll_ms: expected an integer, got a string");
  EXPECT_FALSE(parse("[server]\nhostname = \"a.b\"\n[imap]\nbogus = 1\n"));
}

TEST(ParseConfig, ReadsAndValidatesQueue) {
  auto defaults = parse("[server]\nhostname = \"a.b\"\n");
  ASSERT_TRUE(defaults);
  EXPECT_EQ(defaults->queue.min_backoff, std::chrono::seconds(300));
  EXPECT_EQ(defaults->queue.max_backoff, std::chrono::seconds(4000));
  EXPECT_EQ(defaults->queue.lifetime, std::chrono::seconds(5 * 24 * 3600));
  EXPECT_EQ(defaults->queue.delay_warning, std::chrono::seconds(4 * 3600));
  EXPECT_EQ(defaults->queue.hop_limit, 50u);
  EXPECT_TRUE(defaults->queue.retry_schedule.empty());
  EXPECT_TRUE(defaults->queue.srs_secret.empty());
  auto ok = parse(
      "[server]\nhostname = \"a.b\"\n[queue]\nretry_schedule_seconds = \"1, 2,30\"\n"
      "lifetime_seconds = 60\ndelay_warning_seconds = 0\nactive_limit = 5\n"
      "destination_concurrency = 2\ndestination_rate = 10\nlease_seconds = 30\n"
      "poll_interval_ms = 100\nsrs_secret = \"k\"\nsrs_domain = \"fwd.b\"\n");
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->queue.retry_schedule,
            (std::vector<std::chrono::seconds>{std::chrono::seconds(1), std::chrono::seconds(2),
                                               std::chrono::seconds(30)}));
  EXPECT_EQ(ok->queue.lifetime, std::chrono::seconds(60));
  EXPECT_EQ(ok->queue.delay_warning, std::chrono::seconds(0));
  EXPECT_EQ(ok->queue.active_limit, 5u);
  EXPECT_EQ(ok->queue.destination_concurrency, 2u);
  EXPECT_EQ(ok->queue.destination_rate, 10u);
  EXPECT_EQ(ok->queue.lease, std::chrono::seconds(30));
  EXPECT_EQ(ok->queue.poll_interval, std::chrono::milliseconds(100));
  EXPECT_EQ(ok->queue.srs_secret, "k");
  EXPECT_EQ(ok->queue.srs_domain, "fwd.b");
  EXPECT_EQ(
      error_of("[server]\nhostname = \"a.b\"\n[queue]\nretry_schedule_seconds = \"1,x\"\n"),
      "var/tern.toml:4: queue.retry_schedule_seconds: expected comma-separated seconds from 1 "
      "to 604800, got \"1,x\"");
  EXPECT_FALSE(
      parse("[server]\nhostname = \"a.b\"\n[queue]\nmin_backoff_seconds = 600\n"
            "max_backoff_seconds = 60\n"));
  EXPECT_FALSE(parse("[server]\nhostname = \"a.b\"\n[queue]\nactive_limit = 0\n"));
  EXPECT_FALSE(parse("[server]\nhostname = \"a.b\"\n[queue]\nbogus = 1\n"));
}

TEST(ParseConfig, RejectsEmptyPaths) {
  EXPECT_EQ(error_of("[server]\nhostname = \"a.b\"\ndata_dir = \"\"\n"),
            "var/tern.toml:3: server.data_dir: expected a path, got \"\"");
}

TEST(ParseConfig, NeverThrowsOnInvalidUtf8) {
  std::string text = "[server]\nhostname = \"\xff\xfe\"\n";
  auto result = parse(text);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().message.rfind("var/tern.toml:2:", 0), 0u) << result.error().message;
}

TEST(ParseConfig, ReadsDnsOutboundAndTransports) {
  auto settings = parse(R"([server]
hostname = "mail.example.org"
[dns]
servers = ["127.0.0.1:5353", "::1"]
dnssec = "root.key"
timeout_ms = 2000
[outbound]
helo_name = "out.example.org"
connect_timeout_seconds = 5
tls = "verify"
ca_file = "ca.pem"
mx_port = 2525
messages_per_connection = 7
mta_sts = false
mta_sts_port = 8443
mta_sts_refresh_seconds = 3600
dane = false
[[transport]]
domain = "Example.NET"
route = "smtp:[relay.example.net]:587"
auth_user = "relay"
auth_password_file = "relay.pw"
tls = "encrypt"
[[transport]]
domain = "lists.example.org"
route = "smtp:mx.example.com"
[[transport]]
domain = "local.example"
route = "lmtp:unix:lmtp.sock"
[[transport]]
domain = "v6.example"
route = "lmtp:[::1]:24"
)");
  ASSERT_TRUE(settings) << settings.error().message;
  EXPECT_EQ(settings->dns.servers, (std::vector<std::string>{"127.0.0.1:5353", "::1"}));
  EXPECT_EQ(settings->dns.trust_anchor_file, "/etc/tern/root.key");
  EXPECT_EQ(settings->dns.timeout, std::chrono::milliseconds(2000));
  EXPECT_EQ(settings->outbound.helo_name, "out.example.org");
  EXPECT_EQ(settings->outbound.connect_timeout, std::chrono::seconds(5));
  EXPECT_EQ(settings->outbound.tls, OutboundTls::kVerify);
  EXPECT_EQ(settings->outbound.ca_file, "/etc/tern/ca.pem");
  EXPECT_EQ(settings->outbound.mx_port, 2525);
  EXPECT_EQ(settings->outbound.messages_per_connection, 7U);
  EXPECT_FALSE(settings->outbound.mta_sts);
  EXPECT_EQ(settings->outbound.mta_sts_port, 8443);
  EXPECT_EQ(settings->outbound.mta_sts_refresh, std::chrono::seconds(3600));
  EXPECT_FALSE(settings->outbound.dane);
  ASSERT_EQ(settings->transports.size(), 4U);
  const auto& relay = settings->transports[0];
  EXPECT_EQ(relay.domain, "example.net");
  EXPECT_EQ(relay.protocol, TransportSettings::Protocol::kSmtp);
  EXPECT_EQ(relay.host, "relay.example.net");
  EXPECT_EQ(relay.port, 587);
  EXPECT_FALSE(relay.mx_lookup);
  EXPECT_EQ(relay.auth_user, "relay");
  EXPECT_EQ(relay.auth_password_file, "/etc/tern/relay.pw");
  EXPECT_TRUE(relay.has_tls);
  EXPECT_EQ(relay.tls, OutboundTls::kEncrypt);
  EXPECT_TRUE(settings->transports[1].mx_lookup);
  EXPECT_EQ(settings->transports[1].port, 0);
  EXPECT_FALSE(settings->transports[1].has_tls);
  EXPECT_EQ(settings->transports[2].unix_path, "/etc/tern/lmtp.sock");
  EXPECT_EQ(settings->transports[3].host, "::1");
  EXPECT_EQ(settings->transports[3].port, 24);
}

TEST(ParseConfig, ReportsBadTransportsAndDns) {
  std::string message = error_of(R"([server]
hostname = "mail.example.org"
[dns]
servers = ["dns.example"]
[outbound]
tls = "sometimes"
[[transport]]
domain = "a.example"
route = "uucp:host"
[[transport]]
domain = "a.example"
route = "smtp:[relay.example]:0"
auth_user = "x"
[[transport]]
route = "lmtp:"
)");
  EXPECT_NE(message.find("dns.servers"), std::string::npos) << message;
  EXPECT_NE(message.find("outbound.tls: expected one of none, may, encrypt, verify"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("transport[0].route"), std::string::npos) << message;
  EXPECT_NE(message.find("\"a.example\" already has a transport"), std::string::npos) << message;
  EXPECT_NE(message.find("expected :port"), std::string::npos) << message;
  EXPECT_NE(message.find("auth_user and auth_password_file go together"), std::string::npos)
      << message;
  EXPECT_NE(message.find("missing key \"transport[2].domain\""), std::string::npos) << message;
  EXPECT_NE(message.find("transport[2].route"), std::string::npos) << message;
}

TEST(ParseConfig, ReadsMailauthAndDkimKeys) {
  auto defaults = parse("[server]\nhostname = \"mail.example.org\"\n");
  ASSERT_TRUE(defaults) << defaults.error().message;
  EXPECT_EQ(defaults->mailauth.authserv_id, "");
  EXPECT_EQ(defaults->mailauth.dmarc_reject, DmarcRejectAction::kReject);
  EXPECT_EQ(defaults->mailauth.dkim_length_policy, DkimLengthPolicy::kPolicyIfAppended);
  EXPECT_TRUE(defaults->mailauth.verify_inbound);
  EXPECT_EQ(defaults->mailauth.dns_timeout, std::chrono::seconds(20));
  EXPECT_TRUE(defaults->mailauth.trusted_arc_sealers.empty());
  EXPECT_TRUE(defaults->dkim.empty());

  const std::string text = R"([server]
hostname = "mail.example.org"
[mailauth]
authserv_id = "MX.Example.org"
dmarc_reject = "quarantine"
dkim_length_policy = "always"
verify_inbound = false
dns_timeout_seconds = 7
trusted_arc_sealers = ["Lists.Example.net", "fwd.example.com"]
[[dkim]]
domain = "Example.ORG"
selector = "s2026"
key = "dkim/s2026.pem"
[[dkim]]
domain = "example.org"
selector = "s2025"
key = "/var/lib/tern/old.pem"
sign = false
[[dkim]]
domain = "example.net"
selector = "s2026"
key = "net.pem"
)";
  auto settings = parse(text);
  ASSERT_TRUE(settings) << settings.error().message;
  EXPECT_EQ(settings->mailauth.authserv_id, "mx.example.org");
  EXPECT_EQ(settings->mailauth.dmarc_reject, DmarcRejectAction::kQuarantine);
  EXPECT_EQ(settings->mailauth.dkim_length_policy, DkimLengthPolicy::kPolicyAlways);
  EXPECT_FALSE(settings->mailauth.verify_inbound);
  EXPECT_EQ(settings->mailauth.dns_timeout, std::chrono::seconds(7));
  EXPECT_EQ(settings->mailauth.trusted_arc_sealers,
            (std::vector<std::string>{"lists.example.net", "fwd.example.com"}));
  ASSERT_EQ(settings->dkim.size(), 3U);
  EXPECT_EQ(settings->dkim[0].domain, "example.org");
  EXPECT_EQ(settings->dkim[0].selector, "s2026");
  EXPECT_EQ(settings->dkim[0].key, "/etc/tern/dkim/s2026.pem");
  EXPECT_TRUE(settings->dkim[0].sign);
  EXPECT_EQ(settings->dkim[0].line, 10U);
  EXPECT_EQ(settings->dkim[1].key, "/var/lib/tern/old.pem");
  EXPECT_FALSE(settings->dkim[1].sign);
  EXPECT_EQ(settings->dkim[2].domain, "example.net");

  // Moving an entry to another line is no change for a reload.
  std::string moved_text = text;
  moved_text.insert(moved_text.find("[[dkim]]"), "\n\n");
  auto moved = parse(moved_text);
  ASSERT_TRUE(moved) << moved.error().message;
  EXPECT_EQ(moved->dkim[0].line, 12U);
  EXPECT_TRUE(diff_settings(*settings, *moved).empty());
  EXPECT_TRUE(diff_settings(*defaults, *settings).mailauth);
  EXPECT_TRUE(diff_settings(*defaults, *settings).needs_restart());
}

TEST(ParseConfig, ReportsBadMailauthAndDkimKeys) {
  std::string message = error_of(R"([server]
hostname = "mail.example.org"
[mailauth]
dmarc_reject = "bounce"
dkim_length_policy = "never"
verify_inbound = "yes"
authserv_id = "not an id"
dns_timeout_seconds = 0
trusted_arc_sealers = ["ok.example", "not a host"]
colour = "blue"
[[dkim]]
domain = "example.org"
selector = "s1"
key = "a.pem"
[[dkim]]
domain = "EXAMPLE.org"
selector = "S1"
key = "b.pem"
[[dkim]]
domain = "example.net"
selector = "bad selector"
[[dkim]]
selector = "s1"
key = ""
sign = 1
)");
  EXPECT_NE(message.find("var/tern.toml:4: mailauth.dmarc_reject: expected one of reject, "
                         "quarantine, ignore, got \"bounce\""),
            std::string::npos)
      << message;
  EXPECT_NE(message.find(":5: mailauth.dkim_length_policy: expected one of accept, appended, "
                         "always"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find(":6: mailauth.verify_inbound"), std::string::npos) << message;
  EXPECT_NE(message.find(":7: mailauth.authserv_id"), std::string::npos) << message;
  EXPECT_NE(message.find(":8: mailauth.dns_timeout_seconds"), std::string::npos) << message;
  EXPECT_NE(
      message.find(":9: mailauth.trusted_arc_sealers: expected host names, got \"not a host\""),
      std::string::npos)
      << message;
  EXPECT_NE(message.find(":10: unknown key \"mailauth.colour\""), std::string::npos) << message;
  EXPECT_NE(message.find(":17: dkim[1].selector: \"s1\" is already a key of \"example.org\""),
            std::string::npos)
      << message;
  EXPECT_NE(message.find(":21: dkim[2].selector: expected a selector"), std::string::npos)
      << message;
  EXPECT_NE(message.find("missing key \"dkim[2].key\""), std::string::npos) << message;
  EXPECT_NE(message.find("missing key \"dkim[3].domain\""), std::string::npos) << message;
  EXPECT_NE(message.find(":24: dkim[3].key: expected the path"), std::string::npos) << message;
  EXPECT_NE(message.find(":25: dkim[3].sign"), std::string::npos) << message;
  EXPECT_NE(error_of("dkim = 3\n[server]\nhostname = \"m.example\"\n")
                .find(":1: dkim: expected an array of tables ([[dkim]]), got an integer"),
            std::string::npos);
}

TEST(ParseConfig, ReadsMtaSts) {
  auto defaults = parse("[server]\nhostname = \"mail.example.org\"\n");
  ASSERT_TRUE(defaults) << defaults.error().message;
  EXPECT_EQ(defaults->mta_sts.mode, MtaStsMode::kTesting);
  EXPECT_EQ(defaults->mta_sts.max_age, std::chrono::seconds(604800));
  auto settings = parse(R"([server]
hostname = "mail.example.org"
[mta_sts]
mode = "enforce"
mx = ["backup.example.net", "*.Example.ORG"]
max_age_seconds = 86400
)");
  ASSERT_TRUE(settings) << settings.error().message;
  EXPECT_EQ(settings->mta_sts.mode, MtaStsMode::kEnforce);
  EXPECT_EQ(settings->mta_sts.mx,
            (std::vector<std::string>{"backup.example.net", "*.example.org"}));
  EXPECT_EQ(settings->mta_sts.max_age, std::chrono::seconds(86400));
  EXPECT_EQ(mta_sts_mode_name(MtaStsMode::kNone), "none");
}

TEST(ParseConfig, ReportsBadMtaSts) {
  std::string message = error_of(R"([server]
hostname = "mail.example.org"
[mta_sts]
mode = "strict"
mx = ["not a host"]
max_age_seconds = 40000000
colour = "blue"
)");
  EXPECT_NE(message.find("mta_sts.mode: expected one of testing, enforce, none"), std::string::npos)
      << message;
  EXPECT_NE(message.find("mta_sts.mx"), std::string::npos) << message;
  EXPECT_NE(message.find("mta_sts.max_age_seconds"), std::string::npos) << message;
  EXPECT_NE(message.find("colour"), std::string::npos) << message;
}

TEST(ParseConfig, ReadsReports) {
  auto defaults = parse("[server]\nhostname = \"mail.example.org\"\n");
  ASSERT_TRUE(defaults) << defaults.error().message;
  EXPECT_FALSE(defaults->reports.enabled);
  EXPECT_EQ(defaults->reports.org_name, "mail.example.org");
  EXPECT_EQ(defaults->reports.submitter, "example.org");
  EXPECT_EQ(defaults->reports.email, "postmaster@example.org");
  EXPECT_EQ(defaults->reports.interval, std::chrono::seconds(86400));
  auto settings = parse(R"([server]
hostname = "mail.example.org"
[reports]
enabled = true
tls = false
interval_seconds = 21600
org_name = "Example Org"
email = "dmarc-reports@example.org"
submitter = "example.org"
extra_contact = "https://example.org/dmarc"
retention_days = 7
inbox = "rua@example.org"
ingest_interval_seconds = 60
)");
  ASSERT_TRUE(settings) << settings.error().message;
  const auto& r = settings->reports;
  EXPECT_TRUE(r.enabled);
  EXPECT_TRUE(r.dmarc);
  EXPECT_FALSE(r.tls);
  EXPECT_EQ(r.interval, std::chrono::seconds(21600));
  EXPECT_EQ(r.org_name, "Example Org");
  EXPECT_EQ(r.email, "dmarc-reports@example.org");
  EXPECT_EQ(r.extra_contact, "https://example.org/dmarc");
  EXPECT_EQ(r.retention_days, 7u);
  EXPECT_EQ(r.inbox, "rua@example.org");
  EXPECT_EQ(r.ingest_interval, std::chrono::seconds(60));
  auto changed = *settings;
  changed.reports.enabled = false;
  auto diff = diff_settings(*settings, changed);
  EXPECT_TRUE(diff.reports);
  EXPECT_TRUE(diff.needs_restart());
  EXPECT_EQ(diff.describe(), "reports");
}

TEST(ParseConfig, ReportsBadReports) {
  std::string message = error_of(R"([server]
hostname = "mail.example.org"
[reports]
interval_seconds = 5000
email = "nobody"
submitter = "not a domain"
inbox = "x"
retention_days = 0
)");
  for (const char* key : {"reports.interval_seconds", "reports.email", "reports.submitter",
                          "reports.inbox", "reports.retention_days"}) {
    EXPECT_NE(message.find(key), std::string::npos) << key << ": " << message;
  }
}

}  // namespace
}  // namespace tern::config
