// environ_snapshot.hpp - the one copy of this process's environ a spawn
// works on (issue 18 item 7).
//
// Every other pass - the fast-path check, duplicate keys, PATH lookup, the
// filtered environment, the child's envp - reads this copy, never environ:
// a host thread that calls setenv() meanwhile cannot free an array under
// one of those passes. What remains is the copy itself (see take()).
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace safeexec::detail {

class EnvironSnapshot {
 public:
  /// Copies environ: the pointer array first, in one short pass (taken again,
  /// a few times at most, when environ moved meanwhile or the copy's first
  /// pointers name no mapping: see copy_pointer_array), then the strings it
  /// names. glibc never frees a string setenv() put in environ, only the
  /// array when it grows, so once the array is copied the strings are safe
  /// to read. The one read of environ in the library (counted by the test
  /// seam as Call::environ_read).
  static EnvironSnapshot take();

  EnvironSnapshot(EnvironSnapshot&&) noexcept = default;
  EnvironSnapshot& operator=(EnvironSnapshot&&) noexcept = default;
  EnvironSnapshot(const EnvironSnapshot&) = delete;  // the pointers name this copy's bytes
  EnvironSnapshot& operator=(const EnvironSnapshot&) = delete;
  ~EnvironSnapshot() = default;

  /// NULL-terminated "KEY=VALUE" strings in environ's order, valid while
  /// this object lives (moving it keeps them valid).
  char* const* entries() const noexcept { return pointers_.data(); }
  std::size_t size() const noexcept { return pointers_.size() - 1; }

  /// The value of the first entry of `key` (the one getenv() sees), or
  /// nullptr when there is none.
  const char* find(std::string_view key) const noexcept;

 private:
  EnvironSnapshot() = default;

  std::vector<char> bytes_;      // every entry with its NUL, back to back
  std::vector<char*> pointers_;  // into bytes_, then nullptr
};

}  // namespace safeexec::detail
