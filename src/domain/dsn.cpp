// SPDX-License-Identifier: Apache-2.0
#include "domain/dsn.hpp"

#include "domain/queue_policy.hpp"
#include "mime/builder.hpp"

namespace tern::domain {

namespace {

// "rfc822;addr" (RFC 3461 §4.2 ORCPT) → "addr"; the builder writes the type itself.
std::string orcpt_address(std::string_view orcpt) {
  auto semi = orcpt.find(';');
  return std::string(semi == std::string_view::npos ? orcpt : orcpt.substr(semi + 1));
}

// The enhanced status for the DSN: the outcome's, or a class-appropriate default
// (RFC 3463 §3.1: "5.0.0"/"4.0.0" when nothing more specific is known).
std::string status_for(const QueueRecipient& r, DsnKind kind) {
  if (!r.status.empty()) {
    return r.status;
  }
  switch (kind) {
    case DsnKind::kFailure:
      return "5.0.0";
    case DsnKind::kDelay:
      return "4.0.0";
    case DsnKind::kSuccess:
      return "2.0.0";
  }
  return "5.0.0";
}

// Only the host name: "mx.example.org[192.0.2.1]" → "mx.example.org" (RFC 3464
// §2.3.5 Remote-MTA is an mta-name).
std::string remote_mta_name(std::string_view remote_host) {
  return std::string(remote_host.substr(0, remote_host.find('[')));
}

bool owed(const QueueRecipient& r, DsnKind kind) {
  switch (kind) {
    case DsnKind::kFailure:
      return wants_failure_notice(r);
    case DsnKind::kDelay:
      return wants_delay_notice(r);
    case DsnKind::kSuccess:
      return wants_success_notice(r);
  }
  return false;
}

}  // namespace

std::optional<NewQueuedMessage> compose_dsn(const QueuedMessage& message, std::string_view original,
                                            DsnKind kind, const std::vector<std::size_t>& indices,
                                            const DsnContext& context) {
  if (message.sender.empty()) {
    return std::nullopt;  // RFC 5321 §6.1: never a notice about a notice
  }
  const std::int64_t now = to_unix_seconds(context.now);
  mime::DsnInfo info;
  info.reporting_mta = context.hostname;
  info.from = mime::format_mailbox("Mail Delivery System", "MAILER-DAEMON@" + context.hostname);
  info.to = mime::format_mailbox("", message.sender);
  info.envelope_id = message.envid;
  info.arrival_date = to_unix_seconds(message.created);
  info.time = now;
  const char* kind_tag = "failure";
  switch (kind) {
    case DsnKind::kFailure:
      info.subject = "Undelivered Mail Returned to Sender";
      info.explanation = "This is the mail system at host " + context.hostname +
                         ".\r\n\r\nI'm sorry to have to inform you that your message could not\r\n"
                         "be delivered to one or more recipients. The details are below.\r\n";
      // RFC 3461 §4.3: RET=HDRS asks for the header only; without RET the full
      // message comes back, as Postfix does.
      info.return_full_message = message.ret != "HDRS";
      break;
    case DsnKind::kDelay:
      kind_tag = "delay";
      info.subject = "Delayed Mail (still being retried)";
      info.explanation = "This is the mail system at host " + context.hostname +
                         ".\r\n\r\n####################################################\r\n"
                         "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #\r\n"
                         "####################################################\r\n\r\n"
                         "Your message could not be delivered yet; the mail system will\r\n"
                         "keep trying until " +
                         mime::format_date(to_unix_seconds(context.will_retry_until)) + ".\r\n";
      info.return_full_message = false;
      break;
    case DsnKind::kSuccess:
      kind_tag = "success";
      info.subject = "Successful Mail Delivery Report";
      info.explanation =
          "This is the mail system at host " + context.hostname +
          ".\r\n\r\nYour message was successfully delivered to the destination(s)\r\n"
          "listed below. The destination did not promise further notice.\r\n";
      info.return_full_message = false;
      break;
  }
  info.message_id = "<" + std::to_string(value_of(message.id)) + "." + std::to_string(now) + "." +
                    kind_tag + "@" + context.hostname + ">";
  for (auto index : indices) {
    if (index >= message.recipients.size() || !owed(message.recipients[index], kind)) {
      continue;
    }
    const auto& r = message.recipients[index];
    mime::DsnRecipient d;
    d.final_recipient = r.address;
    d.original_recipient = r.orcpt.empty() ? std::string() : orcpt_address(r.orcpt);
    d.action = kind == DsnKind::kFailure ? "failed"
               : kind == DsnKind::kDelay ? "delayed"
                                         : "relayed";
    d.status = status_for(r, kind);
    d.remote_mta = remote_mta_name(r.remote_host);
    d.diagnostic_code = r.last_reply;
    d.last_attempt = now;
    if (kind == DsnKind::kDelay) {
      d.will_retry_until = to_unix_seconds(context.will_retry_until);
    }
    info.recipients.push_back(std::move(d));
  }
  if (info.recipients.empty()) {
    return std::nullopt;
  }
  NewQueuedMessage dsn;
  dsn.raw = mime::build_dsn(info, original);
  dsn.sender = "";  // RFC 3461 §6: notices are sent from the null reverse-path
  dsn.recipients.push_back(
      QueueRecipient{message.sender, RecipientState::kPending, "", "", "", "", ""});
  dsn.now = context.now;
  // The original's header may be UTF-8 (message/global); its submitter's SMTPUTF8
  // carries over so the transport does not downgrade it.
  dsn.envelope.smtputf8 = message.envelope.smtputf8;
  dsn.envelope.body =
      message.envelope.body == BodyType::kSevenBit ? BodyType::kSevenBit : BodyType::kEightBitMime;
  return dsn;
}

}  // namespace tern::domain
