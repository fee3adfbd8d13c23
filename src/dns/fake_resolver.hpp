// SPDX-License-Identifier: Apache-2.0
// FakeResolver: an in-memory zone behind the Resolver port, for the tests of the
// transport and of the SPF/DKIM/DMARC/DANE evaluators. Answers like a real
// resolver would: NXDOMAIN for unknown names, NODATA for a known name without the
// type, CNAME chains followed, and scripted failures.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "dns/resolver.hpp"

namespace tern::dns {

class FakeResolver final : public Resolver {
 public:
  // Sets the full answer for (name, type), replacing any earlier one. Use it for
  // failures (Answer::failure(LookupStatus::kTemporary)) and DNSSEC states; the
  // status of an answer with records should be kOk.
  void set(std::string_view name, RecordType type, Answer answer);

  // Appends one record to (name, type) with status kOk; the `add_*` helpers take
  // text and are meant for test set-up (they assert on a malformed argument).
  void add_a(std::string_view name, std::string_view address);  // A or AAAA by form
  void add_mx(std::string_view name, std::uint16_t preference, std::string_view exchange);
  void add_txt(std::string_view name, std::vector<std::string> strings);
  void add_cname(std::string_view name, std::string_view target);
  void add_ptr(std::string_view name, std::string_view target);
  void add_tlsa(std::string_view name, TlsaRecord record);

  // Marks every answer from (name) as DNSSEC `state` (applied when looked up).
  void set_dnssec(std::string_view name, DnssecState state);

  // Resolver: the stored answer; a CNAME at `name` (and type ≠ CNAME) is followed
  // up to 8 links (RFC 1034 §3.6.2), the final answer's canonical_name is the end
  // of the chain and its DNSSEC state the weakest of the links (secure only when
  // every name on the chain was set secure, as a validating resolver reports
  // it); a name with no records at all is kNxDomain, a name with others is
  // kNoData. Ready at once.
  Future<Answer> lookup(std::string name, RecordType type) override;

  // How many lookup() calls asked for (name, type) (SPF counts its lookups).
  std::size_t lookups_for_test(std::string_view name, RecordType type) const;

  // All lookup() calls so far.
  std::size_t total_lookups_for_test() const;

 private:
  using Key = std::pair<std::string, RecordType>;

  Answer& slot(std::string_view name, RecordType type);
  Answer resolve(const std::string& name, RecordType type, int depth) const;

  mutable std::mutex mutex_;
  std::map<Key, Answer> zone_;
  std::map<std::string, DnssecState> dnssec_;
  std::map<Key, std::size_t> lookups_;
  std::size_t total_lookups_ = 0;
};

}  // namespace tern::dns
