// SPDX-License-Identifier: Apache-2.0
#include "runtime/dns_resolver.hpp"

#include <atomic>
#include <charconv>
#include <cstdint>
#include <map>
#include <mutex>
#include <span>
#include <thread>
#include <utility>

#include <fmt/format.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unbound.h>
#include <unistd.h>

namespace tern::runtime {

namespace {

constexpr int kClassIn = 1;        // RFC 1035 §3.2.4
constexpr int kRcodeNxDomain = 3;  // RFC 1035 §4.1.1

using SteadyClock = std::chrono::steady_clock;

// Turns one ub_result into an Answer (the caller frees the result).
dns::Answer to_answer(const ub_result& result, dns::RecordType type) {
  dns::Answer answer;
  answer.ttl = result.ttl > 0 ? static_cast<std::uint32_t>(result.ttl) : 0;
  if (result.canonname != nullptr) {
    if (auto name = dns::normalize_name(result.canonname)) {
      answer.canonical_name = *name;
    }
  }
  if (result.secure != 0) {
    answer.dnssec = dns::DnssecState::kSecure;
  } else if (result.bogus != 0) {
    // RFC 4035 §5.5: a bogus answer must not be used; callers retry later.
    answer.dnssec = dns::DnssecState::kBogus;
    answer.status = dns::LookupStatus::kTemporary;
    answer.error = result.why_bogus != nullptr
                       ? fmt::format("dnssec validation failed: {}", result.why_bogus)
                       : "dnssec validation failed";
    return answer;
  }
  if (result.rcode == kRcodeNxDomain || result.nxdomain != 0) {
    answer.status = dns::LookupStatus::kNxDomain;
    return answer;
  }
  if (result.rcode != 0) {
    // SERVFAIL, REFUSED, NOTIMP...: nothing the record says; try again later.
    answer.status = dns::LookupStatus::kTemporary;
    answer.error = fmt::format("rcode {}", result.rcode);
    return answer;
  }
  if (result.havedata == 0) {
    answer.status = dns::LookupStatus::kNoData;  // RFC 2308 §2.2
    return answer;
  }
  for (std::size_t i = 0; result.data[i] != nullptr; ++i) {
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(result.data[i]);
    auto parsed = dns::parse_rdata(
        type, std::span<const std::uint8_t>(bytes, static_cast<std::size_t>(result.len[i])),
        answer);
    if (!parsed) {
      return dns::Answer::failure(dns::LookupStatus::kMalformed,
                                  fmt::format("malformed {} record: {}",
                                              dns::record_type_name(type), parsed.error().message));
    }
  }
  answer.status = dns::LookupStatus::kOk;
  return answer;
}

}  // namespace

struct UnboundResolver::State {
  // What libunbound hands back to on_result(). Owned by the callback, or freed
  // by whoever cancels the query successfully (then the callback never runs).
  struct Context {
    State* state = nullptr;
    std::uintptr_t id = 0;
    dns::RecordType type = dns::RecordType::kA;
  };

  struct Query {
    Promise<dns::Answer> promise;
    dns::RecordType type = dns::RecordType::kA;
    SteadyClock::time_point deadline;
    int async_id = 0;  // 0 until ub_resolve_async() returned
    Context* context = nullptr;
  };

  ub_ctx* ctx = nullptr;
  int wake_fd = -1;
  DnsResolverOptions options;
  std::thread poller;
  std::atomic<bool> stopping{false};

  std::mutex mutex;
  std::map<std::uintptr_t, Query> queries;  // guarded by mutex
  std::uintptr_t next_id = 1;               // guarded by mutex

  ~State() {
    if (ctx != nullptr) {
      ub_ctx_delete(ctx);
    }
    if (wake_fd >= 0) {
      ::close(wake_fd);
    }
  }

  void wake() const {
    const std::uint64_t one = 1;
    (void)!::write(wake_fd, &one, sizeof one);
  }

  // Removes query `id` and fulfils it; a no-op when it already went (timed out).
  void finish(std::uintptr_t id, dns::Answer answer) {
    std::unique_lock lock(mutex);
    auto it = queries.find(id);
    if (it == queries.end()) {
      return;
    }
    Promise<dns::Answer> promise = std::move(it->second.promise);
    queries.erase(it);
    lock.unlock();
    promise.set_value(std::move(answer));
  }

