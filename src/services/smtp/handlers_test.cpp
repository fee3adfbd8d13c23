// SPDX-License-Identifier: Apache-2.0
// The handlers over store::memory, and the in-process transcript runner over
// tests/transcripts/{smtp,lmtp}/*.txt (engine + handlers + AuthExchange).
#include "services/smtp/handlers.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <variant>

#include <gtest/gtest.h>

#include "dns/fake_resolver.hpp"
#include "domain/accounts.hpp"
#include "domain/authenticator.hpp"
#include "mailauth/arc.hpp"
#include "mailauth/dkim_verifier.hpp"
#include "mailauth/inbound.hpp"
#include "mailauth/testing.hpp"
#include "mime/facts/facts.hpp"
#include "sasl/base64.hpp"
#include "services/smtp/auth.hpp"
#include "services/smtp/rate_limiter.hpp"
#include "services/smtp/transcript.hpp"
#include "store/memory/memory_storage.hpp"

namespace tern::services::smtp {
namespace {

using tern::smtp::Reply;

class FixedClock final : public Clock {
 public:
  SystemTime now() const override { return from_unix_seconds(1'800'000'000); }

  Instant monotonic() const override { return Instant(std::chrono::hours(1)); }
};

class CountingRandom final : public Random {
 public:
  void fill(std::span<std::uint8_t> out) override {
    for (auto& b : out) {
      b = static_cast<std::uint8_t>(++state_ * 131);
    }
  }

 private:
  std::uint32_t state_ = 0;
};

constexpr std::string_view kHostname = "mail.example.test";

domain::AuthParams cheap_auth_params() {
  domain::AuthParams params;
  params.argon2.memory_kib = 64;
  params.argon2.iterations = 1;
  return params;
}

// A storage with domains, accounts and aliases as a transcript declares them.
struct World {
  store::memory::MemoryStorage storage;
  FixedClock clock;
  std::shared_ptr<const domain::Srs> srs;             // set by SRS tests before a session starts
  std::shared_ptr<const mailauth::DkimKeyring> dkim;  // set by signing tests likewise
  std::string authserv_id;                            // likewise
  // MX inbound verification: set, every MX message is checked against this zone
  // from client_ip before on_message (as Service::Session::verify does).
  dns::FakeResolver* resolver = nullptr;
  std::string client_ip = "127.0.0.1";
  DmarcRejectAction dmarc_reject = DmarcRejectAction::kReject;
  std::shared_ptr<const mailauth::DkimKeyring> arc_keys;
  CountingRandom random;
  domain::AuthThrottle throttle;

  void add_domain(const std::string& name) {
    ASSERT_TRUE(storage.directory().add_domain(name).get().has_value());
  }

  void add_user(const std::string& address, const std::string& password, std::uint64_t quota) {
    auto creds = domain::make_credentials(password, cheap_auth_params(), random);
    ASSERT_TRUE(creds.has_value()) << creds.error().message;
    auto account = domain::provision_account(
        storage, domain::NewAccount{address, creds->password_hash, quota, creds->scram_sha256});
    ASSERT_TRUE(account.has_value()) << account.error().message;
  }

  void add_alias(const std::string& source, const std::string& destination) {
    ASSERT_TRUE(
        storage.directory().add_alias(domain::Alias{source, destination}).get().has_value());
  }

  std::uint64_t inbox_count(const std::string& address) { return mailbox_count(address, "INBOX"); }

  std::uint64_t mailbox_count(const std::string& address, const std::string& name) {
    auto account = storage.directory().find_account(address).get();
    if (!account || !*account) {
      return 0;
    }
    auto boxes = storage.mail().mailboxes((*account)->id).get();
    for (const auto& box : *boxes) {
      if (box.name == name) {
        return storage.mail()
            .entries((*account)->id, box.id, domain::Uid{1}, domain::Uid{1000000})
            .get()
            ->size();
      }
    }
    return 0;
  }

  std::string inbox_message(const std::string& address, std::size_t index,
                            const std::string& mailbox = "INBOX") {
    auto account = *storage.directory().find_account(address).get();
    auto boxes = *storage.mail().mailboxes(account->id).get();
    for (const auto& box : boxes) {
      if (box.name == mailbox) {
        auto entries = *storage.mail()
                            .entries(account->id, box.id, domain::Uid{1}, domain::Uid{1000000})
                            .get();
        return *storage.mail().read_message(account->id, entries.at(index).message).get();
      }
    }
    return "";
  }
};

Policy policy_of(const World& w, Role r) {
  Policy p;
  p.role = r;
  p.hostname = std::string(kHostname);
  p.srs = w.srs;
  p.dkim = w.dkim;
  p.authserv_id = w.authserv_id;
  p.dmarc_reject = w.dmarc_reject;
  p.arc_keys = w.arc_keys;
  return p;
}

// Drives engine + handlers + auth like Service::Session, without sockets.
struct InProcessSession {
  InProcessSession(World& w, Role r, tern::smtp::Limits limits, bool starttls)
      : world(w),
        handlers(policy_of(w, r), w.storage, w.clock, log::Logger()),
        auth(w.storage.directory(), w.throttle, cheap_auth_params(), w.random, w.clock, "mock"),
        engine(engine_options(r, limits, starttls)),
        role(r) {}

  static tern::smtp::Options engine_options(Role role, tern::smtp::Limits limits, bool starttls) {
    tern::smtp::Options o;
    o.mode = role == Role::kLmtp ? tern::smtp::Mode::kLmtp : tern::smtp::Mode::kSmtp;
    o.hostname = std::string(kHostname);
    o.starttls = starttls;
    o.limits = limits;
    o.require_auth = role == Role::kSubmission;
    o.requiretls = true;
    if (role == Role::kSubmission) {
      // As the service does for a loopback client with the default policy.
      o.auth_mechanisms = {"SCRAM-SHA-256", "PLAIN", "LOGIN"};
      o.auth_requires_tls = false;
    }
    return o;
  }

  // Runs until the engine needs input, awaits a handshake, or closes.
  void run() {
    while (!awaiting_tls && !closed) {
      auto event = engine.next();
      output += engine.output();
      engine.consume_output(engine.output().size());
      if (std::holds_alternative<tern::smtp::NeedInput>(event)) {
        return;
      }
      if (std::holds_alternative<tern::smtp::Close>(event)) {
        closed = true;
      } else if (auto* mail = std::get_if<tern::smtp::MailFrom>(&event)) {
        engine.answer(handlers.on_mail(*mail));
      } else if (auto* rcpt = std::get_if<tern::smtp::RcptTo>(&event)) {
        engine.answer(handlers.on_rcpt(*rcpt));
      } else if (auto* message = std::get_if<tern::smtp::Message>(&event)) {
        Peer peer{world.client_ip,    engine.is_tls(),   engine.is_tls() ? "TLSv1.3" : "",
                  engine.helo_name(), engine.is_esmtp(), "test"};
        std::optional<mailauth::InboundVerdict> verdict;
        if (role == Role::kMx && world.resolver != nullptr) {
          verdict = verify(*message, peer);
        }
        engine.answer_message(handlers.on_message(*message, peer, verdict ? &*verdict : nullptr));
      } else if (auto* start = std::get_if<tern::smtp::AuthStart>(&event)) {
        finish(auth.start(*start, "127.0.0.1"));
      } else if (auto* response = std::get_if<tern::smtp::AuthResponse>(&event)) {
        finish(auth.respond(*response, "127.0.0.1"));
      } else if (std::holds_alternative<tern::smtp::AuthAborted>(event)) {
        auth.abort();
      } else if (std::holds_alternative<tern::smtp::StartTls>(event)) {
        awaiting_tls = true;
      }
    }
  }

  mailauth::InboundVerdict verify(const tern::smtp::Message& message, const Peer& peer) {
    mailauth::InboundInput in = *inbound_input(message, peer);
    mailauth::InboundOptions o;
    o.authserv_id = world.authserv_id;
    o.receiver = std::string(kHostname);
    o.now = 1'800'000'000;
    mailauth::InboundVerifier v(in, o);
    while (!v.done()) {
      for (const auto& q : v.take_queries()) {
        v.provide(q, world.resolver->lookup(q.name, q.type).get());
      }
    }
    return v.verdict();
  }

  void finish(const AuthOutcome& outcome) {
    if (outcome.challenge) {
      engine.auth_challenge(*outcome.challenge);
      return;
    }
    if (outcome.account) {
      handlers.set_authenticated(*outcome.account);
    }
    engine.auth_finish(outcome.reply);
  }

  World& world;
  Handlers handlers;
  AuthExchange auth;
  tern::smtp::ServerEngine engine;
  Role role;
  std::string output;
  bool awaiting_tls = false;
  bool closed = false;
};

Role role_of(const std::string& name) {
  if (name == "submission") {
    return Role::kSubmission;
  }
  return name == "lmtp" ? Role::kLmtp : Role::kMx;
}

tern::smtp::Limits limits_of(const Transcript& t) {
  tern::smtp::Limits limits;
  for (const auto& [name, value] : t.limits) {
    if (name == "max_recipients") {
      limits.max_recipients = value;
    } else if (name == "max_message_bytes") {
      limits.max_message_bytes = value;
    } else if (name == "max_errors") {
      limits.max_errors = value;
    } else if (name == "max_junk_commands") {
      limits.max_junk_commands = value;
    } else if (name == "max_command_line_bytes") {
      limits.max_command_line_bytes = value;
    } else {
      ADD_FAILURE() << "unknown limit " << name;
    }
  }
  return limits;
}

void run_transcript(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  auto transcript = parse_transcript(text.str());
  ASSERT_TRUE(transcript.has_value()) << path << ": " << transcript.error().message;
  World world;
  for (const auto& d : transcript->domains) {
    world.add_domain(d);
  }
  for (const auto& u : transcript->users) {
    world.add_user(u.address, u.password, u.quota);
  }
  for (const auto& [source, destination] : transcript->aliases) {
    world.add_alias(source, destination);
  }
  InProcessSession session(world, role_of(transcript->role), limits_of(*transcript), true);
  session.run();
  std::size_t read = 0;  // bytes of session.output already matched
  for (const auto& step : transcript->steps) {
    SCOPED_TRACE(path.filename().string() + ":" + std::to_string(step.line));
    switch (step.kind) {
      case TranscriptStep::Kind::kSend:
        ASSERT_FALSE(session.closed) << "the server closed before the client sent";
        session.engine.receive(step.text);
        session.run();
        break;
      case TranscriptStep::Kind::kExpect:
      case TranscriptStep::Kind::kExpectPrefix: {
        auto crlf = session.output.find("\r\n", read);
        ASSERT_NE(crlf, std::string::npos)
            << "expected \"" << step.text << "\", server sent only \""
            << session.output.substr(read) << "\"";
        std::string line = session.output.substr(read, crlf - read);
        read = crlf + 2;
        if (step.kind == TranscriptStep::Kind::kExpect) {
          ASSERT_EQ(line, step.text);
        } else {
          ASSERT_TRUE(line.starts_with(step.text)) << line << " does not start with " << step.text;
        }
        break;
      }
      case TranscriptStep::Kind::kTls:
        ASSERT_TRUE(session.awaiting_tls);
        session.awaiting_tls = false;
        session.engine.tls_started();
        session.run();
        break;
      case TranscriptStep::Kind::kInbox:
        EXPECT_EQ(world.inbox_count(step.address), step.count) << step.address;
        break;
      case TranscriptStep::Kind::kQueue:
        EXPECT_EQ(world.storage.queue().queued().get()->size(), step.count);
        break;
      case TranscriptStep::Kind::kClosed:
        EXPECT_TRUE(session.closed);
        break;
    }
  }
  EXPECT_EQ(session.output.substr(read), "") << "server lines the transcript does not expect";
}

TEST(SmtpTranscripts, InProcess) {
  std::filesystem::path root = TERN_TRANSCRIPT_DIR;
  std::vector<std::filesystem::path> files;
  for (const char* dir : {"smtp", "lmtp"}) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(root / dir, ec)) {
      if (entry.path().extension() == ".txt") {
        files.push_back(entry.path());
      }
    }
  }
  std::sort(files.begin(), files.end());
  ASSERT_FALSE(files.empty()) << "no transcripts under " << root;
  for (const auto& file : files) {
    run_transcript(file);
  }
}

// ----- handlers directly

struct HandlersTest : ::testing::Test {
  void SetUp() override {
    world.add_domain("example.org");
    world.add_user("alice@example.org", "secret", 0);
    world.add_user("bob@example.org", "secret", 200);
    world.add_alias("info@example.org", "alice@example.org");
    world.add_alias("info@example.org", "carol@remote.example");
  }

