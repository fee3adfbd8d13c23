// SPDX-License-Identifier: Apache-2.0
#include "services/delivery/sts_policy.hpp"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/ascii.hpp"

namespace tern::services::delivery {

namespace {

constexpr std::uint32_t kMaxAgeLimit = 31557600;  // RFC 8461 §3.2

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

std::string_view trim_wsp(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
    text.remove_suffix(1);
  }
  return text;
}

std::string strip_dot(std::string_view host) {
  if (host.ends_with('.')) {
    host.remove_suffix(1);
  }
  return ascii::lower(host);
}

// A domain name usable as a file name: what dns::is_host_name() accepts, lower case.
bool safe_file_name(const std::string& domain) {
  return dns::is_host_name(domain) && domain == ascii::lower(domain);
}

}  // namespace

std::string_view sts_mode_name(StsMode mode) {
  switch (mode) {
    case StsMode::kNone:
      return "none";
    case StsMode::kTesting:
      return "testing";
    case StsMode::kEnforce:
      return "enforce";
  }
  return "none";
}

std::optional<std::string> parse_sts_txt(const std::vector<dns::TxtRecord>& records) {
  // RFC 8461 §3.1: records that do not begin with "v=STSv1;" are discarded; the
  // rest must be exactly one record, and a valid one.
  std::vector<std::string> candidates;
  for (const auto& record : records) {
    std::string text = record.joined();
    if (text.starts_with("v=STSv1;")) {
      candidates.push_back(std::move(text));
    }
  }
  if (candidates.size() != 1) {
    return std::nullopt;
  }
  // sts-text-record = sts-version 1*(sts-sep sts-field) [sts-sep], sts-sep = *WSP ";" *WSP
  std::optional<std::string> id;
  std::string_view rest = std::string_view(candidates.front()).substr(8);
  while (!rest.empty()) {
    const std::size_t semi = rest.find(';');
    const std::string_view field = trim_wsp(rest.substr(0, semi));
    rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
    if (field.empty()) {
      if (rest.empty()) {
        break;  // the optional trailing separator
      }
      return std::nullopt;
    }
    const std::size_t eq = field.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      return std::nullopt;
    }
    const std::string_view value = field.substr(eq + 1);
    if (field.substr(0, eq) == "id") {
      // sts-id-value = 1*32(ALPHA / DIGIT)
      if (value.empty() || value.size() > 32 ||
          !std::all_of(value.begin(), value.end(), is_alnum)) {
        return std::nullopt;
      }
      if (!id) {
        id = std::string(value);  // a repeated field keeps its first value
      }
    }
  }
  return id;
}

