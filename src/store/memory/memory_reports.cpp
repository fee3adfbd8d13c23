// SPDX-License-Identifier: Apache-2.0
#include "store/memory/memory_reports.hpp"

#include <algorithm>
#include <set>

namespace tern::store::memory {

namespace d = tern::domain;

namespace {

template <class T>
d::Async<T> ready(Result<T> value) {
  return make_ready_future<Result<T>>(std::move(value));
}

// Distinct domains of `counts` (keyed by domain first, hour second) with an hour in
// [begin, end).
template <class Map>
std::vector<std::string> domains_in(const Map& counts, std::int64_t begin, std::int64_t end) {
  std::set<std::string> found;
  for (const auto& [key, count] : counts) {
    const auto hour = std::get<1>(key);
    if (hour >= begin && hour < end) {
      found.insert(std::get<0>(key));
    }
  }
  return {found.begin(), found.end()};
}

}  // namespace

d::Async<void> MemoryReportStore::record_dmarc(d::DmarcEvaluation evaluation) {
  if (auto checked = d::check_dmarc_evaluation(evaluation); !checked) {
    return ready<void>(std::move(checked));
  }
  const auto hour = d::report_hour(evaluation.time);
  std::lock_guard lock(mutex_);
  ++dmarc_[{evaluation.policy.domain, hour, d::encode_dmarc_row(evaluation.row)}];
  dmarc_policies_[{evaluation.policy.domain, hour}] = d::encode_dmarc_policy(evaluation.policy);
  return ready<void>(ok());
}

d::Async<void> MemoryReportStore::record_tls(d::TlsSessionResult result) {
  if (auto checked = d::check_tls_result(result); !checked) {
    return ready<void>(std::move(checked));
  }
  std::lock_guard lock(mutex_);
  tls_[{result.policy_domain, d::report_hour(result.time), d::encode_tls_policy(result),
        d::encode_tls_detail(result)}] += result.sessions;
  return ready<void>(ok());
}

d::Async<std::vector<std::string>> MemoryReportStore::dmarc_domains(SystemTime begin,
                                                                    SystemTime end) {
  std::lock_guard lock(mutex_);
  return ready<std::vector<std::string>>(
      domains_in(dmarc_, d::report_hour(begin), d::report_hour(end)));
}

d::Async<d::DmarcAggregate> MemoryReportStore::dmarc_aggregate(std::string domain, SystemTime begin,
                                                               SystemTime end) {
  const auto first = d::report_hour(begin);
  const auto last = d::report_hour(end);
  std::lock_guard lock(mutex_);
  std::vector<d::CountedKey> rows;
  for (auto it = dmarc_.lower_bound({domain, first, std::string()});
       it != dmarc_.end() && std::get<0>(it->first) == domain && std::get<1>(it->first) < last;
       ++it) {
    rows.push_back({std::get<2>(it->first), it->second});
  }
  // The policy of the latest hour in the period that recorded one.
  const std::string* policy = nullptr;
  for (auto it = dmarc_policies_.lower_bound({domain, first});
       it != dmarc_policies_.end() && it->first.first == domain && it->first.second < last; ++it) {
    policy = &it->second;
  }
  if (rows.empty() || policy == nullptr) {
    return ready<d::DmarcAggregate>(fail(ErrorCode::kNotFound, "no DMARC data for " + domain));
  }
  return ready(d::make_dmarc_aggregate(std::move(domain), *policy, std::move(rows)));
}

d::Async<std::vector<std::string>> MemoryReportStore::tls_domains(SystemTime begin,
                                                                  SystemTime end) {
  std::lock_guard lock(mutex_);
  return ready<std::vector<std::string>>(
      domains_in(tls_, d::report_hour(begin), d::report_hour(end)));
}

d::Async<std::vector<d::TlsPolicySummary>> MemoryReportStore::tls_summary(std::string domain,
                                                                          SystemTime begin,
                                                                          SystemTime end) {
  const auto first = d::report_hour(begin);
  const auto last = d::report_hour(end);
  std::lock_guard lock(mutex_);
  std::vector<d::CountedTlsKey> rows;
  for (auto it = tls_.lower_bound({domain, first, std::string(), std::string()});
       it != tls_.end() && std::get<0>(it->first) == domain && std::get<1>(it->first) < last;
       ++it) {
    rows.push_back({std::get<2>(it->first), std::get<3>(it->first), it->second});
  }
  return ready(d::make_tls_summary(std::move(domain), std::move(rows)));
}

d::Async<bool> MemoryReportStore::store_received_report(d::ReceivedReport report) {
  std::lock_guard lock(mutex_);
  for (const auto& existing : received_) {
    if (existing.kind == report.kind && existing.org_name == report.org_name &&
        existing.report_id == report.report_id) {
      return ready<bool>(false);
    }
  }
  report.id = next_report_id_++;
  received_.push_back(std::move(report));
  return ready<bool>(true);
}

d::Async<std::vector<d::ReceivedReport>> MemoryReportStore::received_reports(
    d::ReceivedReportQuery query) {
  std::lock_guard lock(mutex_);
  std::vector<d::ReceivedReport> out;
  for (const auto& report : received_) {
    if ((!query.kind || report.kind == *query.kind) &&
        (!query.policy_domain || report.policy_domain == *query.policy_domain)) {
      out.push_back(report);
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.end != b.end ? a.end > b.end : a.id > b.id;
  });
  if (out.size() > query.limit) {
    out.resize(query.limit);
  }
  return ready<std::vector<d::ReceivedReport>>(std::move(out));
}

d::Async<std::optional<SystemTime>> MemoryReportStore::report_cursor(std::string name) {
  std::lock_guard lock(mutex_);
  auto it = cursors_.find(name);
  return ready<std::optional<SystemTime>>(
      it == cursors_.end() ? std::nullopt : std::optional<SystemTime>(it->second));
}

d::Async<void> MemoryReportStore::set_report_cursor(std::string name, SystemTime value) {
  std::lock_guard lock(mutex_);
  cursors_[std::move(name)] = value;
  return ready<void>(ok());
}

d::Async<bool> MemoryReportStore::compare_and_set_report_cursor(std::string name,
                                                                std::optional<SystemTime> expected,
                                                                SystemTime value) {
  std::lock_guard lock(mutex_);
  auto it = cursors_.find(name);
  // Whole seconds, as the sqlite and postgres backends keep cursors.
  const bool matches = it == cursors_.end()
                           ? !expected.has_value()
                           : expected && to_unix_seconds(*expected) == to_unix_seconds(it->second);
  if (matches) {
    cursors_[std::move(name)] = value;
  }
  return ready<bool>(matches);
}

d::Async<void> MemoryReportStore::put_report_post(d::ReportPost post) {
  if (auto checked = d::check_report_post(post); !checked) {
    return ready<void>(std::move(checked));
  }
  std::lock_guard lock(mutex_);
  auto key = std::make_pair(post.uri, post.report_id);
  posts_.insert_or_assign(std::move(key), std::move(post));
  return ready<void>(ok());
}

std::vector<d::ReportPost*> MemoryReportStore::due_locked(SystemTime now, std::size_t limit) {
  std::vector<d::ReportPost*> out;
  for (auto& [key, post] : posts_) {
    if (post.next_attempt <= now) {
      out.push_back(&post);
    }
  }
  // The map orders by (uri, report_id); a stable sort keeps that among equal times.
  std::stable_sort(out.begin(), out.end(),
                   [](const auto* a, const auto* b) { return a->next_attempt < b->next_attempt; });
  if (out.size() > limit) {
    out.resize(limit);
  }
  return out;
}

d::Async<std::vector<d::ReportPost>> MemoryReportStore::due_report_posts(SystemTime now,
                                                                         std::size_t limit) {
  std::lock_guard lock(mutex_);
  std::vector<d::ReportPost> out;
  for (const auto* post : due_locked(now, limit)) {
    out.push_back(*post);
  }
  return ready<std::vector<d::ReportPost>>(std::move(out));
}

d::Async<std::vector<d::ReportPost>> MemoryReportStore::claim_report_posts(
    SystemTime now, std::size_t limit, std::chrono::seconds lease) {
  std::lock_guard lock(mutex_);
  std::vector<d::ReportPost> out;
  for (auto* post : due_locked(now, limit)) {
    post->next_attempt = now + lease;
    out.push_back(*post);
  }
  return ready<std::vector<d::ReportPost>>(std::move(out));
}

d::Async<void> MemoryReportStore::remove_report_post(std::string uri, std::string report_id) {
  std::lock_guard lock(mutex_);
  posts_.erase(std::make_pair(std::move(uri), std::move(report_id)));
  return ready<void>(ok());
}

d::Async<d::RecordedReportRows> MemoryReportStore::export_rows() {
  std::lock_guard lock(mutex_);
  // The maps are ordered by key, bytewise for the strings: the port's order.
  d::RecordedReportRows out;
  for (const auto& [key, count] : dmarc_) {
    out.dmarc.push_back({std::get<0>(key), std::get<1>(key), std::get<2>(key), count});
  }
  for (const auto& [key, policy] : dmarc_policies_) {
    out.dmarc_policies.push_back({key.first, key.second, policy});
  }
  for (const auto& [key, count] : tls_) {
    out.tls.push_back(
        {std::get<0>(key), std::get<1>(key), std::get<2>(key), std::get<3>(key), count});
  }
  return ready<d::RecordedReportRows>(std::move(out));
}

d::Async<void> MemoryReportStore::import_rows(d::RecordedReportRows rows) {
  // Checked first: one step, all or nothing, like the SQL backends' transaction.
  for (const auto& r : rows.dmarc) {
    if (auto checked = d::check_recorded_row(r.domain, r.count); !checked) {
      return ready<void>(std::move(checked));
    }
  }
  for (const auto& p : rows.dmarc_policies) {
    if (auto checked = d::check_recorded_row(p.domain, 1); !checked) {
      return ready<void>(std::move(checked));
    }
  }
  for (const auto& t : rows.tls) {
    if (auto checked = d::check_recorded_row(t.domain, t.count); !checked) {
      return ready<void>(std::move(checked));
    }
  }
  std::lock_guard lock(mutex_);
  for (auto& r : rows.dmarc) {
    dmarc_[{std::move(r.domain), r.hour, std::move(r.row)}] += r.count;
  }
  for (auto& p : rows.dmarc_policies) {
    dmarc_policies_[{std::move(p.domain), p.hour}] = std::move(p.policy);
  }
  for (auto& t : rows.tls) {
    tls_[{std::move(t.domain), t.hour, std::move(t.policy), std::move(t.detail)}] += t.count;
  }
  return ready<void>(ok());
}

d::Async<std::uint64_t> MemoryReportStore::prune_reports(SystemTime before) {
  const auto hour = d::report_hour(before);
  std::lock_guard lock(mutex_);
  std::uint64_t removed = 0;
  auto prune = [&](auto& map) {
    for (auto it = map.begin(); it != map.end();) {
      if (std::get<1>(it->first) < hour) {
        it = map.erase(it);
        ++removed;
      } else {
        ++it;
      }
    }
  };
  prune(dmarc_);
  prune(dmarc_policies_);
  prune(tls_);
  const auto old_size = received_.size();
  std::erase_if(received_, [&](const auto& r) { return r.end < before; });
  removed += old_size - received_.size();
  return ready<std::uint64_t>(removed);
}

}  // namespace tern::store::memory
