// SPDX-License-Identifier: Apache-2.0
#include "domain/reports/report_posts.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "domain/reports/compression.hpp"
#include "domain/reports/tls_report.hpp"

namespace tern::domain::reports {
namespace {

bool is_ip_literal(std::string_view host) {
  // "[v6]" or all digits and dots (a dotted quad, or a number a resolver would
  // read as one): certificates are checked against names only.
  return host.starts_with('[') || std::all_of(host.begin(), host.end(), [](unsigned char c) {
           return std::isdigit(c) != 0 || c == '.';
         });
}

// RFC 1035 §2.3.1 letters, digits, hyphens in dot-separated labels (and "_", which
// names in the wild use); at most 253 octets, labels of 1..63.
bool is_dns_name(std::string_view host) {
  if (host.empty() || host.size() > 253) {
    return false;
  }
  std::size_t label = 0;
  for (const char c : host) {
    if (c == '.') {
      if (label == 0) {
        return false;
      }
      label = 0;
      continue;
    }
    if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '-' && c != '_') {
      return false;
    }
    if (++label > 63) {
      return false;
    }
  }
  return label > 0 || host.back() == '.';
}

}  // namespace

bool take_uri_size(std::string_view& uri, std::optional<std::uint64_t>& max_bytes) {
  const auto bang = uri.find('!');
  if (bang == std::string_view::npos) {
    return true;
  }
  std::string_view size = uri.substr(bang + 1);
  uri = uri.substr(0, bang);
  std::uint64_t unit = 1;
  if (!size.empty()) {
    switch (std::tolower(static_cast<unsigned char>(size.back()))) {
      case 'k':
        unit = 1ull << 10;
        break;
      case 'm':
        unit = 1ull << 20;
        break;
      case 'g':
        unit = 1ull << 30;
        break;
      case 't':
        unit = 1ull << 40;
        break;
      default:
        break;
    }
    if (unit != 1) {
      size.remove_suffix(1);
    }
  }
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(size.data(), size.data() + size.size(), value);
  if (size.empty() || ec != std::errc() || end != size.data() + size.size() ||
      value > UINT64_MAX / unit) {
    return false;
  }
  max_bytes = value * unit;
  return true;
}

std::optional<HttpsUri> parse_https_uri(std::string_view uri) {
  constexpr std::string_view kScheme = "https://";
  if (uri.size() <= kScheme.size()) {
    return std::nullopt;
  }
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(uri[i])) != kScheme[i]) {
      return std::nullopt;
    }
  }
  HttpsUri out;
  // RFC 8460 §3 URIs are separated by "," in the record; "!" is the size suffix
  // as in DMARC (a literal "!" in a URI would be percent-encoded).
  if (!take_uri_size(uri, out.max_bytes)) {
    return std::nullopt;
  }
  // RFC 3986 §3: no spaces or controls anywhere; no fragment is meaningful in a
  // request target.
  if (std::any_of(uri.begin(), uri.end(), [](unsigned char c) { return c <= 0x20 || c >= 0x7f; }) ||
      uri.find('#') != std::string_view::npos) {
    return std::nullopt;
  }
  out.uri = std::string(uri);
  std::string_view rest = uri.substr(kScheme.size());
  const auto authority_end = rest.find_first_of("/?");
  const std::string_view authority = rest.substr(0, authority_end);
  out.target =
      authority_end == std::string_view::npos ? "/" : std::string(rest.substr(authority_end));
  if (out.target.front() == '?') {
    out.target.insert(out.target.begin(), '/');
  }
  if (authority.find('@') != std::string_view::npos || authority.starts_with('[')) {
    return std::nullopt;  // user info is not for reports; IPv6 literals are not names
  }
  std::string_view host = authority;
  const auto colon = authority.rfind(':');
  if (colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    const auto port_text = authority.substr(colon + 1);
    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
        port == 0 || port > 65535) {
      return std::nullopt;
    }
    out.port = static_cast<std::uint16_t>(port);
  }
  if (!is_dns_name(host) || is_ip_literal(host)) {
    return std::nullopt;
  }
  out.host.resize(host.size());
  std::transform(host.begin(), host.end(), out.host.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::optional<SystemTime> next_post_attempt(SystemTime queued, std::uint32_t attempts,
                                            SystemTime now) {
  const SystemTime closes = queued + kPostWindow;
  if (now >= closes) {
    return std::nullopt;
  }
  auto delay = kFirstPostRetry;
  for (std::uint32_t i = 1; i < attempts && delay < kMaxPostRetry; ++i) {
    delay *= 2;
  }
  delay = std::min(delay, kMaxPostRetry);
  // RFC 8460 §5.5: up to 24 hours after the first attempt; the last try lands on
  // the window's end rather than past it.
  return std::min<SystemTime>(now + delay, closes);
}

Result<std::vector<ReportPost>> pending_report_posts(ReportStore& store, SystemTime now,
                                                     std::size_t limit) {
  return store.due_report_posts(now + 365 * kPostWindow, limit).get();
}

Result<PostRun> deliver_report_posts(ReportStore& store, ReportPoster& poster, SystemTime now,
                                     std::size_t limit) {
  PostRun run;
  // One claim per POST, so the lease covers one attempt however long the ones
  // before it took, and another node on the same store takes the rest meanwhile.
  for (std::size_t i = 0; i < limit; ++i) {
    TERN_TRY(auto claimed, store.claim_report_posts(now, 1, kPostLease).get());
    if (claimed.empty()) {
      break;
    }
    auto& post = claimed.front();
    const auto note = [&](const std::string& what) {
      run.notes.push_back("TLS report " + post.report_id + " for " + post.policy_domain + " to " +
                          post.uri + ": " + what);
    };
    auto uri = parse_https_uri(post.uri);
    if (!uri) {
      TERN_TRY_VOID(store.remove_report_post(post.uri, post.report_id).get());
      ++run.abandoned;
      note("not a usable https: URI; dropped");
      continue;
    }
    ++post.attempts;
    // A post found after the window closed (say after downtime) still gets this
    // one attempt.
    auto sent = poster.post(*uri, gzip(post.document));
    if (sent) {
      TERN_TRY_VOID(store.remove_report_post(post.uri, post.report_id).get());
      ++run.delivered;
      continue;
    }
    post.last_error = sent.error().message;
    const auto next = next_post_attempt(post.queued, post.attempts, now);
    if (!next) {
      TERN_TRY_VOID(store.remove_report_post(post.uri, post.report_id).get());
      ++run.abandoned;
      note(post.last_error + "; the 24-hour retry window has closed, dropped");
      continue;
    }
    post.next_attempt = *next;
    TERN_TRY_VOID(store.put_report_post(post).get());
    ++run.retrying;
    note(post.last_error + "; attempt " + std::to_string(post.attempts) + ", next at " +
         format_rfc3339(post.next_attempt));
  }
  return run;
}

}  // namespace tern::domain::reports