  // Called by ub_process() on the poller thread. `mydata` is the query id, not a
  // pointer, so an answer racing with a timeout's ub_cancel() finds nothing.
  static void on_result(void* mydata, int err, ub_result* result) {
    auto* context = static_cast<Context*>(mydata);
    State* state = context->state;
    const std::uintptr_t id = context->id;
    const dns::RecordType type = context->type;
    delete context;
    dns::Answer answer = err != 0 || result == nullptr
                             ? dns::Answer::failure(dns::LookupStatus::kTemporary, ub_strerror(err))
                             : to_answer(*result, type);
    if (result != nullptr) {
      ub_resolve_free(result);
    }
    state->finish(id, std::move(answer));
  }

  // Cancels a query libunbound still works on; frees its context when the
  // cancel succeeded (otherwise the answer is in the pipe and on_result frees it).
  void cancel(int async_id, Context* context) const {
    if (ub_cancel(ctx, async_id) == 0) {
      delete context;
    }
  }

  // Expires overdue queries; returns the poll timeout until the next deadline.
  int expire() {
    const auto now = SteadyClock::now();
    std::vector<std::pair<std::uintptr_t, std::pair<int, Context*>>> overdue;
    auto next = now + std::chrono::hours(1);
    {
      std::lock_guard lock(mutex);
      for (const auto& [id, query] : queries) {
        if (query.async_id == 0) {
          continue;  // still being submitted
        }
        if (query.deadline <= now) {
          overdue.emplace_back(id, std::pair(query.async_id, query.context));
        } else if (query.deadline < next) {
          next = query.deadline;
        }
      }
    }
    // Callbacks run on this thread too, so no answer can free the context
    // between the scan above and the cancel.
    for (const auto& [id, submitted] : overdue) {
      cancel(submitted.first, submitted.second);
      finish(id, dns::Answer::failure(dns::LookupStatus::kTemporary, "timed out"));
    }
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count();
    return static_cast<int>(std::clamp<long long>(wait + 1, 1, 1000));
  }

