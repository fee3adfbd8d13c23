// SPDX-License-Identifier: Apache-2.0
// Dropping root after binding privileged ports (ARCHITECTURE.md §5).
#pragma once

#include <string_view>

#include "base/result.hpp"

namespace tern::runtime {

// Switches the whole process to `user` and `group` (an empty `group` means the
// user's primary group): supplementary groups from initgroups(3), then setgid,
// then setuid, and finally checks that root cannot be regained (setuid(0) must
// fail and the real, effective and saved ids must all be the target's).
//
// Call it after every listener is bound and every key is loaded, before the I/O
// threads start, so no thread keeps the old credentials (glibc's setuid applies
// to all threads, but doing it single-threaded avoids any window).
//
// Not running as root: succeeds without change when the process already runs as
// `user` (development setups), otherwise fails with kPermissionDenied
// ("drop privileges to tern: not running as root"). Unknown names fail with
// kNotFound ("drop privileges: unknown user tern"). Any failed call is kInternal
// naming the call and errno text; the caller must then exit.
Result<void> drop_privileges(std::string_view user, std::string_view group);

}  // namespace tern::runtime
