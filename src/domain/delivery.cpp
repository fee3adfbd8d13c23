// SPDX-License-Identifier: Apache-2.0
#include "domain/delivery.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>

#include "base/ascii.hpp"
#include "domain/flags.hpp"
#include "domain/ids.hpp"
#include "domain/mailbox_name.hpp"
#include "mime/builder.hpp"
#include "mime/header.hpp"
#include "mime/message.hpp"
#include "sieve/sieve.hpp"

namespace tern::domain {

namespace {

// The Junk mailbox of `account` among `boxes`, created when the account has none
// (accounts start with an INBOX only). A concurrent delivery may create it first:
// kAlreadyExists means it is there now.
Result<MailboxId> junk_mailbox(Storage& storage, AccountId account,
                               const std::vector<Mailbox>& boxes) {
  for (const auto& box : boxes) {
    if (box.special_use == SpecialUse::kJunk) {
      return box.id;
    }
  }
  for (const auto& box : boxes) {
    if (box.name == "Junk") {
      return box.id;
    }
  }
  auto created = storage.mail().create_mailbox(account, "Junk", SpecialUse::kJunk).get();
  if (created) {
    return created->id;
  }
  if (created.error().code != ErrorCode::kAlreadyExists) {
    return created.error();
  }
  TERN_TRY(auto again, storage.mail().mailboxes(account).get());
  for (const auto& box : again) {
    if (box.name == "Junk") {
      return box.id;
    }
  }
  return created.error();
}

// The address a script sees as the envelope "to": the account's, with the
// sub-address that led here (RFC 5233).
std::string envelope_recipient(const LocalRecipient& recipient, std::string_view separators) {
  auto at = recipient.address.rfind('@');
  if (recipient.detail.empty() || separators.empty() || at == std::string::npos) {
    return recipient.address;
  }
  return recipient.address.substr(0, at) + separators[0] + recipient.detail +
         recipient.address.substr(at);
}

// A Sieve flag list as an append's system flags and keywords (RFC 5232 §3).
void apply_flags(const std::vector<std::string>& flags, AppendTarget& target) {
  std::vector<std::string> keywords;
  for (const auto& flag : flags) {
    if (auto system = system_flag(flag)) {
      target.flags = static_cast<Flags>(target.flags | *system);
    } else {
      keywords.push_back(flag);
    }
  }
  target.keywords = normalize_keywords(std::move(keywords));
}

// The first field `name` of the message's header, unfolded; "" when absent.
std::string header_value(const mime::MessageTree& tree, std::string_view name) {
  const auto* field = tree.root().field(tree.raw(), name);
  if (field == nullptr) {
    return {};
  }
  std::string value = mime::unfold(field->value.in(tree.raw()));
  std::size_t begin = value.find_first_not_of(" \t");
  std::size_t end = value.find_last_not_of(" \t\r\n");
  return begin == std::string::npos ? std::string() : value.substr(begin, end - begin + 1);
}

// True when a redirect by `address` already passed this message on
// (X-Sieve-Redirected-From, which deliver() adds to each redirected copy).
bool redirected_by(const mime::MessageTree& tree, std::string_view address) {
  for (const auto& field : tree.root().fields) {
    if (ascii::iequals(field.name.in(tree.raw()), "X-Sieve-Redirected-From")) {
      std::string value = mime::unfold(field.value.in(tree.raw()));
      if (value.find(address) != std::string::npos) {
        return true;
      }
    }
  }
  return false;
}

// The message's tree, parsed the first time a redirect or a vacation reply needs
// its header (sieve::run parses what it reads itself). Refers to `raw`.
class LazyTree {
 public:
  explicit LazyTree(std::string_view raw) : raw_(raw) {}

  std::string_view raw() const { return raw_; }

  const mime::MessageTree& get() {
    if (!tree_) {
      tree_ = mime::parse_message(raw_);
    }
    return *tree_;
  }

