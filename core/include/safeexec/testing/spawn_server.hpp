// safeexec/testing/spawn_server.hpp - TEST ONLY: see and break the spawn
// server (spawn_strategy.hpp). Implemented by the safeexec::testing library.
#pragma once

namespace safeexec::testing {

/// This process's running spawn server, or -1 (does not start one).
int spawn_server_pid() noexcept;
/// Starts the server if it is not running; its pid, or -1 where it cannot.
int start_spawn_server() noexcept;
/// The next request makes the server SIGKILL itself after its clone and
/// before its reply: a server death with a request in flight.
void kill_spawn_server_before_next_reply() noexcept;
/// The next request makes the server SIGSTOP itself there instead: a server
/// that hangs with a request in flight.
void stop_spawn_server_before_next_reply() noexcept;
/// How long a request waits for the server's reply (default 10 000 ms;
/// 0 or less restores it).
void set_spawn_server_reply_bound(int milliseconds) noexcept;
/// Stops the server (killed and reaped) and forgets that it could not start.
void reset_spawn_server() noexcept;
/// How many spawns went through the server since the process started.
unsigned spawns_through_server() noexcept;

}  // namespace safeexec::testing
