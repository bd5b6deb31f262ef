// environ_snapshot.cpp - the one read of environ (see environ_snapshot.hpp).
#include "environ_snapshot.hpp"

#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include "safeexec/errors.hpp"
#include "sys.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration)

namespace safeexec::detail {
namespace {

// Atomic loads: environ and its slots may be written by another thread's
// setenv() (undefined for glibc too, but then at least the compiler reads
// each once, where the code says).
char** load_environ() noexcept {
  return __atomic_load_n(&environ, __ATOMIC_ACQUIRE);
}

/// False when `p` points into no mapping (mincore says ENOMEM): a pointer
/// the allocator wrote, not one setenv() did. A system call, not a read, so
/// a bad pointer is an answer and not a crash.
bool points_into_a_mapping(const char* p) noexcept {
  static const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const std::uintptr_t at = reinterpret_cast<std::uintptr_t>(p) & ~(page - 1);
  unsigned char resident = 0;
  // NOLINTNEXTLINE(performance-no-int-to-ptr): an address from the array, probed
  return ::mincore(reinterpret_cast<void*>(at), 1, &resident) == 0 || errno != ENOMEM;
}

/// The pointer array as it is now. When setenv() grows environ, realloc
/// frees the old array before environ names the new one, and the allocator
/// writes its own pointers into the freed block's first slots (at most
/// four: glibc's bins keep two, large bins four). A copy taken in that
/// moment holds them while environ still looks unchanged, for as long as
/// the setenv() thread is inside realloc (preempted there, indefinitely).
/// So a copy is kept only when environ named the same array before and
/// after it and its first four pointers name mapped memory; otherwise it is
/// taken again, yielding between tries so the setenv() thread can finish,
/// and after a few tries the spawn fails typed (SystemError, EAGAIN) rather
/// than following a torn copy or running the child with an environment it
/// was not meant to get (a host that moves environ that fast breaks glibc's
/// own rules: env.hpp).
std::vector<char*> copy_pointer_array() {
  constexpr int kTries = 16;
  constexpr std::size_t kSlotsAFreeWrites = 4;
  std::vector<char*> out;
  out.reserve(256);
  for (int attempt = 0; attempt < kTries; ++attempt) {
    out.clear();
    char** const env = load_environ();
    if (env == nullptr) return out;
    for (char** e = env;; ++e) {
      char* const entry = __atomic_load_n(e, __ATOMIC_RELAXED);
      if (entry == nullptr) break;
      out.push_back(entry);
    }
    if (load_environ() != env) continue;
    const std::size_t probe = std::min(out.size(), kSlotsAFreeWrites);
    if (std::all_of(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(probe),
                    points_into_a_mapping)) {
      return out;
    }
    (void)::sched_yield();
  }
  throw SystemError("environ changed under each of " + std::to_string(kTries) +
                        " copies (another thread calls setenv()/putenv() meanwhile): the "
                        "child's environment cannot be read",
                    EAGAIN);
}

}  // namespace

EnvironSnapshot EnvironSnapshot::take() {
  (void)sys::environ_read_seen();
  const std::vector<char*> raw = copy_pointer_array();
  // The strings: glibc's setenv() allocates a new one for every value and
  // never frees an old one, so each pointer copied above stays readable.
  std::vector<std::size_t> lengths;
  lengths.reserve(raw.size());
  std::size_t total = 0;
  for (const char* entry : raw) {
    lengths.push_back(std::strlen(entry));
    total += lengths.back() + 1;
  }
  EnvironSnapshot s;
  s.bytes_.resize(total);
  s.pointers_.reserve(raw.size() + 1);
  char* at = s.bytes_.data();
  for (std::size_t i = 0; i < raw.size(); ++i) {
    std::memcpy(at, raw[i], lengths[i]);
    at[lengths[i]] = '\0';  // ours, whatever happened to the source since strlen
    s.pointers_.push_back(at);
    at += lengths[i] + 1;
  }
  s.pointers_.push_back(nullptr);
  return s;
}

const char* EnvironSnapshot::find(std::string_view key) const noexcept {
  for (const char* entry : pointers_) {
    if (entry == nullptr) break;
    const std::string_view e(entry);
    if (e.size() > key.size() && e[key.size()] == '=' && e.substr(0, key.size()) == key) {
      return entry + key.size() + 1;
    }
  }
  return nullptr;
}

}  // namespace safeexec::detail
