// SPDX-License-Identifier: Apache-2.0
// mailauth_arc_driver: test support for tests/integration/test_dkim_arc_interop.py
// (ARC interop with dkimpy). Not part of ternd. The message is on standard input.
//
//   mailauth_arc_driver seal KEY_PEM DOMAIN SELECTOR AUTHSERV_ID TIMESTAMP none|pass|fail
//       prints the message with a new ARC Set on top (or unchanged if none is due)
//   mailauth_arc_driver verify NAME=TXT...
//       prints "arc=<result> i=<sets> <problem>", the keys served from the arguments
#include <iostream>
#include <sstream>
#include <string>

#include "dns/fake_resolver.hpp"
#include "mailauth/arc.hpp"
#include "mailauth/arc_sealer.hpp"

namespace {

int seal(int argc, char** argv, const std::string& message) {
  using namespace tern::mailauth;
  if (argc != 8) {
    return 2;
  }
  auto key = DkimPrivateKey::load(argv[2]);
  if (!key) {
    std::cerr << "key: " << key.error().message << "\n";
    return 1;
  }
  ArcSealOptions options;
  options.domain = argv[3];
  options.selector = argv[4];
  options.authserv_id = argv[5];
  options.timestamp = std::stoull(argv[6]);
  std::string cv = argv[7];
  options.chain_status = cv == "pass"   ? ArcChainStatus::kPass
                         : cv == "fail" ? ArcChainStatus::kFail
                                        : ArcChainStatus::kNone;
  auto set = arc_seal(message, *key, options);
  if (!set) {
    std::cerr << "seal: " << set.error().message << "\n";
    return 1;
  }
  if (*set) {
    std::cout << (*set)->seal << (*set)->message_signature << (*set)->results;
  }
  std::cout << message;
  return 0;
}

int verify(int argc, char** argv, const std::string& message) {
  using namespace tern;
  dns::FakeResolver zone;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    auto eq = arg.find('=');
    if (eq == std::string::npos) {
      return 2;
    }
    zone.add_txt(arg.substr(0, eq), {arg.substr(eq + 1)});
  }
  mailauth::ArcVerifier arc(message);
  while (auto q = arc.pending_query()) {
    arc.provide(zone.lookup(q->name, q->type).get());
  }
  std::cout << "arc=" << mailauth::auth_result_name(arc.result().result)
            << " i=" << arc.result().instances << " " << arc.result().problem << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::ostringstream input;
  input << std::cin.rdbuf();
  std::string command = argc > 1 ? argv[1] : "";
  int status = command == "seal"     ? seal(argc, argv, input.str())
               : command == "verify" ? verify(argc, argv, input.str())
                                     : 2;
  if (status == 2) {
    std::cerr << "usage: mailauth_arc_driver seal KEY_PEM DOMAIN SELECTOR AUTHSERV_ID TIMESTAMP "
                 "none|pass|fail | verify NAME=TXT...\n";
  }
  return status;
}