  std::string transact(Role role, const std::string& input) {
    InProcessSession session(world, role, {}, false);
    session.engine.receive(input);
    session.run();
    return session.output;
  }

  World world;
};

TEST_F(HandlersTest, MxDeliversOnceWithReceivedAndFacts) {
  std::string out = transact(Role::kMx,
                             "EHLO client.example\r\nMAIL FROM:<x@remote.example>\r\n"
                             "RCPT TO:<alice@example.org>\r\nRCPT TO:<ALICE+tag@example.org>\r\n"
                             "DATA\r\nFrom: x@remote.example\r\nSubject: hi\r\n\r\nbody\r\n.\r\n");
  EXPECT_NE(out.find("250 2.0.0 Ok: queued as test.1\r\n"), std::string::npos) << out;
  // Two recipients, one account: one copy.
  EXPECT_EQ(world.inbox_count("alice@example.org"), 1u);
  std::string stored = world.inbox_message("alice@example.org", 0);
  EXPECT_TRUE(stored.starts_with("Received: from client.example ([127.0.0.1])")) << stored;
  EXPECT_NE(stored.find("by mail.example.test with ESMTP id\r\n test.1;"), std::string::npos)
      << stored;
  EXPECT_TRUE(stored.ends_with("Subject: hi\r\n\r\nbody\r\n"));
  // Parsed once at delivery: the facts IMAP serves are stored beside the blob.
  auto account = *world.storage.directory().find_account("alice@example.org").get();
  auto boxes = *world.storage.mail().mailboxes(account->id).get();
  auto inbox = std::find_if(boxes.begin(), boxes.end(), [](auto& b) { return b.name == "INBOX"; });
  auto entries =
      *world.storage.mail().entries(account->id, inbox->id, domain::Uid{1}, domain::Uid{10}).get();
  auto facts = mime::facts::decode_facts(
      *world.storage.mail().message_facts(account->id, entries.at(0).message).get());
  ASSERT_TRUE(facts.has_value()) << facts.error().message;
  EXPECT_EQ(facts->size, stored.size());
  EXPECT_NE(facts->envelope.find("\"hi\""), std::string::npos) << facts->envelope;
}

TEST_F(HandlersTest, MxRefusesRelayAndUnknownUsers) {
  std::string out =
      transact(Role::kMx,
               "EHLO c\r\nMAIL FROM:<x@remote.example>\r\n"
               "RCPT TO:<someone@remote.example>\r\nRCPT TO:<nobody@example.org>\r\n");
  EXPECT_NE(out.find("550 5.7.1 relay access denied\r\n550 5.1.1 mailbox unavailable"),
            std::string::npos)
      << out;
}

TEST_F(HandlersTest, AliasForwardIsQueuedWithDsnParameters) {
  std::string out = transact(Role::kMx,
                             "EHLO c\r\nMAIL FROM:<x@remote.example> RET=HDRS ENVID=e1 "
                             "BODY=8BITMIME SMTPUTF8\r\n"
                             "RCPT TO:<info@example.org> NOTIFY=FAILURE\r\nDATA\r\nx\r\n.\r\n");
  EXPECT_NE(out.find("250 2.0.0 Ok"), std::string::npos) << out;
  EXPECT_EQ(world.inbox_count("alice@example.org"), 1u);
  auto queued = *world.storage.queue().queued().get();
  ASSERT_EQ(queued.size(), 1u);
  EXPECT_EQ(queued[0].sender, "x@remote.example");
  EXPECT_EQ(queued[0].envid, "e1");
  EXPECT_EQ(queued[0].ret, "HDRS");
  ASSERT_EQ(queued[0].recipients.size(), 1u);
  EXPECT_EQ(queued[0].recipients[0].address, "carol@remote.example");
  EXPECT_EQ(queued[0].recipients[0].notify, "FAILURE");
  EXPECT_EQ(queued[0].recipients[0].orcpt, "rfc822;info@example.org");
  // The envelope facts the transport must honour travel with the entry.
  EXPECT_EQ(queued[0].envelope.body, domain::BodyType::kEightBitMime);
  EXPECT_TRUE(queued[0].envelope.smtputf8);
  EXPECT_FALSE(queued[0].envelope.requiretls);
  EXPECT_EQ(queued[0].envelope.submitter, "");
}

TEST_F(HandlersTest, SrsRewritesForwardsAndReversesBounces) {
  world.srs = std::make_shared<domain::Srs>(domain::SrsConfig{"secret", "example.org"});
  std::string out = transact(Role::kMx,
                             "EHLO c\r\nMAIL FROM:<x@remote.example>\r\n"
                             "RCPT TO:<info@example.org>\r\nDATA\r\nx\r\n.\r\n");
  EXPECT_NE(out.find("250 2.0.0 Ok"), std::string::npos) << out;
  auto queued = *world.storage.queue().queued().get();
  ASSERT_EQ(queued.size(), 1u);
  const std::string srs_sender = queued[0].sender;
  EXPECT_TRUE(srs_sender.starts_with("SRS0=")) << srs_sender;
  EXPECT_TRUE(srs_sender.ends_with("=remote.example=x@example.org")) << srs_sender;
  // The next hop bounces to the SRS address: accepted and queued back to x.
  out = transact(Role::kMx, "EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<" + srs_sender +
                                ">\r\nDATA\r\nbounce\r\n.\r\n");
  EXPECT_NE(out.find("250 2.0.0 Ok"), std::string::npos) << out;
  queued = *world.storage.queue().queued().get();
  ASSERT_EQ(queued.size(), 2u);
  EXPECT_EQ(queued[1].sender, "");
  ASSERT_EQ(queued[1].recipients.size(), 1u);
  EXPECT_EQ(queued[1].recipients[0].address, "x@remote.example");
  // A forged hash is refused.
  std::string forged = srs_sender;
  forged[5] = forged[5] == 'A' ? 'B' : 'A';
  out = transact(Role::kMx, "EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<" + forged + ">\r\n");
  EXPECT_NE(out.find("550 5.1.1 invalid SRS address"), std::string::npos) << out;
  // Local senders are not rewritten.
  out = transact(Role::kMx,
                 "EHLO c\r\nMAIL FROM:<alice@example.org>\r\n"
                 "RCPT TO:<info@example.org>\r\nDATA\r\nx\r\n.\r\n");
  queued = *world.storage.queue().queued().get();
  ASSERT_EQ(queued.size(), 3u);
  EXPECT_EQ(queued[2].sender, "alice@example.org");
}

TEST_F(HandlersTest, QuotaSoftAndHard) {
  // bob has a 200-byte quota: a declared SIZE above it is hopeless (552 5.2.2).
  std::string out = transact(
      Role::kMx, "EHLO c\r\nMAIL FROM:<x@r.example> SIZE=500\r\nRCPT TO:<bob@example.org>\r\n");
  EXPECT_TRUE(out.ends_with("552 5.2.2 message larger than the mailbox quota\r\n")) << out;
  // Without SIZE, the message itself is checked at the end of DATA.
  out = transact(Role::kLmtp,
                 "LHLO c\r\nMAIL FROM:<x@r.example>\r\nRCPT TO:<bob@example.org>\r\n"
                 "RCPT TO:<alice@example.org>\r\nDATA\r\n" +
                     std::string(300, 'x') + "\r\n.\r\n");
  EXPECT_NE(out.find("552 5.2.2 message larger than the mailbox quota\r\n250 2.0.0 Ok"),
            std::string::npos)
      << out;
  EXPECT_EQ(world.inbox_count("bob@example.org"), 0u);
  EXPECT_EQ(world.inbox_count("alice@example.org"), 1u);
}

TEST_F(HandlersTest, SubmissionSignsWithTheFromDomainsKeys) {
  // kBrisbaneSeed of RFC 8463 appendix A: an Ed25519 key in dkimpy's seed form.
  auto key = mailauth::DkimPrivateKey::load("nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=");
  ASSERT_TRUE(key) << key.error().message;
  auto shared = std::make_shared<const mailauth::DkimPrivateKey>(std::move(*key));
  auto ring = std::make_shared<mailauth::DkimKeyring>();
  ring->add({"example.org", "s1", true, shared});
  ring->add({"example.org", "old", false, shared});
  world.dkim = ring;
  InProcessSession s(world, Role::kSubmission, {}, false);
  std::string plain = sasl::base64_encode(std::string("\0alice@example.org\0secret", 25));
  s.engine.receive("EHLO c\r\nAUTH PLAIN " + plain +
                   "\r\nMAIL FROM:<alice@example.org>\r\nRCPT TO:<alice@example.org>\r\n"
                   "DATA\r\nFrom: Alice <alice@Example.org>\r\nTo: alice@example.org\r\n"
                   "Subject: signed\r\n\r\nhello\r\n.\r\n");
  s.run();
  EXPECT_NE(s.output.find("250 2.0.0 Ok"), std::string::npos) << s.output;
  std::string stored = world.inbox_message("alice@example.org", 0);
  ASSERT_TRUE(stored.starts_with("DKIM-Signature: v=1; a=ed25519-sha256;")) << stored;
  EXPECT_EQ(stored.find("s=old;"), std::string::npos) << stored;
  EXPECT_LT(stored.find("d=example.org;"), stored.find("Received:")) << stored;

  dns::FakeResolver zone;
  zone.add_txt("s1._domainkey.example.org", {shared->dns_record()});
  mailauth::DkimVerifier verifier(stored, {});
  auto results = mailauth::testing::drive(verifier, zone);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].result, mailauth::AuthResult::kPass) << results[0].reason;

