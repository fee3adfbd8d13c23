// SPDX-License-Identifier: Apache-2.0
// DMARC (RFC 9989, with RFC 7489 compatibility): the policy record, the DNS Tree
// Walk that finds policies and organizational domains (§4.10), identifier
// alignment (§4.10.2), and a sans-IO evaluator that is fed DNS answers and
// decides the disposition (p=, sp=, np=, t=, and RFC 7489's pct=).
//
// No public suffix list: RFC 9989 §4.10 and appendix C.3 replace RFC 7489's PSL
// with the tree walk, for policy discovery and for relaxed alignment alike, so
// tern no longer links libpsl (docs/adr/0011-mailauth.md). A record's domain is
// an organizational domain because of the DMARC records above and below it, not
// because of a list compiled into a library.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "dns/records.hpp"
#include "mailauth/auth_result.hpp"
#include "mailauth/dkim_verifier.hpp"

namespace tern::mailauth {

enum class DmarcPolicy : std::uint8_t { kNone, kQuarantine, kReject };

// "none", "quarantine", "reject".
std::string_view dmarc_policy_name(DmarcPolicy policy);

// adkim= / aspf= (RFC 9989 §4.7): relaxed compares organizational domains,
// strict the exact names.
enum class DmarcAlignment : std::uint8_t { kRelaxed, kStrict };

// psd= (RFC 9989 §4.7): y — this is a public suffix domain; n — this is an
// organizational domain; u (the default) — let the tree walk decide.
enum class DmarcPsd : std::uint8_t { kUnknown, kYes, kNo };

struct DmarcRecord {
  DmarcPolicy policy = DmarcPolicy::kNone;                   // p=
  std::optional<DmarcPolicy> subdomain_policy;               // sp=
  std::optional<DmarcPolicy> nonexistent_policy;             // np= (RFC 9989)
  DmarcPsd psd = DmarcPsd::kUnknown;                         // psd= (RFC 9989)
  std::optional<bool> testing;                               // t= y/n; nullopt if absent
  int percent = 100;                                         // pct= 0..100 (RFC 7489 only)
  DmarcAlignment dkim_alignment = DmarcAlignment::kRelaxed;  // adkim=
  DmarcAlignment spf_alignment = DmarcAlignment::kRelaxed;   // aspf=
  std::vector<std::string> aggregate_uris;                   // rua=, as written
  std::vector<std::string> failure_uris;                     // ruf=
  std::string failure_options = "0";                         // fo=
  std::uint32_t report_interval = 86400;                     // ri= (RFC 7489 only), seconds
};

// True if a TXT record's text is a DMARC record: it starts with "v=DMARC1"
// followed by ";", white space or the end (RFC 9989 §4.7: v= must come first).
bool is_dmarc_record(std::string_view text);

// Parses a DMARC record (RFC 9989 §4.7, §4.8). Unknown tags are ignored, and so
// (§4.8: "discarded in favor of default values") are malformed values of t=,
// psd=, adkim=, aspf=, pct= and ri=. A missing or invalid p=, or an invalid sp=
// or np=, makes the record act as "p=none" (sp= and np= dropped) when rua= names
// a mailto: URI, and is an error otherwise (§4.10.1: no DMARC processing).
// Errors (kInvalidInput): not "v=DMARC1" first, a malformed tag-list, or the
// p=/sp=/np= case above.
Result<DmarcRecord> parse_dmarc_record(std::string_view text);

// True when the record asks for the policy to be applied one step lower
// (RFC 9989 §4.7 t=y). RFC 7489 compatibility (appendix A.6): without t=, a
// pct= below 100 keeps RFC 7489 §6.6.4's sampling — the policy is lowered when
// `sample` (0..99, drawn by the caller) is not below pct= — so pct=0 behaves as
// t=y and pct=100 as t=n, the mapping A.6 gives. t= wins when both are present.
bool dmarc_testing(const DmarcRecord& record, std::uint32_t sample);

// ----- the DNS Tree Walk (RFC 9989 §4.10)

// At most this many names per walk (§4.10: "more than eight labels do not
// result in more than eight DNS queries").
inline constexpr std::size_t kDmarcMaxWalkQueries = 8;

// The names a tree walk from `domain` queries, in order, each without the
// "_dmarc." prefix: `domain` itself; then, if it has more than 8 labels, its 7
// right-most labels, else its parent; then each parent up to the single top
// label (§4.10 steps 1-7). `domain` is normalised (dns::normalize_name); the
// result holds at most kDmarcMaxWalkQueries names, none for "".
std::vector<std::string> dmarc_tree_walk_names(std::string_view domain);

// A valid DMARC record the walk found at `domain`.
struct DmarcFound {
  std::string domain;
  DmarcRecord record;
};

// The organizational domain of `start` (§4.10.2) from the valid records one walk
// from `start` found, longest name first: the first psd=n domain; else, for a
// psd=y domain other than `start`, the domain one label below it on the way to
// `start`; else the found domain with the fewest labels; `start` itself when
// nothing was found.
std::string select_organizational_domain(std::string_view start,
                                         const std::vector<DmarcFound>& found);

// What one TXT answer at a "_dmarc." name says (§4.10 steps 2 and 6).
struct DmarcLookup {
  enum class Kind : std::uint8_t {
    kNone,       // no DMARC record: none, several, or NXDOMAIN/NODATA
    kRecord,     // exactly one record, and it parsed
    kUnusable,   // exactly one record, refused by parse_dmarc_record (`problem`)
    kTempError,  // the lookup failed (SERVFAIL, timeout, malformed answer)
  };
  Kind kind = Kind::kNone;
  std::optional<DmarcRecord> record;  // for kRecord
  std::string problem;                // why, for every kind but kRecord
};

// Classifies an answer: records that are not DMARC records are ignored, more
// than one DMARC record counts as none (§4.10 step 2).
DmarcLookup classify_dmarc_answer(const dns::Answer& answer);

// The same for TXT texts already joined (for callers whose lookup gives strings;
// a temporary failure must be reported as kTempError by them).
DmarcLookup classify_dmarc_texts(const std::vector<std::string>& texts);

// One sans-IO tree walk. Construct with the start domain, then answer
// pending_query() until done(). The walk stops at a record with psd=y or psd=n,
// at a temporary failure, or after the single-label name.
class DmarcTreeWalk {
 public:
  // `start` is normalised here (dns::normalize_name); a name that is not a
  // domain name, or "", gives a walk that is done and found nothing.
  explicit DmarcTreeWalk(std::string_view start);

