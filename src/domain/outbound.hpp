// SPDX-License-Identifier: Apache-2.0
// The outbound transport port: how the queue scheduler (services/outbound) hands one
// message for one destination to whatever carries it (services/delivery: SMTP to the
// MX hosts, a smarthost, LMTP). The scheduler owns retry timing, expiry, bounces and
// per-destination limits; a transport owns DNS, connections, TLS policy and the SMTP
// dialogue, and reports one outcome per recipient.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "domain/model.hpp"
#include "domain/ports.hpp"

namespace tern::domain {

// One delivery attempt: the recipients of one queued message that share a
// destination (the domain part of their address, lower-cased A-label form).
struct DeliveryRequest {
  QueueId queue_id{};
  std::string destination;  // e.g. "example.org"; the key of per-destination limits
  std::string sender;       // reverse-path; "" is the null sender
  std::string envid;        // RFC 3461 ENVID ("" if absent)
  std::string ret;          // RFC 3461 RET ("FULL", "HDRS" or "")
  bool smtputf8 = false;    // the message was received with SMTPUTF8 (RFC 6531)
  bool eight_bit = false;   // the body is 8BITMIME (needs 8BITMIME or a downgrade)
  bool requiretls = false;  // RFC 8689 REQUIRETLS was requested
  std::string raw;          // the message bytes, CRLF line ends

  // Recipients of this attempt, in queue order; `index` refers back to
  // QueuedMessage::recipients.
  struct Recipient {
    std::size_t index = 0;
    std::string address;
    std::string notify;  // RFC 3461 NOTIFY as received
    std::string orcpt;   // RFC 3461 ORCPT as received
  };

  std::vector<Recipient> recipients;
};

enum class DeliveryStatus {
  kDelivered,  // the receiver accepted responsibility (2xx after the data)
  kDeferred,   // temporary failure: retry later (4xx, connection/DNS/TLS trouble)
  kFailed,     // permanent failure: bounce (5xx, null MX, no such domain, policy)
};

// The outcome for one recipient. `reply` is what a DSN's Diagnostic-Code and
// `tern queue show` print: the remote SMTP reply ("550 5.1.1 <x>: no such user"),
// or a local explanation ("4.4.1 connect to mx.example.org[192.0.2.1]:25: timed out").
struct RecipientOutcome {
  std::size_t index = 0;  // DeliveryRequest::Recipient::index
  DeliveryStatus status = DeliveryStatus::kDeferred;
  std::string reply;
  std::string enhanced_status;  // "5.1.1" (RFC 3463), from the reply or chosen locally
  std::string remote_host;      // "mx.example.org[192.0.2.1]" when a host answered
  // The receiver advertised DSN and took this recipient's NOTIFY (RFC 3461 §5.2.2):
  // it now owes the success notice. false (the default) makes the scheduler send a
  // "relayed" success DSN itself for NOTIFY=SUCCESS (RFC 3461 §5.2.3).
  bool dsn_passed_on = false;
};

struct DeliveryReport {
  std::vector<RecipientOutcome> recipients;  // one per requested recipient
};

// Carries messages to a destination. deliver() never fails as a whole: every
// trouble is reported per recipient (kDeferred or kFailed), so the Result of the
// Async is an error only for a bug-level failure (the scheduler then defers all).
// Implementations may keep connections open and reuse them for the next request to
// the same host (RFC 5321 §4.5.3.1 does not limit messages per session); they are
// called concurrently from several scheduler tasks.
class OutboundTransport {
 public:
  virtual ~OutboundTransport() = default;
  virtual Async<DeliveryReport> deliver(DeliveryRequest request) = 0;
};

}  // namespace tern::domain