  // MX never signs: the keys are for mail our users send.
  InProcessSession mx(world, Role::kMx, {}, false);
  mx.engine.receive(
      "EHLO c\r\nMAIL FROM:<x@remote.example>\r\nRCPT TO:<alice@example.org>\r\n"
      "DATA\r\nFrom: alice@example.org\r\n\r\nx\r\n.\r\n");
  mx.run();
  EXPECT_FALSE(world.inbox_message("alice@example.org", 1).starts_with("DKIM-Signature"))
      << mx.output;
}

TEST_F(HandlersTest, MxRemovesAuthenticationResultsClaimingOurId) {
  world.authserv_id = "mx.example.org";
  const std::string data =
      "Authentication-Results: MX.example.org;\r\n dkim=pass header.d=bank.example\r\n"
      "Authentication-Results: other.example; spf=pass\r\n"
      "From: a@bank.example\r\n"
      "Authentication-Results: mx.example.org 1; dmarc=pass (forged)\r\n"
      "Subject: x\r\n\r\nAuthentication-Results: mx.example.org; body stays\r\n";
  for (Role role : {Role::kMx, Role::kLmtp}) {
    InProcessSession s(world, role, {}, false);
    s.engine.receive(std::string(role == Role::kLmtp ? "LHLO" : "EHLO") +
                     " c\r\nMAIL FROM:<x@remote.example>\r\nRCPT TO:<alice@example.org>\r\n"
                     "DATA\r\n" +
                     data + ".\r\n");
    s.run();
    EXPECT_NE(s.output.find("250 2.0.0 Ok"), std::string::npos) << s.output;
  }
  std::string mx = world.inbox_message("alice@example.org", 0);
  EXPECT_EQ(mx.find("MX.example.org;"), std::string::npos) << mx;
  EXPECT_EQ(mx.find("(forged)"), std::string::npos) << mx;
  EXPECT_NE(mx.find("Authentication-Results: other.example; spf=pass\r\nFrom: a@bank.example\r\n"
                    "Subject: x\r\n"),
            std::string::npos)
      << mx;
  EXPECT_NE(mx.find("body stays"), std::string::npos) << mx;
  // LMTP mail was checked by the MTA in front, whose fields may carry our name.
  EXPECT_NE(world.inbox_message("alice@example.org", 1).find("(forged)"), std::string::npos);
}