 private:
  std::string_view raw_;
  std::optional<mime::MessageTree> tree_;
};

// What one account's script decided, in store terms.
struct AccountPlan {
  std::vector<AppendTarget> targets;
  std::vector<std::string> names;  // the mailbox of each target, for the report
  std::vector<std::string> redirects;
  std::optional<sieve::Vacation> vacation;
};

// Runs the account's active script, if any, and resolves its mailboxes.
// `fallback` is where a keep, and any fileinto that cannot be done, stores.
Result<AccountPlan> plan_account(Storage& storage, const LocalRecipient& recipient, LazyTree& tree,
                                 const Mailbox& fallback, const std::vector<Mailbox>& boxes,
                                 const Filtering& filtering, FilterReport& report) {
  AccountPlan plan;
  auto add = [&](MailboxId mailbox, const std::string& name,
                 const std::vector<std::string>& flags) {
    if (std::any_of(plan.targets.begin(), plan.targets.end(),
                    [&](const AppendTarget& t) { return t.mailbox == mailbox; })) {
      return;  // a fileinto and the keep it fell back to store one copy
    }
    AppendTarget target{recipient.account, mailbox, 0, {}};
    apply_flags(flags, target);
    plan.targets.push_back(std::move(target));
    plan.names.push_back(name);
  };
  auto keep = [&](const std::vector<std::string>& flags) {
    add(fallback.id, fallback.name, flags);
  };
  TERN_TRY(auto script, storage.directory().active_sieve_script(recipient.account).get());
  if (!script) {
    keep({});
    return plan;
  }
  auto compiled = filtering.scripts != nullptr ? filtering.scripts->get(script->text)
                                               : sieve::compile(script->text);
  if (!compiled) {
    // Scripts are compiled before they are stored; one this version refuses
    // (written by another) must not lose mail.
    report.error = "script \"" + script->name + "\": " + compiled.error().message;
    keep({});
    return plan;
  }
  sieve::Environment environment;
  environment.subaddress_separators = filtering.subaddress_separators;
  environment.now = to_unix_seconds(filtering.now);
  environment.zone_minutes = filtering.zone_minutes;
  // The spam filter's score for this account, for spamtest (RFC 5235); a model
  // too small for verdicts (or no classification) is "not tested".
  if (report.spam != spam::Class::kUntrained) {
    environment.spam_score = report.spam_score;
  }
  environment.mailbox_exists = [&](std::string_view name) {
    std::string wanted = canonical_mailbox_name(std::string(name));
    return std::any_of(boxes.begin(), boxes.end(),
                       [&](const Mailbox& b) { return b.name == wanted; });
  };
  sieve::Envelope envelope{filtering.sender,
                           envelope_recipient(recipient, filtering.subaddress_separators), ""};
  sieve::Outcome outcome = sieve::run(*compiled, tree.raw(), envelope, environment);
  if (outcome.error) {
    report.error = *outcome.error;
  }
  for (const auto& action : outcome.actions) {
    switch (action.kind) {
      case sieve::ActionKind::kKeep:
        keep(action.flags);
        break;
      case sieve::ActionKind::kFileInto: {
        std::string name = canonical_mailbox_name(action.mailbox);
        std::optional<MailboxId> id;
        for (const auto& box : boxes) {
          if (box.name == name) {
            id = box.id;
          }
        }
        if (!id && action.create && is_valid_mailbox_name(name)) {
          // RFC 5490 §3.2 :create; a concurrent delivery may have made it first.
          auto created =
              storage.mail().create_mailbox(recipient.account, name, SpecialUse::kNone).get();
          if (created) {
            id = created->id;
          } else if (created.error().code == ErrorCode::kAlreadyExists) {
            TERN_TRY(auto again, storage.mail().mailboxes(recipient.account).get());
            for (const auto& box : again) {
              if (box.name == name) {
                id = box.id;
              }
            }
          } else {
            return created.error();
          }
        }
        if (!id) {
          report.error = "fileinto \"" + action.mailbox + "\": no such mailbox, kept";
          keep(action.flags);
          break;
        }
        add(*id, name, action.flags);
        break;
      }
      case sieve::ActionKind::kRedirect:
        if (redirected_by(tree.get(), recipient.address)) {
          report.error = "redirect to " + action.address + ": already redirected by " +
                         recipient.address + ", kept";
          keep({});
        } else {
          plan.redirects.push_back(action.address);
        }
        break;
      case sieve::ActionKind::kVacation:
        plan.vacation = action.vacation;
        break;
      case sieve::ActionKind::kDiscard:
        break;
    }
  }
  return plan;
}

// RFC 5228 §4.2: the message, unchanged but for the loop-stopping field on top,
// queued to `address` with the original sender (or its SRS form).
Result<QueueId> queue_redirect(Storage& storage, const LocalRecipient& recipient,
                               const std::string& address, const std::string& raw,
                               const Filtering& filtering) {
  NewQueuedMessage queued;
  queued.raw = "X-Sieve-Redirected-From: " + recipient.address + "\r\n" + raw;
  TERN_TRY(queued.sender,
           forwarding_sender(storage.directory(), filtering.srs, filtering.sender, filtering.now));
  QueueRecipient to;
  to.address = address;
  to.orcpt = "rfc822;" + envelope_recipient(recipient, filtering.subaddress_separators);
  queued.recipients.push_back(std::move(to));
  queued.now = filtering.now;
  queued.envelope = filtering.envelope;
  return storage.queue().enqueue(std::move(queued)).get();
}

// RFC 5230 §5: the reply, from the null sender, once per period (§4.2).
Result<std::optional<QueueId>> queue_vacation(Storage& storage, const LocalRecipient& recipient,
                                              const sieve::Vacation& vacation,
                                              const mime::MessageTree& tree,
                                              const Filtering& filtering) {
  std::string key = sha256_hex(ascii::lower(filtering.sender) + '\0' + vacation.handle);
  TERN_TRY(auto send, storage.directory()
                          .note_vacation_reply(recipient.account, key, filtering.now,
                                               std::chrono::seconds(vacation.seconds))
                          .get());
  if (!send) {
    return std::optional<QueueId>();
  }
  mime::AutoReply reply;
  reply.from = vacation.from.empty() ? recipient.address : vacation.from;
  reply.to = filtering.sender;
  reply.subject = vacation.subject;
  reply.original_message_id = header_value(tree, "Message-ID");
  reply.original_references = header_value(tree, "References");
  reply.time = to_unix_seconds(filtering.now);
  reply.message_id =
      "<vacation." +
      sha256_hex(key + std::to_string(reply.time) + recipient.address).substr(0, 24) + "@" +
      filtering.hostname + ">";
  reply.body = vacation.reason;
  reply.body_is_entity = vacation.mime;
  NewQueuedMessage queued;
  queued.raw = mime::build_auto_reply(reply);
  queued.sender = "";  // RFC 5230 §5.1
  QueueRecipient to;
  to.address = filtering.sender;
  to.notify = "NEVER";
  queued.recipients.push_back(std::move(to));
  queued.now = filtering.now;
  queued.envelope.body = BodyType::kEightBitMime;
  TERN_TRY(auto id, storage.queue().enqueue(std::move(queued)).get());
  return std::optional<QueueId>(id);
}

}  // namespace

Result<std::vector<DeliveryOutcome>> deliver(Storage& storage, NewMessage message,
                                             const std::vector<LocalRecipient>& recipients,
                                             DeliveryFolder folder, const Filtering* filtering,
                                             std::vector<FilterReport>* reports) {
  std::vector<FilterReport> local_reports(recipients.size());
  std::vector<DeliveryOutcome> outcomes;
  std::vector<AppendTarget> targets;
  std::vector<std::pair<std::size_t, std::size_t>> target_range(recipients.size());  // [begin, end)
  std::map<AccountId, std::size_t> first_outcome;
  std::vector<QueueId> queued_redirects;
  LazyTree tree(message.raw);      // used before the append moves message.raw
  LazyTokens tokens(message.raw);  // tokenized once, when a model first needs them
  auto undo_redirects = [&]() {
    for (QueueId id : queued_redirects) {
      (void)storage.queue().remove_queued(id).get();  // best effort; see the header
    }
  };
  for (std::size_t i = 0; i < recipients.size(); ++i) {
    const LocalRecipient& recipient = recipients[i];
    FilterReport& report = local_reports[i];
    outcomes.push_back(
        DeliveryOutcome{recipient.account, Error{ErrorCode::kInternal, "not delivered"}});
    target_range[i] = {targets.size(), targets.size()};
    if (first_outcome.contains(recipient.account)) {
      continue;
    }
    first_outcome.emplace(recipient.account, i);
    auto boxes = storage.mail().mailboxes(recipient.account).get();
    if (!boxes) {
      outcomes[i].result = boxes.error();
      continue;
    }
    bool to_junk = folder == DeliveryFolder::kJunk;
    if (!to_junk && filtering != nullptr && filtering->spam != nullptr &&
        filtering->spam->classify) {
      auto verdict =
          classify_for(storage.spam(), recipient.account, tokens, *filtering->spam, filtering->now);
      if (verdict) {
        report.spam = verdict->verdict;
        report.spam_score = verdict->score;
        to_junk = verdict->verdict == spam::Class::kSpam;
      } else {
        report.spam_error = verdict.error().message;  // fail open: the mail is not lost
      }
    }
    std::optional<Mailbox> fallback;
    if (to_junk) {
      auto junk = junk_mailbox(storage, recipient.account, *boxes);
      if (!junk) {
        outcomes[i].result = junk.error();
        continue;
      }
      fallback = Mailbox{};
      fallback->id = *junk;
      fallback->name = "Junk";
    }
    for (const auto& box : *boxes) {
      if ((!fallback && box.name == kInboxName) || (fallback && box.id == fallback->id)) {
        fallback = box;
      }
    }
    if (!fallback) {
      outcomes[i].result = Error{ErrorCode::kNotFound, "account has no INBOX"};
      continue;
    }
    Result<AccountPlan> plan = AccountPlan{
        {AppendTarget{recipient.account, fallback->id, 0, {}}}, {fallback->name}, {}, {}};
    if (filtering != nullptr) {
      plan = plan_account(storage, recipient, tree, *fallback, *boxes, *filtering, report);
    }
    if (!plan) {
      outcomes[i].result = plan.error();
      continue;
    }
    for (const auto& address : plan->redirects) {
      auto id = queue_redirect(storage, recipient, address, message.raw, *filtering);
      if (!id) {
        undo_redirects();
        return id.error();
      }
      queued_redirects.push_back(*id);
      ++report.redirects;
    }
    if (plan->vacation) {
      auto sent = queue_vacation(storage, recipient, *plan->vacation, tree.get(), *filtering);
      if (!sent) {
        undo_redirects();
        return sent.error();
      }
      report.vacation = sent->has_value();
    }
    report.mailboxes = plan->names;
    for (auto& target : plan->targets) {
      targets.push_back(std::move(target));
    }
    target_range[i] = {target_range[i].first, targets.size()};
    if (target_range[i].first == targets.size()) {
      report.discarded = report.redirects == 0;
      outcomes[i].result = Appended{};  // redirected or discarded: nothing to store
    }
  }
  if (!targets.empty()) {
    auto appended = storage.mail().append(std::move(message), targets).get();
    if (!appended) {
      undo_redirects();
      return appended.error();
    }
    for (std::size_t i = 0; i < recipients.size(); ++i) {
      auto [begin, end] = target_range[i];
      if (begin == end) {
        continue;
      }
      outcomes[i].result = (*appended)[begin];
      for (std::size_t t = begin; t < end; ++t) {
        if (!(*appended)[t]) {
          outcomes[i].result = (*appended)[t];
          break;
        }
      }
    }
  }
  for (std::size_t i = 0; i < recipients.size(); ++i) {
    auto first = first_outcome.at(recipients[i].account);
    if (first != i) {
      outcomes[i].result = outcomes[first].result;
    }
  }
  if (reports != nullptr) {
    *reports = std::move(local_reports);
  }
  return outcomes;
}

Result<std::string> forwarding_sender(Directory& directory, const Srs* srs, std::string_view sender,
                                      SystemTime now) {
  auto at = sender.rfind('@');
  if (srs == nullptr || sender.empty() || at == std::string_view::npos) {
    return std::string(sender);
  }
  TERN_TRY(auto ours, directory.find_domain(ascii::lower(sender.substr(at + 1))).get());
  if (ours) {
    return std::string(sender);  // our own domain: SPF passes for us already
  }
  return srs->forward(sender, now);
}

std::string to_crlf(std::string_view raw) {
  std::string out;
  out.reserve(raw.size() + raw.size() / 32);
  for (std::size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c == '\r') {
      out += "\r\n";
      if (i + 1 < raw.size() && raw[i + 1] == '\n') {
        ++i;
      }
    } else if (c == '\n') {
      out += "\r\n";
    } else {
      out += c;
    }
  }
  return out;
}

