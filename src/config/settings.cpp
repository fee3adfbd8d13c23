// SPDX-License-Identifier: Apache-2.0
#include "config/settings.hpp"

#include <algorithm>
#include <tuple>

namespace tern::config {

std::string_view mta_sts_mode_name(MtaStsMode mode) {
  switch (mode) {
    case MtaStsMode::kTesting:
      return "testing";
    case MtaStsMode::kEnforce:
      return "enforce";
    case MtaStsMode::kNone:
      return "none";
  }
  return "?";
}

std::string_view outbound_tls_name(OutboundTls tls) {
  switch (tls) {
    case OutboundTls::kNone:
      return "none";
    case OutboundTls::kMay:
      return "may";
    case OutboundTls::kEncrypt:
      return "encrypt";
    case OutboundTls::kVerify:
      return "verify";
  }
  return "?";
}

std::string_view role_name(ListenerRole role) {
  switch (role) {
    case ListenerRole::kSmtp:
      return "smtp";
    case ListenerRole::kSubmission:
      return "submission";
    case ListenerRole::kLmtp:
      return "lmtp";
    case ListenerRole::kImap:
      return "imap";
    case ListenerRole::kPop3:
      return "pop3";
    case ListenerRole::kManageSieve:
      return "managesieve";
    case ListenerRole::kHttp:
      return "http";
  }
  return "";
}

std::string_view tls_mode_name(TlsMode mode) {
  switch (mode) {
    case TlsMode::kNone:
      return "none";
    case TlsMode::kImplicit:
      return "implicit";
    case TlsMode::kStartTls:
      return "starttls";
  }
  return "";
}

bool is_allowed_tls_mode(ListenerRole role, TlsMode mode) {
  switch (role) {
    case ListenerRole::kSmtp:
    case ListenerRole::kLmtp:
      // Port 25 and LMTP have no implicit-TLS convention (RFC 8314 covers only
      // submission and access protocols); a peer would never find it.
      return mode != TlsMode::kImplicit;
    case ListenerRole::kHttp:
      // HTTP has no STARTTLS (RFC 2817 upgrade is unused in practice).
      return mode != TlsMode::kStartTls;
    case ListenerRole::kSubmission:
    case ListenerRole::kImap:
    case ListenerRole::kPop3:
    case ListenerRole::kManageSieve:
      return true;
  }
  return false;
}

bool same_listeners(const Settings& a, const Settings& b) {
  if (a.listeners.size() != b.listeners.size()) {
    return false;
  }
  // Order in the file is irrelevant to the sockets, so compare sorted copies.
  auto key = [](const ListenerSettings& l) {
    return std::tie(l.name, l.role, l.host, l.port, l.tls, l.unix_path, l.socket_mode,
                    l.socket_owner, l.socket_group);
  };
  auto less = [&](const ListenerSettings& x, const ListenerSettings& y) { return key(x) < key(y); };
  auto left = a.listeners;
  auto right = b.listeners;
  std::sort(left.begin(), left.end(), less);
  std::sort(right.begin(), right.end(), less);
  return left == right;
}

bool SettingsDiff::empty() const {
  return !(server || log || tls || limits || store || auth || addressing || smtp || pop3 || imap ||
           queue || dns || outbound || mailauth || reports || spam || antivirus || dnsbl ||
           listeners);
}

bool SettingsDiff::needs_restart() const {
  return server || store || smtp || pop3 || imap || queue || dns || outbound || mailauth ||
         reports || spam || antivirus || dnsbl || greylist;
}

std::string SettingsDiff::describe() const {
  std::string out;
  auto add = [&](bool changed, std::string_view name) {
    if (!changed) {
      return;
    }
    if (!out.empty()) {
      out += ", ";
    }
    out += name;
  };
  add(server, "server");
  add(log, "log");
  add(tls, "tls");
  add(limits, "limits");
  add(store, "store");
  add(auth, "auth");
  add(addressing, "addressing");
  add(smtp, "smtp");
  add(pop3, "pop3");
  add(imap, "imap");
  add(queue, "queue");
  add(dns, "dns");
  add(outbound, "outbound");
  add(mta_sts, "mta_sts");
  add(mailauth, "mailauth");
  add(reports, "reports");
  add(spam, "spam");
  add(antivirus, "antivirus");
  add(dnsbl, "dnsbl");
  add(greylist, "greylist");
  add(listeners, "listener");
  return out;
}

SettingsDiff diff_settings(const Settings& before, const Settings& after) {
  SettingsDiff diff;
  diff.server = before.server != after.server;
  diff.log = before.log != after.log;
  diff.tls = before.tls != after.tls;
  diff.limits = before.limits != after.limits;
  diff.store = before.store != after.store;
  diff.auth = before.auth != after.auth;
  diff.addressing = before.addressing != after.addressing;
  diff.smtp = before.smtp != after.smtp;
  diff.pop3 = before.pop3 != after.pop3;
  diff.imap = before.imap != after.imap;
  diff.queue = before.queue != after.queue;
  diff.dns = before.dns != after.dns;
  diff.outbound = before.outbound != after.outbound || before.transports != after.transports;
  diff.mta_sts = before.mta_sts != after.mta_sts;
  diff.mailauth = before.mailauth != after.mailauth || before.dkim != after.dkim;
  diff.reports = before.reports != after.reports;
  diff.spam = before.spam != after.spam;
  diff.antivirus = before.antivirus != after.antivirus;
  diff.dnsbl = before.dnsbl != after.dnsbl;
  diff.greylist = before.greylist != after.greylist;
  diff.listeners = !same_listeners(before, after);
  return diff;
}

}  // namespace tern::config
