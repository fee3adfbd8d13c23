// SPDX-License-Identifier: Apache-2.0
#include "services/delivery/downgrade.hpp"

#include <gtest/gtest.h>

#include "mime/message.hpp"
#include "mime/transfer.hpp"

namespace tern::services::delivery {
namespace {

TEST(Downgrade, ReencodesAn8BitBodyAsQuotedPrintable) {
  const std::string raw =
      "Subject: x\r\nContent-Type: text/plain; charset=utf-8\r\n"
      "Content-Transfer-Encoding: 8bit\r\n\r\ncaf\xc3\xa9\r\n.dot\r\n";
  auto out = downgrade_to_7bit(raw);
  ASSERT_TRUE(out);
  EXPECT_EQ(*out,
            "Subject: x\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9\r\n=2Edot\r\n");
}

TEST(Downgrade, AddsTheFieldWhenAbsentAndLeaves7BitPartsAlone) {
  const std::string raw =
      "Subject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n"
      "Content-Transfer-Encoding: 8bit\r\n\r\n"
      "--b\r\nContent-Type: text/plain\r\n\r\nplain ascii\r\n"
      "--b\r\nContent-Type: text/plain; charset=latin1\r\n\r\n\xe9t\xe9\r\n"
      "--b--\r\n";
  auto out = downgrade_to_7bit(raw);
  ASSERT_TRUE(out);
  EXPECT_EQ(*out,
            "Subject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n"
            "Content-Transfer-Encoding: 7bit\r\n\r\n"
            "--b\r\nContent-Type: text/plain\r\n\r\nplain ascii\r\n"
            "--b\r\nContent-Type: text/plain; charset=latin1\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n=E9t=E9\r\n"
            "--b--\r\n");
  // The result is 7-bit and decodes back to the original text.
  for (char c : *out) {
    EXPECT_LT(static_cast<unsigned char>(c), 0x80);
  }
  auto tree = mime::parse_message(*out);
  const auto& part = tree.part(tree.root().children.at(1));
  EXPECT_EQ(mime::decode_transfer(part.body.in(*out), part.encoding), "\xe9t\xe9");
}

TEST(Downgrade, RefusesWhatCannotBeDowngraded) {
  EXPECT_FALSE(downgrade_to_7bit("Subject: caf\xc3\xa9\r\n\r\nbody\r\n"));
  EXPECT_FALSE(downgrade_to_7bit("Content-Transfer-Encoding: base64\r\n\r\n\xff\xfe\r\n"));
  EXPECT_EQ(*downgrade_to_7bit("Subject: ascii\r\n\r\nbody\r\n"), "Subject: ascii\r\n\r\nbody\r\n");
}

}  // namespace
}  // namespace tern::services::delivery
