// safeexec/spawn_strategy.hpp - how a POSIX spawn is made (issue 20).
//
// direct: the calling process clones the child itself (clone(CLONE_VM |
// CLONE_VFORK)); the kernel copies the caller's descriptor table for it, so
// the cost grows with the caller's open descriptors.
// server: a small spawn server (one per process, started on first use) clones
// the child with CLONE_PARENT, so the child is still the caller's own child
// (waiting, signals, reaping and timeouts work as for a direct spawn) but only
// the server's few descriptors are copied. Where the server cannot be used
// (no x86-64 clone3, the server will not start, a request it cannot carry:
// a cgroup leaf, a parent-death signal, a huge request) the spawn is direct.
// automatic: the server when the caller holds a descriptor numbered
// kAutomaticServerFd or higher, else direct.
// Windows ignores the setting: it always spawns directly.
#pragma once

namespace safeexec {

enum class SpawnStrategy {
  process_default,  ///< SpawnOptions only: whatever set_spawn_strategy() chose
  direct,
  server,
  automatic,
};

/// `automatic` uses the server while the caller has a descriptor numbered
/// this or higher open (a direct spawn's cost follows the highest open
/// descriptor: the kernel copies the table up to it, and execve's
/// close-on-exec pass walks the copy). Measured with bench/ (threshold-*
/// rows; README, "Spawn strategy"): the server, ~10 % dearer than a direct
/// spawn for a small caller, becomes the cheaper one at about 2 600 open.
inline constexpr int kAutomaticServerFd = 2560;

/// The process-wide strategy: automatic (measured to win: as cheap as
/// direct for a small caller, the server's flat cost for a large one;
/// README, "Spawn strategy"), or the environment variable
/// SAFEEXEC_SPAWN_STRATEGY = direct|server|automatic, read once at first
/// use. set_spawn_strategy(process_default) restores automatic.
void set_spawn_strategy(SpawnStrategy s) noexcept;
SpawnStrategy spawn_strategy() noexcept;

}  // namespace safeexec
