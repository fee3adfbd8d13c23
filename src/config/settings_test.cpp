// SPDX-License-Identifier: Apache-2.0
#include "config/settings.hpp"

#include <gtest/gtest.h>

#include "config/config_file.hpp"

namespace tern::config {
namespace {

Settings with_listeners(std::vector<ListenerSettings> listeners) {
  Settings s;
  s.server.hostname = "mx.example.org";
  s.listeners = std::move(listeners);
  return s;
}

const ListenerSettings kMx{
    "mx", ListenerRole::kSmtp, "0.0.0.0", 25, TlsMode::kStartTls, "", 0660, "", ""};
const ListenerSettings kImaps{
    "imaps", ListenerRole::kImap, "::", 993, TlsMode::kImplicit, "", 0660, "", ""};

TEST(SameListeners, IgnoresOrder) {
  EXPECT_TRUE(same_listeners(with_listeners({kMx, kImaps}), with_listeners({kImaps, kMx})));
}

TEST(SameListeners, SeesAnyFieldChange) {
  auto changed = kMx;
  changed.port = 2525;
  EXPECT_FALSE(same_listeners(with_listeners({kMx}), with_listeners({changed})));
  changed = kMx;
  changed.tls = TlsMode::kNone;
  EXPECT_FALSE(same_listeners(with_listeners({kMx}), with_listeners({changed})));
  EXPECT_FALSE(same_listeners(with_listeners({kMx}), with_listeners({kMx, kImaps})));
  ListenerSettings local;
  local.name = "lmtp";
  local.role = ListenerRole::kLmtp;
  local.unix_path = "/s.sock";
  EXPECT_TRUE(same_listeners(with_listeners({local}), with_listeners({local})));
  for (auto edit : {+[](ListenerSettings& l) { l.unix_path = "/t.sock"; },
                    +[](ListenerSettings& l) { l.socket_mode = 0600; },
                    +[](ListenerSettings& l) { l.socket_owner = "tern"; },
                    +[](ListenerSettings& l) { l.socket_group = "postfix"; }}) {
    changed = local;
    edit(changed);
    EXPECT_FALSE(same_listeners(with_listeners({local}), with_listeners({changed})));
  }
}

TEST(DiffSettings, EmptyForEqualSettings) {
  auto a = with_listeners({kMx});
  auto diff = diff_settings(a, a);
  EXPECT_TRUE(diff.empty());
  EXPECT_FALSE(diff.needs_restart());
  EXPECT_EQ(diff.describe(), "");
}

TEST(DiffSettings, LiveChangesDoNotNeedRestart) {
  auto a = with_listeners({kMx});
  auto b = a;
  b.log.level = log::Level::kDebug;
  b.tls.cert = "/new/cert.pem";
  b.limits.max_connections = 5;
  auto diff = diff_settings(a, b);
  EXPECT_FALSE(diff.empty());
  EXPECT_FALSE(diff.needs_restart());
  EXPECT_EQ(diff.describe(), "log, tls, limits");
  b.smtp.max_recipients = 500;
  EXPECT_EQ(diff_settings(a, b).describe(), "log, tls, limits, smtp");
  EXPECT_TRUE(diff_settings(a, b).needs_restart());
  b.pop3.login_delay = std::chrono::seconds(60);
  EXPECT_EQ(diff_settings(a, b).describe(), "log, tls, limits, smtp, pop3");
  b.imap.idle_poll_interval = std::chrono::milliseconds(500);
  EXPECT_EQ(diff_settings(a, b).describe(), "log, tls, limits, smtp, pop3, imap");
}

TEST(DiffSettings, ServerOrStoreChangeNeedsRestart) {
  auto a = with_listeners({kMx});
  auto b = a;
  b.store.path = "/elsewhere";
  EXPECT_TRUE(diff_settings(a, b).needs_restart());
  b = a;
  b.server.io_threads = 3;
  EXPECT_TRUE(diff_settings(a, b).needs_restart());
  b = a;
  b.antivirus.clamd_port = 3310;
  EXPECT_TRUE(diff_settings(a, b).needs_restart());
  EXPECT_EQ(diff_settings(a, b).describe(), "antivirus");
  b.dnsbl.threshold = 2;
  EXPECT_TRUE(diff_settings(a, b).needs_restart());
  EXPECT_EQ(diff_settings(a, b).describe(), "antivirus, dnsbl");
  b = a;
  b.listeners.push_back(kImaps);
  auto diff = diff_settings(a, b);
  EXPECT_TRUE(diff.listeners);
  EXPECT_EQ(diff.describe(), "listener");
}

TEST(DiffSettings, ReparsedFileIsUnchanged) {
  constexpr std::string_view kText =
      "[server]\nhostname = \"a.b\"\n[[listener]]\nname = \"l\"\nrole = \"lmtp\"\n"
      "address = \"127.0.0.1:24\"\n";
  auto a = parse_config(kText, "t.toml", "/x");
  auto b = parse_config(kText, "t.toml", "/x");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a, *b);
  EXPECT_TRUE(diff_settings(*a, *b).empty());
}

TEST(IsAllowedTlsMode, MatchesProtocolConventions) {
  EXPECT_FALSE(is_allowed_tls_mode(ListenerRole::kSmtp, TlsMode::kImplicit));
  EXPECT_TRUE(is_allowed_tls_mode(ListenerRole::kSubmission, TlsMode::kImplicit));
  EXPECT_FALSE(is_allowed_tls_mode(ListenerRole::kHttp, TlsMode::kStartTls));
  EXPECT_FALSE(is_allowed_tls_mode(ListenerRole::kLmtp, TlsMode::kImplicit));
  EXPECT_EQ(role_name(ListenerRole::kPop3), "pop3");
  EXPECT_TRUE(is_allowed_tls_mode(ListenerRole::kManageSieve, TlsMode::kStartTls));
  EXPECT_TRUE(is_allowed_tls_mode(ListenerRole::kManageSieve, TlsMode::kImplicit));
  EXPECT_EQ(role_name(ListenerRole::kManageSieve), "managesieve");
  EXPECT_EQ(tls_mode_name(TlsMode::kStartTls), "starttls");
}

}  // namespace
}  // namespace tern::config
