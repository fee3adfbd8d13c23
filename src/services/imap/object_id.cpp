// SPDX-License-Identifier: Apache-2.0
#include "services/imap/object_id.hpp"

#include <fmt/format.h>

#include "base/clock.hpp"
#include "domain/ids.hpp"

namespace tern::services::imap {

std::string mailbox_object_id(const domain::Mailbox& mailbox) {
  return fmt::format("F{}", static_cast<std::uint32_t>(mailbox.uid_validity));
}

std::string email_object_id(const domain::Entry& entry) {
  const auto ticks = entry.internal_date.time_since_epoch().count();
  return "M" + domain::sha256_hex(fmt::format("{}:{}", entry.blob.hex, ticks)).substr(0, 24);
}

}  // namespace tern::services::imap