Result<StsPolicy> parse_sts_policy(std::string_view body, std::string id) {
  StsPolicy policy;
  policy.id = std::move(id);
  bool seen_version = false;
  bool seen_mode = false;
  bool seen_max_age = false;
  bool first = true;
  while (!body.empty()) {
    // sts-policy-term = LF / CRLF
    std::size_t lf = body.find('\n');
    std::string_view line = body.substr(0, lf);
    body = lf == std::string_view::npos ? std::string_view() : body.substr(lf + 1);
    if (line.ends_with('\r')) {
      line.remove_suffix(1);
    }
    line = trim_wsp(line);
    if (line.empty()) {
      if (body.empty()) {
        break;  // the optional final terminator
      }
      return fail(ErrorCode::kInvalidInput, "empty line inside the policy");
    }
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      return fail(ErrorCode::kInvalidInput,
                  "line without a key: '" + std::string(line.substr(0, 40)) + "'");
    }
    std::string_view key = line.substr(0, colon);
    std::string_view value = trim_wsp(line.substr(colon + 1));
    // sts-policy-ext-name = alphanum *31(alphanum / "_" / "-" / ".")
    if (key.size() > 32 || !is_alnum(key.front()) ||
        !std::all_of(key.begin(), key.end(),
                     [](char c) { return is_alnum(c) || c == '_' || c == '-' || c == '.'; })) {
      return fail(ErrorCode::kInvalidInput,
                  "bad field name '" + std::string(key.substr(0, 40)) + "'");
    }
    if (first && key != "version") {
      return fail(ErrorCode::kInvalidInput, "the first field is not version");
    }
    first = false;
    policy.lines.push_back(std::string(key) + ": " + std::string(value));
    if (key == "version") {
      if (seen_version) {
        continue;  // §3.2: a repeated field keeps its first value
      }
      seen_version = true;
      if (value != "STSv1") {
        return fail(ErrorCode::kInvalidInput, "version: unsupported '" + std::string(value) + "'");
      }
    } else if (key == "mode") {
      if (seen_mode) {
        continue;
      }
      seen_mode = true;
      if (value == "enforce") {
        policy.mode = StsMode::kEnforce;
      } else if (value == "testing") {
        policy.mode = StsMode::kTesting;
      } else if (value == "none") {
        policy.mode = StsMode::kNone;
      } else {
        return fail(ErrorCode::kInvalidInput, "mode: unknown value '" + std::string(value) + "'");
      }
    } else if (key == "max_age") {
      if (seen_max_age) {
        continue;
      }
      seen_max_age = true;
      // sts-policy-max-age-value = 1*10(DIGIT), at most 31557600.
      std::uint64_t age = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), age);
      if (ec != std::errc() || end != value.data() + value.size() || value.size() > 10 ||
          value.empty() || value.front() == '+') {
        return fail(ErrorCode::kInvalidInput, "max_age: not a number '" + std::string(value) + "'");
      }
      if (age > kMaxAgeLimit) {
        return fail(ErrorCode::kInvalidInput, "max_age: over 31557600");
      }
      policy.max_age = static_cast<std::uint32_t>(age);
    } else if (key == "mx") {
      // sts-policy-mx-value = ["*."] Domain
      std::string_view domain = value.starts_with("*.") ? value.substr(2) : value;
      if (!dns::is_host_name(domain)) {
        return fail(ErrorCode::kInvalidInput,
                    "mx: not a host pattern '" + std::string(value) + "'");
      }
      policy.mx.push_back(ascii::lower(value));
    }
  }
  if (!seen_version) {
    return fail(ErrorCode::kInvalidInput, "no version field");
  }
  if (!seen_mode) {
    return fail(ErrorCode::kInvalidInput, "no mode field");
  }
  if (!seen_max_age) {
    return fail(ErrorCode::kInvalidInput, "no max_age field");
  }
  if (policy.mx.empty() && policy.mode != StsMode::kNone) {
    return fail(ErrorCode::kInvalidInput, "no mx field");
  }
  return policy;
}

bool sts_mx_matches(std::string_view pattern, std::string_view host) {
  const std::string name = strip_dot(host);
  const std::string pat = strip_dot(pattern);
  if (name.empty() || pat.empty()) {
    return false;
  }
  if (!pat.starts_with("*.")) {
    return name == pat;
  }
  // RFC 8461 §4.1: the wildcard stands for the entire left-most label only.
  const std::string_view suffix = std::string_view(pat).substr(1);  // ".example.com"
  if (name.size() <= suffix.size() || !name.ends_with(suffix)) {
    return false;
  }
  const std::string_view label = std::string_view(name).substr(0, name.size() - suffix.size());
  return !label.empty() && label.find('.') == std::string_view::npos;
}

bool sts_policy_allows(const StsPolicy& policy, std::string_view host) {
  return std::any_of(policy.mx.begin(), policy.mx.end(),
                     [&](const std::string& pattern) { return sts_mx_matches(pattern, host); });
}

// ----- StsCache

StsCache::StsCache(std::string directory) : directory_(std::move(directory)) {}

const StsCache::Entry* StsCache::find_locked(const std::string& domain) {
  auto it = entries_.find(domain);
  if (it == entries_.end()) {
    auto loaded = load_file(domain);
    if (!loaded) {
      return nullptr;
    }
    it = entries_.emplace(domain, std::move(*loaded)).first;
  }
  return &it->second;
}

std::optional<StsCache::Entry> StsCache::fresh(const std::string& domain, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  const Entry* entry = find_locked(domain);
  // RFC 8461 §3.2: cache for up to max_age from the last fetch.
  if (entry == nullptr || now >= entry->fetched + std::chrono::seconds(entry->policy.max_age)) {
    return std::nullopt;
  }
  return *entry;
}

