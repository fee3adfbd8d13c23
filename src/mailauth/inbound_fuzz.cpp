// SPDX-License-Identifier: Apache-2.0
// Fuzz target mailauth_inbound: the whole inbound driver over the input as a
// message — the From: domain parser, every DKIM-Signature, the ARC chain — with
// questions answered alternately by a TXT record built from the input's first
// line and NXDOMAIN, then the deadline; it must finish and format one field.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "mailauth/inbound.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tern::mailauth;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)rfc5322_from_domain(text);
  InboundInput input;
  input.client_ip = *tern::dns::IpAddress::parse("192.0.2.1");
  input.helo = "mx.example.com";
  input.mail_from = "bounce@example.com";
  input.message = text;
  InboundOptions options;
  options.authserv_id = "mx.example.net";
  options.now = 1'800'000'000;
  InboundVerifier verifier(input, options);
  tern::dns::Answer txt;
  txt.status = tern::dns::LookupStatus::kOk;
  txt.txt.push_back({{std::string(text.substr(0, text.find('\n')))}});
  bool flip = false;
  for (int round = 0; round < 64 && !verifier.done(); ++round) {
    for (const DnsQuery& q : verifier.take_queries()) {
      flip = !flip;
      verifier.provide(q, flip && q.type == tern::dns::RecordType::kTxt
                              ? txt
                              : tern::dns::Answer::failure(tern::dns::LookupStatus::kNxDomain));
    }
  }
  verifier.expire();
  if (verifier.verdict().authentication_results.empty()) {
    __builtin_trap();
  }
  return 0;
}