// ----- MX inbound verification (mailauth::InboundVerifier, as the service runs it)

// RFC 8463 Appendix A.1's Ed25519 seed and its public key record.
constexpr const char* kArcSeed = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";
constexpr const char* kArcKeyRecord =
    "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";

struct MxVerifyTest : HandlersTest {
  void SetUp() override {
    HandlersTest::SetUp();
    zone.add_txt("bank.example", {"v=spf1 ip4:192.0.2.1 -all"});
    zone.add_txt("_dmarc.bank.example", {"v=DMARC1; p=reject"});
    zone.add_txt("shop.example", {"v=spf1 ip4:192.0.2.1 -all"});
    zone.add_txt("_dmarc.shop.example", {"v=DMARC1; p=quarantine"});
    zone.add_txt("sel._domainkey.example.org", {kArcKeyRecord});
    world.resolver = &zone;
    world.authserv_id = "mail.example.test";
    world.client_ip = "198.51.100.7";  // not allowed by any SPF record above
  }

  std::string send(const std::string& from_domain, const std::string& rcpt = "alice@example.org",
                   const std::string& extra_header = "") {
    return transact(Role::kMx, "EHLO client.example\r\nMAIL FROM:<x@" + from_domain +
                                   ">\r\nRCPT TO:<" + rcpt + ">\r\nDATA\r\n" + extra_header +
                                   "From: ceo@" + from_domain +
                                   "\r\nSubject: pay\r\n\r\nbody\r\n.\r\n");
  }