std::optional<StsCache::Entry> StsCache::cached(const std::string& domain) {
  std::lock_guard lock(mutex_);
  const Entry* entry = find_locked(domain);
  if (entry == nullptr) {
    return std::nullopt;
  }
  return *entry;
}

std::vector<std::string> StsCache::domains() {
  std::vector<std::string> out;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [domain, entry] : entries_) {
      out.push_back(domain);
    }
  }
  if (!directory_.empty()) {
    std::error_code ec;
    for (std::filesystem::directory_iterator it(directory_, ec), end; !ec && it != end;
         it.increment(ec)) {
      // Names store() writes; a "<domain>.tmp" left by a crash mid-write is not
      // a policy (and "tmp" is no top-level domain).
      std::string name = it->path().filename().string();
      if (it->is_regular_file(ec) && safe_file_name(name) && !name.ends_with(".tmp")) {
        out.push_back(std::move(name));
      }
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

void StsCache::forget(const std::string& domain) {
  {
    std::lock_guard lock(mutex_);
    entries_.erase(domain);
    failures_.erase(domain);
  }
  if (!directory_.empty() && safe_file_name(domain)) {
    std::error_code ec;
    std::filesystem::remove(directory_ + "/" + domain, ec);
  }
}

Result<void> StsCache::store(const std::string& domain, Entry entry) {
  std::string body = entry.body;
  const auto fetched =
      std::chrono::duration_cast<std::chrono::seconds>(entry.fetched.time_since_epoch()).count();
  const std::string id = entry.policy.id;
  {
    std::lock_guard lock(mutex_);
    entries_[domain] = std::move(entry);
    failures_.erase(domain);
  }
  if (directory_.empty() || !safe_file_name(domain)) {
    return {};
  }
  std::error_code ec;
  std::filesystem::create_directories(directory_, ec);
  // Written to a temporary name and renamed, so a crash never leaves half a policy.
  const std::string path = directory_ + "/" + domain;
  const std::string temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out << "id " << id << "\nfetched " << fetched << "\n\n" << body;
    if (!out) {
      return fail(ErrorCode::kIo, "mta-sts cache " + temp + ": cannot be written");
    }
  }
  std::filesystem::rename(temp, path, ec);
  if (ec) {
    return fail(ErrorCode::kIo, "mta-sts cache " + path + ": " + ec.message());
  }
  return {};
}

std::optional<StsCache::Entry> StsCache::load_file(const std::string& domain) {
  if (directory_.empty() || !safe_file_name(domain)) {
    return std::nullopt;
  }
  std::ifstream in(directory_ + "/" + domain, std::ios::binary);
  if (!in) {
    return std::nullopt;
  }
  std::string id_line;
  std::string fetched_line;
  std::string blank;
  if (!std::getline(in, id_line) || !std::getline(in, fetched_line) || !std::getline(in, blank) ||
      !id_line.starts_with("id ") || !fetched_line.starts_with("fetched ") || !blank.empty()) {
    return std::nullopt;
  }
  std::ostringstream rest;
  rest << in.rdbuf();
  std::int64_t seconds = 0;
  const std::string_view number = std::string_view(fetched_line).substr(8);
  auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), seconds);
  if (ec != std::errc() || end != number.data() + number.size()) {
    return std::nullopt;
  }
  auto policy = parse_sts_policy(rest.str(), id_line.substr(3));
  if (!policy) {
    return std::nullopt;  // a damaged file is as good as none
  }
  return Entry{std::move(*policy), Clock::time_point(std::chrono::seconds(seconds)), rest.str()};
}

void StsCache::note_fetch_failure(const std::string& domain, const std::string& id,
                                  Clock::time_point now) {
  std::lock_guard lock(mutex_);
  failures_[domain] = {id, now};
}

bool StsCache::may_fetch(const std::string& domain, const std::string& id, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  auto it = failures_.find(domain);
  if (it == failures_.end() || it->second.first != id) {
    return true;
  }
  return now >= it->second.second + kRetryAfterFailure;
}

}  // namespace tern::services::delivery
