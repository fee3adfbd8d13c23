// SPDX-License-Identifier: Apache-2.0
#include "domain/queue_policy.hpp"

#include <algorithm>

#include "base/ascii.hpp"

namespace tern::domain {

namespace {

// The NOTIFY keywords are a comma list (RFC 3461 §4.1); the server upper-cases them.
bool notify_has(const QueueRecipient& recipient, std::string_view keyword) {
  std::string_view list = recipient.notify;
  while (!list.empty()) {
    auto comma = list.find(',');
    auto item = list.substr(0, comma);
    if (ascii::iequals(item, keyword)) {
      return true;
    }
    if (comma == std::string_view::npos) {
      break;
    }
    list.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

std::chrono::seconds retry_delay(const RetryPolicy& policy, std::uint32_t attempts) {
  const std::uint32_t n = std::max<std::uint32_t>(attempts, 1);
  if (!policy.schedule.empty()) {
    return policy.schedule[std::min<std::size_t>(n - 1, policy.schedule.size() - 1)];
  }
  // Postfix doubles the backoff per attempt between its two bounds; the shift is
  // capped so that a message retried thousands of times does not overflow.
  auto delay = policy.min_backoff;
  for (std::uint32_t i = 1; i < n && delay < policy.max_backoff; ++i) {
    delay *= 2;
  }
  return std::min(delay, policy.max_backoff);
}

std::string destination_of(std::string_view address) {
  auto at = address.rfind('@');
  if (at == std::string_view::npos) {
    return {};
  }
  return ascii::lower(address.substr(at + 1));
}

std::vector<DestinationGroup> group_pending(const QueuedMessage& message) {
  std::vector<DestinationGroup> groups;
  for (std::size_t i = 0; i < message.recipients.size(); ++i) {
    if (message.recipients[i].state != RecipientState::kPending) {
      continue;
    }
    auto destination = destination_of(message.recipients[i].address);
    auto it = std::find_if(groups.begin(), groups.end(),
                           [&](const auto& g) { return g.destination == destination; });
    if (it == groups.end()) {
      groups.push_back(DestinationGroup{std::move(destination), {}});
      it = groups.end() - 1;
    }
    it->indices.push_back(i);
  }
  return groups;
}

DeliveryRequest make_request(const QueuedMessage& message, const DestinationGroup& group,
                             std::string raw) {
  DeliveryRequest request;
  request.queue_id = message.id;
  request.destination = group.destination;
  request.sender = message.sender;
  request.envid = message.envid;
  request.ret = message.ret;
  request.smtputf8 = message.envelope.smtputf8;
  request.eight_bit = message.envelope.body != BodyType::kSevenBit;
  request.requiretls = message.envelope.requiretls;
  request.raw = std::move(raw);
  for (auto index : group.indices) {
    const auto& r = message.recipients[index];
    request.recipients.push_back({index, r.address, r.notify, r.orcpt});
  }
  return request;
}

std::size_t count_received(std::string_view raw) {
  std::size_t count = 0;
  std::size_t pos = 0;
  while (pos < raw.size()) {
    auto eol = raw.find('\n', pos);
    auto line = raw.substr(pos, eol == std::string_view::npos ? raw.size() - pos : eol - pos);
    if (line.empty() || line == "\r") {
      break;  // end of the header
    }
    constexpr std::string_view kName = "received:";
    if (line.size() >= kName.size() && ascii::iequals(line.substr(0, kName.size()), kName)) {
      ++count;
    }
    if (eol == std::string_view::npos) {
      break;
    }
    pos = eol + 1;
  }
  return count;
}

bool wants_failure_notice(const QueueRecipient& recipient) {
  return recipient.notify.empty() || notify_has(recipient, "FAILURE");
}

bool wants_delay_notice(const QueueRecipient& recipient) {
  return recipient.notify.empty() || notify_has(recipient, "DELAY");
}

bool wants_success_notice(const QueueRecipient& recipient) {
  return notify_has(recipient, "SUCCESS");
}

RunOutcome apply_outcomes(const QueuedMessage& message,
                          const std::vector<RecipientOutcome>& outcomes, SystemTime now,
                          const RetryPolicy& policy) {
  RunOutcome out;
  auto& recipients = out.update.recipients;
  recipients = message.recipients;
  for (const auto& o : outcomes) {
    if (o.index >= recipients.size() || recipients[o.index].state != RecipientState::kPending) {
      continue;
    }
    auto& r = recipients[o.index];
    r.last_reply = o.reply;
    r.status = o.enhanced_status;
    r.remote_host = o.remote_host;
    switch (o.status) {
      case DeliveryStatus::kDelivered:
        r.state = RecipientState::kDelivered;
        // RFC 3461 §5.2.3: a receiver without DSN cannot send the success notice,
        // so the relaying MTA sends "relayed" itself.
        if (wants_success_notice(r) && !o.dsn_passed_on) {
          out.succeeded.push_back(o.index);
        }
        break;
      case DeliveryStatus::kFailed:
        r.state = RecipientState::kFailed;
        out.failed.push_back(o.index);
        break;
      case DeliveryStatus::kDeferred:
        break;
    }
  }

  const auto age = now - message.created;
  bool pending = std::any_of(recipients.begin(), recipients.end(),
                             [](const auto& r) { return r.state == RecipientState::kPending; });
  if (pending && age >= policy.lifetime) {
    // Postfix's maximal_queue_lifetime: what is still pending is returned, with
    // RFC 3463 X.4.7 "delivery time expired" and the last reply as the diagnostic.
    out.expired = true;
    for (std::size_t i = 0; i < recipients.size(); ++i) {
      auto& r = recipients[i];
      if (r.state == RecipientState::kPending) {
        r.state = RecipientState::kFailed;
        r.status = "4.4.7";
        if (r.last_reply.empty()) {
          r.last_reply = "4.4.7 delivery time expired";
        }
        out.failed.push_back(i);
      }
    }
    pending = false;
  }

  out.update.attempts = message.attempts + 1;
  out.update.delay_warned = message.delay_warned;
  out.finished = !pending;
  if (pending) {
    out.update.next_attempt = now + retry_delay(policy, out.update.attempts);
    if (!message.delay_warned && policy.delay_warning.count() > 0 && age >= policy.delay_warning) {
      out.update.delay_warned = true;  // at most one warning per message, like Postfix
      for (std::size_t i = 0; i < recipients.size(); ++i) {
        if (recipients[i].state == RecipientState::kPending && wants_delay_notice(recipients[i])) {
          out.delayed.push_back(i);
        }
      }
    }
  }
  std::sort(out.failed.begin(), out.failed.end());
  return out;
}

std::vector<RecipientOutcome> fail_all_pending(const QueuedMessage& message,
                                               std::string_view enhanced_status,
                                               std::string_view reply) {
  std::vector<RecipientOutcome> out;
  for (std::size_t i = 0; i < message.recipients.size(); ++i) {
    if (message.recipients[i].state == RecipientState::kPending) {
      RecipientOutcome o;
      o.index = i;
      o.status = DeliveryStatus::kFailed;
      o.reply = std::string(reply);
      o.enhanced_status = std::string(enhanced_status);
      out.push_back(std::move(o));
    }
  }
  return out;
}

}  // namespace tern::domain