void log_filter_reports(const log::Logger& logger, std::string_view id,
                        const std::vector<LocalRecipient>& recipients,
                        const std::vector<FilterReport>& reports) {
  const std::string message_id(id);
  for (std::size_t r = 0; r < reports.size() && r < recipients.size(); ++r) {
    const auto& report = reports[r];
    const std::string& account = recipients[r].address;
    if (!report.error.empty()) {
      logger.warn("sieve", {{"id", message_id}, {"account", account}, {"error", report.error}});
    }
    if ((report.redirects > 0 || report.vacation || report.discarded) &&
        logger.enabled(log::Level::kInfo)) {
      logger.info("sieve", {{"id", message_id},
                            {"account", account},
                            {"redirects", std::to_string(report.redirects)},
                            {"vacation", report.vacation ? "sent" : "no"},
                            {"discarded", report.discarded ? "yes" : "no"}});
    }
    if (!report.spam_error.empty()) {
      logger.warn("spam", {{"id", message_id}, {"account", account}, {"error", report.spam_error}});
    } else if (report.spam != spam::Class::kUntrained && logger.enabled(log::Level::kInfo)) {
      char score[16];
      std::snprintf(score, sizeof score, "%.3f", report.spam_score);
      logger.info("spam", {{"id", message_id},
                           {"account", account},
                           {"verdict", std::string(spam::class_name(report.spam))},
                           {"score", score}});
    }
  }
}

}  // namespace tern::domain
