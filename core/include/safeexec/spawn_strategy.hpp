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
// automatic: the server when the caller's descriptor table is large
// (kAutomaticServerFdTable entries or more), else direct.
// Windows ignores the setting: it always spawns directly.
#pragma once

namespace safeexec {

enum class SpawnStrategy {
  process_default,  ///< SpawnOptions only: whatever set_spawn_strategy() chose
  direct,
  server,
  automatic,
};

/// The descriptor-table size (/proc/self/status FDSize) from which
/// `automatic` uses the server. Measured with bench/ (README, "Spawn server").
inline constexpr unsigned kAutomaticServerFdTable = 1024;

/// The process-wide strategy (default: direct, or the environment variable
/// SAFEEXEC_SPAWN_STRATEGY = direct|server|automatic, read once at first use).
void set_spawn_strategy(SpawnStrategy s) noexcept;
SpawnStrategy spawn_strategy() noexcept;

}  // namespace safeexec
