// SPDX-License-Identifier: Apache-2.0
#include "mailauth/inbound.hpp"

#include <algorithm>

#include "address/address_list.hpp"
#include "base/ascii.hpp"
#include "mailauth/canonicalization.hpp"

namespace tern::mailauth {
namespace {

// RFC 7208 §2.3: the HELO identity is checked only when it is a domain name
// (not an address literal, not a bare word).
bool is_helo_domain(std::string_view helo) {
  if (helo.empty() || helo.front() == '[' || helo.find('.') == std::string_view::npos) {
    return false;
  }
  auto normalized = dns::normalize_name(helo);
  return normalized && !normalized->empty() && !dns::IpAddress::parse(helo);
}

// The field value without the line breaks of its folding (RFC 5322 §2.2.3).
std::string unfolded_value(const RawHeaderField& field) {
  std::string_view raw = field.raw;
  std::size_t colon = raw.find(':');
  std::string out;
  for (char c : raw.substr(colon == std::string_view::npos ? raw.size() : colon + 1)) {
    if (c != '\r' && c != '\n') {
      out.push_back(c);
    }
  }
  return out;
}

bool is_trusted(const std::vector<std::string>& sealers, std::string_view domain) {
  return std::any_of(sealers.begin(), sealers.end(),
                     [&](const std::string& s) { return ascii::iequals(s, domain); });
}

}  // namespace

std::optional<std::string> rfc5322_from_domain(std::string_view message) {
  SplitMessage split = split_message(message);
  const RawHeaderField* from = nullptr;
  for (const RawHeaderField& field : split.fields) {
    if (ascii::iequals(field.name, "From")) {
      if (from != nullptr) {
        return std::nullopt;  // RFC 5322 §3.6: exactly one From field
      }
      from = &field;
    }
  }
  if (from == nullptr) {
    return std::nullopt;
  }
  std::string value = unfolded_value(*from);
  address::AddressList list = address::parse_address_list(value);
  std::optional<std::string> domain;
  for (const address::Mailbox* mailbox : list.mailboxes()) {
    if (mailbox->domain.empty()) {
      return std::nullopt;
    }
    std::string d = ascii::lower(mailbox->domain);
    if (domain && *domain != d) {
      // RFC 9989 §5.3.1: several author domains cannot be evaluated as one.
      return std::nullopt;
    }
    domain = std::move(d);
  }
  return domain;
}

// The evaluators of one message. DMARC is created once its inputs are known.
struct InboundVerifier::Evaluators {
  Evaluators(const InboundInput& input, SpfOptions spf_options, DkimVerifyOptions dkim_options)
      : spf_mail_from(
            SpfEvaluator::for_mail_from(input.client_ip, input.mail_from, input.helo, spf_options)),
        dkim(input.message, dkim_options),
        arc(input.message),
        iprev(input.client_ip) {
    if (!input.mail_from.empty() && is_helo_domain(input.helo)) {
      spf_helo.emplace(SpfEvaluator::for_helo(input.client_ip, input.helo, std::move(spf_options)));
    }
    from_domain = rfc5322_from_domain(input.message);
  }

