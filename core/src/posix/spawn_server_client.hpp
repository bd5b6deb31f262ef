// spawn_server_client.hpp - the library's end of the spawn server
// (spawn_server_main.cpp): one server per process, started on first use with
// the direct path, restarted when it died or when the caller's credentials
// or limits changed since it started, never shared with a forked child.
#pragma once

#include <sys/types.h>

#include "child.hpp"
#include "safeexec/errors.hpp"

namespace safeexec::detail {

struct ServerSpawn {
  /// false: the server was not asked (it cannot start here, or the request
  /// cannot be carried); nothing was started and the caller spawns directly.
  bool sent = false;
  pid_t pid = -1;  ///< the caller's new child; -1 when none exists
  int pidfd = -1;  ///< its pidfd (owned by the caller now), or -1
  int clone_error = 0;
  SpawnStage clone_stage = SpawnStage::clone;  ///< pid -1: what failed
  ChildReport report{};                        ///< pid > 0: the child's own report
};

/// Asks this process's spawn server to start `plan` (descriptors, working
/// directory, umask and ignored signals of the caller travel with it). On
/// a server death with the request in flight, a child it had already made is
/// killed and reaped, and the result says {spawn_server, EPIPE}; the next
/// request starts a new server. Never throws.
ServerSpawn spawn_through_server(const ChildPlan& plan) noexcept;

}  // namespace safeexec::detail
