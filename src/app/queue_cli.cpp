// SPDX-License-Identifier: Apache-2.0
#include "app/queue_cli.hpp"

#include <charconv>
#include <cstdio>
#include <ctime>

#include <fmt/format.h>

#include "domain/dsn.hpp"

namespace tern::app {

const char* const kQueueUsage =
    R"(  queue list | show ID | flush | retry ID... | hold ID...|ALL | release ID...|ALL
        | delete ID...|ALL | bounce ID...
)";

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

int usage(std::string_view why) {
  fmt::print(stderr, "tern: queue: {}\nusage: tern queue{}", why,
             std::string_view(kQueueUsage).substr(7));
  return kExitUsage;
}

std::string_view state_name(domain::QueueState state) {
  switch (state) {
    case domain::QueueState::kQueued:
      return "queued";
    case domain::QueueState::kActive:
      return "active";
    case domain::QueueState::kHeld:
      return "held";
  }
  return "?";
}

std::string_view recipient_state(domain::RecipientState state) {
  switch (state) {
    case domain::RecipientState::kPending:
      return "pending";
    case domain::RecipientState::kDelivered:
      return "delivered";
    case domain::RecipientState::kFailed:
      return "failed";
  }
  return "?";
}

std::string_view body_name(domain::BodyType body) {
  switch (body) {
    case domain::BodyType::kSevenBit:
      return "7BIT";
    case domain::BodyType::kEightBitMime:
      return "8BITMIME";
    case domain::BodyType::kBinaryMime:
      return "BINARYMIME";
  }
  return "?";
}

std::string utc(SystemTime t) {
  std::time_t seconds = to_unix_seconds(t);
  std::tm tm{};
  ::gmtime_r(&seconds, &tm);
  char out[32];
  std::strftime(out, sizeof out, "%Y-%m-%d %H:%M:%S", &tm);
  return out;
}

// "3d4h", "5m", "now": how far `t` is from `now`, coarse enough to read at a glance.
std::string span(std::chrono::seconds d) {
  auto s = d.count();
  if (s <= 0) {
    return "now";
  }
  if (s < 60) {
    return fmt::format("{}s", s);
  }
  if (s < 3600) {
    return fmt::format("{}m", s / 60);
  }
  if (s < 86400) {
    return fmt::format("{}h{}m", s / 3600, (s % 3600) / 60);
  }
  return fmt::format("{}d{}h", s / 86400, (s % 86400) / 3600);
}

std::string size_text(std::uint64_t bytes) {
  if (bytes < 1024) {
    return fmt::format("{}", bytes);
  }
  if (bytes < 1024 * 1024) {
    return fmt::format("{:.1f}K", static_cast<double>(bytes) / 1024);
  }
  return fmt::format("{:.1f}M", static_cast<double>(bytes) / (1024 * 1024));
}

std::string sender_text(const std::string& sender) {
  return sender.empty() ? "<>" : sender;
}

std::optional<domain::QueueId> parse_id(std::string_view text) {
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value <= 0) {
    return std::nullopt;
  }
  return domain::QueueId{value};
}

std::string next_text(const domain::QueuedMessage& m, SystemTime now) {
  if (m.state == domain::QueueState::kHeld) {
    return "held";
  }
  if (m.state == domain::QueueState::kActive) {
    return "sending";
  }
  return span(std::chrono::duration_cast<std::chrono::seconds>(m.next_attempt - now));
}

int list(domain::Storage& storage, SystemTime now) {
  auto all = storage.queue().queued().get();
  if (!all) {
    fmt::print(stderr, "tern: queue: {}\n", all.error().message);
    return kExitFailed;
  }
  if (all->empty()) {
    fmt::print("queue is empty\n");
    return kExitOk;
  }
  fmt::print("{:<8} {:<7} {:>7} {:<19} {:>8} {:>7}  {}\n", "ID", "STATE", "SIZE", "ARRIVED (UTC)",
             "ATTEMPTS", "NEXT", "SENDER");
  std::uint64_t bytes = 0;
  std::size_t pending = 0;
  for (const auto& m : *all) {
    bytes += m.size;
    fmt::print("{:<8} {:<7} {:>7} {:<19} {:>8} {:>7}  {}\n", domain::value_of(m.id),
               state_name(m.state), size_text(m.size), utc(m.created), m.attempts,
               next_text(m, now), sender_text(m.sender));
    for (const auto& r : m.recipients) {
      if (r.state != domain::RecipientState::kPending) {
        continue;
      }
      ++pending;
      if (r.last_reply.empty()) {
        fmt::print("    {}\n", r.address);
      } else {
        fmt::print("    {}  ({})\n", r.address, r.last_reply);
      }
    }
  }
  fmt::print("-- {} message{}, {} bytes, {} recipient{} pending\n", all->size(),
             all->size() == 1 ? "" : "s", bytes, pending, pending == 1 ? "" : "s");
  return kExitOk;
}