  SpfEvaluator spf_mail_from;
  std::optional<SpfEvaluator> spf_helo;
  DkimVerifier dkim;
  ArcVerifier arc;
  IprevEvaluator iprev;
  std::optional<std::string> from_domain;
  std::optional<DmarcEvaluator> dmarc;
};

InboundVerifier::InboundVerifier(const InboundInput& input, InboundOptions options)
    : options_(std::move(options)), client_ip_(input.client_ip) {
  SpfOptions spf;
  spf.receiver = options_.receiver.empty() ? "unknown" : options_.receiver;
  spf.timestamp = options_.now;
  DkimVerifyOptions dkim;
  dkim.body_length = options_.body_length;
  dkim.now = options_.now;
  evaluators_ = std::make_unique<Evaluators>(input, std::move(spf), dkim);
  advance();
}

InboundVerifier::~InboundVerifier() = default;

std::vector<DnsQuery> InboundVerifier::take_queries() {
  std::vector<DnsQuery> out;
  out.swap(outbox_);
  return out;
}

void InboundVerifier::provide(const DnsQuery& query, const dns::Answer& answer) {
  Key key{query.name, query.type};
  if (done_ || !asked_.contains(key) || answers_.contains(key)) {
    return;
  }
  answers_.emplace(std::move(key), answer);
  advance();
}

void InboundVerifier::expire() {
  if (done_) {
    return;
  }
  expired_ = true;
  verdict_.deadline_passed = true;
  outbox_.clear();
  advance();
}

// Feeds every evaluator whatever it waits for that is known (an answer of this
// message, or the deadline's temporary failure), queues the questions nobody has
// asked yet, and starts DMARC once SPF and DKIM are decided. Loops until no
// evaluator moves: one answer may unblock several of them.
void InboundVerifier::advance() {
  Evaluators& e = *evaluators_;
  auto step = [&](auto& evaluator) {
    bool moved = false;
    while (auto q = evaluator.pending_query()) {
      Key key{q->name, q->type};
      auto found = answers_.find(key);
      if (found != answers_.end()) {
        evaluator.provide(found->second);
      } else if (expired_) {
        evaluator.provide(
            dns::Answer::failure(dns::LookupStatus::kTemporary, "verification deadline passed"));
      } else {
        if (asked_.insert(key).second) {
          outbox_.push_back(*q);
        }
        break;
      }
      moved = true;
    }
    return moved;
  };
  // DKIM signatures are independent, and so are DMARC's tree walks once the
  // policy is known: all their questions are asked at once.
  auto step_many = [&](auto& evaluator) {
    bool moved = false;
    for (const DnsQuery& q : evaluator.pending_queries()) {
      Key key{q.name, q.type};
      auto found = answers_.find(key);
      if (found != answers_.end()) {
        evaluator.provide_for(q.name, found->second);
        moved = true;
      } else if (expired_) {
        evaluator.provide_for(q.name, dns::Answer::failure(dns::LookupStatus::kTemporary,
                                                           "verification deadline passed"));
        moved = true;
      } else if (asked_.insert(key).second) {
        outbox_.push_back(q);
      }
    }
    return moved;
  };
  bool moved = true;
  while (moved) {
    moved = step(e.spf_mail_from);
    if (e.spf_helo) {
      moved = step(*e.spf_helo) || moved;
    }
    moved = step_many(e.dkim) || moved;
    moved = step(e.arc) || moved;
    moved = step(e.iprev) || moved;
    if (!e.dmarc && !e.spf_mail_from.pending_query() && !e.dkim.pending_query()) {
      // RFC 9989 §4.4: DMARC is evaluated on the SPF result of the MAIL FROM
      // domain (the HELO domain for a null path) and every DKIM result.
      DmarcInput in;
      in.from_domain = e.from_domain.value_or("");
      in.dkim = e.dkim.results();
      in.spf = e.spf_mail_from.result().result;
      in.spf_domain = e.spf_mail_from.domain();
      in.sample = options_.dmarc_sample % 100;
      e.dmarc.emplace(std::move(in));
      moved = true;
    }
    if (e.dmarc) {
      moved = step_many(*e.dmarc) || moved;
    }
  }
  bool open = e.spf_mail_from.pending_query() || (e.spf_helo && e.spf_helo->pending_query()) ||
              e.dkim.pending_query() || e.arc.pending_query() || e.iprev.pending_query() ||
              !e.dmarc || e.dmarc->pending_query();
  if (!open) {
    finish();
  }
}

void InboundVerifier::finish() {
  Evaluators& e = *evaluators_;
  InboundVerdict& v = verdict_;
  v.spf_mail_from = e.spf_mail_from.result();
  v.spf_mail_from_domain = e.spf_mail_from.domain();
  v.spf_mail_from_is_helo = e.spf_mail_from.identity() == SpfIdentity::kHelo;
  v.methods.push_back(spf_method_result(e.spf_mail_from));
  if (e.spf_helo) {
    v.spf_helo = e.spf_helo->result();
    v.helo_domain = e.spf_helo->domain();
    v.methods.push_back(spf_method_result(*e.spf_helo));
  }
  v.dkim = e.dkim.results();
  for (MethodResult& m : dkim_method_results(v.dkim)) {
    v.methods.push_back(std::move(m));
  }
  v.dmarc = e.dmarc->result();
  v.from_domain = e.from_domain.value_or("");
  if (!e.from_domain) {
    // RFC 9989 §5.3.1: no single author domain to evaluate; such a message is
    // malformed as far as DMARC is concerned.
    v.dmarc.result = AuthResult::kPermError;
    v.dmarc.problem = "no single RFC5322.From domain";
  }
  v.arc = e.arc.result();
  v.iprev = e.iprev.result();
  v.disposition = v.dmarc.disposition;
  if (v.disposition != DmarcDisposition::kNone && v.arc.result == AuthResult::kPass &&
      is_trusted(options_.trusted_arc_sealers, v.arc.sealer)) {
    // RFC 7489 §7.2 / RFC 8617 §7.2: a trusted intermediary's chain says the
    // message authenticated before it was forwarded; the local policy may accept.
    v.disposition = DmarcDisposition::kNone;
    v.arc_override = true;
  }
  MethodResult dmarc = dmarc_method_result(v.dmarc, v.from_domain);
  if (v.arc_override) {
    dmarc.reason = "overridden by the ARC chain of trusted sealer " + v.arc.sealer;
  }
  v.methods.push_back(std::move(dmarc));
  MethodResult arc = arc_method_result(v.arc);
  // RFC 8617 §10.1: the connecting address, so a later sealer's AAR records it.
  arc.properties.emplace_back("smtp.remote-ip", client_ip_.format());
  v.methods.push_back(std::move(arc));
  v.methods.push_back(iprev_method_result(v.iprev, client_ip_));
  v.authentication_results = format_authentication_results(options_.authserv_id, v.methods);
  done_ = true;
}

}  // namespace tern::mailauth
