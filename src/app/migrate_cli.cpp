// SPDX-License-Identifier: Apache-2.0
#include "app/migrate_cli.hpp"

#include <algorithm>
#include <limits>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "app/settings_file.hpp"
#include "app/storage_factory.hpp"
#include "domain/ids.hpp"
#include "domain/reports/ingest.hpp"
#include "domain/reports/report_posts.hpp"
#include "mime/facts/facts.hpp"
#include "runtime/system_clock.hpp"

namespace tern::app {

namespace {

using domain::sha256_hex;

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

constexpr std::string_view kMigrateUsage =
    "usage: tern migrate --from SOURCE --to TARGET [--no-verify]\n"
    "       SOURCE, TARGET: a config file (its [store]) or a postgresql:// URL\n";

std::int64_t ticks(SystemTime t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// All entries of a mailbox, ascending by UID.
Result<std::vector<domain::Entry>> all_entries(domain::Storage& storage, domain::AccountId account,
                                               domain::MailboxId mailbox) {
  return storage.mail()
      .entries(account, mailbox, domain::Uid{1},
               domain::Uid{std::numeric_limits<std::uint32_t>::max()})
      .get();
}

// kActive is a worker's lease, which a copy does not carry (the import makes it
// kQueued), so the listing does not tell them apart.
int listed_state(domain::QueueState state) {
  return state == domain::QueueState::kHeld ? 2 : 0;
}

Result<domain::StoreImport*> need_import(ImportableStorage& target) {
  if (target.import == nullptr) {
    return fail(ErrorCode::kPermanent, "the target backend cannot import");
  }
  return target.import;
}

// Every pending HTTPS post of a TLS report, due or not.
Result<std::vector<domain::ReportPost>> all_report_posts(domain::Storage& storage) {
  return domain::reports::pending_report_posts(storage.reports(), runtime::SystemClock().now());
}

// Every received report, oldest first (the order they are stored in again).
Result<std::vector<domain::ReceivedReport>> all_received_reports(domain::Storage& storage) {
  domain::ReceivedReportQuery query;
  query.limit = std::numeric_limits<std::int64_t>::max();
  TERN_TRY(auto reports, storage.reports().received_reports(query).get());
  std::reverse(reports.begin(), reports.end());
  return reports;
}

// The report cursors worth copying, by name: the generator's "reports" (so the
// copy does not send a period again) and each account INBOX's ingest cursor
// (the import keeps the UIDVALIDITY, so the name still fits). Not "reports.lease": a run's turn
// belongs to the source's nodes.
Result<std::vector<std::pair<std::string, SystemTime>>> report_cursors(domain::Storage& storage) {
  std::vector<std::string> names = {"reports"};
  TERN_TRY(auto accounts, storage.directory().accounts(std::nullopt).get());
  for (const auto& account : accounts) {
    TERN_TRY(auto mailboxes, storage.mail().mailboxes(account.id).get());
    for (const auto& m : mailboxes) {
      if (m.name == "INBOX") {
        names.push_back(domain::reports::ingest_cursor_name(account.address, m.uid_validity));
      }
    }
  }
  std::vector<std::pair<std::string, SystemTime>> out;
  for (auto& name : names) {
    TERN_TRY(auto value, storage.reports().report_cursor(name).get());
    if (value) {
      out.emplace_back(std::move(name), *value);
    }
  }
  return out;
}

// Copies the report data: pending posts, received reports and cursors through
// ReportStore's own methods (they store them as given), and the recorded rows
// through StoreImport.
Result<void> copy_reports(domain::Storage& from, domain::Storage& to, domain::StoreImport& import) {
  TERN_TRY(auto posts, all_report_posts(from));
  for (auto& post : posts) {
    TERN_TRY_VOID(to.reports().put_report_post(std::move(post)).get());
  }
  TERN_TRY(auto received, all_received_reports(from));
  for (auto& report : received) {
    TERN_TRY_VOID(to.reports().store_received_report(std::move(report)).get());
  }
  TERN_TRY(auto cursors, report_cursors(from));
  for (auto& [name, value] : cursors) {
    TERN_TRY_VOID(to.reports().set_report_cursor(name, value).get());
  }
  // The evaluations and TLS results not reported yet, raw: the ReportStore port
  // reads them only summed per period.
  auto* exporter = dynamic_cast<domain::StoreImport*>(&from);
  if (exporter == nullptr) {
    return fail(ErrorCode::kPermanent, "the source backend cannot export its report rows");
  }
  TERN_TRY(auto rows, exporter->export_report_rows().get());
  return import.import_report_rows(std::move(rows)).get();
}

struct Endpoint {
  config::StoreSettings store;
  std::string name;  // for messages: the config path, or "postgres" for a URL
};

Result<Endpoint> endpoint(const std::string& text) {
  if (text.starts_with("postgresql://") || text.starts_with("postgres://")) {
    Endpoint e;
    e.store.backend = config::StoreBackend::kPostgres;
    e.store.url = text;
    e.name = "postgres";
    return e;
  }
  TERN_TRY(auto settings, load_settings(text));
  if (settings.store.backend == config::StoreBackend::kMemory) {
    return fail(ErrorCode::kInvalidInput, text + ": [store] backend \"memory\" holds nothing");
  }
  return Endpoint{settings.store, text};
}

// Copies one account's mailboxes, messages and change log.
Result<void> copy_account(domain::Storage& from, domain::StoreImport& import,
                          const domain::Account& source, const domain::Account& target) {
  TERN_TRY(auto mailboxes, from.mail().mailboxes(source.id).get());
  std::map<domain::MailboxId, domain::MailboxId> ids;  // source -> target
  std::uint64_t modseq = 0;
  for (const auto& mailbox : mailboxes) {
    TERN_TRY(auto made, import.import_mailbox(target.id, mailbox).get());
    ids[mailbox.id] = made.id;
    modseq = std::max(modseq, domain::value_of(mailbox.highest_modseq));
  }
  // A message is stored once per account however many mailboxes hold it.
  std::map<domain::MessageId, std::vector<domain::ImportEntry>> messages;
  std::map<domain::MessageId, SystemTime> internal_dates;
  for (const auto& mailbox : mailboxes) {
    TERN_TRY(auto entries, all_entries(from, source.id, mailbox.id));
    for (auto& e : entries) {
      messages[e.message].push_back(
          {ids[mailbox.id], e.uid, e.modseq, e.flags, std::move(e.keywords), e.save_date});
      internal_dates[e.message] = e.internal_date;
    }
  }
  for (auto& [message, entries] : messages) {
    TERN_TRY(auto raw, from.mail().read_message(source.id, message).get());
    // Facts are recomputed from the bytes: the source may return them without
    // the search fields it keeps apart (ports.hpp message_facts()).
    std::string facts = mime::facts::encode_facts(mime::facts::compute_facts(raw));
    TERN_TRY_VOID(import
                      .import_message(target.id,
                                      {std::move(raw), internal_dates[message], std::move(facts)},
                                      std::move(entries))
                      .get());
  }
  TERN_TRY(auto changes, from.mail().account_changes_since(source.id, domain::ModSeq{0}).get());
  std::vector<domain::AccountChange> kept;
  for (auto change : changes) {
    modseq = std::max(modseq, domain::value_of(change.modseq));
    auto it = ids.find(change.mailbox);
    if (it != ids.end()) {
      change.mailbox = it->second;
      kept.push_back(change);
    }
  }
  return import.import_changes(target.id, std::move(kept), domain::ModSeq{modseq}).get();
}

// Copies one account's Sieve scripts through the Directory port, which stores
// them as given, and activates the one that was active.
Result<void> copy_sieve_scripts(domain::Storage& from, domain::Storage& to,
                                const domain::Account& source, const domain::Account& target) {
  TERN_TRY(auto scripts, from.directory().sieve_scripts(source.id).get());
  for (auto& script : scripts) {
    TERN_TRY_VOID(to.directory().put_sieve_script(target.id, script.name, script.text).get());
    if (script.active) {
      TERN_TRY_VOID(to.directory().activate_sieve_script(target.id, script.name).get());
    }
  }
  return ok();
}

// Copies the spam filter's models raw through StoreImport (the SpamStore port
// reads only the counts of tokens it is asked for): the site-wide model as it
// is, each account's to the target account of the same address (`accounts`:
// source id -> target id).
Result<void> copy_spam_models(domain::Storage& from, domain::StoreImport& import,
                              const std::map<domain::AccountId, domain::AccountId>& accounts) {
  auto* exporter = dynamic_cast<domain::StoreImport*>(&from);
  if (exporter == nullptr) {
    return fail(ErrorCode::kPermanent, "the source backend cannot export its spam models");
  }
  TERN_TRY(auto models, exporter->export_spam_models().get());
  for (auto& model : models) {
    if (!model.account) {
      continue;
    }
    auto it = accounts.find(*model.account);
    if (it == accounts.end()) {
      return fail(ErrorCode::kInternal, fmt::format("a spam model of unknown account id {}",
                                                    domain::value_of(*model.account)));
    }
    model.account = it->second;
  }
  return import.import_spam_models(std::move(models)).get();
}

Result<void> copy_store(domain::Storage& from, domain::Storage& to, domain::StoreImport& import) {
  TERN_TRY(auto domains, from.directory().domains().get());
  for (const auto& d : domains) {
    TERN_TRY_VOID(to.directory().add_domain(d.name).get());
  }
  TERN_TRY(auto accounts, from.directory().accounts(std::nullopt).get());
  std::map<domain::AccountId, domain::AccountId> account_ids;  // source -> target, by address
  for (const auto& account : accounts) {
    TERN_TRY(auto made, to.directory()
                            .add_account({account.address, account.password_hash,
                                          account.quota_bytes, account.scram_sha256})
                            .get());
    account_ids[account.id] = made.id;
    if (auto copied = copy_account(from, import, account, made); !copied) {
      return copied.error().with_context("account " + account.address);
    }
    if (auto copied = copy_sieve_scripts(from, to, account, made); !copied) {
      return copied.error().with_context("account " + account.address);
    }
  }
  TERN_TRY(auto aliases, from.directory().aliases(std::nullopt).get());
  for (auto& alias : aliases) {
    TERN_TRY_VOID(to.directory().add_alias(alias).get());
  }
  TERN_TRY(auto queue, from.queue().queued().get());
  for (auto& entry : queue) {
    TERN_TRY(auto raw, from.queue().read_queued(entry.id).get());
    TERN_TRY_VOID(import.import_queued(entry, std::move(raw)).get());
  }
  if (auto copied = copy_spam_models(from, import, account_ids); !copied) {
    return copied.error().with_context("spam models");
  }
  return copy_reports(from, to, import);
}

void print_counts(std::string_view what, const StoreCounts& c) {
  fmt::print(
      "{}: {} domains, {} accounts, {} aliases, {} mailboxes, {} messages, {} entries, "
      "{} vanished, {} queued, {} report posts, {} received reports, {} report rows, "
      "{} sieve scripts, {} spam models, {} spam tokens, {} spam learned\n",
      what, c.domains, c.accounts, c.aliases, c.mailboxes, c.messages, c.entries, c.vanished,
      c.queue, c.report_posts, c.received_reports, c.report_rows, c.sieve_scripts, c.spam_models,
      c.spam_tokens, c.spam_learned);
}

int failed(const Error& error) {
  fmt::print(stderr, "tern: {}\n", error.message);
  return kExitFailed;
}

}  // namespace

Result<StoreListing> store_listing(domain::Storage& storage) {
  StoreListing out;
  auto& lines = out.lines;
  TERN_TRY(auto domains, storage.directory().domains().get());
  for (const auto& d : domains) {
    lines.push_back("domain " + d.name);
  }
  out.counts.domains = domains.size();
  TERN_TRY(auto accounts, storage.directory().accounts(std::nullopt).get());
  out.counts.accounts = accounts.size();
  for (const auto& a : accounts) {
    lines.push_back(fmt::format("account {} quota={} used={} secrets={}", a.address, a.quota_bytes,
                                a.used_bytes,
                                sha256_hex(a.password_hash + "\n" + a.scram_sha256).substr(0, 16)));
    TERN_TRY(auto mailboxes, storage.mail().mailboxes(a.id).get());
    out.counts.mailboxes += mailboxes.size();
    std::map<domain::MessageId, bool> messages;
    for (const auto& m : mailboxes) {
      lines.push_back(fmt::format(
          "mailbox {} {} special={} uidvalidity={} uidnext={} highestmodseq={} subscribed={} "
          "keywords={}",
          a.address, m.name, static_cast<int>(m.special_use), domain::value_of(m.uid_validity),
          domain::value_of(m.uid_next), domain::value_of(m.highest_modseq), m.subscribed ? 1 : 0,
          fmt::join(m.keywords, ",")));
      TERN_TRY(auto entries, all_entries(storage, a.id, m.id));
      out.counts.entries += entries.size();
      for (const auto& e : entries) {
        TERN_TRY(auto raw, storage.mail().read_message(a.id, e.message).get());
        messages[e.message] = true;
        lines.push_back(fmt::format(
            "entry {} {} uid={} modseq={} flags={} keywords={} internal={} saved={} size={} "
            "sha256={}",
            a.address, m.name, domain::value_of(e.uid), domain::value_of(e.modseq), e.flags,
            fmt::join(e.keywords, ","), ticks(e.internal_date), ticks(e.save_date), e.size,
            sha256_hex(raw)));
      }
      TERN_TRY(auto changes, storage.mail().changes_since(a.id, m.id, domain::ModSeq{0}).get());
      for (auto uid : changes.vanished) {
        lines.push_back(
            fmt::format("vanished {} {} uid={}", a.address, m.name, domain::value_of(uid)));
      }
      out.counts.vanished += changes.vanished.size();
    }
    out.counts.messages += messages.size();
    TERN_TRY(auto scripts, storage.directory().sieve_scripts(a.id).get());
    out.counts.sieve_scripts += scripts.size();
    for (const auto& script : scripts) {
      lines.push_back(fmt::format("sieve-script {} {} active={} sha256={}", a.address, script.name,
                                  script.active ? 1 : 0, sha256_hex(script.text)));
    }
  }
  TERN_TRY(auto aliases, storage.directory().aliases(std::nullopt).get());
  out.counts.aliases = aliases.size();
  for (const auto& alias : aliases) {
    lines.push_back(fmt::format("alias {} {}", alias.source, alias.destination));
  }
  TERN_TRY(auto queue, storage.queue().queued().get());
  out.counts.queue = queue.size();
  std::size_t position = 0;
  for (const auto& q : queue) {
    TERN_TRY(auto raw, storage.queue().read_queued(q.id).get());
    std::vector<std::string> recipients;
    for (const auto& r : q.recipients) {
      recipients.push_back(fmt::format("{}:{}:{}:{}:{}:{}", r.address, static_cast<int>(r.state),
                                       r.notify, r.orcpt, r.status,
                                       sha256_hex(r.last_reply).substr(0, 8)));
    }
    lines.push_back(fmt::format(
        "queue {} sender={} rcpt={} envid={} ret={} created={} next={} attempts={} state={} "
        "warned={} smtputf8={} body={} requiretls={} submitter={} size={} sha256={}",
        position++, q.sender, fmt::join(recipients, ","), q.envid, q.ret, ticks(q.created),
        ticks(q.next_attempt), q.attempts, listed_state(q.state), q.delay_warned ? 1 : 0,
        q.envelope.smtputf8 ? 1 : 0, static_cast<int>(q.envelope.body),
        q.envelope.requiretls ? 1 : 0, q.envelope.submitter, q.size, sha256_hex(raw)));
  }
  TERN_TRY(auto posts, all_report_posts(storage));
  out.counts.report_posts = posts.size();
  for (const auto& p : posts) {
    lines.push_back(fmt::format(
        "report-post {} {} domain={} queued={} next={} attempts={} error={} sha256={}", p.uri,
        p.report_id, p.policy_domain, to_unix_seconds(p.queued), to_unix_seconds(p.next_attempt),
        p.attempts, sha256_hex(p.last_error).substr(0, 8), sha256_hex(p.document)));
  }
  TERN_TRY(auto received, all_received_reports(storage));
  out.counts.received_reports = received.size();
  for (const auto& r : received) {
    lines.push_back(fmt::format(
        "received-report {} {} {} domain={} policy={} contact={} begin={} end={} received={} "
        "messages={} passed={} rows={}",
        static_cast<int>(r.kind), r.org_name, r.report_id, r.policy_domain, r.policy, r.contact,
        to_unix_seconds(r.begin), to_unix_seconds(r.end), to_unix_seconds(r.received), r.messages,
        r.passed, sha256_hex(domain::encode_received_rows(r.rows))));
  }
  TERN_TRY(auto cursors, report_cursors(storage));
  for (const auto& [name, value] : cursors) {
    lines.push_back(fmt::format("report-cursor {} {}", name, to_unix_seconds(value)));
  }
  if (auto* exporter = dynamic_cast<domain::StoreImport*>(&storage)) {
    TERN_TRY(auto rows, exporter->export_report_rows().get());
    out.counts.report_rows = rows.dmarc.size() + rows.tls.size();
    for (const auto& r : rows.dmarc) {
      lines.push_back(fmt::format("report-dmarc {} {} count={} row={}", r.domain, r.hour, r.count,
                                  sha256_hex(r.row)));
    }
    for (const auto& p : rows.dmarc_policies) {
      lines.push_back(fmt::format("report-dmarc-policy {} {} policy={}", p.domain, p.hour,
                                  sha256_hex(p.policy)));
    }
    for (const auto& t : rows.tls) {
      lines.push_back(fmt::format("report-tls {} {} count={} policy={} detail={}", t.domain, t.hour,
                                  t.count, sha256_hex(t.policy), sha256_hex(t.detail)));
    }
  }
  if (auto* exporter = dynamic_cast<domain::StoreImport*>(&storage)) {
    TERN_TRY(auto models, exporter->export_spam_models().get());
    std::map<domain::AccountId, std::string> addresses;
    for (const auto& a : accounts) {
      addresses[a.id] = a.address;
    }
    // By model name ("site" first, then addresses), not by id: ids differ between
    // stores. The tokens and learned keys (each sorted as the port gives them)
    // are listed by their SHA-256 only: a model may hold ~100k tokens.
    std::vector<std::pair<std::string, std::string>> listed;  // (sort key, line)
    for (const auto& m : models) {
      std::string name = "site";
      if (m.account) {
        auto it = addresses.find(*m.account);
        name = it != addresses.end() ? it->second
                                     : fmt::format("account-id-{}", domain::value_of(*m.account));
      }
      std::string tokens;
      for (const auto& t : m.tokens) {
        tokens += fmt::format("{}:{}:{}\n", t.token, t.spam, t.ham);
      }
      std::string learned;
      for (const auto& l : m.learned) {
        learned += fmt::format("{}:{}\n", static_cast<int>(l.label), l.message_key);
      }
      out.counts.spam_tokens += m.tokens.size();
      out.counts.spam_learned += m.learned.size();
      listed.emplace_back(
          (m.account ? "1 " : "0 ") + name,
          fmt::format("spam-model {} spam={} ham={} tokens={} tokens_sha256={} learned={} "
                      "learned_sha256={}",
                      name, m.spam_messages, m.ham_messages, m.tokens.size(), sha256_hex(tokens),
                      m.learned.size(), sha256_hex(learned)));
    }
    std::sort(listed.begin(), listed.end());
    out.counts.spam_models = listed.size();
    for (auto& [key, line] : listed) {
      lines.push_back(std::move(line));
    }
  }
  std::string joined;
  for (const auto& line : lines) {
    joined += line;
    joined += '\n';
  }
  out.checksum = sha256_hex(joined);
  return out;
}

int migrate_command(const std::vector<std::string>& args) {
  std::string from_text, to_text;
  bool verify = true;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--from" && i + 1 < args.size()) {
      from_text = args[++i];
    } else if (args[i] == "--to" && i + 1 < args.size()) {
      to_text = args[++i];
    } else if (args[i] == "--no-verify") {
      verify = false;
    } else {
      fmt::print(stderr, "tern: migrate: unexpected argument \"{}\"\n{}", args[i], kMigrateUsage);
      return kExitUsage;
    }
  }
  if (from_text.empty() || to_text.empty()) {
    fmt::print(stderr, "tern: migrate: --from and --to are required\n{}", kMigrateUsage);
    return kExitUsage;
  }
  auto from = endpoint(from_text);
  auto to = endpoint(to_text);
  if (!from || !to) {
    fmt::print(stderr, "tern: {}\n", (!from ? from : to).error().message);
    return kExitUsage;
  }
  if (from->store == to->store) {
    fmt::print(stderr, "tern: migrate: --from and --to name the same store\n");
    return kExitUsage;
  }
  auto source = open_storage(from->store);
  if (!source) {
    return failed(source.error().with_context(from->name));
  }
  auto target = open_importable_storage(to->store);
  if (!target) {
    return failed(target.error().with_context(to->name));
  }
  auto import = need_import(*target);
  if (!import) {
    return failed(import.error());
  }
  // The target must be empty: an import never merges (UIDs and modseqs would clash).
  auto existing = target->storage->directory().domains().get();
  if (!existing) {
    return failed(existing.error());
  }
  auto target_accounts = target->storage->directory().accounts(std::nullopt).get();
  if (!target_accounts) {
    return failed(target_accounts.error());
  }
  if (!existing->empty() || !target_accounts->empty()) {
    fmt::print(stderr, "tern: migrate: the target store {} is not empty\n", to->name);
    return kExitFailed;
  }
  if (auto copied = copy_store(**source, *target->storage, **import); !copied) {
    return failed(copied.error().with_context("migrate"));
  }
  if (!verify) {
    fmt::print("copied (not verified)\n");
    return kExitOk;
  }
  auto before = store_listing(**source);
  auto after = store_listing(*target->storage);
  if (!before || !after) {
    return failed((!before ? before : after).error().with_context("verify"));
  }
  print_counts("source", before->counts);
  print_counts("target", after->counts);
  if (before->checksum != after->checksum) {
    auto [a, b] = std::mismatch(before->lines.begin(), before->lines.end(), after->lines.begin(),
                                after->lines.end());
    fmt::print(stderr, "tern: migrate: verification FAILED\n  source: {}\n  target: {}\n",
               a != before->lines.end() ? *a : "(end)", b != after->lines.end() ? *b : "(end)");
    return kExitFailed;
  }
  fmt::print("verified: checksum {} on both\n", before->checksum);
  return kExitOk;
}

int store_command(const std::vector<std::string>& args, const std::string& config_path) {
  if (args.empty() || args[0] != "checksum" || args.size() > 2 ||
      (args.size() == 2 && args[1] != "--list")) {
    fmt::print(stderr, "tern: usage: tern store checksum [--list]\n");
    return kExitUsage;
  }
  auto from = endpoint(config_path);
  if (!from) {
    fmt::print(stderr, "tern: {}\n", from.error().message);
    return kExitUsage;
  }
  auto storage = open_storage(from->store);
  if (!storage) {
    return failed(storage.error());
  }
  auto listing = store_listing(**storage);
  if (!listing) {
    return failed(listing.error());
  }
  if (args.size() == 2) {
    for (const auto& line : listing->lines) {
      fmt::print("{}\n", line);
    }
  }
  print_counts("store", listing->counts);
  fmt::print("checksum {}\n", listing->checksum);
  return kExitOk;
}

}  // namespace tern::app