int show(domain::Storage& storage, domain::QueueId id, SystemTime now) {
  auto found = storage.queue().find_queued(id).get();
  if (!found) {
    fmt::print(stderr, "tern: queue: {}\n", found.error().message);
    return kExitFailed;
  }
  if (!*found) {
    fmt::print(stderr, "tern: queue: no entry {}\n", domain::value_of(id));
    return kExitFailed;
  }
  const auto& m = **found;
  fmt::print("id:           {}\n", domain::value_of(m.id));
  fmt::print("state:        {}\n", state_name(m.state));
  fmt::print("sender:       {}\n", sender_text(m.sender));
  fmt::print("submitter:    {}\n", m.envelope.submitter.empty() ? "-" : m.envelope.submitter);
  fmt::print("size:         {} bytes\n", m.size);
  fmt::print("arrived:      {} UTC\n", utc(m.created));
  fmt::print("attempts:     {}\n", m.attempts);
  fmt::print("next attempt: {} UTC ({})\n", utc(m.next_attempt), next_text(m, now));
  if (m.state == domain::QueueState::kActive) {
    fmt::print("lease until:  {} UTC\n", utc(m.lease_until));
  }
  fmt::print("envelope:     BODY={}{}{}{}{}\n", body_name(m.envelope.body),
             m.envelope.smtputf8 ? " SMTPUTF8" : "", m.envelope.requiretls ? " REQUIRETLS" : "",
             m.ret.empty() ? "" : " RET=" + m.ret, m.envid.empty() ? "" : " ENVID=" + m.envid);
  fmt::print("delay warned: {}\n", m.delay_warned ? "yes" : "no");
  fmt::print("recipients:\n");
  for (const auto& r : m.recipients) {
    fmt::print("  {:<9} {}\n", recipient_state(r.state), r.address);
    if (!r.notify.empty() || !r.orcpt.empty()) {
      fmt::print("            NOTIFY={} ORCPT={}\n", r.notify.empty() ? "-" : r.notify,
                 r.orcpt.empty() ? "-" : r.orcpt);
    }
    if (!r.last_reply.empty()) {
      fmt::print("            {}{}\n", r.remote_host.empty() ? "" : r.remote_host + ": ",
                 r.last_reply);
    }
  }
  auto raw = storage.queue().read_queued(id).get();
  if (raw) {
    auto end = raw->find("\r\n\r\n");
    fmt::print("header:\n{}\n", raw->substr(0, end == std::string::npos ? raw->size() : end + 2));
  }
  return kExitOk;
}

// A failure DSN for the pending recipients (when one is owed), then removal.
Result<bool> bounce(domain::Storage& storage, const config::Settings& settings, domain::QueueId id,
                    SystemTime now) {
  auto found = storage.queue().find_queued(id).get();
  TERN_TRY(auto entry, std::move(found));
  if (!entry) {
    return fail(ErrorCode::kNotFound, fmt::format("no entry {}", domain::value_of(id)));
  }
  if (entry->state == domain::QueueState::kActive && entry->lease_until > now) {
    return fail(ErrorCode::kConflict,
                fmt::format("entry {} is being delivered; hold it first or try again",
                            domain::value_of(id)));
  }
  TERN_TRY(auto raw, storage.queue().read_queued(id).get());
  auto policy = retry_policy(settings.queue);
  auto outcomes =
      domain::fail_all_pending(*entry, "5.0.0", "5.0.0 returned to sender by the administrator");
  auto run = domain::apply_outcomes(*entry, outcomes, now, policy);
  domain::QueuedMessage after = *entry;
  after.recipients = run.update.recipients;
  domain::DsnContext context{settings.server.hostname, now, entry->created + policy.lifetime};
  auto notice = domain::compose_dsn(after, raw, domain::DsnKind::kFailure, run.failed, context);
  bool sent = false;
  if (notice) {
    TERN_TRY_VOID(storage.queue().enqueue(std::move(*notice)).get());
    sent = true;
  }
  TERN_TRY_VOID(storage.queue().remove_queued(id).get());
  return sent;
}

