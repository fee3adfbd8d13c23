// SPDX-License-Identifier: Apache-2.0
#include "services/http/service.hpp"

#include <array>
#include <ctime>
#include <string>
#include <variant>

#include "runtime/io.hpp"

namespace tern::services::http {
namespace {

using tern::http::Request;
using tern::http::Response;

Response text_response(int status, std::string body) {
  Response response;
  response.status = status;
  response.headers.add("Content-Type", "text/plain; charset=utf-8");
  response.body = std::move(body);
  return response;
}

Response method_not_allowed() {
  Response response = text_response(405, "method not allowed\n");
  // RFC 9110 §15.5.6: a 405 must list the allowed methods.
  response.headers.add("Allow", "GET, HEAD");
  return response;
}

}  // namespace

std::string format_http_date(SystemTime time) {
  std::time_t t = std::chrono::system_clock::to_time_t(time);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::array<char, 64> buffer{};
  // strftime's %a and %b are locale-dependent; the daemon never calls setlocale,
  // so the "C" names are what RFC 9110 §5.6.7 requires.
  std::size_t n = std::strftime(buffer.data(), buffer.size(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return std::string(buffer.data(), n);
}

Service::Service(Options options, metrics::Registry& registry, const Clock& clock,
                 log::Logger logger)
    : options_(std::move(options)),
      registry_(registry),
      clock_(clock),
      logger_(std::move(logger)) {}

runtime::ConnectionHandler Service::handler() {
  return [this](std::unique_ptr<runtime::Connection> connection) {
    return serve(std::move(connection));
  };
}

std::optional<std::string> Service::policy_domain(const Request& request) const {
  std::string_view path = request.target;
  path = path.substr(0, path.find('?'));
  auto host = request.headers.find("Host");
  if (!options_.mta_sts || options_.directory == nullptr || path != kMtaStsPath || !host) {
    return std::nullopt;
  }
  return mta_sts_host_domain(*host);
}

Response Service::route(const Request& request, bool local_policy_host) const {
  std::string_view path = request.target;
  path = path.substr(0, path.find('?'));
  bool readable = request.method == "GET" || request.method == "HEAD";
  Response response;
  if (path == "/healthz") {
    if (!readable) {
      response = method_not_allowed();
    } else {
      response = is_draining() ? text_response(503, "draining\n") : text_response(200, "ok\n");
    }
  } else if (path == "/metrics") {
    if (!readable) {
      response = method_not_allowed();
    } else {
      response.status = 200;
      // The Prometheus text exposition format, version 0.0.4.
      response.headers.add("Content-Type", "text/plain; version=0.0.4");
      response.body = registry_.render();
    }
  } else if (path == kMtaStsPath && local_policy_host && options_.mta_sts) {
    if (!readable) {
      response = method_not_allowed();
    } else {
      // RFC 8461 §3.2: the policy is served with media type "text/plain".
      response.status = 200;
      response.headers.add("Content-Type", "text/plain");
      response.body = render_mta_sts_policy(*options_.mta_sts);
    }
  } else {
    response = text_response(404, "not found\n");
  }
  response.headers.add("Cache-Control", "no-store");
  return response;
}

asio::awaitable<void> Service::serve(std::unique_ptr<runtime::Connection> connection) {
  tern::http::ServerEngine engine(options_.limits);
  std::array<char, 8192> buffer;
  const log::Logger& log = connection->logger();
  bool between_requests = true;

  // Sends whatever the engine has queued (a response, or an interim 100).
  auto flush = [&]() -> asio::awaitable<bool> {
    std::string_view out = engine.output();
    if (out.empty()) {
      co_return true;
    }
    auto written = co_await connection->write_all(out, options_.write_timeout);
    if (!written) {
      log.debug("http write failed", {{"error", written.error().message}});
      co_return false;
    }
    engine.consume_output(out.size());
    co_return true;
  };

  for (;;) {
    tern::http::Event event = engine.next();
    if (std::holds_alternative<tern::http::NeedInput>(event)) {
      if (!co_await flush()) {
        co_return;
      }
      auto timeout = between_requests ? options_.idle_timeout : options_.read_timeout;
      auto n = co_await connection->read_some(buffer, timeout);
      if (!n) {
        log.debug("http read ended", {{"error", n.error().message}});
        co_return;
      }
      if (*n == 0) {
        co_return;
      }
      between_requests = false;
      engine.receive(std::span<const char>(buffer.data(), *n));
      continue;
    }
    if (auto* request = std::get_if<tern::http::Request>(&event)) {
      bool local_policy_host = false;
      if (auto domain = policy_domain(*request)) {
        auto found = co_await runtime::await(options_.directory->find_domain(*domain));
        if (!found) {
          log.warn("mta-sts domain lookup failed", {{"error", found.error().message}});
        }
        local_policy_host = found && found->has_value();
      }
      Response response = route(*request, local_policy_host);
      response.headers.add("Date", format_http_date(clock_.now()));
      if (is_draining()) {
        response.close = true;
      }
      registry_
          .counter("tern_http_requests_total", "HTTP requests answered, by status code.",
                   {{"code", std::to_string(response.status)}})
          .inc();
      log.debug("http request", {{"method", request->method},
                                 {"target", request->target},
                                 {"status", std::to_string(response.status)}});
      engine.answer(response);
      if (!co_await flush()) {
        co_return;
      }
      between_requests = true;
      continue;
    }
    // Close: the engine has queued its last response (or an error response).
    co_await flush();
    co_return;
  }
}

}  // namespace tern::services::http