  std::uint64_t count(const std::string& mailbox) {
    auto account = *world.storage.directory().find_account("alice@example.org").get();
    auto boxes = *world.storage.mail().mailboxes(account->id).get();
    for (const auto& box : boxes) {
      if (box.name == mailbox) {
        return world.storage.mail()
            .entries(account->id, box.id, domain::Uid{1}, domain::Uid{1000})
            .get()
            ->size();
      }
    }
    return 0;
  }

  dns::FakeResolver zone;
};

TEST_F(MxVerifyTest, OneAuthenticationResultsFieldAtTheTop) {
  std::string out = send("unknown.example", "alice@example.org",
                         "Authentication-Results: mail.example.test; dmarc=pass (forged)\r\n");
  EXPECT_NE(out.find("250 2.0.0 Ok"), std::string::npos) << out;
  std::string stored = world.inbox_message("alice@example.org", 0);
  ASSERT_TRUE(stored.starts_with("Received: from client.example")) << stored;
  EXPECT_TRUE(
      stored.substr(stored.find("\r\nAuthentication-Results") + 2)
          .starts_with(
              "Authentication-Results: mail.example.test;\r\n"
              "\tspf=none reason=\"no SPF record at unknown.example\" "
              "smtp.mailfrom=unknown.example;\r\n"
              "\tspf=none reason=\"no SPF record at client.example\" smtp.helo=client.example;\r\n"
              "\tdkim=none;\r\n"
              "\tdmarc=none reason=\"no DMARC record\" header.from=unknown.example;\r\n"
              "\tarc=none smtp.remote-ip=198.51.100.7;\r\n"
              "\tiprev=permerror reason=\"no PTR record\" policy.iprev=198.51.100.7\r\n"
              "From: ceo@unknown.example\r\n"))
      << stored;
  EXPECT_EQ(stored.find("(forged)"), std::string::npos) << stored;
  auto first = stored.find("Authentication-Results");
  EXPECT_EQ(stored.find("Authentication-Results", first + 1), std::string::npos) << stored;
}

