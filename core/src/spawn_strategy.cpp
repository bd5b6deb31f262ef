// spawn_strategy.cpp - the process-wide spawn strategy (spawn_strategy.hpp).
#include "safeexec/spawn_strategy.hpp"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace safeexec {
namespace {

constexpr int kUnread = -1;
std::atomic<int> g_strategy{kUnread};

SpawnStrategy from_environment() noexcept {
  // Read once, before any spawn of ours could be racing a setenv of the host.
  const char* v = std::getenv("SAFEEXEC_SPAWN_STRATEGY");  // NOLINT(concurrency-mt-unsafe)
  if (v != nullptr && std::strcmp(v, "direct") == 0) return SpawnStrategy::direct;
  if (v != nullptr && std::strcmp(v, "server") == 0) return SpawnStrategy::server;
  return SpawnStrategy::automatic;  // the default (unset, "automatic" or anything else)
}

}  // namespace

void set_spawn_strategy(SpawnStrategy s) noexcept {
  if (s == SpawnStrategy::process_default) s = SpawnStrategy::automatic;
  g_strategy.store(static_cast<int>(s), std::memory_order_relaxed);
}

SpawnStrategy spawn_strategy() noexcept {
  int v = g_strategy.load(std::memory_order_relaxed);
  if (v == kUnread) {
    int expected = kUnread;
    (void)g_strategy.compare_exchange_strong(expected, static_cast<int>(from_environment()),
                                             std::memory_order_relaxed);
    v = g_strategy.load(std::memory_order_relaxed);
  }
  return static_cast<SpawnStrategy>(v);
}

}  // namespace safeexec
