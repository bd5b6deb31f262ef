// fault_injection.cpp - the test-only fault table behind sys.hpp's seam.
// Compiled only into the `safeexec_testing` library.
#include "safeexec/testing/fault_injection.hpp"

#include <array>
#include <atomic>

namespace safeexec::testing {
namespace {

struct Slot {
  std::atomic<unsigned> calls{0};
  std::atomic<unsigned> fire_from{0};  // 0: no fault armed
  std::atomic<unsigned> fire_until{0};
  std::atomic<int> error{0};
};

std::array<Slot, static_cast<std::size_t>(Call::count_)> g_slots;
std::atomic<unsigned> g_fired{0};
#ifndef _WIN32
std::array<std::atomic<unsigned>, static_cast<std::size_t>(Pause::count_)> g_pause_ms{};
#endif

Slot& slot(Call call) noexcept {
  return g_slots[static_cast<std::size_t>(call)];
}

}  // namespace

namespace detail {
// Lock-free, no allocation: safe in the vfork-style child.
bool fault_hit(Call call, int* error) noexcept {
  Slot& s = slot(call);
  const unsigned n = s.calls.fetch_add(1, std::memory_order_relaxed) + 1;
  const unsigned from = s.fire_from.load(std::memory_order_acquire);
  if (from != 0 && n >= from && n < s.fire_until.load(std::memory_order_relaxed)) {
    *error = s.error.load(std::memory_order_relaxed);
    g_fired.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  return false;
}

#ifndef _WIN32
// A relaxed load: lock-free, so the vfork-style child may read it.
unsigned pause_ms(Pause where) noexcept {
  return g_pause_ms[static_cast<std::size_t>(where)].load(std::memory_order_relaxed);
}
#endif
}  // namespace detail

#ifndef _WIN32
void set_pause(Pause where, unsigned ms) noexcept {
  g_pause_ms[static_cast<std::size_t>(where)].store(ms, std::memory_order_relaxed);
}
#endif

void inject_fault(Call call, unsigned nth, int error, unsigned times) {
  Slot& s = slot(call);
  const unsigned base = s.calls.load(std::memory_order_relaxed);
  s.error.store(error, std::memory_order_relaxed);
  s.fire_until.store(base + nth + times, std::memory_order_relaxed);
  s.fire_from.store(base + nth, std::memory_order_release);
}

void clear_faults() noexcept {
  for (Slot& s : g_slots) {
    s.fire_from.store(0, std::memory_order_release);
    s.fire_until.store(0, std::memory_order_relaxed);
    s.calls.store(0, std::memory_order_relaxed);
  }
  g_fired.store(0, std::memory_order_relaxed);
#ifndef _WIN32
  for (std::atomic<unsigned>& p : g_pause_ms) p.store(0, std::memory_order_relaxed);
  disable_kernel_features(0);
#endif
}

unsigned call_count(Call call) noexcept {
  return slot(call).calls.load(std::memory_order_relaxed);
}

unsigned faults_fired() noexcept {
  return g_fired.load(std::memory_order_relaxed);
}

}  // namespace safeexec::testing
