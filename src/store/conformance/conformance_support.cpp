// SPDX-License-Identifier: Apache-2.0
#include "store/conformance/conformance_support.hpp"

namespace tern::store::conformance {

std::string make_raw_message(const std::string& tag, std::size_t min_bytes) {
  std::string raw = "From: sender@example.org\r\nTo: user@example.com\r\nSubject: " + tag +
                    "\r\nMessage-ID: <" + tag + "@example.org>\r\n\r\nbody " + tag + "\r\n";
  while (raw.size() < min_bytes) {
    raw += "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\r\n";
  }
  return raw;
}

domain::NewMessage make_message(const std::string& tag, std::size_t min_bytes) {
  return domain::NewMessage{make_raw_message(tag, min_bytes), fixed_time(), "facts:" + tag};
}

SystemTime fixed_time() {
  return from_unix_seconds(1704067200);
}

domain::NewQueuedMessage make_queued(const std::string& tag, std::vector<std::string> recipients,
                                     SystemTime now) {
  domain::NewQueuedMessage message;
  message.raw = make_raw_message(tag);
  message.sender = "sender@example.org";
  for (auto& address : recipients) {
    domain::QueueRecipient recipient;
    recipient.address = std::move(address);
    message.recipients.push_back(std::move(recipient));
  }
  message.envid = "env-" + tag;
  message.ret = "HDRS";
  message.now = now;
  return message;
}

}  // namespace tern::store::conformance