  void run() {
    while (!stopping.load()) {
      const int timeout_ms = expire();
      pollfd fds[2] = {{ub_fd(ctx), POLLIN, 0}, {wake_fd, POLLIN, 0}};
      const int ready = ::poll(fds, 2, timeout_ms);
      if (ready <= 0) {
        continue;
      }
      if ((fds[1].revents & POLLIN) != 0) {
        std::uint64_t count = 0;
        (void)!::read(wake_fd, &count, sizeof count);
      }
      if ((fds[0].revents & POLLIN) != 0) {
        (void)ub_process(ctx);
      }
    }
  }
};

Result<std::string> unbound_forwarder(std::string_view server) {
  std::string_view host = server;
  std::string_view port;
  if (server.starts_with('[')) {
    const auto close = server.find(']');
    if (close == std::string_view::npos) {
      return fail(ErrorCode::kInvalidInput, fmt::format("dns server \"{}\": missing ]", server));
    }
    host = server.substr(1, close - 1);
    const auto rest = server.substr(close + 1);
    if (!rest.empty()) {
      if (!rest.starts_with(':')) {
        return fail(ErrorCode::kInvalidInput,
                    fmt::format("dns server \"{}\": expected :port after ]", server));
      }
      port = rest.substr(1);
    }
  } else if (std::count(server.begin(), server.end(), ':') == 1) {
    const auto colon = server.find(':');
    host = server.substr(0, colon);
    port = server.substr(colon + 1);
  }
  auto address = dns::IpAddress::parse(host);
  if (!address) {
    return fail(ErrorCode::kInvalidInput,
                fmt::format("dns server \"{}\": not an IP address", server));
  }
  unsigned number = 53;
  if (!port.empty() || server.ends_with(':')) {
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
    if (ec != std::errc() || end != port.data() + port.size() || number == 0 || number > 65535) {
      return fail(ErrorCode::kInvalidInput, fmt::format("dns server \"{}\": bad port", server));
    }
  }
  return fmt::format("{}@{}", address->format(), number);
}

UnboundResolver::UnboundResolver(std::unique_ptr<State> state) : state_(std::move(state)) {}

Result<std::unique_ptr<UnboundResolver>> UnboundResolver::create(DnsResolverOptions options) {
  auto state = std::make_unique<State>();
  state->options = std::move(options);
  state->ctx = ub_ctx_create();
  if (state->ctx == nullptr) {
    return fail(ErrorCode::kInternal, "libunbound: cannot create a context");
  }
  auto check = [](int rc, std::string_view what) -> Result<void> {
    if (rc != 0) {
      return fail(ErrorCode::kInvalidInput, fmt::format("{}: {}", what, ub_strerror(rc)));
    }
    return ok();
  };
  // Threads, not the default forked process: the daemon drops privileges and
  // runs under a seccomp-free but fork-averse supervisor.
  TERN_TRY_VOID(check(ub_ctx_async(state->ctx, 1), "libunbound async mode"));
  // Forwarders on loopback (a local caching resolver, the tests' Knot) must be
  // reachable; unbound refuses localhost upstreams by default.
  TERN_TRY_VOID(
      check(ub_ctx_set_option(state->ctx, "do-not-query-localhost:", "no"), "libunbound option"));
  // unbound answers RFC 6761 special-use names itself ("test." is a static
  // empty zone by default, and libunbound ignores "nodefault" for it, so it is
  // made transparent); tern's tests serve "*.test" from Knot through the
  // forwarder, and a recursive lookup of "test." gets NXDOMAIN from the root anyway.
  TERN_TRY_VOID(check(ub_ctx_set_option(state->ctx, "local-zone:", "test. transparent"),
                      "libunbound option"));
  if (state->options.servers.empty()) {
    TERN_TRY_VOID(check(ub_ctx_resolvconf(state->ctx, nullptr), "dns /etc/resolv.conf"));
  } else {
    for (const auto& server : state->options.servers) {
      TERN_TRY(auto forwarder, unbound_forwarder(server));
      TERN_TRY_VOID(check(ub_ctx_set_fwd(state->ctx, forwarder.c_str()),
                          fmt::format("dns server \"{}\"", server)));
    }
  }
  if (!state->options.trust_anchor_file.empty()) {
    TERN_TRY_VOID(check(ub_ctx_add_ta_file(state->ctx, state->options.trust_anchor_file.c_str()),
                        fmt::format("dns trust anchor {}", state->options.trust_anchor_file)));
  }
  state->wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (state->wake_fd < 0) {
    return fail(ErrorCode::kInternal, "dns resolver: eventfd failed");
  }
  State* raw = state.get();
  state->poller = std::thread([raw] { raw->run(); });
  return std::unique_ptr<UnboundResolver>(new UnboundResolver(std::move(state)));
}

UnboundResolver::~UnboundResolver() {
  state_->stopping.store(true);
  state_->wake();
  if (state_->poller.joinable()) {
    state_->poller.join();
  }
  std::map<std::uintptr_t, State::Query> left;
  {
    std::lock_guard lock(state_->mutex);
    left.swap(state_->queries);
  }
  for (auto& [id, query] : left) {
    if (query.async_id != 0) {
      state_->cancel(query.async_id, query.context);
    }
    query.promise.set_value(
        dns::Answer::failure(dns::LookupStatus::kTemporary, "resolver shut down"));
  }
}

Future<dns::Answer> UnboundResolver::lookup(std::string name, dns::RecordType type) {
  auto normalized = dns::normalize_name(name);
  if (!normalized) {
    return make_ready_future(
        dns::Answer::failure(dns::LookupStatus::kMalformed, normalized.error().message));
  }
  State& state = *state_;
  std::uintptr_t id = 0;
  Future<dns::Answer> future;
  {
    std::lock_guard lock(state.mutex);
    id = state.next_id++;
    State::Query& query = state.queries[id];
    query.type = type;
    query.deadline = SteadyClock::now() + state.options.query_timeout;
    future = query.promise.future();
  }
  // The callback runs only inside ub_process() on the poller thread, so the
  // query is registered before any answer can arrive; the mutex is not held
  // across the libunbound call (it takes its own locks).
  auto* context = new State::Context{&state, id, type};
  int async_id = 0;
  const int rc =
      ub_resolve_async(state.ctx, dns::absolute_name(*normalized).c_str(), static_cast<int>(type),
                       kClassIn, context, &State::on_result, &async_id);
  if (rc != 0) {
    delete context;
    state.finish(id, dns::Answer::failure(dns::LookupStatus::kTemporary, ub_strerror(rc)));
    return future;
  }
  {
    std::lock_guard lock(state.mutex);
    if (auto it = state.queries.find(id); it != state.queries.end()) {
      it->second.async_id = async_id;
      it->second.context = context;
    }
  }
  state.wake();  // recompute the poll timeout for the new deadline
  return future;
}

}  // namespace tern::runtime