// IDs from the command line, or every entry for "ALL" where allowed.
Result<std::vector<domain::QueueId>> ids_of(const std::vector<std::string>& words,
                                            domain::Storage& storage, bool allow_all) {
  std::vector<domain::QueueId> ids;
  if (allow_all && words.size() == 2 && words[1] == "ALL") {
    TERN_TRY(auto all, storage.queue().queued().get());
    for (const auto& m : all) {
      ids.push_back(m.id);
    }
    return ids;
  }
  for (std::size_t i = 1; i < words.size(); ++i) {
    auto id = parse_id(words[i]);
    if (!id) {
      return fail(ErrorCode::kInvalidInput, fmt::format("bad queue ID \"{}\"", words[i]));
    }
    ids.push_back(*id);
  }
  if (ids.empty()) {
    return fail(ErrorCode::kInvalidInput, "needs at least one queue ID");
  }
  return ids;
}

}  // namespace

domain::RetryPolicy retry_policy(const config::QueueSettings& queue) {
  domain::RetryPolicy p;
  p.min_backoff = queue.min_backoff;
  p.max_backoff = queue.max_backoff;
  p.schedule = queue.retry_schedule;
  p.lifetime = queue.lifetime;
  p.delay_warning = queue.delay_warning;
  p.hop_limit = queue.hop_limit;
  return p;
}

int queue_command(const std::vector<std::string>& words, const config::Settings& settings,
                  domain::Storage& storage, const Clock& clock) {
  if (words.empty()) {
    return usage("missing subcommand");
  }
  const std::string& verb = words[0];
  const SystemTime now = clock.now();
  if (verb == "list") {
    return words.size() == 1 ? list(storage, now) : usage("list takes no arguments");
  }
  if (verb == "show") {
    auto id = words.size() == 2 ? parse_id(words[1]) : std::nullopt;
    return id ? show(storage, *id, now) : usage("show ID");
  }
  if (verb == "flush") {
    if (words.size() != 1) {
      return usage("flush takes no arguments");
    }
    auto all = storage.queue().queued().get();
    if (!all) {
      fmt::print(stderr, "tern: queue: {}\n", all.error().message);
      return kExitFailed;
    }
    std::size_t count = 0;
    for (const auto& m : *all) {
      if (m.state == domain::QueueState::kQueued && storage.queue().reschedule(m.id, now).get()) {
        ++count;
      }
    }
    fmt::print("{} entr{} due now\n", count, count == 1 ? "y" : "ies");
    return kExitOk;
  }
  const bool all_allowed = verb == "hold" || verb == "release" || verb == "delete";
  if (!all_allowed && verb != "retry" && verb != "bounce") {
    return usage("unknown subcommand " + verb);
  }
  auto ids = ids_of(words, storage, all_allowed);
  if (!ids) {
    return usage(ids.error().message);
  }
  int status = kExitOk;
  for (auto id : *ids) {
    const auto n = domain::value_of(id);
    Result<void> done = ok();
    std::string what;
    if (verb == "retry") {
      done = storage.queue().reschedule(id, now).get();
      what = "due now";
    } else if (verb == "hold") {
      done = storage.queue().set_held(id, true, now).get();
      what = "held";
    } else if (verb == "release") {
      done = storage.queue().set_held(id, false, now).get();
      what = "released";
    } else if (verb == "delete") {
      done = storage.queue().remove_queued(id).get();
      what = "deleted";
    } else {
      auto sent = bounce(storage, settings, id, now);
      if (sent) {
        what = *sent ? "bounced, notice queued" : "bounced, no notice owed";
      } else {
        done = sent.error();
      }
    }
    if (done) {
      fmt::print("{}: {}\n", n, what);
    } else {
      fmt::print(stderr, "tern: queue: {}: {}\n", n, done.error().message);
      status = kExitFailed;
    }
  }
  return status;
}

}  // namespace tern::app
