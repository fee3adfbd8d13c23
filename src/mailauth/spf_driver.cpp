// SPDX-License-Identifier: Apache-2.0
// mailauth_spf_driver: test support for tests/integration/test_spf_pyspf.py. Reads
// one YAML (or JSON) document from standard input,
//   {zone: [[name, type, value], ...], cases: [[ip, mail_from, helo], ...]}
// (type A, AAAA, TXT, PTR, or MX with value "preference exchange"), serves the
// zone from a dns::FakeResolver and prints one line per case: the SPF result and
// the explanation, separated by a tab. Not part of ternd.
#include <exception>
#include <iostream>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "dns/fake_resolver.hpp"
#include "mailauth/spf_evaluator.hpp"

namespace {

int run() {
  using namespace tern;
  std::ostringstream input;
  input << std::cin.rdbuf();
  YAML::Node doc;
  try {
    doc = YAML::Load(input.str());
  } catch (const YAML::Exception& e) {
    std::cerr << "mailauth_spf_driver: " << e.what() << "\n";
    return 2;
  }
  dns::FakeResolver zone;
  for (const YAML::Node& record : doc["zone"]) {
    auto name = record[0].as<std::string>();
    auto type = record[1].as<std::string>();
    auto value = record[2].as<std::string>();
    if (type == "A" || type == "AAAA") {
      zone.add_a(name, value);
    } else if (type == "TXT") {
      zone.add_txt(name, {value});
    } else if (type == "PTR") {
      zone.add_ptr(name, value);
    } else if (type == "MX") {
      auto space = value.find(' ');
      zone.add_mx(name, static_cast<std::uint16_t>(std::stoi(value.substr(0, space))),
                  value.substr(space + 1));
    } else {
      std::cerr << "mailauth_spf_driver: unknown type " << type << "\n";
      return 2;
    }
  }
  mailauth::SpfOptions options;
  options.default_explanation = "DEFAULT";
  for (const YAML::Node& c : doc["cases"]) {
    auto ip = dns::IpAddress::parse(c[0].as<std::string>());
    if (!ip) {
      std::cerr << "mailauth_spf_driver: bad IP " << c[0].as<std::string>() << "\n";
      return 2;
    }
    auto spf = mailauth::SpfEvaluator::for_mail_from(*ip, c[1].as<std::string>(),
                                                     c[2].as<std::string>(), options);
    while (auto q = spf.pending_query()) {
      spf.provide(zone.lookup(q->name, q->type).get());
    }
    std::cout << mailauth::auth_result_name(spf.result().result) << "\t" << spf.result().explanation
              << "\n";
  }
  return 0;
}

}  // namespace

// A malformed zone or case (a YAML node of the wrong type) is a usage error, not a crash.
int main() {
  try {
    return run();
  } catch (const std::exception& e) {
    std::cerr << "mailauth_spf_driver: " << e.what() << "\n";
    return 2;
  }
}
