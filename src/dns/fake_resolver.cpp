// SPDX-License-Identifier: Apache-2.0
#include "dns/fake_resolver.hpp"

#include "base/assert.hpp"

namespace tern::dns {

namespace {

// RFC 1034 §3.6.2 allows chains; resolvers cap them (unbound at 8 + a loop check).
constexpr int kMaxCnameLinks = 8;

std::string must_normalize(std::string_view name) {
  auto normalized = normalize_name(name);
  TERN_ASSERT(normalized.has_value(), "FakeResolver: malformed name in test set-up");
  return *normalized;
}

}  // namespace

Answer& FakeResolver::slot(std::string_view name, RecordType type) {
  Answer& answer = zone_[{must_normalize(name), type}];
  answer.status = LookupStatus::kOk;
  answer.ttl = 300;
  return answer;
}

void FakeResolver::set(std::string_view name, RecordType type, Answer answer) {
  std::lock_guard lock(mutex_);
  zone_[{must_normalize(name), type}] = std::move(answer);
}

void FakeResolver::add_a(std::string_view name, std::string_view address) {
  auto ip = IpAddress::parse(address);
  TERN_ASSERT(ip.has_value(), "FakeResolver: malformed address in test set-up");
  std::lock_guard lock(mutex_);
  slot(name, ip->is_v4() ? RecordType::kA : RecordType::kAaaa).addresses.push_back(*ip);
}

void FakeResolver::add_mx(std::string_view name, std::uint16_t preference,
                          std::string_view exchange) {
  std::lock_guard lock(mutex_);
  slot(name, RecordType::kMx).mx.push_back(MxRecord{preference, must_normalize(exchange)});
}

void FakeResolver::add_txt(std::string_view name, std::vector<std::string> strings) {
  std::lock_guard lock(mutex_);
  slot(name, RecordType::kTxt).txt.push_back(TxtRecord{std::move(strings)});
}

void FakeResolver::add_cname(std::string_view name, std::string_view target) {
  std::lock_guard lock(mutex_);
  slot(name, RecordType::kCname).names.push_back(must_normalize(target));
}

void FakeResolver::add_ptr(std::string_view name, std::string_view target) {
  std::lock_guard lock(mutex_);
  slot(name, RecordType::kPtr).names.push_back(must_normalize(target));
}

void FakeResolver::add_tlsa(std::string_view name, TlsaRecord record) {
  std::lock_guard lock(mutex_);
  slot(name, RecordType::kTlsa).tlsa.push_back(std::move(record));
}

void FakeResolver::set_dnssec(std::string_view name, DnssecState state) {
  std::lock_guard lock(mutex_);
  dnssec_[must_normalize(name)] = state;
}

Answer FakeResolver::resolve(const std::string& name, RecordType type, int depth) const {
  if (auto it = zone_.find({name, type}); it != zone_.end()) {
    Answer answer = it->second;
    answer.canonical_name = name;
    if (auto d = dnssec_.find(name); d != dnssec_.end()) {
      answer.dnssec = d->second;
    }
    return answer;
  }
  if (type != RecordType::kCname) {
    if (auto it = zone_.find({name, RecordType::kCname});
        it != zone_.end() && !it->second.names.empty()) {
      if (depth >= kMaxCnameLinks) {
        return Answer::failure(LookupStatus::kTemporary, "cname chain too long");
      }
      Answer answer = resolve(it->second.names.front(), type, depth + 1);
      // A validating resolver calls a chain secure only when every link is
      // (RFC 4035 §5): an alias not set secure weakens the rest of the chain.
      auto d = dnssec_.find(name);
      const DnssecState link = d == dnssec_.end() ? DnssecState::kInsecure : d->second;
      if (link == DnssecState::kBogus || answer.dnssec == DnssecState::kBogus) {
        answer.dnssec = DnssecState::kBogus;
      } else if (link == DnssecState::kInsecure) {
        answer.dnssec = DnssecState::kInsecure;
      }
      return answer;
    }
  }
  // A name exists when any type has an entry there (RFC 2308 §2.2: NODATA).
  auto it = zone_.lower_bound({name, RecordType::kA});
  const bool exists = it != zone_.end() && it->first.first == name;
  Answer answer = Answer::failure(exists ? LookupStatus::kNoData : LookupStatus::kNxDomain);
  answer.canonical_name = name;
  answer.ttl = 60;
  return answer;
}

Future<Answer> FakeResolver::lookup(std::string name, RecordType type) {
  auto normalized = normalize_name(name);
  if (!normalized) {
    return make_ready_future(Answer::failure(LookupStatus::kMalformed, normalized.error().message));
  }
  std::lock_guard lock(mutex_);
  ++lookups_[{*normalized, type}];
  ++total_lookups_;
  return make_ready_future(resolve(*normalized, type, 0));
}

std::size_t FakeResolver::lookups_for_test(std::string_view name, RecordType type) const {
  std::lock_guard lock(mutex_);
  auto it = lookups_.find({must_normalize(name), type});
  return it == lookups_.end() ? 0 : it->second;
}

std::size_t FakeResolver::total_lookups_for_test() const {
  std::lock_guard lock(mutex_);
  return total_lookups_;
}

}  // namespace tern::dns
