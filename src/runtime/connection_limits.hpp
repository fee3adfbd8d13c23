// SPDX-License-Identifier: Apache-2.0
// ConnectionLimits: the total and per-peer-address connection caps, shared by every
// listener of a process so that "max_connections" means the whole server.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>

#include <asio/ip/address.hpp>

namespace tern::runtime {

// Thread-safe counters of open connections, in total and per peer address, checked
// at accept time by every Listener that shares this object. The caps may be changed
// while connections are open (SIGHUP reload); a lower cap refuses new connections
// until enough old ones have closed, it never closes open ones.
//
// IPv4-mapped IPv6 peers count as their IPv4 address (the Listener normalises them).
class ConnectionLimits {
 public:
  enum class Admission { kAdmitted, kGlobalLimit, kPerIpLimit };

  ConnectionLimits(std::size_t max_total, std::size_t max_per_ip)
      : max_total_(max_total), max_per_ip_(max_per_ip) {}

  // Counts one more connection from `peer` if both caps allow it; otherwise counts
  // nothing and says which cap refused it. Every kAdmitted needs one release().
  Admission admit(const asio::ip::address& peer);

  // Forgets one connection from `peer` that admit() counted.
  void release(const asio::ip::address& peer);

  // A peer on a local (UNIX-domain) socket has no address: it counts against the
  // total cap only. Who may connect is decided by the socket file's mode and
  // owner, as for Postfix's and Dovecot's local services. Every kAdmitted needs
  // one release_local().
  Admission admit_local();
  void release_local();

  // Changes both caps for connections admitted from now on.
  void set_caps(std::size_t max_total, std::size_t max_per_ip);

  std::size_t open() const;
  std::size_t open_from(const asio::ip::address& peer) const;

 private:
  mutable std::mutex mutex_;
  std::size_t max_total_;                            // guarded by mutex_
  std::size_t max_per_ip_;                           // guarded by mutex_
  std::size_t open_ = 0;                             // guarded by mutex_
  std::map<asio::ip::address, std::size_t> per_ip_;  // guarded by mutex_; no zero entries
};

}  // namespace tern::runtime