  const std::string& start() const { return start_; }

  // TXT at "_dmarc.<name>", or nullopt when done(). A name longer than DNS
  // allows once prefixed is never asked: it holds no record.
  std::optional<DnsQuery> pending_query() const;

  // Answers pending_query().
  void provide(const dns::Answer& answer);
  void provide(const DmarcLookup& lookup);

  bool done() const { return next_ >= names_.size() || stopped_; }

  // A temporary failure ended the walk: found() may be incomplete.
  bool failed() const { return failed_; }

  const std::string& problem() const { return problem_; }

  // The lookup at start(), once answered.
  const std::optional<DmarcLookup>& start_lookup() const { return start_lookup_; }

  // Valid records found so far, longest name first.
  const std::vector<DmarcFound>& found() const { return found_; }

  // Queries answered so far (at most kDmarcMaxWalkQueries).
  std::size_t queries() const { return next_; }

  // select_organizational_domain(start(), found()). Requires: done() && !failed().
  std::string organizational_domain() const;

 private:
  void skip_unaskable();

  std::string start_;
  std::vector<std::string> names_;
  std::size_t next_ = 0;
  bool stopped_ = false;
  bool failed_ = false;
  std::string problem_;
  std::optional<DmarcLookup> start_lookup_;
  std::vector<DmarcFound> found_;
};

// ----- evaluation

// What the evaluator needs to know about a message.
struct DmarcInput {
  std::string from_domain;             // the Author Domain (§5.3.1; one From domain)
  std::vector<DkimResult> dkim;        // every DKIM-Signature's result
  AuthResult spf = AuthResult::kNone;  // SPF result for spf_domain
  std::string spf_domain;              // the MAIL FROM domain (or HELO if MAIL FROM was <>)
  // A number in 0..99 drawn by the caller (time and randomness are parameters)
  // for RFC 7489 pct= (see dmarc_testing()).
  std::uint32_t sample = 0;
};

enum class DmarcDisposition : std::uint8_t { kNone, kQuarantine, kReject };

struct DmarcResult {
  AuthResult result = AuthResult::kNone;  // none, pass, fail, temperror
  std::string policy_domain;              // the DMARC Policy Domain: where the record was found
  // The Author Domain's organizational domain, when a tree walk settled it (""
  // when it was not needed: strict alignment, identical identifiers).
  std::string organizational_domain;
  std::optional<DmarcRecord> record;
  // p=, sp= or np=, whichever applies (§4.10.1): p= at the Author Domain, else
  // np= for a non-existent Author Domain, else sp=, else p=.
  DmarcPolicy policy = DmarcPolicy::kNone;
  // What the receiver should do: the policy for a failing message, lowered one
  // step in testing mode (t=y, or pct= sampling); kNone for anything but "fail".
  DmarcDisposition disposition = DmarcDisposition::kNone;
  bool testing = false;              // the failing message's policy was lowered
  bool author_domain_exists = true;  // false: NXDOMAIN for the Author Domain (np=)
  bool dkim_aligned = false;         // a passing DKIM signature with an aligned d=
  bool spf_aligned = false;          // an SPF pass for an aligned domain
  std::string problem;               // why, for none and temperror
};

// At most this many distinct passing DKIM d= domains are walked for relaxed
// alignment (each walk is up to 8 queries; the verifier checks at most 10
// signatures). Further signatures count as unaligned.
inline constexpr std::size_t kDmarcMaxDkimWalks = 4;

// Sans-IO DMARC for one message (RFC 9989 §5.3): policy discovery by the tree
// walk from the Author Domain (§4.10.1), then, for relaxed alignment of an SPF
// or DKIM identifier that differs from the Author Domain, tree walks for the
// organizational domains of both (§4.10.2), then — for a failing message whose
// policy came from a parent with np= — one TXT query at the Author Domain to
// learn whether it exists (appendix A.4: NXDOMAIN means it does not).
// Questions that do not depend on each other are handed out together; answers
// are shared between walks.
class DmarcEvaluator {
 public:
  explicit DmarcEvaluator(DmarcInput input);

