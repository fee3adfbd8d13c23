// SPDX-License-Identifier: Apache-2.0
// The HTTP service: drives http::ServerEngine over runtime connections and serves
// the operational endpoints, /healthz and /metrics (Prometheus).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <asio.hpp>

#include "base/clock.hpp"
#include "base/log.hpp"
#include "base/metrics.hpp"
#include "domain/ports.hpp"
#include "http/server_engine.hpp"
#include "runtime/connection.hpp"
#include "runtime/listener.hpp"
#include "services/http/mta_sts.hpp"

namespace tern::services::http {

struct Options {
  // Between requests on a keep-alive connection.
  runtime::Duration idle_timeout = std::chrono::seconds(60);
  // For each read while a request is partly received.
  runtime::Duration read_timeout = std::chrono::seconds(30);
  // For writing one response.
  runtime::Duration write_timeout = std::chrono::seconds(30);
  tern::http::Limits limits;
  // The MTA-STS policy served for our domains; nullopt serves none (404).
  std::optional<MtaStsPolicy> mta_sts;
  // Which domains are ours, for the MTA-STS Host check; must outlive the
  // Service. nullptr serves no policy.
  domain::Directory* directory = nullptr;
};

// Routes:
//   GET|HEAD /healthz  200 "ok\n" while serving, 503 "draining\n" once draining
//   GET|HEAD /metrics  200, the registry in Prometheus text format 0.0.4
//   GET|HEAD /.well-known/mta-sts.txt with Host "mta-sts.<domain>" where
//            <domain> is a local domain: 200 text/plain, the MTA-STS policy
//            (RFC 8461 §3.3); any other Host, or no policy configured: 404
//   other methods on those paths: 405 with Allow; any other path: 404
// The query string is ignored for routing.
//
// Lifetime: the Service must outlive every connection given to handler(), i.e.
// destroy it only after the listeners using it have drained.
// Thread-safety: handler() connections run concurrently on their own strands;
// set_draining() may be called from any thread.
class Service {
 public:
  // `registry` is rendered by /metrics and receives tern_http_requests_total;
  // `clock` supplies the Date header. Both must outlive the Service.
  Service(Options options, metrics::Registry& registry, const Clock& clock, log::Logger logger);

  // The per-connection entry point for runtime::Listener::start().
  runtime::ConnectionHandler handler();

  // Serves one connection until the peer closes, a timeout passes, a protocol
  // error, or a response that closes. Never throws for network or protocol
  // errors; it logs them at debug level.
  asio::awaitable<void> serve(std::unique_ptr<runtime::Connection> connection);

  // Once draining, /healthz answers 503 (so load balancers stop sending new
  // work) and every response closes its connection.
  void set_draining(bool draining) { draining_.store(draining, std::memory_order_relaxed); }

  bool is_draining() const { return draining_.load(std::memory_order_relaxed); }

  // The routing decision for one request, without I/O; public for tests.
  // `local_policy_host` says that the request's Host is "mta-sts.<domain>" for a
  // local domain (serve() asks the directory; see policy_domain()).
  tern::http::Response route(const tern::http::Request& request,
                             bool local_policy_host = false) const;

  // The domain whose MTA-STS policy `request` asks for, when a policy is
  // configured and the request is for the policy path on an "mta-sts." Host;
  // serve() then asks the directory whether it is local.
  std::optional<std::string> policy_domain(const tern::http::Request& request) const;

 private:
  Options options_;
  metrics::Registry& registry_;
  const Clock& clock_;
  log::Logger logger_;
  std::atomic<bool> draining_{false};
};

// Formats `time` as an IMF-fixdate, the HTTP Date format (RFC 9110 §5.6.7):
// "Sun, 06 Nov 1994 08:49:37 GMT".
std::string format_http_date(SystemTime time);

}  // namespace tern::services::http
