// SPDX-License-Identifier: Apache-2.0
// sasl::ServerExchange: mechanism choice against what is advertised, base64 in
// both directions of the framing, the name remembered for AuthFailed, and the
// shared events an exchange ends in.
#include "sasl/exchange.hpp"

#include <string>
#include <variant>

#include <gtest/gtest.h>

#include "base/fixed_random.hpp"
#include "sasl/base64.hpp"
#include "sasl/scram.hpp"

namespace tern::sasl {
namespace {

using Refusal = ServerExchange::Refusal;

TEST(ServerExchange, RefusesWhatIsNotAdvertised) {
  FixedRandom random;
  ServerOptions options;
  ServerExchange exchange;
  EXPECT_EQ(exchange.begin("PLAIN", false, options, random), Refusal::kNeedsEncryption);
  EXPECT_EQ(exchange.begin("login", false, options, random), Refusal::kNeedsEncryption);
  EXPECT_EQ(exchange.begin("CRAM-MD5", true, options, random), Refusal::kUnsupported);
  // -PLUS only where there is a channel to bind to.
  EXPECT_EQ(exchange.begin("SCRAM-SHA-256-PLUS", true, options, random), Refusal::kUnsupported);
  EXPECT_FALSE(exchange.active());
  options.channel_bindings.tls_exporter = std::string(32, 'x');
  EXPECT_EQ(exchange.begin("scram-sha-256-plus", false, options, random), std::nullopt);
  EXPECT_TRUE(exchange.active());
  EXPECT_EQ(ServerExchange::advertised(false, options),
            (std::vector<std::string>{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"}));
}

TEST(ServerExchange, PlainInitialResponseEndsInCheckPassword) {
  FixedRandom random;
  ServerExchange exchange;
  ASSERT_EQ(exchange.begin("PLAIN", true, ServerOptions{}, random), std::nullopt);
  auto outcome = exchange.start(base64_encode(std::string("\0alice\0secret", 13)));
  EXPECT_EQ(outcome, ServerExchange::Outcome(CheckPassword{"alice", "secret"}));
  EXPECT_FALSE(exchange.active());
}

TEST(ServerExchange, InitialResponseIsDecodedForTheMechanism) {
  FixedRandom random;
  ServerExchange exchange;
  // LOGIN's initial response is the user name: given, it asks for the password.
  ASSERT_EQ(exchange.begin("LOGIN", true, ServerOptions{}, random), std::nullopt);
  EXPECT_EQ(exchange.start(base64_encode("alice")),
            ServerExchange::Outcome(Challenge{"Password:"}));
  // An empty one ("=" in POP3, "" in ManageSieve) reaches the mechanism as
  // empty, which LOGIN answers as it answers none.
  ASSERT_EQ(exchange.begin("LOGIN", true, ServerOptions{}, random), std::nullopt);
  EXPECT_EQ(exchange.start(""), ServerExchange::Outcome(Challenge{"Username:"}));
  ASSERT_EQ(exchange.begin("LOGIN", true, ServerOptions{}, random), std::nullopt);
  EXPECT_EQ(exchange.start(std::nullopt), ServerExchange::Outcome(Challenge{"Username:"}));
}

TEST(ServerExchange, ChallengesDecodeAndFailuresKeepTheName) {
  FixedRandom random;
  ServerExchange exchange;
  ASSERT_EQ(exchange.begin("LOGIN", true, ServerOptions{}, random), std::nullopt);
  EXPECT_EQ(exchange.start(std::nullopt), ServerExchange::Outcome(Challenge{"Username:"}));
  EXPECT_EQ(exchange.respond(base64_encode("alice")),
            ServerExchange::Outcome(Challenge{"Password:"}));
  EXPECT_TRUE(exchange.active());
  EXPECT_EQ(exchange.respond("not base64!"),
            ServerExchange::Outcome(AuthFailed{"", "invalid base64 in response"}));
  EXPECT_FALSE(exchange.active());

  // SCRAM names the user in its first message: a cancel afterwards carries it.
  ASSERT_EQ(exchange.begin("SCRAM-SHA-256", true, ServerOptions{}, random), std::nullopt);
  EXPECT_EQ(exchange.start(base64_encode("n,,n=bob,r=abcdefghijklmnop")),
            ServerExchange::Outcome(NeedScramCredential{"bob"}));
  EXPECT_TRUE(exchange.active());
  EXPECT_EQ(exchange.fail("cancelled by client"),
            ServerExchange::Outcome(AuthFailed{"bob", "cancelled by client"}));
  EXPECT_FALSE(exchange.active());
  // A new exchange forgets the last name.
  ASSERT_EQ(exchange.begin("PLAIN", true, ServerOptions{}, random), std::nullopt);
  EXPECT_EQ(exchange.start("%%%"),
            ServerExchange::Outcome(AuthFailed{"", "invalid base64 in initial response"}));
}

TEST(ServerExchange, ScramRunsToAuthenticated) {
  FixedRandom random(3);
  auto credential = derive_scram_credential("pencil", "saltsaltsaltsalt", 4096);
  ASSERT_TRUE(credential);
  ServerExchange exchange;
  ASSERT_EQ(exchange.begin("SCRAM-SHA-256", true, ServerOptions{}, random), std::nullopt);
  ScramClient client("user", "pencil", "", ClientBinding::kNone, "", "", random);
  EXPECT_EQ(exchange.start(base64_encode(client.first())),
            ServerExchange::Outcome(NeedScramCredential{"user"}));
  auto first = exchange.supply_scram_credential(*credential);
  ASSERT_TRUE(std::holds_alternative<Challenge>(first));
  auto final_message = client.final(std::get<Challenge>(first).data);
  ASSERT_TRUE(final_message);
  auto signature = exchange.respond(base64_encode(*final_message));
  ASSERT_TRUE(std::holds_alternative<Challenge>(signature));
  EXPECT_TRUE(client.verify(std::get<Challenge>(signature).data));
  EXPECT_EQ(exchange.respond(""), ServerExchange::Outcome(Authenticated{"user"}));
  EXPECT_FALSE(exchange.active());
}

TEST(ServerExchange, EventOfKeepsTheEventAndDropsChallenges) {
  using Event = std::variant<int, CheckPassword, NeedScramCredential, Authenticated, AuthFailed>;
  EXPECT_EQ(event_of<Event>(Challenge{"x"}), std::nullopt);
  EXPECT_EQ(event_of<Event>(Authenticated{"u"}), Event(Authenticated{"u"}));
  EXPECT_EQ(event_of<Event>(AuthFailed{"u", "r"}), Event(AuthFailed{"u", "r"}));
}

}  // namespace
}  // namespace tern::sasl
