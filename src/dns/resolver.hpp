// SPDX-License-Identifier: Apache-2.0
// The Resolver port: how pure code and services ask DNS questions without doing
// I/O. runtime/dns_resolver.hpp implements it on libunbound; FakeResolver
// (dns/fake_resolver.hpp) answers from an in-memory zone in tests.
#pragma once

#include <string>

#include "base/future.hpp"
#include "dns/records.hpp"

namespace tern::dns {

class Resolver {
 public:
  virtual ~Resolver() = default;

  // Asks for the records of `type` at `name` (any case, with or without the
  // trailing dot). CNAMEs are followed by the resolver (RFC 1034 §3.6.2); the
  // answer's canonical_name says where the chain ended.
  //
  // Never fails as a Future: every trouble is an Answer status. A name that
  // normalize_name() rejects answers kMalformed without a query.
  //
  // Thread-safety: may be called from any thread, concurrently. The Future may be
  // fulfilled on a resolver thread, so on_ready() callbacks must be short and
  // thread-safe (post to your executor; runtime::await() does this).
  virtual Future<Answer> lookup(std::string name, RecordType type) = 0;
};

}  // namespace tern::dns
