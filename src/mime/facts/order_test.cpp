// SPDX-License-Identifier: Apache-2.0
#include "mime/facts/order.hpp"

#include <gtest/gtest.h>

#include "mime/facts/facts.hpp"

namespace tern::mime::facts {
namespace {

OrderKeys keys_of(const std::string& raw) {
  const Facts f = compute_facts(raw);
  EXPECT_TRUE(f.has_order);
  auto keys = decode_order_keys(f.order);
  EXPECT_TRUE(keys) << keys.error().message;
  return keys ? *keys : OrderKeys{};
}

TEST(OrderKeys, AreWhatSortAndThreadCompare) {
  const auto k = keys_of(
      "Date: Tue, 3 Mar 2026 10:00:00 +0100\r\n"
      "Subject: Re: [list] Fwd: Hello   World (fwd)\r\n"
      "From: =?UTF-8?Q?J=C3=B6rg?= <Joerg@Example.org>, b@example.org\r\n"
      "To: zed@example.net\r\n"
      "Cc: Someone <cc@example.com>\r\n"
      "Message-ID: <Abc.1@Example.org>\r\n"
      "In-Reply-To: <parent@x>\r\n"
      "References: <root@x>\r\n <\"q.t\"@x> <parent@x>\r\n\r\nbody\r\n");
  ASSERT_TRUE(k.sent);
  EXPECT_EQ(*k.sent, 1772528400);  // 09:00 UTC
  EXPECT_EQ(k.subject, "HELLO WORLD");
  EXPECT_TRUE(k.reply_or_forward);
  EXPECT_EQ(k.from, "JOERG");  // the addr-mailbox only (RFC 5256 §3)
  EXPECT_EQ(k.to, "ZED");
  EXPECT_EQ(k.cc, "CC");
  EXPECT_EQ(k.display_from, "JO\xcc\x88RG");     // RFC 5957: the decoded name, NFKD
  EXPECT_EQ(k.display_to, "ZED@EXAMPLE.NET");    // no name: the addr-spec
  EXPECT_EQ(k.message_id, "Abc.1@Example.org");  // case kept: ids compare exactly
  EXPECT_EQ(k.references, (std::vector<std::string>{"root@x", "q.t@x", "parent@x"}));
}

TEST(OrderKeys, InReplyToWithoutReferencesAndNothingWithoutFields) {
  const auto reply = keys_of("In-Reply-To: <a@x> <b@x>\r\nSubject: plain\r\n\r\nbody\r\n");
  EXPECT_EQ(reply.references, std::vector<std::string>{"a@x"});
  EXPECT_FALSE(reply.reply_or_forward);
  EXPECT_EQ(reply.subject, "PLAIN");

  const auto bare = keys_of("X-Other: 1\r\n\r\nbody\r\n");
  EXPECT_FALSE(bare.sent);
  EXPECT_EQ(bare, OrderKeys{});

  // RFC 5256 §2.2: an unreadable Date is no date; SORT uses the INTERNALDATE.
  EXPECT_FALSE(keys_of("Date: someday soon\r\n\r\nx\r\n").sent);
}

TEST(OrderKeys, DeliveryAndTheFallbackAgree) {
  // A message stored without keys has them derived from its ENVELOPE and its
  // References field: the same function delivery uses.
  const std::string raw =
      "Date: 1 Jan 1969 00:00 GMT\r\nSubject: [x] RE: Fw: topic\r\n"
      "From: \"Group\": ;\r\nMessage-ID: <m@x>\r\nReferences: <r@x>\r\n\r\nbody\r\n";
  const Facts f = compute_facts(raw);
  auto envelope = read_envelope(f.envelope);
  ASSERT_TRUE(envelope);
  auto stored = decode_order_keys(f.order);
  ASSERT_TRUE(stored);
  EXPECT_EQ(*stored, order_keys(*envelope, "<r@x>"));
  ASSERT_TRUE(stored->sent);
  EXPECT_LT(*stored->sent, 0);  // before 1970
}

TEST(OrderKeys, EncodingRoundTripsAndRefusesDamage) {
  OrderKeys k;
  k.sent = -123456789;
  k.subject = "S";
  k.reply_or_forward = true;
  k.from = "F";
  k.display_to = std::string(300, 'd');
  k.message_id = "m@x";
  k.references = {"a@x", "", "c@x"};
  const std::string bytes = encode_order_keys(k);
  auto back = decode_order_keys(bytes);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, k);
  EXPECT_EQ(*decode_order_keys(encode_order_keys(OrderKeys{})), OrderKeys{});

  for (std::size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(decode_order_keys(bytes.substr(0, n))) << "truncated to " << n;
  }
  EXPECT_FALSE(decode_order_keys(bytes + "x"));
  std::string version = bytes;
  version[0] = 2;
  EXPECT_EQ(decode_order_keys(version).error().message, "order keys: unknown version");
  std::string flags = bytes;
  flags[1] = 4;
  EXPECT_EQ(decode_order_keys(flags).error().code, ErrorCode::kCorrupt);
  // A reference count larger than the record could hold is refused before any
  // allocation.
  std::string huge = encode_order_keys(OrderKeys{});
  huge.pop_back();  // the count 0
  huge += "\xff\xff\xff\xff\x0f";
  EXPECT_EQ(decode_order_keys(huge).error().message, "order keys: bad reference count");
}

}  // namespace
}  // namespace tern::mime::facts