  // Every question that can be asked now and is not answered yet (TXT queries);
  // empty when the result is known.
  std::vector<DnsQuery> pending_queries() const;
  // The first of pending_queries(), or nullopt.
  std::optional<DnsQuery> pending_query() const;

  // Answers pending_query().
  void provide(const dns::Answer& answer);
  // Answers the TXT question at `name`; unknown or repeated names are ignored.
  void provide_for(std::string_view name, const dns::Answer& answer);

  // Distinct names answered so far (a measure of the walk's cost).
  std::size_t queries_answered() const { return answers_.size(); }

  // Requires: pending_query() is nullopt.
  const DmarcResult& result() const { return result_; }

 private:
  enum class Stage : std::uint8_t { kPolicy, kAlignment, kExistence, kDone };

  struct Comparison {
    std::string identifier;
    bool dkim = false;
  };

  void advance();
  bool feed_walks();
  bool decide_policy();
  bool decide_alignment();
  bool decide_existence();
  void finish_failure();
  void finish(AuthResult result, std::string problem);
  bool wanted(const DmarcTreeWalk& walk) const;

  DmarcInput input_;
  Stage stage_ = Stage::kPolicy;
  std::map<std::string, dns::Answer> answers_;  // by query name
  std::map<std::string, DmarcTreeWalk> walks_;  // by start domain; the Author Domain's first
  std::vector<Comparison> comparisons_;         // relaxed checks waiting for walks
  bool need_author_walk_ = true;                // false while the policy alone is known
  std::optional<DnsQuery> existence_query_;
  DmarcResult result_;
};

}  // namespace tern::mailauth
