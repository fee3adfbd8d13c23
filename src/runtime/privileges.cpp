// SPDX-License-Identifier: Apache-2.0
#include "runtime/privileges.hpp"

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

namespace tern::runtime {
namespace {

Error call_failed(std::string_view call, int err) {
  return fail(ErrorCode::kInternal,
              fmt::format("drop privileges: {}: {}", call, std::strerror(err)));
}

}  // namespace

Result<void> drop_privileges(std::string_view user, std::string_view group_arg) {
  std::string user_name(user);
  std::vector<char> buffer(16384);
  passwd pw{};
  passwd* pw_result = nullptr;
  getpwnam_r(user_name.c_str(), &pw, buffer.data(), buffer.size(), &pw_result);
  if (pw_result == nullptr) {
    return fail(ErrorCode::kNotFound, fmt::format("drop privileges: unknown user {}", user));
  }
  uid_t uid = pw.pw_uid;
  gid_t gid = pw.pw_gid;
  if (!group_arg.empty()) {
    std::string group_name(group_arg);
    std::vector<char> group_buffer(16384);

    struct group gr {};
    struct group* gr_result = nullptr;
    getgrnam_r(group_name.c_str(), &gr, group_buffer.data(), group_buffer.size(), &gr_result);
    if (gr_result == nullptr) {
      return fail(ErrorCode::kNotFound,
                  fmt::format("drop privileges: unknown group {}", group_arg));
    }
    gid = gr.gr_gid;
  }

  if (geteuid() != 0) {
    if (geteuid() == uid && getuid() == uid) {
      return ok();
    }
    return fail(ErrorCode::kPermissionDenied,
                fmt::format("drop privileges to {}: not running as root", user));
  }

  // Order matters: groups and gid can only be changed while still root.
  if (initgroups(user_name.c_str(), gid) != 0) {
    return call_failed("initgroups", errno);
  }
  if (setresgid(gid, gid, gid) != 0) {
    return call_failed("setresgid", errno);
  }
  if (setresuid(uid, uid, uid) != 0) {
    return call_failed("setresuid", errno);
  }

  // Verify: every id changed, and root is out of reach.
  uid_t ruid = 0, euid = 0, suid = 0;
  gid_t rgid = 0, egid = 0, sgid = 0;
  getresuid(&ruid, &euid, &suid);
  getresgid(&rgid, &egid, &sgid);
  if (ruid != uid || euid != uid || suid != uid || rgid != gid || egid != gid || sgid != gid) {
    return fail(ErrorCode::kInternal, "drop privileges: ids did not change");
  }
  if (uid != 0 && setuid(0) == 0) {
    return fail(ErrorCode::kInternal, "drop privileges: root could be regained");
  }
  return ok();
}

}  // namespace tern::runtime
