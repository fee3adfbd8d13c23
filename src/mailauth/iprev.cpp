// SPDX-License-Identifier: Apache-2.0
#include "mailauth/iprev.hpp"

#include <algorithm>

namespace tern::mailauth {
namespace {

bool is_temporary(const dns::Answer& answer) {
  return answer.status == dns::LookupStatus::kTemporary ||
         answer.status == dns::LookupStatus::kMalformed;
}

}  // namespace

IprevEvaluator::IprevEvaluator(const dns::IpAddress& ip, std::size_t max_names)
    : ip_(ip.mapped_v4().value_or(ip)), max_names_(max_names) {
  pending_ = DnsQuery{ip_.reverse_name(), dns::RecordType::kPtr};
}

void IprevEvaluator::provide(const dns::Answer& answer) {
  if (!pending_) {
    return;
  }
  if (pending_->type == dns::RecordType::kPtr) {
    pending_.reset();
    // RFC 8601 §2.7.3: a PTR failure is temperror, no PTR data permerror.
    if (is_temporary(answer)) {
      result_ = IprevResult{AuthResult::kTempError, "", "PTR lookup failed"};
      return;
    }
    if (!answer.ok() || answer.names.empty()) {
      result_ = IprevResult{AuthResult::kPermError, "", "no PTR record"};
      return;
    }
    names_ = answer.names;
    names_.resize(std::min(names_.size(), max_names_));
    next_name();
    return;
  }
  pending_.reset();
  if (is_temporary(answer)) {
    saw_temporary_ = true;
  } else if (std::find(answer.addresses.begin(), answer.addresses.end(), ip_) !=
             answer.addresses.end()) {
    result_ = IprevResult{AuthResult::kPass, names_[next_ - 1], ""};
    return;
  }
  next_name();
}

void IprevEvaluator::next_name() {
  if (next_ < names_.size()) {
    pending_ =
        DnsQuery{names_[next_++], ip_.is_v4() ? dns::RecordType::kA : dns::RecordType::kAaaa};
    return;
  }
  // §2.7.3: forward lookups that disagree or return nothing are fail; if one of
  // them could not complete, a later attempt might pass: temperror.
  result_ = saw_temporary_
                ? IprevResult{AuthResult::kTempError, "", "forward lookup failed"}
                : IprevResult{AuthResult::kFail, "", "no PTR name maps back to the address"};
}

}  // namespace tern::mailauth
