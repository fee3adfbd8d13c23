// SPDX-License-Identifier: Apache-2.0
// The dns::Resolver port on libunbound: forwarding to configured servers (or the
// system's /etc/resolv.conf), optional DNSSEC validation from a trust-anchor file,
// and a per-query deadline.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "dns/resolver.hpp"

namespace tern::runtime {

struct DnsResolverOptions {
  // Forwarders as "ip", "ip:port" or "[ipv6]:port" (e.g. "127.0.0.1:5353").
  // Empty: the name servers of /etc/resolv.conf, or full recursion from the root
  // when that file names none.
  std::vector<std::string> servers;
  // A trust-anchor file (DS or DNSKEY records in zone-file format, what
  // unbound-anchor writes to /usr/share/dns/root.key) enables DNSSEC validation;
  // "" leaves it off and every answer is DnssecState::kInsecure.
  std::string trust_anchor_file;
  // How long one lookup may take before it answers LookupStatus::kTemporary
  // ("timed out"); unbound's own retries happen inside this budget.
  std::chrono::milliseconds query_timeout{10'000};
};

// Resolves with libunbound in its threaded asynchronous mode (ub_ctx_async(ctx, 1):
// a worker thread inside libunbound does the network I/O) plus one poller thread
// of ours that waits on ub_fd() and a wake-up eventfd, runs ub_process() (which
// calls the completion callbacks) and enforces deadlines with ub_cancel().
//
// Why a thread rather than registering ub_fd() with Asio: the port is used from
// several executors (SMTP sessions for SPF, the outbound scheduler) and from the
// CLI without an io_context; a self-contained poller keeps the resolver usable
// everywhere, and DNS volume is small (a context switch per answer is nothing
// next to the round trip). Futures are fulfilled on the poller thread.
//
// Thread-safety: lookup() may be called from any thread. Destruction fulfils
// pending lookups with kTemporary ("resolver shut down") and joins the thread.
class UnboundResolver final : public dns::Resolver {
 public:
  // Creates the libunbound context and starts the poller.
  // Errors: kInvalidInput for a malformed server or an unreadable trust-anchor
  // file (the message names it), kInternal when libunbound cannot be set up.
  static Result<std::unique_ptr<UnboundResolver>> create(DnsResolverOptions options);

  ~UnboundResolver() override;

  UnboundResolver(const UnboundResolver&) = delete;
  UnboundResolver& operator=(const UnboundResolver&) = delete;

  // dns::Resolver. Answers are parsed with dns::parse_rdata(); a record that
  // does not parse makes the whole answer kMalformed. A bogus DNSSEC answer is
  // kTemporary with DnssecState::kBogus and unbound's reason in `error`.
  Future<dns::Answer> lookup(std::string name, dns::RecordType type) override;

  struct State;  // shared with the libunbound callback; defined in the .cpp

 private:
  explicit UnboundResolver(std::unique_ptr<State> state);

  std::unique_ptr<State> state_;
};

// Converts "127.0.0.1:5353", "::1", "[::1]:53" to unbound's "addr@port" form.
// Errors: kInvalidInput for anything that is not an IP address with an optional
// port 1..65535.
Result<std::string> unbound_forwarder(std::string_view server);

}  // namespace tern::runtime
