// SPDX-License-Identifier: Apache-2.0
// The milter client on arbitrary filter replies, fed in pieces: it never
// crashes, never sends after it has stopped, and whatever outcome it reaches
// applies to the message.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "milter/milter.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  if (input.empty()) {
    return 0;
  }
  // The first byte picks the message; the rest are the filter's replies.
  const std::string message = input[0] % 2 == 0
                                  ? std::string("From: a@b\r\nSubject: x\r\n y\r\n\r\nbody\r\n")
                                  : std::string("Subject: a header and no body");
  input.remove_prefix(1);
  tern::milter::Envelope envelope;
  envelope.client_name = "[192.0.2.1]";
  envelope.client_address = "192.0.2.1";
  envelope.sender = "a@b";
  envelope.recipients = {"c@d", "e@f"};
  tern::milter::Client client(envelope, message, 4096);
  (void)client.take_output();
  std::size_t step = 1;
  while (!input.empty()) {
    std::size_t n = std::min(step, input.size());
    client.receive(input.substr(0, n));
    input.remove_prefix(n);
    step = step * 3 % 17 + 1;
    std::string out = client.take_output();
    if (client.state() == tern::milter::Client::State::kFailed && !out.empty()) {
      std::abort();  // a failed exchange sends nothing more
    }
  }
  if (client.state() == tern::milter::Client::State::kDone) {
    (void)tern::milter::apply_changes(message, client.outcome());
  }
  return 0;
}