TEST_F(MxVerifyTest, DmarcRejectQuarantineAndTheLocalPolicy) {
  std::string out = send("bank.example");
  EXPECT_NE(out.find("550 5.7.1 message rejected: it fails the DMARC policy of bank.example"),
            std::string::npos)
      << out;
  EXPECT_EQ(count("INBOX") + count("Junk"), 0u);
  // The evaluation is recorded for the aggregate report, disposition reject.
  auto from = from_unix_seconds(1'800'000'000 - 7200);
  auto to = from_unix_seconds(1'800'000'000 + 7200);
  auto report = world.storage.reports().dmarc_aggregate("bank.example", from, to).get();
  ASSERT_TRUE(report) << report.error().message;
  ASSERT_EQ(report->rows.size(), 1u);
  EXPECT_EQ(report->rows[0].row.disposition, "reject");
  EXPECT_EQ(report->rows[0].row.source_ip, "198.51.100.7");
  EXPECT_EQ(report->rows[0].row.spf_alignment, "fail");
  EXPECT_EQ(report->policy.p, "reject");

  // p=quarantine: delivered, to Junk.
  out = send("shop.example");
  EXPECT_NE(out.find("250 2.0.0 Ok"), std::string::npos) << out;
  EXPECT_EQ(count("INBOX"), 0u);
  ASSERT_EQ(count("Junk"), 1u);
  std::string junk = world.inbox_message("alice@example.org", 0, "Junk");
  EXPECT_NE(junk.find("dmarc=fail header.from=shop.example policy.dmarc=quarantine"),
            std::string::npos)
      << junk;

  // The local policy turns reject into Junk, or records it only.
  world.dmarc_reject = DmarcRejectAction::kQuarantine;
  EXPECT_NE(send("bank.example").find("250 2.0.0 Ok"), std::string::npos);
  EXPECT_EQ(count("Junk"), 2u);
  world.dmarc_reject = DmarcRejectAction::kIgnore;
  EXPECT_NE(send("bank.example").find("250 2.0.0 Ok"), std::string::npos);
  EXPECT_EQ(count("INBOX"), 1u);
  report = world.storage.reports().dmarc_aggregate("bank.example", from, to).get();
  ASSERT_TRUE(report);
  std::uint64_t local_policy = 0;
  for (const auto& row : report->rows) {
    for (const auto& o : row.row.overrides) {
      local_policy += o.type == "local_policy" ? row.count : 0;
    }
  }
  EXPECT_EQ(local_policy, 2u);

  // From a permitted address SPF passes and aligns: INBOX.
  world.client_ip = "192.0.2.1";
  EXPECT_NE(send("bank.example").find("250 2.0.0 Ok"), std::string::npos);
  EXPECT_EQ(count("INBOX"), 2u);
}

// RFC 9989 t=y: a failing message is not rejected but lowered one step, and
// the aggregate report carries the published np=/t= and the RFC 9990 override.
TEST_F(MxVerifyTest, TestingModeLowersTheDispositionAndIsReportedAsPolicyTestMode) {
  zone.add_txt("trial.example", {"v=spf1 ip4:192.0.2.1 -all"});
  zone.add_txt("_dmarc.trial.example", {"v=DMARC1; p=reject; np=quarantine; t=y"});
  std::string out = send("trial.example");
  EXPECT_NE(out.find("250 2.0.0 Ok"), std::string::npos) << out;
  EXPECT_EQ(count("Junk"), 1u);
  auto from = from_unix_seconds(1'800'000'000 - 7200);
  auto to = from_unix_seconds(1'800'000'000 + 7200);
  auto report = world.storage.reports().dmarc_aggregate("trial.example", from, to).get();
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->policy.np, "quarantine");
  EXPECT_TRUE(report->policy.testing);
  ASSERT_EQ(report->rows.size(), 1u);
  EXPECT_EQ(report->rows[0].row.disposition, "quarantine");
  ASSERT_EQ(report->rows[0].row.overrides.size(), 1u);
  EXPECT_EQ(report->rows[0].row.overrides[0].type, "policy_test_mode");
}

TEST_F(MxVerifyTest, AliasForwardsAreArcSealed) {
  auto ring = std::make_shared<mailauth::DkimKeyring>();
  ring->add({"example.org", "sel", true,
             std::make_shared<const mailauth::DkimPrivateKey>(
                 *mailauth::DkimPrivateKey::load(kArcSeed))});
  world.arc_keys = ring;
  std::string out = send("unknown.example", "info@example.org");
  EXPECT_NE(out.find("250 2.0.0 Ok"), std::string::npos) << out;
  auto queued = *world.storage.queue().queued().get();
  ASSERT_EQ(queued.size(), 1u);
  auto raw = *world.storage.queue().read_queued(queued[0].id).get();
  EXPECT_TRUE(raw.starts_with("ARC-Seal: ")) << raw;
  EXPECT_NE(raw.find("cv=none; d=example.org;"), std::string::npos) << raw;
  EXPECT_NE(raw.find("ARC-Authentication-Results: i=1; mail.example.test;"), std::string::npos)
      << raw;
  // Our own chain validates (the AMS covers the message as it leaves).
  mailauth::ArcVerifier arc(raw);
  while (auto q = arc.pending_query()) {
    arc.provide(zone.lookup(q->name, q->type).get());
  }
  EXPECT_EQ(arc.result().result, mailauth::AuthResult::kPass) << arc.result().problem;
  // The local copy is not sealed.
  EXPECT_EQ(world.inbox_message("alice@example.org", 0).find("ARC-Seal"), std::string::npos);

  // Without a key there is no seal (and no error).
  world.arc_keys = nullptr;
  send("unknown.example", "info@example.org");
  queued = *world.storage.queue().queued().get();
  ASSERT_EQ(queued.size(), 2u);
  EXPECT_FALSE((*world.storage.queue().read_queued(queued[1].id).get()).starts_with("ARC-Seal"));
}

TEST_F(HandlersTest, SubmissionChecksSenderAndFrom) {
  InProcessSession s(world, Role::kSubmission, {}, false);
  s.engine.receive("EHLO c\r\nMAIL FROM:<alice@example.org>\r\n");
  s.run();
  EXPECT_TRUE(s.output.ends_with("530 5.7.0 authentication required\r\n")) << s.output;
  std::string plain = sasl::base64_encode(std::string("\0alice@example.org\0secret", 25));
  s.engine.receive("AUTH PLAIN " + plain + "\r\nMAIL FROM:<bob@example.org>\r\n");
  s.run();
  EXPECT_NE(s.output.find("235 2.7.0"), std::string::npos) << s.output;
  EXPECT_TRUE(
      s.output.ends_with("553 5.7.1 sender address not owned by the authenticated user\r\n"));
  // Alias and sub-address are hers.
  s.engine.receive(
      "MAIL FROM:<info@example.org>\r\nRSET\r\nMAIL FROM:<alice+x@example.org>\r\n"
      "RCPT TO:<dave@remote.example>\r\nDATA\r\nFrom: bob@example.org\r\n\r\nx\r\n.\r\n");
  s.run();
  EXPECT_TRUE(s.output.ends_with("553 5.7.1 From: address not owned by the authenticated user\r\n"))
      << s.output;
  s.engine.receive(
      "MAIL FROM:<alice@example.org>\r\nRCPT TO:<dave@remote.example>\r\n"
      "RCPT TO:<bob@example.org>\r\nDATA\r\nFrom: Alice <alice@example.org>\r\n\r\nx\r\n.\r\n");
  s.run();
  EXPECT_TRUE(s.output.ends_with("250 2.0.0 Ok: queued as test.1\r\n")) << s.output;
  EXPECT_EQ(world.inbox_count("bob@example.org"), 1u);
  auto queued = *world.storage.queue().queued().get();
  ASSERT_EQ(queued.size(), 1u);
  EXPECT_EQ(queued[0].recipients.at(0).address, "dave@remote.example");
  EXPECT_EQ(queued[0].envelope.submitter, "alice@example.org");
  EXPECT_EQ(queued[0].envelope.body, domain::BodyType::kSevenBit);
  EXPECT_NE(world.inbox_message("bob@example.org", 0).find("with ESMTPA"), std::string::npos);
}

// A MailStore whose append fails as a full disk does; everything else goes to
// the wrapped store.
class FullDiskMail final : public domain::MailStore {
 public:
  explicit FullDiskMail(domain::MailStore& inner) : inner_(inner) {}
  template <class T>
  using Async = domain::Async<T>;
  using AccountId = domain::AccountId;
  using MailboxId = domain::MailboxId;
  using MessageId = domain::MessageId;

  Async<std::vector<domain::Mailbox>> mailboxes(AccountId a) override {
    return inner_.mailboxes(a);
  }

  Async<domain::Mailbox> create_mailbox(AccountId a, std::string n, domain::SpecialUse u) override {
    return inner_.create_mailbox(a, std::move(n), u);
  }

  Async<domain::Mailbox> rename_mailbox(AccountId a, MailboxId m, std::string n) override {
    return inner_.rename_mailbox(a, m, std::move(n));
  }

  Async<void> delete_mailbox(AccountId a, MailboxId m) override {
    return inner_.delete_mailbox(a, m);
  }

  Async<void> set_subscribed(AccountId a, MailboxId m, bool s) override {
    return inner_.set_subscribed(a, m, s);
  }

  Async<std::vector<Result<domain::Appended>>> append(domain::NewMessage,
                                                      std::vector<domain::AppendTarget>) override {
    return make_ready_future(
        Result<std::vector<Result<domain::Appended>>>(Error{ErrorCode::kIo, "disk full"}));
  }

  Async<std::vector<domain::Entry>> entries(AccountId a, MailboxId m, domain::Uid f,
                                            domain::Uid l) override {
    return inner_.entries(a, m, f, l);
  }

  Async<std::string> read_message(AccountId a, MessageId m) override {
    return inner_.read_message(a, m);
  }

  Async<std::string> message_facts(AccountId a, MessageId m) override {
    return inner_.message_facts(a, m);
  }

  Async<std::vector<domain::MessageSummary>> message_summaries(AccountId a, MailboxId m,
                                                               std::vector<domain::Uid> u,
                                                               domain::SummaryParts w) override {
    return inner_.message_summaries(a, m, std::move(u), w);
  }

  Async<domain::FlagResult> change_flags(AccountId a, MailboxId m, std::vector<domain::Uid> u,
                                         domain::FlagChange c) override {
    return inner_.change_flags(a, m, std::move(u), std::move(c));
  }

  Async<std::vector<domain::Appended>> copy(AccountId a, MailboxId f, std::vector<domain::Uid> u,
                                            MailboxId t) override {
    return inner_.copy(a, f, std::move(u), t);
  }

  Async<std::vector<domain::Appended>> move(AccountId a, MailboxId f, std::vector<domain::Uid> u,
                                            MailboxId t) override {
    return inner_.move(a, f, std::move(u), t);
  }

  Async<domain::ModSeq> expunge(AccountId a, MailboxId m, std::vector<domain::Uid> u) override {
    return inner_.expunge(a, m, std::move(u));
  }

  Async<domain::MailboxChanges> changes_since(AccountId a, MailboxId m, domain::ModSeq s) override {
    return inner_.changes_since(a, m, s);
  }

  Async<std::vector<domain::AccountChange>> account_changes_since(AccountId a,
                                                                  domain::ModSeq s) override {
    return inner_.account_changes_since(a, s);
  }

  Async<domain::Usage> usage(AccountId a) override { return inner_.usage(a); }

 private:
  domain::MailStore& inner_;
};

class FullDiskStorage final : public domain::Storage {
 public:
  explicit FullDiskStorage(domain::Storage& inner) : inner_(inner), mail_(inner.mail()) {}

  domain::Directory& directory() override { return inner_.directory(); }

  domain::MailStore& mail() override { return mail_; }

  domain::BlobStore& blobs() override { return inner_.blobs(); }

  domain::QueueStore& queue() override { return inner_.queue(); }

  domain::ReportStore& reports() override { return inner_.reports(); }

  domain::SpamStore& spam() override { return inner_.spam(); }

  domain::GreylistStore& greylist() override { return inner_.greylist(); }

 private:
  domain::Storage& inner_;
  FullDiskMail mail_;
};

// Runs `input` through `handlers` on an MX engine, as the session would, with
// `at_message` answering the end of DATA; returns what the engine wrote.
std::string run_mx(Handlers& handlers, const std::string& input,
                   const std::function<std::vector<Reply>(tern::smtp::Message&)>& at_message) {
  tern::smtp::ServerEngine engine(InProcessSession::engine_options(Role::kMx, {}, false));
  engine.receive(input);
  std::string out;
  for (;;) {
    auto event = engine.next();
    out += engine.output();
    engine.consume_output(engine.output().size());
    if (auto* mail = std::get_if<tern::smtp::MailFrom>(&event)) {
      engine.answer(handlers.on_mail(*mail));
    } else if (auto* rcpt = std::get_if<tern::smtp::RcptTo>(&event)) {
      engine.answer(handlers.on_rcpt(*rcpt));
    } else if (auto* message = std::get_if<tern::smtp::Message>(&event)) {
      engine.answer_message(at_message(*message));
    } else {
      return out;
    }
  }
}

TEST_F(HandlersTest, StoreFailureGives451AndKeepsNothing) {
  FullDiskStorage full(world.storage);
  Handlers handlers(policy_of(world, Role::kMx), full, world.clock, log::Logger());
  std::string out =
      run_mx(handlers,
             "EHLO c\r\nMAIL FROM:<x@remote.example>\r\nRCPT TO:<info@example.org>\r\n"
             "DATA\r\nx\r\n.\r\n",
             [&](tern::smtp::Message& message) { return handlers.on_message(message, Peer{}); });
  EXPECT_TRUE(out.ends_with("451 4.3.0 cannot store the message, try again later\r\n")) << out;
  EXPECT_EQ(world.inbox_count("alice@example.org"), 0u);
  // The forward to carol was queued first and is taken back: the client retries all.
  EXPECT_TRUE(world.storage.queue().queued().get()->empty());
}

// What the session does with a mail filter's outcome (services/smtp/milter.hpp):
// a recipient the filter adds may be at any domain, even on the MX, and a
// quarantined message goes to Junk.
TEST_F(HandlersTest, FilterRecipientsMayRelayAndHeldMessagesGoToJunk) {
  Handlers handlers(policy_of(world, Role::kMx), world.storage, world.clock, log::Logger());
  auto outside = address::parse_forward_path("<carol@remote.example>");
  ASSERT_TRUE(outside.has_value());
  std::string out =
      run_mx(handlers,
             "EHLO c\r\nMAIL FROM:<x@remote.example>\r\nRCPT TO:<alice@example.org>\r\n"
             "DATA\r\nSubject: held\r\n\r\nx\r\n.\r\n",
             [&](tern::smtp::Message& message) {
               // The client could not name it: the MX never relays.
               tern::smtp::RcptTo asked{tern::smtp::Recipient{*outside, {}}};
               EXPECT_EQ(handlers.on_rcpt(asked).code, 550);
               EXPECT_EQ(handlers.on_filter_recipient(*outside).code, 250);
               message.recipients.push_back(tern::smtp::Recipient{*outside, {}});
               Peer peer;
               peer.session_id = "test";
               return handlers.on_message(message, peer, nullptr, /*held=*/true);
             });
  EXPECT_TRUE(out.ends_with("250 2.0.0 Ok: queued as test.1\r\n")) << out;
  EXPECT_EQ(world.inbox_count("alice@example.org"), 0u);
  EXPECT_EQ(world.mailbox_count("alice@example.org", "Junk"), 1u);
  auto queued = *world.storage.queue().queued().get();
  ASSERT_EQ(queued.size(), 1u);
  ASSERT_EQ(queued[0].recipients.size(), 1u);
  EXPECT_EQ(queued[0].recipients[0].address, "carol@remote.example");
}

TEST(RateLimiter, WindowsAndBound) {
  RateLimiter limiter(2, std::chrono::seconds(60), 4);
  Instant t0{};
  EXPECT_TRUE(limiter.allow("a", t0));
  EXPECT_TRUE(limiter.allow("a", t0));
  EXPECT_FALSE(limiter.allow("a", t0 + std::chrono::seconds(59)));
  EXPECT_TRUE(limiter.allow("a", t0 + std::chrono::seconds(60)));
  for (int i = 0; i < 10; ++i) {
    limiter.allow("k" + std::to_string(i), t0);
  }
  EXPECT_LE(limiter.tracked(), 4u);
  RateLimiter unlimited(0, std::chrono::seconds(60));
  for (int i = 0; i < 100; ++i) {
    EXPECT_TRUE(unlimited.allow("a", t0));
  }
}

}  // namespace
}  // namespace tern::services::smtp
