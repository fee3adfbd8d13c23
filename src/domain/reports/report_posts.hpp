// SPDX-License-Identifier: Apache-2.0
// TLS reports delivered by HTTPS POST (RFC 8460 §3, §5.4): the https: rua URI,
// the retry schedule (§5.5) and the use-case that works through the pending posts
// the ReportStore keeps (domain::ReportPost). No I/O here: the POST itself comes
// in through ReportPoster, which the app implements over runtime::https_post;
// time is a parameter.
//
// Why the store: a report handed to the mailto: path is durable once it is in
// the queue; a POST has no queue of its own, so the report waits in the
// ReportStore, next to the data and the cursor it was built from, until a 2xx
// answer or the end of the retry window. Every backend keeps it, so a restart
// (or another node on the same postgres) carries on where the last one stopped.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "domain/ports.hpp"

namespace tern::domain::reports {

// An https: reporting URI: "https://host[:port][/path][?query]" with an optional
// "!size" suffix (k, m, g, t), read as for mailto: (RFC 7489 §6.2), so a
// destination can bound what it is sent. The host must be a DNS name: the
// certificate is checked against it (an IP literal is refused).
struct HttpsUri {
  std::string uri;   // the URI without its "!size" suffix: the key of the post
  std::string host;  // lower case
  std::uint16_t port = 443;
  std::string target;  // path and query, "/" when the URI has none
  std::optional<std::uint64_t> max_bytes;
};

// nullopt for another scheme or a malformed URI (user info, a fragment, a bad
// port, an IP literal, spaces or controls: parse_tlsrpt_record() trims the URIs).
std::optional<HttpsUri> parse_https_uri(std::string_view uri);

// Cuts a reporting URI's size limit off `uri`: the text after its first "!"
// (RFC 7489 §6.2: digits with an optional k, m, g or t unit) goes to `max_bytes`,
// which stays unset when there is no "!". False when the limit is malformed or
// too large.
bool take_uri_size(std::string_view& uri, std::optional<std::uint64_t>& max_bytes);

// The RFC 8460 §5.4 media type of a gzip-compressed report.
inline constexpr std::string_view kTlsRptGzipType = "application/tlsrpt+gzip";

// The POST a pending report needs.
class ReportPoster {
 public:
  virtual ~ReportPoster() = default;
  // POSTs `body` (the gzip-compressed JSON report) to `uri` with Content-Type
  // kTlsRptGzipType, the server's certificate checked (PKIX and host name). Ok
  // only when the answer is a 2xx (RFC 8460 §5.4: "successful"); otherwise an
  // error whose message says why ("HTTP 500", "certificate of h: expired", ...).
  virtual Result<void> post(const HttpsUri& uri, std::string_view body) = 0;
};

// The retry schedule (RFC 8460 §5.5: redelivery for up to 24 hours after the
// first attempt, with exponential backoff): 30 s after the first failure, then
// doubling, at most 4 hours apart, the last attempt at the end of the window.
inline constexpr std::chrono::seconds kFirstPostRetry{30};
inline constexpr std::chrono::seconds kMaxPostRetry{4 * 3600};
inline constexpr std::chrono::seconds kPostWindow{24 * 3600};

// When to try again after `attempts` (>= 1) failed attempts of a post first tried
// at `queued`, or nullopt when the window has closed by `now`.
std::optional<SystemTime> next_post_attempt(SystemTime queued, std::uint32_t attempts,
                                            SystemTime now);

// Every pending post, due or not, earliest next attempt first, at most `limit`:
// for listing, copying, and learning when the next one comes due. A post's next
// attempt lies within its window plus a lease, so a year past `now` bounds all.
Result<std::vector<ReportPost>> pending_report_posts(
    ReportStore& store, SystemTime now,
    std::size_t limit = std::numeric_limits<std::size_t>::max());

struct PostRun {
  std::size_t delivered = 0;
  std::size_t retrying = 0;        // failed, tried again later
  std::size_t abandoned = 0;       // failed, window closed (or the URI is unusable): removed
  std::vector<std::string> notes;  // one line per failed attempt, for the log
};

// How long a claimed post is left to its claimer (ReportStore::claim_report_posts)
// before it is due again: longer than one POST may take (the app's poster gives
// up after 30 s), so two nodes never POST one report at once, yet short enough
// that a node dying mid-POST delays the report by minutes only.
inline constexpr std::chrono::seconds kPostLease{600};

// Attempts the posts due at `now`, at most `limit` of them, one at a time. Each
// is claimed first (claim_report_posts with kPostLease: a crash mid-POST retries
// it after the lease, and another node on the same store leaves it alone
// meanwhile), then removed on success, or rescheduled by next_post_attempt() with
// its error until the window closes. Store errors end the run; POST errors are
// counted.
Result<PostRun> deliver_report_posts(ReportStore& store, ReportPoster& poster, SystemTime now,
                                     std::size_t limit = 10);

}  // namespace tern::domain::reports
